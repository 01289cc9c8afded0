//! Each FeedSource's feed in buun-curator, settled with the engine the controller uses
//! (`feed::settle`): one listing per API per run, the shared plan (`feed.id`, else the one feed
//! with `feed.url`, else a new one), a write only when a field differs. A FeedSource without
//! `feed.id` gets its ID here, before its schedule is built. FeedSources with the same feed URL
//! are settled one after the other, so that two of them never create the feed twice; the rest
//! `--concurrency` at a time.

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use futures::{StreamExt, stream};

use super::{
    feed::{Feed, Mode},
    outcome::{Action, FeedNote, Outcome},
};
use crate::{
    crd::{FeedSource, curatorworker::TemporalConnection},
    curator_api::FeedApi,
    feed::{
        Registration,
        settle::{Ask, Done, FeedCache, settle},
    },
    schedule::{BuildOptions, desired},
};

/// The feed ID a dry run builds the schedule of a feed it would create with.
pub const NEW_FEED_ID: &str = "(new feed)";

/// A FeedSource whose feed is settled in buun-curator before its schedule is built.
#[derive(Clone, Debug)]
pub struct Pending {
    /// `namespace/name`.
    pub resource: String,
    /// Its schedule ID (which does not depend on the feed).
    pub schedule_id: String,
    /// The FeedSource, its namespace filled in.
    pub source: FeedSource,
    /// Its worker's Temporal connection (address overridden).
    pub temporal: TemporalConnection,
    /// buun-curator's base URL.
    pub api: String,
}

