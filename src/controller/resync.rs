//! The periodic resync of the FeedSources, with no timer per object.
//!
//! A converged FeedSource comes back once per resync interval: its schedule may have drifted in
//! Temporal, its Secret or its feed may have changed while the resource did not. Requeued
//! through kube-runtime's scheduler, each converged FeedSource would keep its reference twice
//! (in a map and in a delay queue: BENCHMARKS.md has the bytes). [`sweep`] walks the reflector
//! store at every tick instead and brings back
//! the FeedSources whose slot comes up: each one once per interval, at a phase fixed by its UID
//! so that the resyncs are spread evenly, with nothing kept per object. A reconcile that leaves
//! the rest to the sweep returns `Action::await_change()`.

use std::{
    hash::{DefaultHasher, Hash, Hasher},
    sync::Arc,
    time::Duration,
};

use futures::{Stream, StreamExt, stream};
use kube::Resource;
use kube::runtime::reflector::{ObjectRef, Store};

/// At most this many slots (ticks) per interval: a 5 min interval ticks every 5 s.
pub const MAX_SLOTS: u32 = 60;

/// PURE: the number of slots of `interval`, and the time between two ticks. One slot per
/// second of the interval, at most [`MAX_SLOTS`], at least one.
pub fn slots(interval: Duration) -> (u32, Duration) {
    let n = u32::try_from(interval.as_secs())
        .unwrap_or(u32::MAX)
        .clamp(1, MAX_SLOTS);
    let tick = interval / n;
    (n, tick.max(Duration::from_millis(100)))
}

/// PURE: the slot of object `o` among `n`, from its UID (from its namespace and name for an
/// object without one, never from an API server). The same in every tick of a process
/// (`DefaultHasher::new()` has fixed keys), so each object comes back exactly once per interval.
/// It reads the object in place: the sweep computes it for every cached object at every tick.
pub fn slot_of<K: Resource>(o: &K, n: u32) -> u32 {
    let meta = o.meta();
    let mut h = DefaultHasher::new();
    match meta.uid.as_deref() {
        Some(uid) => uid.hash(&mut h),
        None => (meta.namespace.as_deref(), meta.name.as_deref()).hash(&mut h),
    }
    u32::try_from(h.finish() % u64::from(n.max(1))).unwrap_or(0)
}

/// PURE: the objects of `objects` due at tick number `tick` of an interval of `n` slots, for
/// which `keep` holds.
pub fn due<K>(objects: &[Arc<K>], tick: u64, n: u32, keep: impl Fn(&K) -> bool) -> Vec<ObjectRef<K>>
where
    K: Resource<DynamicType = ()>,
{
    let slot = u32::try_from(tick % u64::from(n.max(1))).unwrap_or(0);
    objects
        .iter()
        .filter(|o| slot_of(&***o, n) == slot && keep(o))
        .map(|o| ObjectRef::from_obj(&**o))
        .collect()
}

/// PURE: whether the resync sweep has to bring FeedSource `fs` back at `now`: it was reconciled
/// for its current spec (its status says so; one that was not is in the queue already, and a
/// cache that lags behind a reconcile in flight must not start it over), and its `Ready` did not
/// change less than one `interval` ago (it was just checked: a mass creation is not resynced
/// while it goes on, as with a requeue one interval after each reconcile).
pub fn feed_due(fs: &crate::crd::FeedSource, now: jiff::Timestamp, interval: Duration) -> bool {
    let Some(status) = &fs.status else {
        return false;
    };
    if status.observed_generation != fs.metadata.generation {
        return false;
    }
    let since = status
        .conditions
        .transition_time(crate::crd::conditions::READY)
        .map(|t| now.duration_since(t.0));
    since.is_none_or(|d| d >= jiff::SignedDuration::try_from(interval).unwrap_or_default())
}

