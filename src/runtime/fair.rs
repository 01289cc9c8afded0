//! A fair share of each controller's reconcile slots per namespace: one tenant's FeedSources
//! on a hanging endpoint cannot hold every slot while another tenant waits.
//!
//! The controller itself runs every reconcile it has (unbounded), and each one first waits
//! here for a slot: `slots` per kind in all, handed out in order of arrival within a namespace
//! and to the namespace running fewest between namespaces. A namespace never holds more than
//! half the slots, so a namespace that comes later always finds one free at once; with more
//! namespaces busy, each gets an equal share. A reconcile waiting here costs nothing until a
//! slot is handed to it (no polling): it is woken once, by the reconcile whose slot it takes.
//! Half the default 64 slots is twice the calls one Temporal namespace takes at once
//! (`--temporal-max-in-flight`), so a namespace alone loses no pace.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

/// PURE: whether a namespace running `running` reconciles may start one more, with `slots`
/// slots in all and `active` namespaces (itself included) running or waiting: its share is an
/// equal part of the slots, half of them at most.
pub fn admits(running: usize, active: usize, slots: usize) -> bool {
    let share = (slots / active.max(2)).max(1);
    running < share
}

/// One reconcile waiting for a slot.
#[derive(Debug)]
struct Waiter {
    /// Order of arrival, over all namespaces of the kind.
    seq: u64,
    wake: oneshot::Sender<()>,
}

/// The slots of one kind.
#[derive(Debug, Default)]
struct Kind {
    total: usize,
    running: HashMap<String, usize>,
    waiting: HashMap<String, VecDeque<Waiter>>,
    next_seq: u64,
}

impl Kind {
    fn running(&self, ns: &str) -> usize {
        self.running.get(ns).copied().unwrap_or(0)
    }

    /// Namespaces running or waiting, with `ns`.
    fn active(&self, ns: &str) -> usize {
        let mut n = self.running.len();
        n += self
            .waiting
            .keys()
            .filter(|w| !self.running.contains_key(*w))
            .count();
        if !self.running.contains_key(ns) && !self.waiting.contains_key(ns) {
            n += 1;
        }
        n
    }

    fn may_start(&self, ns: &str, slots: usize) -> bool {
        self.total < slots && admits(self.running(ns), self.active(ns), slots)
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
        self.waiting
            .iter()
            .filter_map(|(ns, q)| q.front().map(|w| (ns, w.seq)))
            .filter(|(ns, _)| admits(self.running(ns), self.active(ns), slots))
            .min_by_key(|(ns, seq)| (self.running(ns), *seq))
            .map(|(ns, _)| ns.clone())
    }

    /// Hands free slots to waiters (taking them for them); the wakers to call, outside the
    /// lock, with their namespaces. A waiter that is gone (its reconcile dropped) is skipped.
    fn hand_out(&mut self, slots: usize) -> Vec<(String, oneshot::Sender<()>)> {
        let mut woken = Vec::new();
        while let Some(ns) = self.next(slots) {
            let Some(q) = self.waiting.get_mut(&ns) else {
                break;
            };
            let waiter = q.pop_front();
            if q.is_empty() {
                self.waiting.remove(&ns);
            }
            if let Some(w) = waiter.filter(|w| !w.wake.is_closed()) {
                self.take(&ns);
                woken.push((ns, w.wake));
            }
        }
        woken
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

/// A slot taken; dropping it gives it back and hands it to the next waiter.
#[derive(Debug)]
pub struct Slot {
    share: Arc<FairShare>,
    kind: &'static str,
    ns: String,
}

/// What [`FairShare::enter`] gives.
#[derive(Debug)]
pub enum Entry {
    /// A slot, at once.
    Now(Slot),
    /// In the queue: [`Queued::slot`] waits for the slot.
    Queued(Queued),
    /// Stopping: no reconcile starts.
    Closed,
}

/// A place in the queue of a namespace; dropping it gives up the place (or the slot it was
/// just handed).
#[derive(Debug)]
pub struct Queued {
    share: Arc<FairShare>,
    kind: &'static str,
    ns: String,
    wake: Option<oneshot::Receiver<()>>,
    /// A slot was free for another namespace: this one waits for its share, not for a slot.
    pub deferred: bool,
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

    /// A slot for a reconcile of `kind` in namespace `ns` at once, or a place in its queue.
    pub fn enter(self: &Arc<Self>, kind: &'static str, ns: &str) -> Entry {
        let mut st = self.state();
        if st.closed {
            return Entry::Closed;
        }
        let k = st.kinds.entry(kind).or_default();
        if !k.waiting.contains_key(ns) && k.may_start(ns, self.slots) {
            k.take(ns);
            return Entry::Now(self.slot(kind, ns));
        }
        let deferred = k.total < self.slots;
        let (tx, rx) = oneshot::channel();
        let seq = k.next_seq;
        k.next_seq += 1;
        k.waiting
            .entry(ns.to_owned())
            .or_default()
            .push_back(Waiter { seq, wake: tx });
        Entry::Queued(Queued {
            share: self.clone(),
            kind,
            ns: ns.to_owned(),
            wake: Some(rx),
            deferred,
        })
    }

    fn slot(self: &Arc<Self>, kind: &'static str, ns: &str) -> Slot {
        Slot {
            share: self.clone(),
            kind,
            ns: ns.to_owned(),
        }
    }

    /// Reconciles waiting for a slot, of `kind`.
    pub fn waiting(&self, kind: &'static str) -> usize {
        let st = self.state();
        st.kinds
            .get(kind)
            .map_or(0, |k| k.waiting.values().map(VecDeque::len).sum())
    }

    /// No slot is handed out from now on; every waiter ends with no slot.
    pub fn close(&self) {
        let mut st = self.state();
        st.closed = true;
        for k in st.kinds.values_mut() {
            k.waiting.clear();
        }
    }

    /// Gives a slot of `kind` back (`ns` running one fewer) and wakes who gets it.
    fn give_back(&self, kind: &'static str, ns: &str) {
        let mut returned = vec![ns.to_owned()];
        while let Some(ns) = returned.pop() {
            let woken = {
                let mut st = self.state();
                let closed = st.closed;
                let Some(k) = st.kinds.get_mut(kind) else {
                    return;
                };
                k.give_back(&ns);
                if closed {
                    Vec::new()
                } else {
                    k.hand_out(self.slots)
                }
            };
            for (ns, w) in woken {
                // Gone since it was chosen: the slot comes back here (had the value reached
                // it first, its `Queued` drop would give the slot back instead).
                if w.send(()).is_err() {
                    returned.push(ns);
                }
            }
        }
    }
}

impl Queued {
    /// Waits for the slot; `None` once stopping.
    pub async fn slot(mut self) -> Option<Slot> {
        let wake = self.wake.as_mut()?;
        wake.await.ok()?;
        self.wake = None;
        Some(self.share.slot(self.kind, &self.ns))
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        let Some(mut wake) = self.wake.take() else {
            return;
        };
        // Handed a slot it will not use: give it back. Still waiting: its place is skipped
        // when its turn comes (the waker sees the receiver closed).
        wake.close();
        if wake.try_recv().is_ok() {
            self.share.give_back(self.kind, &self.ns);
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
