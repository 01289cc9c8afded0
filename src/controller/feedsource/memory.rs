//! What the FeedSource controller remembers between reconciles, each in a type named for what
//! it is: [`Verified`] (when each schedule was last read in full), [`Parked`] (the FeedSources
//! only a change can help), [`AwaitingListing`] (schedules created or triggered moments ago, until
//! a listing shows them), [`Comebacks`] (where a FeedSource is sent to be reconciled again),
//! [`Workers`] (the CuratorWorker caches) and [`Unclaimed`] (feeds created whose FeedClaim is
//! not written yet). Ends of runs wait in `run_news`, creates in flight are counted in `hold`.
//! Everything here is by UID and forgotten with the FeedSource.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use futures::channel::mpsc::UnboundedSender;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::{
    crd::{CuratorWorker, FeedSource},
    schedule::listing::Listing,
    uid::UidKey,
};

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// When each FeedSource's schedule was last read or written in full (a describe), by UID.
#[derive(Default)]
pub struct Verified(Mutex<HashMap<UidKey, Instant>>);

impl Verified {
    /// `uid`'s schedule was just read in full.
    pub fn mark(&self, uid: &str) {
        locked(&self.0).insert(uid.into(), Instant::now());
    }

    /// Whether `uid`'s schedule was read in full less than `every` ago, spread per UID
    /// (75%–125%) so that the full reads of many schedules do not come in waves.
    pub fn recently(&self, uid: &str, every: Duration) -> bool {
        let spread = uid
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)))
            % 1000;
        let every = every.mul_f64(0.75 + f64::from(spread) / 2000.0);
        locked(&self.0)
            .get(&uid.into())
            .is_some_and(|t| t.elapsed() < every)
    }

    /// Forgets `uid`.
    pub fn forget(&self, uid: &str) {
        locked(&self.0).remove(&uid.into());
    }

    /// How many are remembered.
    pub fn len(&self) -> usize {
        locked(&self.0).len()
    }
}

/// The FeedSources only a change can help (no worker, a spec that cannot become a schedule),
/// by UID: the resync sweep leaves them out.
#[derive(Default)]
pub struct Parked(Mutex<HashSet<UidKey>>);

impl Parked {
    /// Records whether `uid` waits for a change.
    pub fn set(&self, uid: &str, parked: bool) {
        let mut set = locked(&self.0);
        if parked {
            set.insert(uid.into());
        } else {
            set.remove(&uid.into());
        }
    }

    /// Whether `uid` waits for a change.
    pub fn contains(&self, uid: &str) -> bool {
        locked(&self.0).contains(&uid.into())
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        locked(&self.0).len()
    }
}

/// A schedule created (or triggered) with one call, waiting for a listing to show it.
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

/// The schedules created or triggered with one call and not yet seen in a listing, by UID.
#[derive(Default)]
pub struct AwaitingListing(Mutex<HashMap<UidKey, Awaiting>>);

impl AwaitingListing {
    /// `uid`'s schedule `id` (of FeedSource `obj`) was just created, and waits for a listing.
    pub fn start(&self, uid: &str, obj: ObjectRef<FeedSource>, id: String) {
        let now = Instant::now();
        let entry = Awaiting {
            at: now,
            since: now,
            obj,
            id,
        };
        locked(&self.0).insert(uid.into(), entry);
    }

    /// `uid` waits no more.
    pub fn stop(&self, uid: &str) {
        locked(&self.0).remove(&uid.into());
    }

    /// When `uid`'s schedule was created, and after when a listing must have started to be
    /// news for it.
    pub fn created_at(&self, uid: &str) -> Option<(Instant, Instant)> {
        locked(&self.0).get(&uid.into()).map(|a| (a.at, a.since))
    }

    /// A listing that started after `uid`'s create does not show it yet (visibility lags): only
    /// a listing started from now on is news for it.
    pub fn missed(&self, uid: &str) {
        if let Some(a) = locked(&self.0).get_mut(&uid.into()) {
            a.since = Instant::now();
        }
    }

