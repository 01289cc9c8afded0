//! The one registration engine: a FeedSource's feed settled in buun-curator, through its API,
//! for the controller and for `sync` alike. Which feed it is, and what to write, is the pure
//! [`super::plan`]; here are the reads and writes around it, and the one guard against creating
//! a feed twice: a POST (which cannot be taken back) is decided on a listing at most
//! [`Ask::fresh_for_create`] old, and after an attempt that failed (its answer may have been
//! lost) on a listing that started after it. Callers keep what is their own: the token, the
//! order of FeedSources that share a URL, the events, the output.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use super::{Origin, Plan, Recorded};
use crate::{
    crd::feedsource::FeedSpec,
    curator_api::{ApiError, FeedApi, FeedRow},
    runtime::{cache::TtlCache, retry::Retry},
};

/// buun-curator's feeds by API (base URL and token digest): the listing the callers share,
/// kept in line with their writes.
pub type FeedCache = TtlCache<String, Arc<Vec<FeedRow>>, ApiError>;

/// What to settle, and how.
#[derive(Clone, Copy, Debug)]
pub struct Ask<'a> {
    /// The FeedSource's `feed`.
    pub spec: &'a FeedSpec,
    /// What its status remembers of its feed (`sync` has no status).
    pub recorded: Option<Recorded<'a>>,
    /// Say what would be written, and write nothing.
    pub dry_run: bool,
    /// How each call is retried (the controller retries the whole reconcile instead:
    /// [`Retry::once`]).
    pub retry: Retry,
    /// The oldest listing the decision is taken on.
    pub max_age: Duration,
    /// The oldest listing a POST is decided on.
    pub fresh_for_create: Duration,
}

/// What became of the feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Done {
    /// It is as the spec wants it.
    Found {
        /// The feed.
        row: FeedRow,
        /// How it was found.
        origin: Origin,
    },
    /// It was brought in line (one PATCH).
    Updated {
        /// The feed after the PATCH.
        row: FeedRow,
        /// How it was found.
        origin: Origin,
        /// The fields that differed.
        changed: Vec<&'static str>,
    },
    /// It was created (one POST).
    Created {
        /// The new feed.
        row: FeedRow,
    },
    /// Dry run: it would be updated.
    WouldUpdate {
        /// The feed as it is.
        row: FeedRow,
        /// The fields that differ.
        changed: Vec<&'static str>,
    },
    /// Dry run: it would be created.
    WouldCreate,
    /// `feed.id` (or the feed being updated) does not exist.
    NotFound {
        /// The ID.
        id: String,
    },
    /// More than one feed has the URL: nothing is created or adopted.
    Ambiguous {
        /// Their IDs.
        ids: Vec<String>,
    },
}

/// A failed call, as settling reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failed {
    /// The last attempt's error.
    pub error: ApiError,
    /// Why, saying when retries ran out.
    pub why: String,
    /// Attempts of the call that failed.
    pub attempts: u32,
}

/// The end of [`settle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settled {
    /// What became of the feed, or the call that failed.
    pub done: Result<Done, Failed>,
    /// Attempts beyond the first of the calls that succeeded.
    pub retries: u32,
}

/// The feeds of the API `api` (cache key `key`) from a listing that started after `since` and
/// is at most `max_age` old, fetched when the cache has none.
async fn rows<A: FeedApi>(
    api: &A,
    cache: &FeedCache,
    key: &str,
    since: Option<Instant>,
    max_age: Duration,
    retry: &Retry,
    retries: &mut u32,
) -> Result<Arc<Vec<FeedRow>>, Failed> {
    let max_age = since.map_or(max_age, |s| max_age.min(s.elapsed()));
    let key = key.to_owned();
    let tried = retry
        .run(|| cache.get(&key, max_age, || async { api.list().await.map(Arc::new) }))
        .await;
    done_or_failed(tried, retries)
}

fn done_or_failed<T>(
    tried: crate::runtime::retry::Tried<T, ApiError>,
    retries: &mut u32,
) -> Result<T, Failed> {
    let why = tried.result.as_ref().err().map(|e| tried.why(e));
    match tried.result {
        Ok(v) => {
            *retries += tried.attempts.saturating_sub(1);
            Ok(v)
        }
        Err(error) => Err(Failed {
            error,
            why: why.unwrap_or_default(),
            attempts: tried.attempts,
        }),
    }
}

