//! A fair share of each controller's reconcile slots per namespace: one tenant's FeedSources
//! on a hanging endpoint cannot hold every slot while another tenant waits.
//!
//! A controller has `slots` reconciles per kind. A namespace never holds more than half of
//! them, so a namespace that comes later always finds one free at once; with more namespaces
//! busy, each gets an equal share. A reconcile over its namespace's share does nothing: its
//! object joins its namespace's queue and the reconcile ends at once, freeing the controller
//! for others. When a slot is given back, it is kept for the next object of the namespace
//! running fewest (in order of arrival within a namespace) and that object is called back
//! ([`FairShare::callbacks`]); its reconcile takes the slot kept for it. Nothing is polled: an
//! object waiting costs its place in a queue, and is reconciled twice (put off, called back).
//! Half the default 64 slots is twice the calls one Temporal namespace takes at once
//! (`--temporal-max-in-flight`), so a namespace alone loses no pace.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::mpsc;

/// How long a slot kept for an object called back waits for its reconcile (an object deleted
/// meanwhile never comes): then it is given back.
pub const KEPT: Duration = Duration::from_secs(10);

/// PURE: whether a namespace running `running` reconciles may start one more, with `slots`
/// slots in all and `active` namespaces (itself included) running or waiting: its share is an
/// equal part of the slots, half of them at most.
pub fn admits(running: usize, active: usize, slots: usize) -> bool {
    let share = (slots / active.max(2)).max(1);
    running < share
}

/// An object waiting: its namespace and name.
pub type Object = (String, String);

/// The slots of one kind.
#[derive(Debug, Default)]
struct Kind {
    /// Slots taken (running or kept).
    total: usize,
    running: HashMap<String, usize>,
    /// Per namespace, its objects waiting, in order of arrival (with their arrival number).
    waiting: HashMap<String, VecDeque<(u64, String)>>,
    queued: HashSet<Object>,
    /// Slots kept for objects called back, until when.
    kept: HashMap<Object, Instant>,
    next_seq: u64,
    callbacks: Option<mpsc::UnboundedSender<Object>>,
}

impl Kind {
    fn running(&self, ns: &str) -> usize {
        self.running.get(ns).copied().unwrap_or(0)
    }

    /// Namespaces running or waiting.
    fn active(&self) -> usize {
        let only_waiting = self
            .waiting
            .keys()
            .filter(|ns| !self.running.contains_key(*ns))
            .count();
        self.running.len() + only_waiting
    }

    fn may_start(&self, ns: &str, slots: usize) -> bool {
        let new = !self.running.contains_key(ns) && !self.waiting.contains_key(ns);
        self.total < slots && admits(self.running(ns), self.active() + usize::from(new), slots)
    }

    fn take(&mut self, ns: &str) {
        self.total += 1;
        *self.running.entry(ns.to_owned()).or_default() += 1;
    }

    fn give_back(&mut self, ns: &str) {
        self.total = self.total.saturating_sub(1);
        if let Some(n) = self.running.get_mut(ns) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.running.remove(ns);
            }
        }
    }

    /// PURE choice: the waiting namespace that gets the next free slot: of those within their
    /// share, the one running fewest, then the one waiting longest.
    fn next(&self, slots: usize) -> Option<String> {
        if self.total >= slots {
            return None;
        }
        let active = self.active();
        self.waiting
            .iter()
            .filter_map(|(ns, q)| q.front().map(|(seq, _)| (ns, *seq)))
            .filter(|(ns, _)| admits(self.running(ns), active, slots))
            .min_by_key(|(ns, seq)| (self.running(ns), *seq))
            .map(|(ns, _)| ns.clone())
    }

    /// Gives back the slots kept past their time.
    fn expire(&mut self, now: Instant) {
        let gone: Vec<Object> = self
            .kept
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(o, _)| o.clone())
            .collect();
        for o in gone {
            self.kept.remove(&o);
            self.give_back(&o.0);
        }
    }

    /// Keeps free slots for the next objects and calls them back.
    fn hand_out(&mut self, slots: usize, now: Instant) {
        while let Some(ns) = self.next(slots) {
            let Some(q) = self.waiting.get_mut(&ns) else {
                break;
            };
            let head = q.pop_front();
            if q.is_empty() {
                self.waiting.remove(&ns);
            }
            let Some((_, name)) = head else { continue };
            let object = (ns, name);
            self.queued.remove(&object);
            self.take(&object.0);
            self.kept.insert(object.clone(), now + KEPT);
            if let Some(tx) = &self.callbacks {
                let _ = tx.send(object);
            }
        }
    }
}

