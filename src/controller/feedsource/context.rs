//! The FeedSource controller's context, and what it remembers between reconciles.

use std::{collections::HashMap, sync::Arc, time::Instant};

use kube::runtime::reflector::{ObjectRef, Store};

use crate::{
    controller::{
        cache::{FeedCache, KeyedLocks, ListCache},
        shared::Shared,
    },
    crd::{CuratorWorker, FeedSource},
    schedule::BuildOptions,
    uid::UidKey,
};

/// When a new schedule is first looked for in a listing (later ones are paced by
/// `cache::news_interval`).
pub(super) const FOLLOW_UP: std::time::Duration = std::time::Duration::from_secs(2);
/// Fewest seconds between two listings fetched for schedules created since the last one: every
/// FeedSource created before a listing starts is served by it.
pub(super) const NEWS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);
/// The least time after which a FeedSource that found a listing in flight looks again (it comes
/// back after about as long as the last listing took, or when the listing's arrival shows its
/// new schedule).
pub(super) const AWAIT_FALLBACK: std::time::Duration = std::time::Duration::from_secs(15);
/// How long after its creation a new schedule may be missing from listings that started after
/// it (visibility lags behind a create) before it is described instead. Counted from the
/// create, so it must outlast a few listings and the server's visibility lag under load: at
/// 20,000 schedules on a loaded dev server a listing took about 150 s, and listings for news
/// start at most every 5 min; with 30 s here every schedule created during a mass creation
/// was described (3,000 describes of 2.4 s each in the first 13 minutes of 10,000
/// FeedSources), and with 10 min still 193 (most of them timing out after 30 s). Half the
/// default full verification interval: a schedule deleted right after its create is found
/// within it.
pub(super) const VISIBILITY_GRACE: std::time::Duration = std::time::Duration::from_secs(1800);

/// How long after a create the FeedSource's cached copy may still lack the status written with
/// it (`FeedContext::status_lags_create`): a watch this far behind is not waited for.
pub(super) const WATCH_LAG_LIMIT: std::time::Duration = std::time::Duration::from_secs(60);

/// A schedule created with one call, waiting for a listing to show it.
struct Awaiting {
    /// When it was created.
    at: Instant,
    /// A listing must have started after this to be news for it (moved on when one missed it).
    since: Instant,
    /// Its FeedSource, brought back by a listing that shows it.
    obj: ObjectRef<FeedSource>,
    /// The schedule ID.
    id: String,
}

/// What the FeedSource controller needs.
pub struct FeedContext {
    /// What both controllers share.
    pub shared: Arc<Shared>,
    /// Schedule ID prefix and identity.
    pub build: BuildOptions,
    /// Schedule listings, shared by the FeedSources of a Temporal namespace.
    pub list_cache: ListCache,
    /// buun-curator's feeds, shared by the FeedSources of an API.
    pub feed_rows: FeedCache,
    /// One registration at a time per feed URL.
    pub feed_locks: KeyedLocks,
    /// Limit of one call to buun-curator's API.
    pub api_timeout: std::time::Duration,
    /// How often each schedule is fully described even when the listing shows no change (to
    /// catch edits of the action or input, which the listing does not show).
    pub full_verify: std::time::Duration,
    /// When each FeedSource's schedule was last fully described (by UID).
    verified: std::sync::Mutex<std::collections::HashMap<UidKey, Instant>>,
    /// The FeedSources only a change can help (no worker, a spec that cannot become a
    /// schedule), by UID: the resync sweep leaves them out.
    parked: std::sync::Mutex<std::collections::HashSet<UidKey>>,
    /// The schedules created with one call and not yet seen in a listing, by UID.
    created: std::sync::Mutex<HashMap<UidKey, Awaiting>>,
    /// The creates in flight, which listings for news wait for (`hold`).
    pub(super) creates: super::hold::Creates,
    /// The ends of runs the runs watch learned and the reconciles have not recorded yet.
    pub(super) run_news: super::run_news::RunNews,
    /// Where the arrival of a listing sends the FeedSources waiting for it: one channel per
    /// controller (watched scope).
    news: std::sync::Mutex<Vec<futures::channel::mpsc::UnboundedSender<ObjectRef<FeedSource>>>>,
    /// The CuratorWorker caches of the watched scopes: a reconcile reads its worker there, and
    /// asks the API server only when the cache does not have it (yet).
    workers: std::sync::RwLock<Vec<Store<CuratorWorker>>>,
}

