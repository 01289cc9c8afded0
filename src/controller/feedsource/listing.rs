//! The cheap resync: a schedule listing instead of a describe per FeedSource.

use std::sync::Arc;

use kube::ResourceExt;

use super::context::{FeedContext, LIST_PAGE, NEWS_INTERVAL, VISIBILITY_GRACE};
use crate::{
    crd::FeedSource,
    schedule::{
        DesiredSchedule, listing,
        sync::{self, Recorded, Synced},
    },
    temporal::{ScheduleApi, pool::Credentials},
};

/// What the listing says about a schedule.
pub(super) enum Listed {
    /// As the operator left it: nothing to write.
    InSync(Box<Synced>),
    /// Created moments ago and not in a listing yet: look again shortly.
    NotYet,
    /// In doubt: the full reconcile (describe) decides.
    Describe,
}

/// The cheap path of a resync: when nothing changed on our side, one shared listing (a page per
/// thousand schedules) replaces a describe per FeedSource. Any doubt means `Describe`; every
/// schedule is still described in full at the `full_verify` rate, to catch edits of the action
/// or input, which the listing does not show.
pub(super) async fn listed<A: ScheduleApi>(
    fs: &FeedSource,
    ctx: &FeedContext,
    desired: &DesiredSchedule,
    recorded: &Recorded,
    api: &A,
    creds: &Credentials,
) -> Listed {
    let uid = fs.uid().unwrap_or_default();
    let Some(prev) = fs.status.as_ref() else {
        return Listed::Describe;
    };
    if !desired.is_recorded_in(prev)
        || recorded.run_now.is_some()
        || recorded.generation_changed
        || !ctx.verified_recently(&uid)
    {
        return Listed::Describe;
    }
    let key = (
        desired.address.clone(),
        desired.namespace.clone(),
        creds.tag(),
    );
    let prefix = ctx.build.id_prefix.as_str();
    let fetch = || async {
        sync::list_kept(api, LIST_PAGE, |l| listing::compact(prefix, l))
            .await
            .map(Arc::new)
    };
    let created = ctx.created_at(&uid);
    let listing = match created {
        Some(at) => ctx
            .list_cache
            .get_since(&key, at, NEWS_INTERVAL, fetch)
            .await
            .map(|r| r.ok()),
        None => Some(ctx.list_cache.get(&key, ctx.list_ttl(), fetch).await.ok()),
    };
    let listing = match listing {
        None => return Listed::NotYet,
        Some(None) => return Listed::Describe,
        Some(Some(l)) => l,
    };
    let Some(entry) = listing.get(&desired.id) else {
        // Visibility lags a little behind a create; after that, describe.
        return match created {
            Some(at) if at.elapsed() < VISIBILITY_GRACE => Listed::NotYet,
            _ => Listed::Describe,
        };
    };
    match listing::synced(desired, prev, entry) {
        Some(s) => Listed::InSync(Box::new(s)),
        None => Listed::Describe,
    }
}
