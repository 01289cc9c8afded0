//! Unit tests of the FeedSource status builder.

use super::*;
use crate::crd::conditions::TEMPORAL_REACHABLE;
use crate::{crd::FeedSource, schedule::sync::Change, temporal::Described};
use temporalio_common::protos::temporal::api::schedule::v1::ScheduleInfo;

fn desired(pause_on_failure: bool) -> DesiredSchedule {
    let mut fs = FeedSource::test("news", "hn").with_uid("u");
    fs.spec.schedule.pause_on_failure = pause_on_failure;
    fs.desired("t:1", "c")
}

fn synced(d: &DesiredSchedule, paused_note: Option<&str>) -> Synced {
    let mut schedule = d.schedule.clone();
    if let Some(note) = paused_note {
        let st = schedule.state.get_or_insert_with(Default::default);
        st.paused = true;
        st.notes = note.into();
    }
    let ts = |s| prost_wkt_types::Timestamp {
        seconds: s,
        nanos: 123_456_789,
    };
    Synced {
        change: Change::Unchanged,
        seen: Seen::Described(Box::new(Described {
            schedule,
            info: ScheduleInfo {
                future_action_times: vec![
                    ts(1_800_000_000),
                    ts(1_800_003_600),
                    ts(1_800_007_200),
                    ts(1_800_010_800),
                ],
                action_count: 4,
                ..Default::default()
            },
            ..Default::default()
        })),
        server_fingerprint: Some("fp".into()),
        spec_fingerprint: Some("spec".into()),
        held_foreign_pause: paused_note.is_some(),
        triggered: false,
    }
}

fn at(secs: i64) -> Time {
    Time(jiff::Timestamp::from_second(secs).expect("ts"))
}

#[test]
fn recomputing_an_unchanged_outcome_is_a_fixed_point() {
    let d = desired(false);
    let s = synced(&d, None);
    let outcome = Outcome::Synced {
        synced: &s,
        desired: &d,
        run_now: None,
        runs: None,
        created: None,
    };
    let first = compute(
        &FeedSourceStatus::default(),
        Some(1),
        Some(&d),
        &outcome,
        None,
        &at(100),
    );
    let second = compute(&first, Some(1), Some(&d), &outcome, None, &at(500));
    assert_eq!(first, second, "same inputs, later clock: no status write");
    assert_eq!(first.next_runs.len(), 3);
    assert_eq!(
        first.next_runs[0],
        at(1_800_000_000),
        "truncated to whole seconds"
    );
    assert_eq!(first.action_count, Some(4));
    assert_eq!(
        first.observed_fingerprint.map(|f| f.to_string()).as_deref(),
        Some("fp")
    );
}

#[test]
fn a_held_pause_is_not_ready_with_the_right_reason() {
    for (pof, reason) in [(true, "PausedOnFailure"), (false, "PausedExternally")] {
        let d = desired(pof);
        let s = synced(&d, Some("paused after a failed run"));
        let st = compute(
            &FeedSourceStatus::default(),
            Some(1),
            Some(&d),
            &Outcome::Synced {
                synced: &s,
                desired: &d,
                run_now: None,
                runs: None,
                created: None,
            },
            None,
            &at(1),
        );
        let ready = st.conditions.find(READY).expect("ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", reason)
        );
        assert_eq!(st.paused, Some(true));
        let stalled = st.conditions.find(conditions::STALLED).expect("stalled");
        assert_eq!(stalled.status, "True", "a held pause needs a person");
        assert_eq!(st.pause_note.as_deref(), Some("paused after a failed run"));
    }
}

/// The status after a reconcile that found the schedule in line with generation 1, at `secs`.
fn in_line(
    prev: &FeedSourceStatus,
    d: &DesiredSchedule,
    s: &Synced,
    secs: i64,
) -> FeedSourceStatus {
    let outcome = Outcome::Synced {
        synced: s,
        desired: d,
        run_now: None,
        runs: None,
        created: None,
    };
    compute(prev, Some(1), Some(d), &outcome, None, &at(secs))
}

