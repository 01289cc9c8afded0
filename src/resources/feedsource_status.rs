//! PURE: the FeedSource status a reconcile should leave, from what it observed.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::{
    crd::{
        conditions::{self, Desired, READY, Status, TEMPORAL_REACHABLE},
        feedsource::{FeedSourceStatus, LastRun},
    },
    resources::schedule::DesiredSchedule,
    schedule_sync::Synced,
};

/// How the reconcile ended.
#[derive(Clone, Debug)]
pub enum Outcome<'a> {
    /// The schedule is in line with the spec.
    Synced {
        /// What the reconcile did and saw.
        synced: &'a Synced,
        /// The schedule it reconciled.
        desired: &'a DesiredSchedule,
    },
    /// The referenced CuratorWorker does not exist.
    WorkerNotFound(&'a str),
    /// The spec cannot be turned into a schedule.
    InvalidSpec(String),
    /// The reconcile failed.
    Failed {
        /// PascalCase reason.
        reason: &'static str,
        /// Human message (no secrets).
        message: String,
        /// Whether Temporal answered at all.
        temporal_answered: bool,
        /// Whether only a change can fix it (the resource is stalled, not reconciling).
        permanent: bool,
    },
}

/// Converts a protobuf timestamp to a Kubernetes time, truncated to whole seconds as the API
/// server stores it (so that an unchanged value compares equal after a round trip).
pub fn to_k8s_time(t: &prost_wkt_types::Timestamp) -> Option<Time> {
    jiff::Timestamp::from_second(t.seconds).ok().map(Time)
}

/// Truncates a time to whole seconds.
pub fn truncate(t: &Time) -> Time {
    jiff::Timestamp::from_second(t.0.as_second())
        .map(Time)
        .unwrap_or_else(|_| t.clone())
}