impl FeedContext {
    /// The FeedSource controller's context.
    pub fn new(shared: Arc<Shared>, build: BuildOptions) -> Self {
        Self {
            shared,
            build,
            list_cache: ListCache::default(),
            feed_rows: FeedCache::default(),
            feed_locks: KeyedLocks::default(),
            api_timeout: std::time::Duration::from_secs(10),
            full_verify: std::time::Duration::from_secs(3600),
            verified: Default::default(),
            parked: Default::default(),
            created: Default::default(),
            creates: Default::default(),
            run_news: Default::default(),
            workers: Default::default(),
            news: Default::default(),
        }
    }

    /// Limits each call to buun-curator's API to `timeout`.
    pub fn with_api_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.api_timeout = timeout;
        self
    }

    /// Describes every schedule fully at least this often.
    pub fn with_full_verify(mut self, every: std::time::Duration) -> Self {
        self.full_verify = every;
        self
    }

    pub(super) fn mark_verified(&self, uid: &str) {
        let mut m = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        m.insert(uid.into(), Instant::now());
    }

    /// Whether `uid`'s schedule was read or written in full recently enough. The interval is
    /// spread per UID (75%–125%) so that verifications do not come in waves.
    pub(super) fn verified_recently(&self, uid: &str) -> bool {
        let spread = uid
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
            % 1000;
        let every = self.full_verify.mul_f64(0.75 + f64::from(spread) / 2000.0);
        let m = self.verified.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&uid.into()).is_some_and(|t| t.elapsed() < every)
    }

    /// Records whether FeedSource `uid` waits for a change (`true`) or comes back with the
    /// resync sweep.
    pub(super) fn park(&self, uid: &str, parked: bool) {
        let mut set = self.parked.lock().unwrap_or_else(|p| p.into_inner());
        if parked {
            set.insert(uid.into());
        } else {
            set.remove(&uid.into());
        }
    }

    /// Whether the resync sweep brings `fs` back now: when [`crate::controller::resync::feed_due`]
    /// says so, and not while it is being deleted (its cleanup retries with backoff) nor while
    /// it waits for a change.
    pub fn resynced(&self, fs: &FeedSource) -> bool {
        let uid = fs.metadata.uid.as_deref().unwrap_or_default();
        fs.metadata.deletion_timestamp.is_none()
            && crate::controller::resync::feed_due(fs, jiff::Timestamp::now(), self.shared.resync)
            && !self
                .parked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .contains(&uid.into())
    }

    /// Records that `uid`'s schedule (ID and FeedSource in `waiting`) was just created and
    /// waits for a listing (`Some`), or no longer waits (`None`).
    pub(super) fn awaiting_listing(
        &self,
        uid: &str,
        waiting: Option<(ObjectRef<FeedSource>, String)>,
    ) {
        let mut m = self.created.lock().unwrap_or_else(|p| p.into_inner());
        match waiting {
            Some((obj, id)) => {
                let now = Instant::now();
                let entry = Awaiting {
                    at: now,
                    since: now,
                    obj,
                    id,
                };
                m.insert(uid.into(), entry);
            }
            None => {
                m.remove(&uid.into());
            }
        }
    }

    /// The FeedSources a listing's arrival brings back (for `Controller::reconcile_on`).
    pub fn listing_news(
        &self,
    ) -> impl futures::Stream<Item = ObjectRef<FeedSource>> + Send + 'static + use<> {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        self.news.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
    }

    /// `listing` arrived: the FeedSources waiting for their schedule to show come back, if it
    /// does (the others come back when the next listing may start).
    pub(super) fn listing_arrived(&self, listing: &crate::schedule::listing::Listing) {
        let waiting: Vec<ObjectRef<FeedSource>> = {
            let m = self.created.lock().unwrap_or_else(|p| p.into_inner());
            m.values()
                .filter(|a| listing.contains_key(&a.id))
                .map(|a| a.obj.clone())
                .collect()
        };
        self.bring_back(&waiting);
    }

    /// Ends the count of a create ([`super::hold::Creates::start`]). When it was the last in
    /// flight and a listing for news waited for it, the FeedSource waiting longest comes back
    /// to fetch it, and the listing's arrival brings the others.
    pub(super) fn create_ended(&self, create: super::hold::Creating<'_>) {
        if !create.end() {
            return;
        }
        let oldest = {
            let m = self.created.lock().unwrap_or_else(|p| p.into_inner());
            m.values().min_by_key(|a| a.at).map(|a| a.obj.clone())
        };
        self.bring_back(oldest.as_slice());
    }

    /// Sends `objs` to every controller's news stream.
    fn bring_back(&self, objs: &[ObjectRef<FeedSource>]) {
        if objs.is_empty() {
            return;
        }
        let mut news = self.news.lock().unwrap_or_else(|p| p.into_inner());
        news.retain(|tx| !tx.is_closed());
        for tx in news.iter() {
            for obj in objs {
                let _ = tx.unbounded_send(obj.clone());
            }
        }
    }

    /// Reads CuratorWorkers from `store` (one per watched scope).
    pub fn add_worker_cache(&self, store: Store<CuratorWorker>) {
        self.workers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(store);
    }

    /// The CuratorWorker `namespace/name` from the caches, if one has it.
    pub(super) fn cached_worker(&self, namespace: &str, name: &str) -> Option<Arc<CuratorWorker>> {
        let key = ObjectRef::new(name).within(namespace);
        let stores = self.workers.read().unwrap_or_else(|p| p.into_inner());
        stores.iter().find_map(|s| s.get(&key))
    }

    /// Forgets everything remembered about FeedSource `fs` (it is gone): what is kept by its
    /// UID, news of its runs, its metrics series.
    pub(super) fn forget(&self, fs: &FeedSource) {
        let uid = fs.metadata.uid.as_deref().unwrap_or_default();
        if let Some(s) = &fs.status
            && let (Some(a), Some(n), Some(id)) =
                (&s.temporal_address, &s.temporal_namespace, &s.schedule_id)
        {
            self.run_news.forget(&(a.clone(), n.clone()), id);
        }
        let ns = fs.metadata.namespace.as_deref().unwrap_or_default();
        let name = fs.metadata.name.as_deref().unwrap_or_default();
        self.shared.metrics.forget_feed(ns, name);
        self.verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&uid.into());
        self.awaiting_listing(uid, None);
        self.park(uid, false);
        self.shared.backoff.reset(uid);
        self.shared.metrics.set_managed(uid, false);
    }

    /// How many FeedSources this context remembers something about (news of their runs
    /// included).
    pub fn remembered(&self) -> usize {
        let verified = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        let created = self.created.lock().unwrap_or_else(|p| p.into_inner()).len();
        let parked = self.parked.lock().unwrap_or_else(|p| p.into_inner()).len();
        verified + created + parked + self.run_news.waiting()
    }

    /// Whether `fs` is an older copy than this process's own write: its schedule was created
    /// here less than [`WATCH_LAG_LIMIT`] ago, and the status written with the create (which
    /// records the schedule ID) is not in it yet. The copy comes from the cache, and under
    /// load the watch delivers a status write seconds late; a reconcile of the older copy
    /// would create the schedule again, find it taken and describe it (at 10,000 FeedSources:
    /// 23 creates and 25 describes, 3 of which the loaded server timed out for minutes, with
    /// `Ready=False` meanwhile).
    pub(super) fn status_lags_create(&self, uid: &str, fs: &FeedSource) -> bool {
        fs.status.as_ref().is_none_or(|s| s.schedule_id.is_none())
            && self
                .created_at(uid)
                .is_some_and(|(at, _)| at.elapsed() < WATCH_LAG_LIMIT)
    }

    /// When `uid`'s schedule was created, and after when a listing must have started to be
    /// news for it.
    pub(super) fn created_at(&self, uid: &str) -> Option<(Instant, Instant)> {
        let m = self.created.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&uid.into()).map(|a| (a.at, a.since))
    }

    /// A listing that started after `uid`'s create does not show it yet (visibility lags): only
    /// a listing started from now on is news for it.
    pub(super) fn missed_in_listing(&self, uid: &str) {
        let mut m = self.created.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(a) = m.get_mut(&uid.into()) {
            a.since = Instant::now();
        }
    }

    /// How long a schedule listing is reused.
    pub(super) fn list_ttl(&self) -> std::time::Duration {
        (self.shared.resync / 4).clamp(
            std::time::Duration::from_secs(5),
            std::time::Duration::from_secs(60),
        )
    }
}

