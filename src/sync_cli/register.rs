//! Each FeedSource's feed in buun-curator, as the controller settles it
//! (`controller::feedsource::register`): one listing per API, the shared plan (`feed::plan`: by
//! `feed.id`, else the one feed with `feed.url`, else a new one), a write only when a field
//! differs. A FeedSource without `feed.id` gets its ID here, before its schedule is built.
//! FeedSources with the same feed URL are settled one after the other, so that two of them
//! never create the feed twice; the rest `--concurrency` at a time.

use std::collections::{BTreeMap, HashMap};

use futures::{StreamExt, stream};

use super::{
    feed::{Feed, Mode},
    outcome::{Action, FeedNote, Outcome},
};
use crate::{
    crd::{FeedSource, curatorworker::TemporalConnection},
    curator_api::{ApiError, FeedApi, FeedRow},
    feed::{self, Origin, Plan, Registration},
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

/// One API's feeds, read once per run, kept in line with this run's writes.
type Rows = Vec<FeedRow>;

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
    let mut listings: HashMap<&str, Result<Rows, Outcome>> = HashMap::new();
    for url in pending.iter().map(|p| p.api.as_str()) {
        if listings.contains_key(url) {
            continue;
        }
        let listed = match apis.get(url) {
            Some(api) => {
                let tried = mode.retry.run(|| api.list()).await;
                let why = tried.result.as_ref().err().map(|e| tried.why(e));
                let attempts = tried.attempts;
                tried.result.map_err(|e| {
                    let mut o = Outcome::new("", "", Action::Error);
                    o.attempts = attempts;
                    o.failed(
                        Action::Error,
                        format!(
                            "listing feeds of buun-curator at {url}: {}",
                            why.unwrap_or_default()
                        ),
                        e.reason(),
                    )
                })
            }
            None => Err(Outcome::new("", "", Action::Error).failed(
                Action::Error,
                format!("no client for buun-curator at {url}"),
                "CuratorApiError",
            )),
        };
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
    let results: Vec<Vec<Result<Feed, Box<Outcome>>>> = stream::iter(groups)
        .map(|((url, _), group)| {
            let (api, listing) = (apis.get(url), listings.get(url));
            async move {
                let mut rows = match listing {
                    Some(Ok(rows)) => rows.clone(),
                    Some(Err(failed)) => {
                        return group
                            .iter()
                            .map(|p| Err(Box::new(p.failed_like(failed))))
                            .collect();
                    }
                    None => Vec::new(),
                };
                let mut out = Vec::new();
                for p in group {
                    out.push(match api {
                        Some(api) => settle(api, p, &mut rows, build, mode).await,
                        None => Err(Box::new(p.failed_like(&Outcome::new(
                            "",
                            "",
                            Action::Error,
                        )))),
                    });
                }
                out
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

/// Keeps `rows` in line with a write.
fn remember(rows: &mut Rows, row: &FeedRow) {
    rows.retain(|r| r.id != row.id);
    rows.push(row.clone());
}

/// One FeedSource's feed, then its schedule built for that feed.
async fn settle<A: FeedApi>(
    api: &A,
    p: &Pending,
    rows: &mut Rows,
    build: &BuildOptions,
    mode: &Mode,
) -> Result<Feed, Box<Outcome>> {
    let spec = &p.source.spec.feed;
    // Attempts beyond the first of each call that succeeded.
    let mut retries = 0;
    let mut plan = feed::plan(spec, None, rows);
    let api_failed = |e: &ApiError, attempts: u32, why: String| {
        let mut o = p.outcome(Action::Error);
        o.attempts = attempts;
        o.failed(Action::Error, format!("buun-curator: {why}"), e.reason())
    };
    if let Plan::NotListed { id } = &plan {
        // The listing may predate the feed: ask for it.
        let tried = mode.retry.run(|| api.get(id)).await;
        retries += tried.attempts.saturating_sub(1);
        match &tried.result {
            Ok(Some(row)) => {
                remember(rows, row);
                plan = feed::plan(spec, None, std::slice::from_ref(row));
            }
            Ok(None) => {}
            Err(e) => return Err(Box::new(api_failed(e, tried.attempts, tried.why(e)))),
        }
    }
    let note = |id: Option<&str>, action, changed| FeedNote {
        id: id.map(str::to_owned),
        action,
        changed,
    };
    let origin_word = |o: Origin| match o {
        Origin::Exists => "exists",
        Origin::Adopted => "adopted",
        Origin::Created => "created",
    };
    let (id, n) = match plan {
        Plan::Use { row, origin } => (
            row.id.clone(),
            note(Some(&row.id), origin_word(origin), vec![]),
        ),
        Plan::Update { row, changed, .. } if mode.dry_run => {
            (row.id.clone(), note(Some(&row.id), "update", changed))
        }
        Plan::Update {
            row,
            fields,
            changed,
            ..
        } => {
            let tried = mode.retry.run(|| api.update(&row.id, &fields)).await;
            retries += tried.attempts.saturating_sub(1);
            match &tried.result {
                Ok(Some(new)) => {
                    remember(rows, new);
                    (new.id.clone(), note(Some(&new.id), "updated", changed))
                }
                Ok(None) => {
                    return Err(Box::new(
                        p.unregistered(&Registration::NotFound { id: row.id }),
                    ));
                }
                Err(e) => return Err(Box::new(api_failed(e, tried.attempts, tried.why(e)))),
            }
        }
        Plan::Create { .. } if mode.dry_run => {
            (NEW_FEED_ID.to_owned(), note(None, "create", vec![]))
        }
        Plan::Create { .. } => {
            // A POST cannot be taken back: after a failed attempt (its answer may have been
            // lost) the feeds are listed again, and one that now has the URL is adopted.
            let mut fresh = false;
            let tried = mode
                .retry
                .run(|| {
                    let again = std::mem::replace(&mut fresh, true);
                    let rows_now = rows.clone();
                    async move {
                        let listed = if again { api.list().await? } else { rows_now };
                        match feed::plan(spec, None, &listed) {
                            Plan::Create { fields } => api.create(&fields).await.map(|r| (r, true)),
                            Plan::Use { row, .. } | Plan::Update { row, .. } => Ok((row, false)),
                            _ => Err(ApiError::Rejected(format!(
                                "more than one feed has URL {} now",
                                spec.url
                            ))),
                        }
                    }
                })
                .await;
            retries += tried.attempts.saturating_sub(1);
            match &tried.result {
                Ok((row, created)) => {
                    remember(rows, row);
                    let action = if *created { "created" } else { "adopted" };
                    (row.id.clone(), note(Some(&row.id), action, vec![]))
                }
                Err(e) => return Err(Box::new(api_failed(e, tried.attempts, tried.why(e)))),
            }
        }
        Plan::Ambiguous { ids } => {
            return Err(Box::new(p.unregistered(&Registration::Ambiguous {
                url: spec.url.clone(),
                ids,
            })));
        }
        Plan::NotListed { id } => {
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
