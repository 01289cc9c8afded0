//! Table-driven tests of every scaling rule, with an injected clock.

use super::*;
use crate::crd::FeedSourceStatus;

const T0: i64 = 1_800_000_000;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(T0 + secs).expect("ts")
}

fn params() -> Params {
    Params {
        min: 0,
        max: 10,
        target_backlog: 10,
        feeds_per_replica: Some(50),
        prewarm: Duration::from_secs(120),
        scale_down_delay: Duration::from_secs(300),
        poll_interval: Duration::from_secs(15),
    }
}

struct Case {
    name: &'static str,
    backlog: Option<i64>,
    running: i64,
    feeds: i32,
    next_run_in: Option<i64>,
    current: i32,
    lower_since: Option<i64>,
    now: i64,
    params: Params,
    want: i32,
    reason: Reason,
}

fn case(name: &'static str) -> Case {
    Case {
        name,
        backlog: Some(0),
        running: 0,
        feeds: 0,
        next_run_in: None,
        current: 0,
        lower_since: None,
        now: 0,
        params: params(),
        want: 0,
        reason: Reason::Idle,
    }
}

#[test]
fn every_rule_and_boundary() {
    let cases = [
        Case {
            ..case("idle stays at zero")
        },
        Case {
            backlog: Some(1),
            want: 1,
            reason: Reason::Backlog,
            ..case("one task needs one replica")
        },
        Case {
            backlog: Some(10),
            want: 1,
            reason: Reason::Backlog,
            ..case("exactly target")
        },
        Case {
            backlog: Some(11),
            want: 2,
            reason: Reason::Backlog,
            ..case("one over target rounds up")
        },
        Case {
            backlog: Some(95),
            want: 10,
            reason: Reason::Backlog,
            ..case("at max")
        },
        Case {
            backlog: Some(500),
            want: 10,
            reason: Reason::MaxReplicas,
            ..case("capped at max")
        },
        Case {
            feeds: 50,
            want: 1,
            reason: Reason::Feeds,
            ..case("feeds exactly one replica")
        },
        Case {
            feeds: 51,
            want: 2,
            reason: Reason::Feeds,
            ..case("feeds round up")
        },
        Case {
            feeds: 120,
            backlog: Some(25),
            want: 3,
            reason: Reason::Backlog,
            ..case("tie goes to backlog")
        },
        Case {
            feeds: 1000,
            params: Params {
                feeds_per_replica: None,
                ..params()
            },
            want: 0,
            reason: Reason::Idle,
            ..case("feeds ignored without feedsPerReplica")
        },
        Case {
            running: 3,
            want: 1,
            reason: Reason::RunningWorkflows,
            ..case("never zero while workflows run")
        },
        Case {
            next_run_in: Some(120),
            want: 1,
            reason: Reason::Prewarm,
            ..case("run due exactly at prewarm")
        },
        Case {
            next_run_in: Some(121),
            want: 0,
            reason: Reason::Idle,
            ..case("run just outside prewarm")
        },
        Case {
            next_run_in: Some(-30),
            want: 1,
            reason: Reason::Prewarm,
            ..case("overdue run counts as due")
        },
        Case {
            params: Params { min: 2, ..params() },
            want: 2,
            reason: Reason::MinReplicas,
            ..case("held at min")
        },
        Case {
            params: Params {
                min: 0,
                max: 1,
                ..params()
            },
            running: 1,
            backlog: Some(40),
            want: 1,
            reason: Reason::MaxReplicas,
            ..case("max 1")
        },
        Case {
            backlog: Some(25),
            current: 1,
            want: 3,
            reason: Reason::Backlog,
            ..case("scale up at once")
        },
        Case {
            backlog: Some(5),
            current: 4,
            want: 4,
            reason: Reason::ScaleDownDelayed,
            ..case("scale down waits")
        },
        Case {
            backlog: Some(5),
            current: 4,
            lower_since: Some(0),
            now: 299,
            want: 4,
            reason: Reason::ScaleDownDelayed,
            ..case("one second short of the delay")
        },
        Case {
            backlog: Some(5),
            current: 4,
            lower_since: Some(0),
            now: 300,
            want: 1,
            reason: Reason::Backlog,
            ..case("delay elapsed")
        },
        Case {
            backlog: Some(0),
            running: 2,
            current: 4,
            lower_since: Some(0),
            now: 600,
            want: 1,
            reason: Reason::RunningWorkflows,
            ..case("down but not to zero while running")
        },
        Case {
            backlog: None,
            current: 3,
            lower_since: Some(0),
            now: 9999,
            want: 3,
            reason: Reason::TemporalUnreachable,
            ..case("unreachable keeps the count")
        },
        Case {
            backlog: None,
            current: 0,
            want: 0,
            reason: Reason::TemporalUnreachable,
            ..case("unreachable never scales up either")
        },
    ];
    for c in cases {
        let d = decide(&Inputs {
            params: c.params,
            load: c.backlog.map(|b| QueueLoad {
                backlog: b,
                running: c.running,
            }),
            feeds: c.feeds,
            next_run: c.next_run_in.map(|s| at(c.now + s)),
            current: c.current,
            lower_since: c.lower_since.map(at),
            now: at(c.now),
        });
        assert_eq!(
            (d.replicas, d.reason),
            (c.want, c.reason),
            "{}: {}",
            c.name,
            d.message
        );
    }
}