#[cfg(any(test, feature = "testing"))]
impl FeedContext {
    /// A context on `client` with a 5 s Temporal timeout, schedule IDs under `prefix` and a
    /// 5 min resync.
    pub fn test(client: kube::Client, prefix: &str) -> Self {
        let pool = crate::temporal::pool::Pool::new(
            crate::testing::fixtures::IDENTITY,
            std::time::Duration::from_secs(5),
        );
        let shared = Shared::new(client, pool, std::time::Duration::from_secs(300));
        Self::new(Arc::new(shared), BuildOptions::test(prefix))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use futures::StreamExt;
    use kube::runtime::reflector::ObjectRef;

    use super::FeedContext;
    use crate::{
        crd::FeedSource,
        schedule::listing::{Entry, Listing},
    };

    #[test]
    fn a_lone_creates_follow_up_comes_after_the_quiet_that_listings_wait_for() {
        assert!(super::FOLLOW_UP >= super::super::hold::QUIET);
    }

    #[tokio::test]
    async fn a_listing_brings_back_only_the_feedsources_it_shows() {
        let fake = Arc::new(crate::testing::kube::FakeKube::default());
        let ctx = FeedContext::test(fake.client(), "t");
        let mut news = ctx.listing_news();
        let obj = |name: &str| ObjectRef::<FeedSource>::new(name).within("news");
        ctx.awaiting_listing("u1", Some((obj("shown"), "t/news/shown".into())));
        ctx.awaiting_listing("u2", Some((obj("lagging"), "t/news/lagging".into())));
        let listing = Listing::from(vec![("t/news/shown".to_owned(), Entry::default())]);
        ctx.listing_arrived(&listing);
        assert_eq!(news.next().await, Some(obj("shown")));
        ctx.listing_arrived(&Default::default());
        ctx.awaiting_listing("u1", None);
        ctx.listing_arrived(&listing);
        let more = tokio::time::timeout(std::time::Duration::from_millis(50), news.next()).await;
        assert!(more.is_err(), "nobody else came back: {more:?}");
    }

    #[tokio::test]
    async fn the_sweep_leaves_out_parked_and_deleting_feedsources_until_they_change() {
        let fake = Arc::new(crate::testing::kube::FakeKube::default());
        let ctx = FeedContext::test(fake.client(), "t");
        let mut fs = FeedSource::test("ns", "a");
        fs.metadata.uid = Some("uid-a".into());
        fs.metadata.generation = Some(1);
        fs.status = Some(crate::crd::FeedSourceStatus {
            observed_generation: Some(1),
            ..Default::default()
        });
        assert!(ctx.resynced(&fs));
        ctx.park("uid-a", true);
        ctx.park("uid-a", true);
        assert!(!ctx.resynced(&fs));
        assert_eq!(ctx.remembered(), 1);
        ctx.park("uid-a", false);
        assert!(ctx.resynced(&fs));
        ctx.park("uid-a", true);
        ctx.forget(&fs);
        assert!(ctx.resynced(&fs), "forgotten with the rest");
        assert_eq!(ctx.remembered(), 0);
        fs.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        assert!(!ctx.resynced(&fs), "its cleanup retries with backoff");
    }
}
