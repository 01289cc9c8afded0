//! The FeedSource controller's context: what both controllers share, the caches, the settings,
//! and what this controller remembers between reconciles (`memory`, `hold`, `run_news`).

use std::{sync::Arc, time::Duration};

use kube::runtime::reflector::{ObjectRef, Store};

use super::{
    hold::{Creates, Creating},
    memory::{AwaitingListing, Comebacks, Parked, Unclaimed, Verified, Workers},
    run_news::RunNews,
};
use crate::{
    controller::{
        cache::{FeedCache, KeyedLocks, ListCache},
        shared::Shared,
    },
    crd::{CuratorWorker, FeedSource},
    schedule::BuildOptions,
};

/// When a new schedule is first looked for in a listing (later ones are paced by
/// `cache::news_interval`).
pub(super) const FOLLOW_UP: Duration = Duration::from_secs(2);
/// Fewest seconds between two listings fetched for schedules created since the last one: every
/// FeedSource created before a listing starts is served by it.
pub(super) const NEWS_INTERVAL: Duration = Duration::from_secs(1);
/// The least time after which a FeedSource that found a listing in flight looks again (it comes
/// back after about as long as the last listing took, or when the listing's arrival shows its
/// new schedule).
pub(super) const AWAIT_FALLBACK: Duration = Duration::from_secs(15);
/// How long after its creation a new schedule may be missing from listings that started after
/// it (visibility lags behind a create) before it is described instead. Counted from the
/// create, so it outlasts a few listings and the visibility lag of a loaded server (a listing of
/// tens of thousands of schedules takes minutes, and listings for news are paced); a describe
/// per schedule of a mass creation would only load that server more (BENCHMARKS.md). Half the
/// default full verification interval: a schedule deleted right after its create is found
/// within it.
pub(super) const VISIBILITY_GRACE: Duration = Duration::from_secs(1800);

/// How long after a create the FeedSource's cached copy may still lack the status written with
/// it (`FeedContext::status_lags_create`): a watch this far behind is not waited for.
pub(super) const WATCH_LAG_LIMIT: Duration = Duration::from_secs(60);

