use super::*;

const API: &str = "http://curator:3000";

fn fs(ns: &str, name: &str) -> FeedSourceRef {
    FeedSourceRef {
        namespace: ns.into(),
        name: name.into(),
        uid: format!("uid-{ns}-{name}"),
    }
}

fn asks(me: &FeedSourceRef) -> Claimant<'_> {
    Claimant {
        me,
        cross_namespace: false,
        created: false,
    }
}

fn taken(claim: Claim) -> FeedClaimSpec {
    match claim {
        Claim::Take(c) => c,
        other => panic!("expected Take, got {other:?}"),
    }
}

#[test]
fn names_are_valid_fixed_and_differ_by_api_and_feed() {
    let n = name(API, "f1");
    assert_eq!(n, name(API, "f1"));
    assert_eq!(n.len(), "feed-".len() + 32);
    assert!(
        n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    );
    assert_ne!(n, name(API, "f2"));
    assert_ne!(n, name("http://other:3000", "f1"));
}

#[test]
fn the_first_takes_the_feed_for_its_namespace_and_is_its_creator_only_when_it_created_it() {
    let a = fs("a", "hn");
    let c = taken(decide(API, "f1", None, true, asks(&a)));
    assert_eq!((c.namespace.as_str(), c.holder.as_ref()), ("a", Some(&a)));
    assert_eq!(c.creator, None, "adopted: not its creator");
    let made = Claimant {
        created: true,
        ..asks(&a)
    };
    assert_eq!(
        taken(decide(API, "f1", None, true, made)).creator,
        Some(a.clone())
    );
    assert_eq!(decide(API, "f1", Some(&c), true, asks(&a)), Claim::Held);
}

#[test]
fn a_second_one_waits_once_and_writes_nothing_more() {
    let (a, b) = (fs("a", "hn"), fs("a", "hn-copy"));
    let c = taken(decide(API, "f1", None, true, asks(&a)));
    let Claim::Wait { holder, record } = decide(API, "f1", Some(&c), true, asks(&b)) else {
        panic!("waits")
    };
    assert_eq!(holder, a);
    let listed = record.expect("added to the waiting");
    assert_eq!(listed.waiting, vec![b.clone()]);
    let again = decide(API, "f1", Some(&listed), true, asks(&b));
    assert_eq!(
        again,
        Claim::Wait {
            holder: a,
            record: None
        },
        "already waiting: nothing to write"
    );
}

#[test]
fn another_namespace_takes_nothing_unless_the_operator_allows_it() {
    let (a, b) = (fs("a", "hn"), fs("b", "hn"));
    let c = taken(decide(API, "f1", None, true, asks(&a)));
    assert_eq!(
        decide(API, "f1", Some(&c), true, asks(&b)),
        Claim::Foreign {
            namespace: "a".into(),
            holder: Some(a.clone())
        }
    );
    // Released (its holder gone, the feed kept): still namespace a's.
    let released = FeedClaimSpec {
        holder: None,
        ..c.clone()
    };
    assert!(matches!(
        decide(API, "f1", Some(&released), true, asks(&b)),
        Claim::Foreign { holder: None, .. }
    ));
    let allowed = Claimant {
        cross_namespace: true,
        ..asks(&b)
    };
    assert!(matches!(
        decide(API, "f1", Some(&c), true, allowed),
        Claim::Wait { .. }
    ));
    let took = taken(decide(API, "f1", Some(&released), true, allowed));
    assert_eq!((took.holder, took.namespace.as_str()), (Some(b), "a"));
}

#[test]
fn a_holder_that_is_gone_without_letting_go_is_replaced() {
    let (a, b) = (fs("a", "hn"), fs("a", "hn-copy"));
    let made = Claimant {
        created: true,
        ..asks(&a)
    };
    let c = taken(decide(API, "f1", None, true, made));
    let took = taken(decide(API, "f1", Some(&c), false, asks(&b)));
    assert_eq!(took.holder, Some(b));
    assert_eq!(
        took.creator,
        Some(a),
        "the creator stays: b never deletes it"
    );
}

#[test]
fn only_the_creator_deletes_and_only_while_nobody_waits() {
    let (a, b, gone) = (fs("a", "hn"), fs("a", "hn-copy"), fs("a", "old"));
    let made = Claimant {
        created: true,
        ..asks(&a)
    };
    let c = taken(decide(API, "f1", None, true, made));
    assert_eq!(release(&c, &a.uid, true, |_| true), Release::DeleteFeed);
    assert_eq!(
        release(&c, &a.uid, false, |_| true),
        Release::Write(Box::new(FeedClaimSpec {
            holder: None,
            ..c.clone()
        })),
        "Retain: released, still namespace a's"
    );
    assert_eq!(release(&c, &b.uid, true, |_| true), Release::NotHeld);
    let mut waited = c.clone();
    waited.waiting = vec![gone.clone(), b.clone()];
    let Release::Write(handed) = release(&waited, &a.uid, true, |w| w.uid != gone.uid) else {
        panic!("handed over")
    };
    assert_eq!(handed.holder, Some(b.clone()), "the first live waiter");
    assert!(handed.waiting.is_empty(), "the gone one is dropped");
    assert_eq!(
        release(&handed, &b.uid, true, |_| true),
        Release::Write(Box::new(FeedClaimSpec {
            holder: None,
            ..(*handed).clone()
        })),
        "b adopted it: it never deletes a's feed"
    );
}
