//! A fair share of each controller's reconcile slots per namespace: one tenant's FeedSources
//! on a hanging endpoint cannot hold every slot while another tenant waits. A namespace never
//! holds more than half the slots, so another's reconcile always finds one free at once (the
//! controller's queue is first come first served, and its waiting reconciles are not seen
//! until they start); with more namespaces busy, each gets an equal share. A reconcile over its
//! namespace's share is put off for a moment (it returns at once, nothing done). Half the
//! default 64 slots is twice the calls one Temporal namespace takes at once
//! (`--temporal-max-in-flight`), so a namespace alone loses no pace.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// How long a namespace counts as wanting slots after one of its reconciles was put off: the
/// others' shares stay smaller while it waits.
pub const WANTING: Duration = Duration::from_secs(10);

/// How soon a reconcile put off comes back.
pub const DEFER: Duration = Duration::from_secs(1);

/// PURE: whether a namespace running `running` reconciles may start one more, with `slots`
/// slots in all and `active` namespaces (itself included) running or wanting some: its share
/// is an equal part of the slots, half of them at most.
pub fn admits(running: usize, active: usize, slots: usize) -> bool {
    let share = (slots / active.max(2)).max(1);
    running < share
}

#[derive(Debug, Default)]
struct State {
    running: HashMap<(&'static str, String), usize>,
    wanting: HashMap<(&'static str, String), Instant>,
}

/// The shares of reconcile slots, per kind (each controller has `slots`).
#[derive(Debug)]
pub struct FairShare {
    slots: usize,
    state: Mutex<State>,
}

/// A slot taken; dropping it gives it back.
#[derive(Debug)]
pub struct Slot {
    share: Arc<FairShare>,
    key: (&'static str, String),
}

impl FairShare {
    /// Shares of `slots` reconciles per kind.
    pub fn new(slots: usize) -> Arc<Self> {
        Arc::new(Self {
            slots: slots.max(1),
            state: Mutex::default(),
        })
    }

    /// A slot for a reconcile of `kind` in namespace `ns`, or `None` when that namespace holds
    /// its share already while others want slots (then it counts as wanting too).
    pub fn enter(self: &Arc<Self>, kind: &'static str, ns: &str, now: Instant) -> Option<Slot> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        st.wanting
            .retain(|_, at| now.saturating_duration_since(*at) < WANTING);
        let key = (kind, ns.to_owned());
        let mut active: Vec<&str> = st
            .running
            .keys()
            .chain(st.wanting.keys())
            .filter(|(k, _)| *k == kind)
            .map(|(_, n)| n.as_str())
            .collect();
        active.push(ns);
        active.sort_unstable();
        active.dedup();
        let running = st.running.get(&key).copied().unwrap_or(0);
        if !admits(running, active.len(), self.slots) {
            st.wanting.insert(key, now);
            return None;
        }
        *st.running.entry(key.clone()).or_default() += 1;
        Some(Slot {
            share: self.clone(),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut st = self.share.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = st.running.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                st.running.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_namespace_holds_half_the_slots_at_most_and_with_others_its_share() {
        assert!(admits(31, 1, 64), "alone: half the slots");
        assert!(
            !admits(32, 1, 64),
            "the other half is for the namespaces to come"
        );
        assert!(admits(0, 1, 1), "one slot: it is everyone's");
        assert!(admits(31, 2, 64));
        assert!(!admits(32, 2, 64), "two busy: half each");
        assert!(admits(0, 100, 64), "more namespaces than slots: one each");
        assert!(!admits(1, 100, 64));
    }

    #[test]
    fn a_busy_namespace_leaves_slots_for_one_that_comes_later() {
        let share = FairShare::new(4);
        let now = Instant::now();
        let held: Vec<Slot> = (0..2)
            .map(|_| share.enter("FeedSource", "greedy", now).expect("alone"))
            .collect();
        assert!(
            share.enter("FeedSource", "greedy", now).is_none(),
            "alone, it still leaves half the slots free"
        );
        let other = share
            .enter("FeedSource", "quiet", now)
            .expect("a free slot");
        assert!(share.enter("FeedSource", "greedy", now).is_none());
        assert!(
            share.enter("CuratorWorker", "greedy", now).is_some(),
            "each kind has its own slots"
        );
        drop(held);
        assert!(share.enter("FeedSource", "greedy", now).is_some());
        drop(other);
    }

    #[test]
    fn a_namespace_put_off_keeps_the_others_to_their_share_while_it_waits() {
        let share = FairShare::new(6);
        let now = Instant::now();
        let _a: Vec<Slot> = (0..2)
            .map(|_| share.enter("FeedSource", "a", now).expect("slot"))
            .collect();
        let _b = share.enter("FeedSource", "b", now).expect("slot");
        // Three namespaces: two slots each; c is put off at its share, then its runs end.
        let c: Vec<Slot> = (0..2)
            .map(|_| share.enter("FeedSource", "c", now).expect("slot"))
            .collect();
        assert!(
            share.enter("FeedSource", "c", now).is_none(),
            "c at its share of 2"
        );
        drop(c);
        assert!(
            share.enter("FeedSource", "a", now).is_none(),
            "c still wants slots: a stays at its share of 2"
        );
        let later = now + WANTING;
        assert!(
            share.enter("FeedSource", "a", later).is_some(),
            "c stopped wanting: a and b, 3 each"
        );
    }
}
