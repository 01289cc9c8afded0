use super::*;

const FS: &str = "FeedSource";

fn now(e: Entry) -> Slot {
    match e {
        Entry::Now(s) => s,
        other => panic!("expected a slot, got {other:?}"),
    }
}

/// Whether the entry is a place in the queue, put off while a slot was free.
fn later(e: Entry) -> bool {
    match e {
        Entry::Later { deferred } => deferred,
        other => panic!("expected a place in the queue, got {other:?}"),
    }
}

fn called(rx: &mut mpsc::UnboundedReceiver<Object>) -> Vec<String> {
    let mut v = Vec::new();
    while let Ok((ns, name)) = rx.try_recv() {
        v.push(format!("{ns}/{name}"));
    }
    v
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

#[test]
fn a_busy_namespace_leaves_slots_for_one_that_comes_later() {
    let share = FairShare::new(4);
    let mut rx = share.callbacks(FS);
    let t = Instant::now();
    let held: Vec<Slot> = (0..2)
        .map(|i| now(share.enter(FS, "greedy", &i.to_string(), t)))
        .collect();
    assert!(
        later(share.enter(FS, "greedy", "2", t)),
        "slots were free, not for greedy"
    );
    assert!(
        !later(share.enter(FS, "greedy", "2", t)),
        "asked again: still in its place, counted once"
    );
    assert_eq!(share.waiting(FS), 1);
    let _other = now(share.enter(FS, "quiet", "a", t));
    assert!(
        matches!(
            share.enter("CuratorWorker", "greedy", "w", t),
            Entry::Now(_)
        ),
        "each kind has its own slots"
    );
    assert!(called(&mut rx).is_empty(), "nothing was given back");
    drop(held);
    assert_eq!(
        called(&mut rx),
        ["greedy/2"],
        "called back once a slot is free"
    );
    assert_eq!(share.waiting(FS), 0);
    let _kept = now(share.enter(FS, "greedy", "2", t));
    assert!(
        matches!(share.enter(FS, "greedy", "3", t), Entry::Now(_)),
        "the slot kept was the one it took: greedy runs 2 of 4"
    );
}

#[test]
fn a_slot_given_back_goes_to_the_namespace_running_fewest() {
    let share = FairShare::new(4);
    let mut rx = share.callbacks(FS);
    let t = Instant::now();
    let mut a: Vec<Slot> = (0..2)
        .map(|i| now(share.enter(FS, "a", &format!("{i}"), t)))
        .collect();
    let b1 = now(share.enter(FS, "b", "1", t));
    let _b2 = now(share.enter(FS, "b", "2", t));
    // All four slots are taken; a waits first, then b, then c.
    assert!(!later(share.enter(FS, "a", "x", t)), "no slot was free");
    later(share.enter(FS, "b", "y", t));
    later(share.enter(FS, "c", "z", t));
    drop(b1);
    // Three namespaces: a share of 1 each; a and b run 2 and 1, c none.
    assert_eq!(called(&mut rx), ["c/z"]);
    drop(a.pop());
    assert!(
        called(&mut rx).is_empty(),
        "a and b are at their share of 1"
    );
}

#[test]
fn between_namespaces_running_as_many_the_one_waiting_longest_goes_first() {
    let mut k = Kind::default();
    k.take("a");
    k.take("b");
    for (seq, ns) in [(7, "b"), (9, "a")] {
        k.waiting
            .entry(ns.to_owned())
            .or_default()
            .push_back((seq, "o".into()));
    }
    assert_eq!(k.next(4).as_deref(), Some("b"));
    k.take("b");
    assert_eq!(k.next(4).as_deref(), Some("a"), "a runs fewest now");
    assert_eq!(k.next(2), None, "no slot free");
}

#[test]
fn within_a_namespace_in_order_of_arrival() {
    let share = FairShare::new(1);
    let mut rx = share.callbacks(FS);
    let t = Instant::now();
    let running = now(share.enter(FS, "a", "0", t));
    later(share.enter(FS, "a", "1", t));
    later(share.enter(FS, "a", "2", t));
    drop(running);
    assert_eq!(called(&mut rx), ["a/1"]);
    drop(now(share.enter(FS, "a", "1", t)));
    assert_eq!(called(&mut rx), ["a/2"]);
}

#[test]
fn a_slot_kept_for_an_object_that_never_comes_is_given_back_in_time() {
    let share = FairShare::new(1);
    let mut rx = share.callbacks(FS);
    let t = Instant::now();
    let running = now(share.enter(FS, "a", "0", t));
    later(share.enter(FS, "a", "deleted", t));
    later(share.enter(FS, "b", "next", t));
    drop(running);
    assert_eq!(called(&mut rx), ["a/deleted"]);
    assert!(
        !later(share.enter(FS, "c", "new", t)),
        "the one slot is kept for a/deleted"
    );
    let after = Instant::now() + KEPT;
    assert!(
        !later(share.enter(FS, "c", "new", after + Duration::from_millis(1))),
        "c keeps its place"
    );
    assert_eq!(
        called(&mut rx),
        ["b/next"],
        "a/deleted never came: its slot went to who waited longest"
    );
}

#[test]
fn once_closed_no_reconcile_starts_and_no_object_is_called_back() {
    let share = FairShare::new(1);
    let mut rx = share.callbacks(FS);
    let t = Instant::now();
    let running = now(share.enter(FS, "a", "0", t));
    later(share.enter(FS, "a", "1", t));
    share.close();
    assert!(matches!(share.enter(FS, "b", "0", t), Entry::Closed));
    drop(running);
    assert!(called(&mut rx).is_empty());
    assert_eq!(share.waiting(FS), 0);
}