#[test]
fn the_scale_down_clock_starts_at_the_first_lower_value_and_resets_on_rise() {
    let mut i = Inputs {
        params: params(),
        load: Some(QueueLoad {
            backlog: 5,
            running: 1,
        }),
        feeds: 0,
        next_run: None,
        current: 4,
        lower_since: None,
        now: at(0),
    };
    let d = decide(&i);
    assert_eq!((d.replicas, d.lower_since), (4, Some(at(0))));
    i.lower_since = d.lower_since;
    i.now = at(200);
    let d = decide(&i);
    assert_eq!(
        (d.replicas, d.lower_since),
        (4, Some(at(0))),
        "the clock keeps running"
    );
    // Load comes back: the pending scale-down is forgotten.
    i.load = Some(QueueLoad {
        backlog: 40,
        running: 1,
    });
    i.now = at(250);
    let d = decide(&i);
    assert_eq!((d.replicas, d.lower_since), (4, None));
    i.lower_since = d.lower_since;
    i.load = Some(QueueLoad {
        backlog: 5,
        running: 1,
    });
    i.now = at(400);
    let d = decide(&i);
    assert_eq!(
        (d.replicas, d.lower_since),
        (4, Some(at(400))),
        "a new wait starts"
    );
    i.lower_since = d.lower_since;
    i.now = at(700);
    let d = decide(&i);
    assert_eq!(
        (d.replicas, d.reason, d.lower_since),
        (1, Reason::Backlog, None)
    );
    assert!(d.message.contains("backlog 5"), "{}", d.message);
}

#[test]
fn huge_backlogs_do_not_overflow() {
    assert_eq!(ceil_div(i64::MAX, 1), i64::MAX);
    assert_eq!(ceil_div(i64::MAX, 10), i64::MAX / 10 + 1);
    assert_eq!(ceil_div(10, 0), 10, "a zero divisor is read as 1");
    assert_eq!(ceil_div(-5, 3), 0);
    let i = Inputs {
        params: params(),
        load: Some(QueueLoad {
            backlog: i64::MAX,
            running: i64::MAX,
        }),
        feeds: i32::MAX,
        next_run: None,
        current: 0,
        lower_since: None,
        now: at(0),
    };
    let d = decide(&i);
    assert_eq!((d.replicas, d.reason), (10, Reason::MaxReplicas));
}

#[test]
fn params_reject_inverted_bounds_and_bad_durations() {
    let spec: Autoscaling =
        serde_json::from_value(serde_json::json!({"minReplicas": 3, "maxReplicas": 2}))
            .expect("spec");
    assert!(Params::from_spec(&spec).is_err());
    for fast in ["0s", "1ns", "4s999ms"] {
        let spec: Autoscaling =
            serde_json::from_value(serde_json::json!({"maxReplicas": 2, "pollInterval": fast}))
                .expect("spec");
        assert!(Params::from_spec(&spec).is_err(), "{fast} must be refused");
    }
    let spec: Autoscaling =
        serde_json::from_value(serde_json::json!({"maxReplicas": 2, "pollInterval": "5s"}))
            .expect("spec");
    assert_eq!(
        Params::from_spec(&spec).expect("5s").poll_interval,
        MIN_POLL_INTERVAL
    );
    let spec: Autoscaling =
        serde_json::from_value(serde_json::json!({"maxReplicas": 2})).expect("spec");
    let p = Params::from_spec(&spec).expect("defaults");
    assert_eq!((p.min, p.max, p.target_backlog), (0, 2, 10));
    assert_eq!(
        (p.prewarm, p.scale_down_delay, p.poll_interval),
        (
            Duration::from_secs(120),
            Duration::from_secs(300),
            Duration::from_secs(15)
        )
    );
}

fn feed(ns: &str, name: &str, worker: &str, next: Option<i64>, suspend: bool) -> Arc<FeedSource> {
    let mut f = FeedSource::test(ns, name).with_worker(worker);
    f.spec.suspend = suspend;
    f.status = next.map(|s| FeedSourceStatus {
        next_runs: vec![Time(Timestamp::from_second(s).expect("ts"))],
        ..Default::default()
    });
    Arc::new(f)
}

#[test]
fn counts_the_workers_feeds_and_finds_the_earliest_active_run() {
    let feeds = [
        feed("news", "a", "curator", Some(300), false),
        feed("news", "b", "curator", Some(100), true),
        feed("news", "c", "curator", Some(200), false),
        feed("news", "d", "curator", None, false),
        feed("news", "e", "other", Some(50), false),
        feed("blogs", "f", "curator", Some(10), false),
    ];
    let (n, next) = feeds_of(&feeds, "news", "curator");
    assert_eq!(n, 4);
    assert_eq!(
        next.map(|t| t.0.as_second()),
        Some(200),
        "suspended feeds do not prewarm"
    );
    assert_eq!(feeds_of(&feeds, "news", "nobody"), (0, None));
}
