//! kstatus-compatible conditions: stable `lastTransitionTime`, `observedGeneration` on each.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

/// The condition every kind carries; `kubectl wait --for=condition=Ready` waits on it.
pub const READY: &str = "Ready";
/// Condition saying whether the Temporal frontend answered the last call.
pub const TEMPORAL_REACHABLE: &str = "TemporalReachable";
/// kstatus: True while the operator is still converging (transient problems included).
pub const RECONCILING: &str = "Reconciling";
/// kstatus: True when the operator cannot make progress until something changes.
pub const STALLED: &str = "Stalled";
/// `FeedRegistered`'s message when the worker has no `spec.curatorApi`.
pub const NO_CURATOR_API: &str = "the CuratorWorker has no spec.curatorApi: the feed is not checked in buun-curator, and fetchLimit, siteUrl and the feed's fetchContent are not written there";

/// The kstatus pair derived from the Ready condition: `Reconciling` and `Stalled`, with the
/// abnormal-true polarity that kstatus (Flux, `kubectl wait`, Argo CD checks) reads.
pub fn kstatus(ready: &Desired, stalled: bool) -> [Desired; 2] {
    let ok = |t| Desired::new(t, Status::False, "Reconciled", "");
    if ready.status == Status::True {
        [ok(RECONCILING), ok(STALLED)]
    } else if stalled {
        [
            ok(RECONCILING),
            Desired::new(
                STALLED,
                Status::True,
                ready.reason.clone(),
                ready.message.clone(),
            ),
        ]
    } else {
        [
            Desired::new(
                RECONCILING,
                Status::True,
                ready.reason.clone(),
                ready.message.clone(),
            ),
            ok(STALLED),
        ]
    }
}

/// Truncates a time to whole seconds.
pub fn truncate(t: &Time) -> Time {
    jiff::Timestamp::from_second(t.0.as_second())
        .map(Time)
        .unwrap_or_else(|_| t.clone())
}

/// Why something failed, as a condition states it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// PascalCase machine-readable reason.
    pub reason: &'static str,
    /// Human-readable explanation (never credentials).
    pub message: String,
}

/// Status value of a condition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    Unknown,
}

impl Status {
    /// The string the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }
}

/// A condition as computed by a reconcile, before it is merged into the stored list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Desired {
    /// Condition type, e.g. `Ready`.
    pub type_: &'static str,
    /// Whether it holds.
    pub status: Status,
    /// PascalCase machine-readable reason.
    pub reason: String,
    /// Human-readable explanation.
    pub message: String,
}

impl Desired {
    /// Builds a desired condition.
    pub fn new(
        type_: &'static str,
        status: Status,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.into(),
            message: message.into(),
        }
    }
}

/// Merges `desired` into `current` and returns the new list.
///
/// `lastTransitionTime` is kept unless the status of that condition changes (or it is new), so a
/// reconcile that computes the same conditions yields a list equal to the stored one and no
/// status write happens. Conditions of other types are kept as they are.
pub fn merge(
    current: &[Condition],
    desired: &[Desired],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = current.to_vec();
    for d in desired {
        let new = |ltt: Time| Condition {
            type_: d.type_.to_owned(),
            status: d.status.as_str().to_owned(),
            reason: d.reason.clone(),
            message: d.message.clone(),
            observed_generation: generation,
            last_transition_time: ltt,
        };
        match out.iter_mut().find(|c| c.type_ == d.type_) {
            Some(c) if c.status == d.status.as_str() => {
                *c = new(c.last_transition_time.clone());
            }
            Some(c) => *c = new(now.clone()),
            None => out.push(new(now.clone())),
        }
    }
    out
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Finds a condition by type, if its status is `True`.
pub fn find_true<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    find(conditions, type_).filter(|c| c.status == Status::True.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::Timestamp;

    fn at(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).expect("valid"))
    }

    #[test]
    fn new_condition_gets_now() {
        let out = merge(
            &[],
            &[Desired::new(READY, Status::True, "Synced", "ok")],
            Some(3),
            &at(100),
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].last_transition_time, at(100));
        assert_eq!(out[0].observed_generation, Some(3));
        assert_eq!(out[0].status, "True");
    }

    #[test]
    fn same_status_keeps_transition_time_even_if_reason_changes() {
        let first = merge(
            &[],
            &[Desired::new(READY, Status::False, "WorkerNotFound", "a")],
            Some(1),
            &at(100),
        );
        let second = merge(
            &first,
            &[Desired::new(READY, Status::False, "ScheduleConflict", "b")],
            Some(2),
            &at(200),
        );
        assert_eq!(second[0].last_transition_time, at(100));
        assert_eq!(second[0].reason, "ScheduleConflict");
        assert_eq!(second[0].observed_generation, Some(2));
    }

    #[test]
    fn status_change_moves_transition_time() {
        let first = merge(
            &[],
            &[Desired::new(READY, Status::False, "X", "")],
            Some(1),
            &at(100),
        );
        let second = merge(
            &first,
            &[Desired::new(READY, Status::True, "Synced", "")],
            Some(1),
            &at(200),
        );
        assert_eq!(second[0].last_transition_time, at(200));
    }

    #[test]
    fn identical_merge_is_a_fixed_point() {
        let desired = [
            Desired::new(READY, Status::True, "Synced", "ok"),
            Desired::new(TEMPORAL_REACHABLE, Status::True, "Connected", ""),
        ];
        let first = merge(&[], &desired, Some(1), &at(100));
        let second = merge(&first, &desired, Some(1), &at(999));
        assert_eq!(first, second);
    }

    #[test]
    fn kstatus_pair_follows_ready() {
        let ready = Desired::new(READY, Status::True, "Synced", "");
        assert!(
            kstatus(&ready, false)
                .iter()
                .all(|c| c.status == Status::False)
        );
        let down = Desired::new(READY, Status::False, "TemporalUnreachable", "refused");
        let [rec, st] = kstatus(&down, false);
        assert_eq!((rec.status, st.status), (Status::True, Status::False));
        assert_eq!(rec.reason, "TemporalUnreachable");
        let bad = Desired::new(READY, Status::False, "InvalidSpec", "x");
        let [rec, st] = kstatus(&bad, true);
        assert_eq!(
            (rec.status, st.status, st.reason.as_str()),
            (Status::False, Status::True, "InvalidSpec")
        );
    }

    #[test]
    fn other_types_are_kept() {
        let first = merge(
            &[],
            &[Desired::new("Custom", Status::True, "X", "")],
            None,
            &at(1),
        );
        let second = merge(
            &first,
            &[Desired::new(READY, Status::True, "Y", "")],
            None,
            &at(2),
        );
        assert_eq!(second.len(), 2);
        assert!(find(&second, "Custom").is_some());
    }
}