/// The objects of `store` for which `keep` holds, each once per `interval` (for
/// `Controller::reconcile_on`). The first tick comes one tick after the start: the initial list
/// brings every object anyway. A late tick is caught up at once, so no slot is skipped.
pub fn sweep<K>(
    store: Store<K>,
    interval: Duration,
    keep: impl Fn(&K) -> bool + Send + 'static,
) -> impl Stream<Item = ObjectRef<K>> + Send + 'static
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    let (n, tick) = slots(interval);
    let ticks = tokio::time::interval_at(tokio::time::Instant::now() + tick, tick);
    stream::unfold((ticks, 0u64), move |(mut ticks, i)| async move {
        ticks.tick().await;
        Some((i, (ticks, i.wrapping_add(1))))
    })
    .flat_map(move |i| stream::iter(due(&store.state(), i, n, &keep)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crd::FeedSource;
    use kube::ResourceExt;

    fn feeds(n: usize) -> Vec<Arc<FeedSource>> {
        (0..n)
            .map(|i| {
                let mut fs = FeedSource::test("ns", &format!("feed-{i}"));
                fs.metadata.uid = Some(format!("{i:08x}-0000-4000-8000-{i:012x}"));
                Arc::new(fs)
            })
            .collect()
    }

    #[test]
    fn an_interval_has_a_slot_per_second_up_to_sixty() {
        let s = Duration::from_secs;
        assert_eq!(slots(s(300)), (60, s(5)));
        assert_eq!(slots(s(60)), (60, s(1)));
        assert_eq!(slots(s(2)), (2, s(1)));
        assert_eq!(
            slots(Duration::from_millis(500)),
            (1, Duration::from_millis(500))
        );
        assert_eq!(slots(Duration::ZERO), (1, Duration::from_millis(100)));
    }

    #[test]
    fn every_object_comes_back_exactly_once_per_interval_and_the_slots_are_even() {
        let objects = feeds(6_000);
        let n = 60;
        let mut seen = std::collections::HashMap::new();
        let mut per_slot = Vec::new();
        // Two intervals, starting at an arbitrary tick.
        for tick in 1_000..1_000 + 2 * u64::from(n) {
            let d = due(&objects, tick, n, |_| true);
            per_slot.push(d.len());
            for r in d {
                *seen.entry(r.name).or_insert(0) += 1;
            }
        }
        assert_eq!(seen.len(), 6_000);
        assert!(seen.values().all(|&c| c == 2), "twice in two intervals");
        // 100 per slot on average; a uniform hash stays well within half of it either way.
        let (lo, hi) = (per_slot.iter().min(), per_slot.iter().max());
        assert!(lo >= Some(&50) && hi <= Some(&150), "{lo:?}..{hi:?}");
    }

    #[test]
    fn the_sweep_leaves_out_what_keep_refuses() {
        let objects = feeds(200);
        let all: usize = (0..10).map(|t| due(&objects, t, 10, |_| true).len()).sum();
        let kept: usize = (0..10)
            .map(|t| due(&objects, t, 10, |f: &FeedSource| f.name_any() != "feed-7").len())
            .sum();
        assert_eq!((all, kept), (200, 199));
    }

    #[test]
    fn a_feedsource_is_swept_once_reconciled_for_its_spec_and_one_interval_after_ready_changed() {
        use crate::crd::{FeedSourceStatus, conditions::READY};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
        let now = jiff::Timestamp::from_second(2_000_000_000).expect("time");
        let every = Duration::from_secs(300);
        let ready_at = |ago: i64| {
            let mut fs = FeedSource::test("ns", "a");
            fs.metadata.generation = Some(2);
            fs.status = Some(FeedSourceStatus {
                observed_generation: Some(2),
                conditions: vec![Condition {
                    type_: READY.into(),
                    status: "True".into(),
                    reason: "Synced".into(),
                    message: String::new(),
                    last_transition_time: Time(now - jiff::SignedDuration::from_secs(ago)),
                    observed_generation: Some(2),
                }]
                .into(),
                ..Default::default()
            });
            fs
        };
        assert!(feed_due(&ready_at(300), now, every));
        assert!(feed_due(&ready_at(3_600), now, every));
        assert!(!feed_due(&ready_at(299), now, every), "just checked");
        let mut older_spec = ready_at(3_600);
        older_spec.metadata.generation = Some(3);
        assert!(
            !feed_due(&older_spec, now, every),
            "in the queue for its new spec"
        );
        let mut no_ready = ready_at(3_600);
        if let Some(s) = no_ready.status.as_mut() {
            s.conditions = Default::default();
        }
        assert!(feed_due(&no_ready, now, every));
        let mut never = ready_at(3_600);
        never.status = None;
        assert!(!feed_due(&never, now, every), "never reconciled");
    }

    #[tokio::test(start_paused = true)]
    async fn the_sweep_brings_every_object_back_within_one_interval() {
        let (reader, mut writer) = kube::runtime::reflector::store::<FeedSource>();
        for fs in feeds(50) {
            writer.apply_watcher_event(&kube::runtime::watcher::Event::Apply((*fs).clone()));
        }
        let start = tokio::time::Instant::now();
        let back: Vec<_> = sweep(reader, Duration::from_secs(10), |_| true)
            .take(50)
            .collect()
            .await;
        let names: std::collections::HashSet<_> = back.into_iter().map(|r| r.name).collect();
        assert_eq!(names.len(), 50);
        assert!(
            start.elapsed() <= Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
    }
}