/// How long a registration waits for another of the same feed URL: the other's calls are
/// bounded (10 s each by default), and a wait past this is retried with backoff, so a slow API
/// never keeps a reconcile running towards `--stall-timeout`.
pub const FEED_LOCK_WAIT: Duration = Duration::from_secs(15);

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
    /// How long a registration waits for another of the same feed URL before it gives up and
    /// is retried with backoff ([`FEED_LOCK_WAIT`]): no reconcile waits on without bound.
    pub feed_lock_wait: Duration,
    /// Whether a FeedSource may take a feed that belongs to another namespace
    /// (`--allow-cross-namespace-adoption`).
    pub cross_namespace_adoption: bool,
    /// Feeds created whose claim is not written yet.
    pub(super) unclaimed: Unclaimed,
    /// How often each schedule is fully described even when the listing shows no change (to
    /// catch edits of the action or input, which the listing does not show).
    pub full_verify: Duration,
    /// When each schedule was last read in full.
    pub(super) verified: Verified,
    /// The FeedSources only a change can help.
    pub(super) parked: Parked,
    /// The schedules created or triggered moments ago, until a listing shows them.
    pub(super) awaiting: AwaitingListing,
    /// The creates in flight, which listings for news wait for (`hold`).
    pub(super) creates: Creates,
    /// The ends of runs the runs watch learned and the reconciles have not recorded yet.
    pub(super) run_news: RunNews,
    /// Where FeedSources are sent to be reconciled again.
    pub(super) comebacks: Comebacks,
    /// The CuratorWorker caches.
    pub(super) workers: Workers,
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
            feed_lock_wait: FEED_LOCK_WAIT,
            cross_namespace_adoption: false,
            unclaimed: Unclaimed::default(),
            full_verify: Duration::from_secs(3600),
            verified: Verified::default(),
            parked: Parked::default(),
            awaiting: AwaitingListing::default(),
            creates: Creates::default(),
            run_news: RunNews::default(),
            comebacks: Comebacks::default(),
            workers: Workers::default(),
        }
    }

    /// Lets FeedSources take feeds that belong to other namespaces (`allowed`).
    pub fn with_cross_namespace_adoption(mut self, allowed: bool) -> Self {
        self.cross_namespace_adoption = allowed;
        self
    }

    /// Describes every schedule fully at least this often.
    pub fn with_full_verify(mut self, every: Duration) -> Self {
        self.full_verify = every;
        self
    }

    /// Whether `uid`'s schedule was read in full recently enough to trust the listing.
    pub(super) fn verified_recently(&self, uid: &str) -> bool {
        self.verified.recently(uid, self.full_verify)
    }

    /// Whether the resync sweep brings `fs` back now: when [`crate::controller::resync::feed_due`]
    /// says so, and not while it is being deleted (its cleanup retries with backoff) nor while
    /// it waits for a change.
    pub fn resynced(&self, fs: &FeedSource) -> bool {
        let uid = fs.metadata.uid.as_deref().unwrap_or_default();
        fs.metadata.deletion_timestamp.is_none()
            && crate::controller::resync::feed_due(fs, jiff::Timestamp::now(), self.shared.resync)
            && !self.parked.contains(uid)
    }

    /// The FeedSources sent back to be reconciled (for `Controller::reconcile_on`).
    pub fn listing_news(
        &self,
    ) -> impl futures::Stream<Item = ObjectRef<FeedSource>> + Send + 'static + use<> {
        self.comebacks.subscribe()
    }

    /// `listing` arrived: the FeedSources waiting for their schedule to show come back, if it
    /// does (the others come back when the next listing may start).
    pub(super) fn listing_arrived(&self, listing: &crate::schedule::listing::Listing) {
        self.comebacks.send(&self.awaiting.shown_in(listing));
    }

    /// Ends the count of a create ([`Creates::start`]). When it was the last in flight and a
    /// listing for news waited for it, the FeedSource waiting longest comes back to fetch it,
    /// and the listing's arrival brings the others.
    pub(super) fn create_ended(&self, create: Creating<'_>) {
        if create.end() {
            self.comebacks.send(self.awaiting.oldest().as_slice());
        }
    }

    /// Reads CuratorWorkers from `store` (one per watched scope).
    pub fn add_worker_cache(&self, store: Store<CuratorWorker>) {
        self.workers.add(store);
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
        self.verified.forget(uid);
        self.awaiting.stop(uid);
        self.parked.set(uid, false);
        self.unclaimed.forget(uid);
        self.shared.backoff.reset(uid);
        self.shared.metrics.set_managed(uid, false);
    }

    /// How many FeedSources this context remembers something about (news of their runs
    /// included).
    pub fn remembered(&self) -> usize {
        self.verified.len()
            + self.awaiting.len()
            + self.parked.len()
            + self.unclaimed.len()
            + self.run_news.waiting()
    }

    /// Whether `fs` is an older copy than this process's own write: its schedule was created
    /// here less than [`WATCH_LAG_LIMIT`] ago, and the status written with the create (which
    /// records the schedule ID) is not in it yet. The copy comes from the cache, and under
    /// load the watch delivers a status write seconds late: a reconcile of the older copy would
    /// create the schedule again, find it taken and describe it.
    pub(super) fn status_lags_create(&self, uid: &str, fs: &FeedSource) -> bool {
        fs.status.as_ref().is_none_or(|s| s.schedule_id.is_none())
            && self
                .awaiting
                .created_at(uid)
                .is_some_and(|(at, _)| at.elapsed() < WATCH_LAG_LIMIT)
    }

    /// How long a schedule listing is reused.
    pub(super) fn list_ttl(&self) -> Duration {
        (self.shared.resync / 4).clamp(Duration::from_secs(5), Duration::from_secs(60))
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
        ctx.awaiting
            .start("u1", obj("shown"), "t/news/shown".into());
        ctx.awaiting
            .start("u2", obj("lagging"), "t/news/lagging".into());
        let listing = Listing::from(vec![("t/news/shown".to_owned(), Entry::default())]);
        ctx.listing_arrived(&listing);
        assert_eq!(news.next().await, Some(obj("shown")));
        ctx.listing_arrived(&Default::default());
        ctx.awaiting.stop("u1");
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
        ctx.parked.set("uid-a", true);
        ctx.parked.set("uid-a", true);
        assert!(!ctx.resynced(&fs));
        assert_eq!(ctx.remembered(), 1);
        ctx.parked.set("uid-a", false);
        assert!(ctx.resynced(&fs));
        ctx.parked.set("uid-a", true);
        ctx.forget(&fs);
        assert!(ctx.resynced(&fs), "forgotten with the rest");
        assert_eq!(ctx.remembered(), 0);
        fs.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH),
        );
        assert!(!ctx.resynced(&fs), "its cleanup retries with backoff");
    }
}