/// Settles every pending FeedSource's feed: the feeds ready to sync (with their ID), and an
/// outcome for each FeedSource whose feed could not be settled. `apis` holds a client per API
/// URL; a URL without one (its listing failed) fails its feeds.
pub async fn resolve<A: FeedApi>(
    pending: &[Pending],
    apis: &HashMap<String, A>,
    build: &BuildOptions,
    mode: &Mode,
    concurrency: usize,
) -> (Vec<Feed>, Vec<Outcome>) {
    // Each API's feeds, listed once per run and shared by its FeedSources (kept in line with
    // this run's writes).
    let rows = FeedCache::default();
    let mut listings: HashMap<&str, Result<(), Outcome>> = HashMap::new();
    for url in pending.iter().map(|p| p.api.as_str()) {
        if listings.contains_key(url) {
            continue;
        }
        let listed = list_once(apis.get(url), url, mode, &rows).await;
        listings.insert(url, listed);
    }
    // One group per API and feed URL, settled in order.
    let mut groups: BTreeMap<(&str, &str), Vec<&Pending>> = BTreeMap::new();
    for p in pending {
        groups
            .entry((p.api.as_str(), p.source.spec.feed.url.as_str()))
            .or_default()
            .push(p);
    }
    let rows = &rows;
    let results: Vec<Vec<Result<Feed, Box<Outcome>>>> = stream::iter(groups)
        .map(|((url, _), group)| {
            let (api, listing) = (apis.get(url), listings.get(url));
            async move {
                let failed = match (api, listing) {
                    (Some(api), Some(Ok(()))) => {
                        let mut out = Vec::new();
                        for p in group {
                            out.push(settle_one(api, rows, url, p, build, mode).await);
                        }
                        return out;
                    }
                    (_, Some(Err(failed))) => failed.clone(),
                    _ => Outcome::new("", "", Action::Error),
                };
                group
                    .iter()
                    .map(|p| Err(Box::new(p.failed_like(&failed))))
                    .collect()
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let mut feeds = Vec::new();
    let mut failed = Vec::new();
    for r in results.into_iter().flatten() {
        match r {
            Ok(f) => feeds.push(f),
            Err(o) => failed.push(*o),
        }
    }
    // Document order, as for the feeds that needed no API.
    let order: HashMap<&str, usize> = pending
        .iter()
        .enumerate()
        .map(|(i, p)| (p.resource.as_str(), i))
        .collect();
    feeds.sort_by_key(|f| order.get(f.resource.as_str()).copied());
    (feeds, failed)
}

/// Lists the feeds of the buun-curator at `url` once, with retries, into `rows`; the outcome
/// to report for each of its FeedSources when that fails.
async fn list_once<A: FeedApi>(
    api: Option<&A>,
    url: &str,
    mode: &Mode,
    rows: &FeedCache,
) -> Result<(), Outcome> {
    match api {
        Some(api) => {
            let tried = mode.retry.run(|| api.list()).await;
            let why = tried.result.as_ref().err().map(|e| tried.why(e));
            let attempts = tried.attempts;
            match tried.result {
                Ok(listed) => {
                    rows.put(&url.to_owned(), Arc::new(listed)).await;
                    Ok(())
                }
                Err(e) => {
                    let mut o = Outcome::new("", "", Action::Error);
                    o.attempts = attempts;
                    Err(o.failed(
                        Action::Error,
                        format!(
                            "listing feeds of buun-curator at {url}: {}",
                            why.unwrap_or_default()
                        ),
                        e.reason(),
                    ))
                }
            }
        }
        None => Err(Outcome::new("", "", Action::Error).failed(
            Action::Error,
            format!("no client for buun-curator at {url}"),
            "CuratorApiError",
        )),
    }
}

/// One FeedSource's feed, settled as the controller does it (`feed::settle`, on this run's
/// listing), then its schedule built for that feed.
async fn settle_one<A: FeedApi>(
    api: &A,
    rows: &FeedCache,
    url: &str,
    p: &Pending,
    build: &BuildOptions,
    mode: &Mode,
) -> Result<Feed, Box<Outcome>> {
    let spec = &p.source.spec.feed;
    let ask = Ask {
        spec,
        recorded: None,
        dry_run: mode.dry_run,
        retry: mode.retry,
        // This run's listing; after a failed POST, one that started after it.
        max_age: Duration::MAX,
        fresh_for_create: Duration::MAX,
    };
    let settled = settle(api, rows, url, &ask).await;
    let retries = settled.retries;
    let note = |id: Option<&str>, action, changed| FeedNote {
        id: id.map(str::to_owned),
        action,
        changed,
    };
    let done = settled.done.map_err(|f| {
        let mut o = p.outcome(Action::Error);
        o.attempts = f.attempts;
        Box::new(o.failed(
            Action::Error,
            format!("buun-curator: {}", f.why),
            f.error.reason(),
        ))
    })?;
    let (id, n) = match done {
        Done::Found { row, origin } => (row.id.clone(), note(Some(&row.id), origin.word(), vec![])),
        Done::Updated { row, changed, .. } => {
            (row.id.clone(), note(Some(&row.id), "updated", changed))
        }
        Done::Created { row } => (row.id.clone(), note(Some(&row.id), "created", vec![])),
        Done::WouldUpdate { row, changed } => {
            (row.id.clone(), note(Some(&row.id), "update", changed))
        }
        Done::WouldCreate => (NEW_FEED_ID.to_owned(), note(None, "create", vec![])),
        Done::Ambiguous { ids } => {
            return Err(Box::new(p.unregistered(&Registration::Ambiguous {
                url: spec.url.clone(),
                ids,
            })));
        }
        Done::NotFound { id } => {
            return Err(Box::new(p.unregistered(&Registration::NotFound { id })));
        }
    };
    let (ns, name) = p.key();
    match desired::build_for_feed(&ns, &name, "", &p.source.spec, &id, &p.temporal, build) {
        Ok(d) => {
            let mut f = Feed::new(p.resource.clone(), d);
            f.registration = Some(n);
            f.retries = retries;
            Ok(f)
        }
        // The spec was checked with a stand-in ID; a real one cannot break it, but say so.
        Err(e) => Err(Box::new(p.outcome(Action::Error).failed(
            Action::Error,
            format!("invalid spec: {e}"),
            "InvalidSpec",
        ))),
    }
}

impl Pending {
    fn key(&self) -> (String, String) {
        use kube::ResourceExt;
        (
            self.source.namespace().unwrap_or_default(),
            self.source.name_any(),
        )
    }

    fn outcome(&self, action: Action) -> Outcome {
        Outcome::new(&self.resource, &self.schedule_id, action)
    }

    /// This FeedSource failed as the listing of its API did.
    fn failed_like(&self, failed: &Outcome) -> Outcome {
        let mut o = failed.clone();
        o.resource.clone_from(&self.resource);
        o.schedule_id.clone_from(&self.schedule_id);
        o
    }

    /// The controller's message for a feed that cannot be settled.
    fn unregistered(&self, r: &Registration) -> Outcome {
        let (failure, _) = r.failure().unwrap_or((
            crate::crd::conditions::Failure {
                reason: "CuratorApiError",
                message: "the feed could not be settled".into(),
            },
            true,
        ));
        self.outcome(Action::Error)
            .failed(Action::Error, failure.message, failure.reason)
    }
}