fn temporal_down() -> Outcome<'static> {
    Outcome::Failed {
        failure: Failure {
            reason: "TemporalUnreachable",
            message: "connection refused".into(),
        },
        temporal_answered: false,
        permanent: false,
    }
}

#[test]
fn unreachable_temporal_keeps_the_last_observation() {
    let d = desired(false);
    let s = synced(&d, None);
    let ok = in_line(&FeedSourceStatus::default(), &d, &s, 1);
    let down = compute(&ok, Some(1), Some(&d), &temporal_down(), None, &at(2));
    assert_eq!(down.next_runs, ok.next_runs);
    assert_eq!(down.schedule_id, ok.schedule_id);
    let reach = down.conditions.find(TEMPORAL_REACHABLE).expect("reachable");
    assert_eq!(
        (reach.status.as_str(), reach.last_transition_time.clone()),
        ("False", at(2))
    );
    let reconciling = down
        .conditions
        .find(conditions::RECONCILING)
        .expect("kstatus");
    assert_eq!(
        (reconciling.status.as_str(), reconciling.reason.as_str()),
        ("True", "TemporalUnreachable"),
        "a transient failure is still reconciling, and says why at once"
    );
    // A change of spec during the outage cannot be made: Ready says so at once.
    let edited = compute(&ok, Some(2), Some(&d), &temporal_down(), None, &at(2));
    let ready = edited.conditions.find(READY).expect("ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "TemporalUnreachable")
    );
}

#[test]
fn a_failed_check_of_an_unchanged_schedule_keeps_ready_for_the_grace() {
    let d = desired(false);
    let s = synced(&d, None);
    let ok = in_line(&FeedSourceStatus::default(), &d, &s, 1);
    let ready = |st: &FeedSourceStatus| {
        let c = st.conditions.find(READY).expect("ready");
        (
            c.status.clone(),
            c.reason.clone(),
            c.last_transition_time.clone(),
        )
    };
    let grace = CHECK_GRACE.as_secs();
    let first = compute(&ok, Some(1), Some(&d), &temporal_down(), None, &at(100));
    assert_eq!(ready(&first), ready(&ok), "one failed check is no news");
    let retried = compute(
        &first,
        Some(1),
        Some(&d),
        &temporal_down(),
        None,
        &at(99 + grace),
    );
    assert_eq!(ready(&retried), ready(&ok), "still within the grace");
    let reconciling = retried.conditions.find(conditions::RECONCILING).expect("r");
    assert_eq!(
        reconciling.last_transition_time,
        at(100),
        "the grace counts from the first failure, not the last"
    );
    let lasting = compute(
        &retried,
        Some(1),
        Some(&d),
        &temporal_down(),
        None,
        &at(100 + grace),
    );
    assert_eq!(
        ready(&lasting),
        (
            "False".into(),
            "TemporalUnreachable".into(),
            at(100 + grace)
        ),
        "a failure that lasts is an outage"
    );
    // Recovery within the grace: Ready never moved, Reconciling is back to False.
    let back = in_line(&first, &d, &s, 200);
    assert_eq!(ready(&back), ready(&ok));
    let reconciling = back.conditions.find(conditions::RECONCILING).expect("r");
    assert_eq!(reconciling.status, "False");
    // A permanent failure is never held back.
    let rejected = compute(
        &ok,
        Some(1),
        Some(&d),
        &Outcome::Failed {
            failure: Failure {
                reason: "TemporalUnauthorized",
                message: "denied".into(),
            },
            temporal_answered: true,
            permanent: true,
        },
        None,
        &at(100),
    );
    assert_eq!(ready(&rejected).0, "False");
}