/// Computes the new status. Fields the outcome says nothing about keep their previous values.
pub fn compute(
    prev: &FeedSourceStatus,
    generation: Option<i64>,
    desired: Option<&DesiredSchedule>,
    outcome: &Outcome<'_>,
    now: &Time,
) -> FeedSourceStatus {
    let mut s = prev.clone();
    s.observed_generation = generation;
    if let Some(d) = desired {
        s.summary = Some(d.summary.clone());
    }
    let conds: Vec<Desired> = match outcome {
        Outcome::Synced { synced, desired: d } => {
            s.schedule_id = Some(d.id.clone());
            s.temporal_address = Some(d.address.clone());
            s.temporal_namespace = Some(d.namespace.clone());
            s.task_queue = Some(d.task_queue.clone());
            let state = synced.described.schedule.state.clone().unwrap_or_default();
            s.paused = Some(state.paused);
            s.pause_note = (!state.notes.is_empty()).then(|| state.notes.clone());
            let info = &synced.described.info;
            s.next_runs = info
                .future_action_times
                .iter()
                .take(3)
                .filter_map(to_k8s_time)
                .collect();
            s.last_run = info
                .recent_actions
                .iter()
                .max_by_key(|a| a.schedule_time.as_ref().map(|t| (t.seconds, t.nanos)))
                .map(|a| LastRun {
                    scheduled_time: a.schedule_time.as_ref().and_then(to_k8s_time),
                    workflow_id: a
                        .start_workflow_result
                        .as_ref()
                        .map(|w| w.workflow_id.clone()),
                    run_id: a.start_workflow_result.as_ref().map(|w| w.run_id.clone()),
                });
            s.action_count = Some(info.action_count);
            s.observed_fingerprint = synced.server_fingerprint.clone();
            s.observed_spec_fingerprint = synced.spec_fingerprint.clone();
            s.desired_fingerprint = Some(d.fingerprint.clone());
            let ready = if synced.held_foreign_pause {
                let pause_on_failure = d
                    .schedule
                    .policies
                    .as_ref()
                    .is_some_and(|p| p.pause_on_failure);
                let reason = if pause_on_failure {
                    "PausedOnFailure"
                } else {
                    "PausedExternally"
                };
                Desired::new(
                    READY,
                    Status::False,
                    reason,
                    format!(
                        "schedule {} was paused outside the operator ({}); it stays paused until the FeedSource spec changes",
                        d.id, state.notes
                    ),
                )
            } else if d.suspended() {
                Desired::new(
                    READY,
                    Status::True,
                    "Suspended",
                    format!("schedule {} is paused by spec.suspend", d.id),
                )
            } else {
                Desired::new(
                    READY,
                    Status::True,
                    "Synced",
                    format!("schedule {} matches the spec", d.id),
                )
            };
            vec![
                ready,
                Desired::new(
                    TEMPORAL_REACHABLE,
                    Status::True,
                    "Connected",
                    "Temporal answered",
                ),
            ]
        }
        Outcome::WorkerNotFound(name) => vec![Desired::new(
            READY,
            Status::False,
            "WorkerNotFound",
            format!("CuratorWorker {name:?} not found in this namespace"),
        )],
        Outcome::InvalidSpec(message) => {
            vec![Desired::new(
                READY,
                Status::False,
                "InvalidSpec",
                message.clone(),
            )]
        }
        Outcome::Failed {
            reason,
            message,
            temporal_answered,
            ..
        } => {
            let reach = if *temporal_answered {
                Desired::new(
                    TEMPORAL_REACHABLE,
                    Status::True,
                    "Connected",
                    "Temporal answered",
                )
            } else {
                Desired::new(TEMPORAL_REACHABLE, Status::False, *reason, message.clone())
            };
            vec![
                Desired::new(READY, Status::False, *reason, message.clone()),
                reach,
            ]
        }
    };
    let stalled = match outcome {
        Outcome::Synced { synced, .. } => synced.held_foreign_pause,
        Outcome::WorkerNotFound(_) | Outcome::InvalidSpec(_) => true,
        Outcome::Failed { permanent, .. } => *permanent,
    };
    let mut conds = conds;
    if let Some(ready) = conds.iter().find(|c| c.type_ == READY).cloned() {
        conds.extend(conditions::kstatus(&ready, stalled));
    }
    s.conditions = conditions::merge(&prev.conditions, &conds, generation, &truncate(now));
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        fixtures,
        resources::schedule::{BuildOptions, build},
        schedule_sync::Change,
        temporal::Described,
    };
    use temporalio_common::protos::temporal::api::schedule::v1::ScheduleInfo;

    fn desired(pause_on_failure: bool) -> DesiredSchedule {
        let mut fs = fixtures::feed("news", "hn");
        fs.spec.schedule.pause_on_failure = pause_on_failure;
        build(
            "news",
            "hn",
            "u",
            &fs.spec,
            &fixtures::temporal("t:1"),
            &BuildOptions {
                id_prefix: "c".into(),
                identity: "op".into(),
            },
        )
        .expect("valid")
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
            described: Described {
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
            },
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
        };
        let first = compute(
            &FeedSourceStatus::default(),
            Some(1),
            Some(&d),
            &outcome,
            &at(100),
        );
        let second = compute(&first, Some(1), Some(&d), &outcome, &at(500));
        assert_eq!(first, second, "same inputs, later clock: no status write");
        assert_eq!(first.next_runs.len(), 3);
        assert_eq!(
            first.next_runs[0],
            at(1_800_000_000),
            "truncated to whole seconds"
        );
        assert_eq!(first.action_count, Some(4));
        assert_eq!(first.observed_fingerprint.as_deref(), Some("fp"));
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
                },
                &at(1),
            );
            let ready = conditions::find(&st.conditions, READY).expect("ready");
            assert_eq!(
                (ready.status.as_str(), ready.reason.as_str()),
                ("False", reason)
            );
            assert_eq!(st.paused, Some(true));
            let stalled = conditions::find(&st.conditions, conditions::STALLED).expect("stalled");
            assert_eq!(stalled.status, "True", "a held pause needs a person");
            assert_eq!(st.pause_note.as_deref(), Some("paused after a failed run"));
        }
    }

    #[test]
    fn unreachable_temporal_keeps_the_last_observation() {
        let d = desired(false);
        let s = synced(&d, None);
        let ok = compute(
            &FeedSourceStatus::default(),
            Some(1),
            Some(&d),
            &Outcome::Synced {
                synced: &s,
                desired: &d,
            },
            &at(1),
        );
        let down = compute(
            &ok,
            Some(1),
            Some(&d),
            &Outcome::Failed {
                reason: "TemporalUnreachable",
                message: "connection refused".into(),
                temporal_answered: false,
                permanent: false,
            },
            &at(2),
        );
        assert_eq!(down.next_runs, ok.next_runs);
        assert_eq!(down.schedule_id, ok.schedule_id);
        let reach = conditions::find(&down.conditions, TEMPORAL_REACHABLE).expect("reachable");
        assert_eq!(
            (reach.status.as_str(), reach.last_transition_time.clone()),
            ("False", at(2))
        );
        let reconciling =
            conditions::find(&down.conditions, conditions::RECONCILING).expect("kstatus");
        assert_eq!(
            reconciling.status, "True",
            "a transient failure is still reconciling"
        );
        let ready = conditions::find(&down.conditions, READY).expect("ready");
        assert_eq!(
            (ready.status.as_str(), ready.reason.as_str()),
            ("False", "TemporalUnreachable")
        );
    }
}