#[derive(Debug, Default)]
struct State {
    kinds: HashMap<&'static str, Kind>,
    closed: bool,
}

/// The shares of reconcile slots, per kind (each controller has `slots`).
#[derive(Debug)]
pub struct FairShare {
    slots: usize,
    state: Mutex<State>,
}

/// A slot taken; dropping it gives it back and keeps it for the next object waiting.
#[derive(Debug)]
pub struct Slot {
    share: Arc<FairShare>,
    kind: &'static str,
    ns: String,
}

/// What [`FairShare::enter`] gives.
#[derive(Debug)]
pub enum Entry {
    /// A slot.
    Now(Slot),
    /// Over its namespace's share, or no slot free: the object waits in its namespace's queue
    /// and is called back.
    Later {
        /// A slot was free, for another namespace; first time in the queue.
        deferred: bool,
    },
    /// Stopping: no reconcile starts.
    Closed,
}

impl FairShare {
    /// Shares of `slots` reconciles per kind.
    pub fn new(slots: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: slots.max(1),
            state: Mutex::default(),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The objects of `kind` called back: their slot is kept for them (for [`KEPT`]). Their
    /// controller reconciles them again (a second call replaces the first receiver).
    pub fn callbacks(&self, kind: &'static str) -> mpsc::UnboundedReceiver<Object> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.state().kinds.entry(kind).or_default().callbacks = Some(tx);
        rx
    }

    /// A slot for a reconcile of the object `name` of `kind` in namespace `ns`: the one kept
    /// for it, a free one within its namespace's share, or a place in its namespace's queue.
    pub fn enter(
        self: &Arc<Self>,
        kind: &'static str,
        ns: &str,
        name: &str,
        now: Instant,
    ) -> Entry {
        let mut st = self.state();
        if st.closed {
            return Entry::Closed;
        }
        let slots = self.slots;
        let k = st.kinds.entry(kind).or_default();
        k.expire(now);
        let object = (ns.to_owned(), name.to_owned());
        let entry = if k.kept.remove(&object).is_some() {
            Entry::Now(self.slot(kind, ns))
        } else if k.queued.contains(&object) {
            Entry::Later { deferred: false }
        } else if !k.waiting.contains_key(ns) && k.may_start(ns, slots) {
            k.take(ns);
            Entry::Now(self.slot(kind, ns))
        } else {
            let seq = k.next_seq;
            k.next_seq += 1;
            k.waiting
                .entry(object.0.clone())
                .or_default()
                .push_back((seq, object.1.clone()));
            k.queued.insert(object);
            Entry::Later {
                deferred: k.total < slots,
            }
        };
        // Slots given back by expiry go on at once.
        k.hand_out(slots, now);
        entry
    }

    fn slot(self: &Arc<Self>, kind: &'static str, ns: &str) -> Slot {
        Slot {
            share: self.clone(),
            kind,
            ns: ns.to_owned(),
        }
    }

    /// Objects of `kind` waiting for a slot.
    pub fn waiting(&self, kind: &'static str) -> usize {
        self.state().kinds.get(kind).map_or(0, |k| k.queued.len())
    }

    /// No slot is kept or taken from now on; the queues are forgotten.
    pub fn close(&self) {
        let mut st = self.state();
        st.closed = true;
        for k in st.kinds.values_mut() {
            k.waiting.clear();
            k.queued.clear();
        }
    }

    /// Gives a slot of `kind` back (`ns` running one fewer) and keeps it for who is next.
    fn give_back(&self, kind: &'static str, ns: &str) {
        let mut st = self.state();
        let closed = st.closed;
        let Some(k) = st.kinds.get_mut(kind) else {
            return;
        };
        k.give_back(ns);
        if !closed {
            k.hand_out(self.slots, Instant::now());
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.share.give_back(self.kind, &self.ns);
    }
}

#[cfg(test)]
#[path = "fair_tests.rs"]
mod tests;