#[test]
fn a_listing_updates_the_runs_and_keeps_the_run_count() {
    let d = desired(false);
    let described = synced(&d, None);
    let first = compute(
        &FeedSourceStatus::default(),
        Some(1),
        Some(&d),
        &Outcome::Synced {
            synced: &described,
            desired: &d,
            run_now: None,
            runs: None,
            created: None,
        },
        None,
        &at(1),
    );
    let listed = Synced {
        seen: Seen::Listed(Box::new(crate::schedule::listing::Entry {
            next_runs: vec![prost_wkt_types::Timestamp {
                seconds: 1_900_000_000,
                nanos: 0,
            }]
            .into(),
            ..Default::default()
        })),
        ..described.clone()
    };
    let second = compute(
        &first,
        Some(1),
        Some(&d),
        &Outcome::Synced {
            synced: &listed,
            desired: &d,
            run_now: None,
            runs: None,
            created: None,
        },
        None,
        &at(2),
    );
    assert_eq!(second.next_runs, vec![at(1_900_000_000)]);
    assert_eq!(second.action_count, Some(4), "the listing has no run count");
}

#[test]
fn a_run_now_value_is_recorded_only_when_it_fired() {
    let d = desired(false);
    let mut s = synced(&d, None);
    let outcome = |s: &Synced| {
        compute(
            &FeedSourceStatus::default(),
            Some(1),
            Some(&d),
            &Outcome::Synced {
                synced: s,
                desired: &d,
                run_now: Some("2026-11-29T10:00"),
                runs: None,
                created: None,
            },
            None,
            &at(1),
        )
    };
    assert_eq!(outcome(&s).run_now_handled, None);
    s.triggered = true;
    assert_eq!(
        outcome(&s).run_now_handled.as_deref(),
        Some("2026-11-29T10:00")
    );
}

#[test]
fn the_feed_registration_shows_in_status_and_a_missing_feed_is_not_ready() {
    use crate::feed::{Origin, Registration};
    let d = desired(false);
    let s = synced(&d, None);
    let outcome = Outcome::Synced {
        synced: &s,
        desired: &d,
        run_now: None,
        runs: None,
        created: None,
    };
    let with = |r: &Registration| {
        compute(
            &FeedSourceStatus::default(),
            Some(1),
            Some(&d),
            &outcome,
            Some(r),
            &at(1),
        )
    };
    let cond = |st: &FeedSourceStatus, t: &str| {
        let c = st.conditions.find(t).expect(t);
        (c.status.clone(), c.reason.clone())
    };
    let created = with(&Registration::Registered {
        id: "01J".into(),
        origin: Origin::Created,
    });
    assert_eq!(created.feed_id.as_deref(), Some("01J"));
    assert!(created.feed_created);
    assert_eq!(
        cond(&created, FEED_REGISTERED),
        ("True".into(), "Created".into())
    );
    assert_eq!(cond(&created, READY), ("True".into(), "Synced".into()));

    let unchecked = with(&Registration::NotChecked { id: "x".into() });
    assert_eq!(
        cond(&unchecked, FEED_REGISTERED),
        ("Unknown".into(), "NoCuratorApi".into())
    );
    assert_eq!(
        cond(&unchecked, READY).0,
        "True",
        "a worker without an API still runs"
    );

    let missing = with(&Registration::NotFound { id: "x".into() });
    assert_eq!(
        cond(&missing, READY),
        ("False".into(), "FeedNotFound".into())
    );
    assert_eq!(
        cond(&missing, conditions::STALLED).0,
        "True",
        "a person must act"
    );
    let untouched = compute(
        &FeedSourceStatus::default(),
        Some(1),
        None,
        &Outcome::Untouched,
        Some(&Registration::Ambiguous {
            url: "u".into(),
            ids: vec!["a".into(), "b".into()],
        }),
        &at(1),
    );
    assert_eq!(
        cond(&untouched, READY),
        ("False".into(), "AmbiguousFeed".into())
    );
    assert_eq!(untouched.schedule_id, None, "no schedule was made");
}
