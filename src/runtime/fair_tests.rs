use std::{pin::pin, task::Poll};

use super::*;

const FS: &str = "FeedSource";

fn now(e: Entry) -> Slot {
    match e {
        Entry::Now(s) => s,
        other => panic!("expected a slot at once, got {other:?}"),
    }
}

fn queued(e: Entry) -> Queued {
    match e {
        Entry::Queued(q) => q,
        other => panic!("expected a place in the queue, got {other:?}"),
    }
}

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

#[tokio::test]
async fn a_busy_namespace_leaves_slots_for_one_that_comes_later() {
    let share = FairShare::new(4);
    let held: Vec<Slot> = (0..2).map(|_| now(share.enter(FS, "greedy"))).collect();
    let put_off = queued(share.enter(FS, "greedy"));
    assert!(put_off.deferred, "slots were free, not for greedy");
    let _other = now(share.enter(FS, "quiet"));
    assert!(
        matches!(share.enter("CuratorWorker", "greedy"), Entry::Now(_)),
        "each kind has its own slots"
    );
    assert_eq!(share.waiting(FS), 1);
    let mut waiting = pin!(put_off.slot());
    assert!(
        futures::poll!(&mut waiting).is_pending(),
        "nothing was given back"
    );
    drop(held);
    let Poll::Ready(Some(_slot)) = futures::poll!(&mut waiting) else {
        panic!("a slot given back goes to the waiter");
    };
    assert_eq!(share.waiting(FS), 0);
}

#[tokio::test]
async fn a_slot_given_back_goes_to_the_namespace_running_fewest_then_in_order_of_arrival() {
    let share = FairShare::new(4);
    let mut a: Vec<Slot> = (0..2).map(|_| now(share.enter(FS, "a"))).collect();
    let b1 = now(share.enter(FS, "b"));
    let b2 = now(share.enter(FS, "b"));
    // All four slots are taken; a waits first, then b, then c.
    let qa = queued(share.enter(FS, "a"));
    assert!(
        !qa.deferred,
        "no slot was free: it waits for one, not for its share"
    );
    let qb = queued(share.enter(FS, "b"));
    let qc = queued(share.enter(FS, "c"));
    let (mut qa, mut qb, mut qc) = (pin!(qa.slot()), pin!(qb.slot()), pin!(qc.slot()));
    drop(b1);
    // Three namespaces want slots: a and b run 2 and 1, over or at c's share of 1 … c first.
    assert!(futures::poll!(&mut qa).is_pending());
    assert!(futures::poll!(&mut qb).is_pending());
    let Poll::Ready(Some(c)) = futures::poll!(&mut qc) else {
        panic!("c, running none, gets the slot");
    };
    drop(a.pop());
    // a runs 1, b 1, c 1: a share of 4/3 = 1 each, and a waited longest.
    assert!(
        futures::poll!(&mut qa).is_pending(),
        "a is at its share of 1"
    );
    assert!(
        futures::poll!(&mut qb).is_pending(),
        "b is at its share of 1"
    );
    drop(c);
    // c is gone: two namespaces, 2 slots each, and both a and b run 1.
    assert!(matches!(futures::poll!(&mut qa), Poll::Ready(Some(_))));
    assert!(matches!(futures::poll!(&mut qb), Poll::Ready(Some(_))));
    drop(b2);
}

#[test]
fn between_namespaces_running_as_many_the_one_waiting_longest_goes_first() {
    let mut k = Kind::default();
    k.take("a");
    k.take("b");
    for (seq, ns) in [(7, "b"), (9, "a")] {
        let (wake, _) = oneshot::channel();
        k.waiting
            .entry(ns.to_owned())
            .or_default()
            .push_back(Waiter { seq, wake });
    }
    assert_eq!(k.next(4).as_deref(), Some("b"));
    k.take("b");
    assert_eq!(k.next(4).as_deref(), Some("a"), "a runs fewest now");
    assert_eq!(k.next(2), None, "no slot free");
}

#[tokio::test]
async fn within_a_namespace_in_order_of_arrival() {
    let share = FairShare::new(1);
    let running = now(share.enter(FS, "a"));
    let first = queued(share.enter(FS, "a"));
    let second = queued(share.enter(FS, "a"));
    let (mut first, mut second) = (pin!(first.slot()), pin!(second.slot()));
    drop(running);
    assert!(futures::poll!(&mut second).is_pending());
    let Poll::Ready(Some(slot)) = futures::poll!(&mut first) else {
        panic!("the first to come is the first served");
    };
    drop(slot);
    assert!(matches!(futures::poll!(&mut second), Poll::Ready(Some(_))));
}

#[tokio::test]
async fn a_waiter_that_is_gone_is_skipped_and_a_slot_it_was_handed_comes_back() {
    let share = FairShare::new(1);
    let first = now(share.enter(FS, "a"));
    let gone = queued(share.enter(FS, "a"));
    let next = queued(share.enter(FS, "b"));
    drop(gone);
    drop(first);
    let mut next = pin!(next.slot());
    let Poll::Ready(Some(slot)) = futures::poll!(&mut next) else {
        panic!("the place of the one gone is skipped");
    };
    // Handed a slot, then dropped before it took it: the slot is not lost.
    let handed = queued(share.enter(FS, "a"));
    drop(slot);
    drop(handed);
    assert!(
        matches!(share.enter(FS, "c"), Entry::Now(_)),
        "the slot came back"
    );
}

#[tokio::test]
async fn once_closed_no_reconcile_starts_and_the_waiters_end_without_a_slot() {
    let share = FairShare::new(1);
    let running = now(share.enter(FS, "a"));
    let waiting = queued(share.enter(FS, "a"));
    share.close();
    assert!(matches!(share.enter(FS, "b"), Entry::Closed));
    assert!(waiting.slot().await.is_none());
    drop(running);
    assert_eq!(share.waiting(FS), 0);
}
