//! A whole schedule listing, read page by page with a bound on the pages.

use crate::temporal::{ScheduleApi, TemporalError};

/// The most pages `list_all` reads (a million schedules at the controller's page size): a
/// server that keeps answering with a next-page token cannot keep the caller listing forever.
pub const MAX_LIST_PAGES: usize = 1000;

/// Every schedule of the namespace whose ID starts with `id_prefix` (all for an empty one), by
/// ID, read page by page (one RPC per `page_size`, at most [`MAX_LIST_PAGES`] RPCs).
pub async fn list_all<A: ScheduleApi>(
    api: &A,
    id_prefix: &str,
    page_size: i32,
) -> Result<std::collections::HashMap<String, crate::temporal::Listed>, TemporalError> {
    list_kept(api, id_prefix, page_size, |l| {
        l.id.starts_with(id_prefix).then(|| (l.id.clone(), l))
    })
    .await
}

/// Like [`list_all`], keeping of each page only what `keep` returns, with the ID it returns, in
/// any collection (a cache keeps the operator's own schedules, trimmed to what its decisions
/// read).
pub async fn list_kept<A: ScheduleApi, V, C: Default + Extend<(String, V)>>(
    api: &A,
    id_prefix: &str,
    page_size: i32,
    keep: impl Fn(crate::temporal::Listed) -> Option<(String, V)>,
) -> Result<C, TemporalError> {
    let mut out = C::default();
    let mut token = Vec::new();
    for _ in 0..MAX_LIST_PAGES {
        let page = api.list(id_prefix, page_size, token).await?;
        out.extend(page.schedules.into_iter().filter_map(&keep));
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        token = page.next_page_token;
    }
    Err(TemporalError::ListingTooLong(MAX_LIST_PAGES))
}