/// Keeps the shared listing in line with a write, so the next caller sees it.
async fn remember(cache: &FeedCache, key: &str, row: &FeedRow) {
    cache
        .update(&key.to_owned(), |rows| {
            let rows = Arc::make_mut(rows);
            rows.retain(|r| r.id != row.id);
            rows.push(row.clone());
        })
        .await;
}

/// Settles the feed `ask` describes through `api`, whose feeds `cache` holds under `key`.
pub async fn settle<A: FeedApi>(api: &A, cache: &FeedCache, key: &str, ask: &Ask<'_>) -> Settled {
    let mut retries = 0;
    let done = settle_counting(api, cache, key, ask, &mut retries).await;
    Settled { done, retries }
}

async fn settle_counting<A: FeedApi>(
    api: &A,
    cache: &FeedCache,
    key: &str,
    ask: &Ask<'_>,
    retries: &mut u32,
) -> Result<Done, Failed> {
    let (spec, recorded, retry) = (ask.spec, ask.recorded, &ask.retry);
    let listed = rows(api, cache, key, None, ask.max_age, retry, retries).await?;
    let mut plan = super::plan(spec, recorded, &listed);
    if matches!(plan, Plan::Create { .. }) && ask.fresh_for_create < ask.max_age {
        let fresh = rows(api, cache, key, None, ask.fresh_for_create, retry, retries).await?;
        plan = super::plan(spec, recorded, &fresh);
    }
    if let Plan::NotListed { id } = &plan {
        // The listing may predate the feed: ask for it.
        match done_or_failed(retry.run(|| api.get(id)).await, retries)? {
            Some(row) => {
                remember(cache, key, &row).await;
                plan = super::plan(spec, recorded, std::slice::from_ref(&row));
            }
            None => return Ok(Done::NotFound { id: id.clone() }),
        }
    }
    Ok(match plan {
        Plan::Use { row, origin } => Done::Found { row, origin },
        Plan::Update { row, changed, .. } if ask.dry_run => Done::WouldUpdate { row, changed },
        Plan::Update {
            row,
            origin,
            fields,
            changed,
        } => match done_or_failed(retry.run(|| api.update(&row.id, &fields)).await, retries)? {
            Some(new) => {
                remember(cache, key, &new).await;
                Done::Updated {
                    row: new,
                    origin,
                    changed,
                }
            }
            None => Done::NotFound { id: row.id },
        },
        Plan::Create { .. } if ask.dry_run => Done::WouldCreate,
        Plan::Create { fields } => create(api, cache, key, ask, fields, retries).await?,
        Plan::Ambiguous { ids } => Done::Ambiguous { ids },
        Plan::NotListed { id } => Done::NotFound { id },
    })
}

/// The POST, decided on a fresh listing; after a failed attempt (its answer may have been lost)
/// the feeds are listed again, and one that now has the URL is adopted.
async fn create<A: FeedApi>(
    api: &A,
    cache: &FeedCache,
    key: &str,
    ask: &Ask<'_>,
    fields: crate::curator_api::FeedFields,
    retries: &mut u32,
) -> Result<Done, Failed> {
    let failed_at = std::sync::Mutex::new(None::<Instant>);
    let tried = ask
        .retry
        .run(|| async {
            let since = *failed_at.lock().unwrap_or_else(|p| p.into_inner());
            let result = match since {
                None => api.create(&fields).await.map(|row| Done::Created { row }),
                Some(since) => {
                    let once = Retry::once();
                    let listed = rows(api, cache, key, Some(since), ask.max_age, &once, &mut 0)
                        .await
                        .map_err(|f| f.error)?;
                    match super::plan(ask.spec, None, &listed) {
                        Plan::Create { fields } => {
                            api.create(&fields).await.map(|row| Done::Created { row })
                        }
                        Plan::Use { row, .. } | Plan::Update { row, .. } => Ok(Done::Found {
                            row,
                            origin: Origin::Adopted,
                        }),
                        _ => Err(ApiError::Rejected(format!(
                            "more than one feed has URL {} now",
                            ask.spec.url
                        ))),
                    }
                }
            };
            if result.is_err() {
                *failed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            }
            result
        })
        .await;
    let done = done_or_failed(tried, retries)?;
    if let Done::Created { row } | Done::Found { row, .. } = &done {
        remember(cache, key, row).await;
    }
    Ok(done)
}

#[cfg(test)]
#[path = "settle_tests.rs"]
mod tests;