    /// The FeedSources whose schedule `listing` shows.
    pub fn shown_in(&self, listing: &Listing) -> Vec<ObjectRef<FeedSource>> {
        locked(&self.0)
            .values()
            .filter(|a| listing.contains_key(&a.id))
            .map(|a| a.obj.clone())
            .collect()
    }

    /// The FeedSource that has waited longest.
    pub fn oldest(&self) -> Option<ObjectRef<FeedSource>> {
        locked(&self.0)
            .values()
            .min_by_key(|a| a.at)
            .map(|a| a.obj.clone())
    }

    /// How many wait.
    pub fn len(&self) -> usize {
        locked(&self.0).len()
    }
}

/// Where FeedSources are sent to be reconciled again (a listing arrived, the creates ended):
/// one channel per controller (watched scope).
#[derive(Default)]
pub struct Comebacks(Mutex<Vec<UnboundedSender<ObjectRef<FeedSource>>>>);

impl Comebacks {
    /// A new channel (for `Controller::reconcile_on`).
    pub fn subscribe(
        &self,
    ) -> impl futures::Stream<Item = ObjectRef<FeedSource>> + Send + 'static + use<> {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        locked(&self.0).push(tx);
        rx
    }

    /// Sends `objs` to every controller.
    pub fn send(&self, objs: &[ObjectRef<FeedSource>]) {
        if objs.is_empty() {
            return;
        }
        let mut channels = locked(&self.0);
        channels.retain(|tx| !tx.is_closed());
        for tx in channels.iter() {
            for obj in objs {
                let _ = tx.unbounded_send(obj.clone());
            }
        }
    }
}

/// The CuratorWorker caches of the watched scopes: a reconcile reads its worker there, and asks
/// the API server only when the cache does not have it (yet).
#[derive(Default)]
pub struct Workers(RwLock<Vec<Store<CuratorWorker>>>);

impl Workers {
    /// Reads CuratorWorkers from `store` too (one per watched scope).
    pub fn add(&self, store: Store<CuratorWorker>) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(store);
    }

    /// The CuratorWorker `namespace/name`, if a cache has it.
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<CuratorWorker>> {
        let key = ObjectRef::new(name).within(namespace);
        let stores = self.0.read().unwrap_or_else(|p| p.into_inner());
        stores.iter().find_map(|s| s.get(&key))
    }
}

/// The feeds the operator created whose claim could not be written yet, by (API, feed ID):
/// the FeedSource UID they were created for. Kept in memory only, so that nothing a tenant
/// writes can make the operator its creator; lost on a restart (the feed is then kept).
#[derive(Debug, Default)]
pub(super) struct Unclaimed(Mutex<HashMap<(String, String), String>>);

impl Unclaimed {
    /// Remembers that feed `id` of `api` was created for the FeedSource `uid`.
    pub(super) fn put(&self, api: &str, id: &str, uid: &str) {
        locked(&self.0).insert((api.to_owned(), id.to_owned()), uid.to_owned());
    }

    /// Whether feed `id` of `api` was created for `uid` and is not claimed yet.
    pub(super) fn holds(&self, api: &str, id: &str, uid: &str) -> bool {
        let key = (api.to_owned(), id.to_owned());
        locked(&self.0).get(&key).is_some_and(|u| u == uid)
    }

    /// Forgets feed `id` of `api` created for `uid`: its claim is settled.
    pub(super) fn claimed(&self, api: &str, id: &str, uid: &str) {
        let key = (api.to_owned(), id.to_owned());
        let mut m = locked(&self.0);
        if m.get(&key).is_some_and(|u| u == uid) {
            m.remove(&key);
        }
    }

    /// Forgets what was kept for the FeedSource `uid` (it is gone).
    pub(super) fn forget(&self, uid: &str) {
        locked(&self.0).retain(|_, u| u != uid);
    }

    /// Feeds kept.
    pub(super) fn len(&self) -> usize {
        locked(&self.0).len()
    }
}
