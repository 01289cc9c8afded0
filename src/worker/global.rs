//! PURE: buun-curator's own schedule `ingest-schedule`, which runs `AllFeedsIngestionWorkflow`
//! over every feed in the database. While a worker's FeedSources ingest their feeds one by one,
//! it ingests them all again. The operator reports that, and pauses it when asked; it unpauses
//! only a pause it made itself, and never deletes the schedule.

use crate::crd::{
    conditions::{Desired, Status},
    curatorworker::{GlobalIngestSchedule, TemporalLocation},
};

/// The ID of buun-curator's global ingestion schedule.
pub const GLOBAL_SCHEDULE_ID: &str = "ingest-schedule";

/// Condition saying whether the global schedule ingests the worker's feeds a second time.
pub const GLOBAL_SCHEDULE_ACTIVE: &str = "GlobalScheduleActive";

/// What Temporal holds under [`GLOBAL_SCHEDULE_ID`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Global {
    /// No such schedule.
    Absent,
    /// It runs.
    Running,
    /// It is paused, with this note.
    Paused(String),
    /// It could not be read.
    Unknown,
}

/// The global schedule as a worker's reconcile left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The schedule where the worker points now.
    pub seen: Global,
    /// The worker asks for a pause the operator may not make.
    pub refused: bool,
    /// Where the operator's pause for this worker is (`status.globalSchedulePausedAt`).
    pub paused_at: Option<TemporalLocation>,
}

/// What to do with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing.
    Leave,
    /// Pause it, with this note.
    Pause(String),
    /// Lift the operator's own pause, with this note.
    Unpause(String),
}

/// Who asks, and what the operator may do: the inputs of [`decide`] besides the schedule.
#[derive(Clone, Copy, Debug)]
pub struct Asker<'a> {
    /// The worker's `spec.globalIngestSchedule`.
    pub policy: GlobalIngestSchedule,
    /// Whether the operator may pause the shared schedule (`--allow-global-schedule-pause`):
    /// one Temporal namespace serves every tenant, so a tenant's worker may not stop it for
    /// all unless a cluster admin says so.
    pub allowed: bool,
    /// The worker is being deleted.
    pub deleting: bool,
    /// FeedSources it serves.
    pub feeds: i32,
    /// The operator's `--identity`, which signs its notes.
    pub identity: &'a str,
    /// The worker's namespace.
    pub namespace: &'a str,
    /// The worker's name.
    pub name: &'a str,
}

/// The note the operator (`identity`) leaves when it pauses the global schedule for worker
/// `ns/name`.
pub fn pause_note(identity: &str, namespace: &str, name: &str) -> String {
    format!(
        "{identity}: paused for CuratorWorker {namespace}/{name}, whose FeedSources ingest their feeds one by one"
    )
}

/// Whether the worker asks for a pause that the operator may not make.
pub fn refused(a: &Asker<'_>) -> bool {
    a.policy == GlobalIngestSchedule::Pause && !a.allowed
}

/// Decides what to do. The worker asks for a pause while `policy` is `Pause`, the operator may
/// pause, it serves FeedSources (`feeds > 0`) and it is not being deleted; a pause the operator
/// made for this worker is lifted when it no longer asks (or may no longer have it).
pub fn decide(a: &Asker<'_>, seen: &Global) -> Action {
    let ours = pause_note(a.identity, a.namespace, a.name);
    let asks = a.policy == GlobalIngestSchedule::Pause && a.allowed && !a.deleting && a.feeds > 0;
    match seen {
        Global::Running if asks => Action::Pause(ours),
        Global::Paused(note) if !asks && *note == ours => Action::Unpause(lift_note(a)),
        _ => Action::Leave,
    }
}

/// The note of the unpause of the operator's own pause.
pub fn lift_note(a: &Asker<'_>) -> String {
    format!(
        "{}: resumed, CuratorWorker {}/{} no longer asks for a pause here",
        a.identity, a.namespace, a.name
    )
}

/// Whether `seen` is the pause the operator made for this worker.
pub fn is_ours(a: &Asker<'_>, seen: &Global) -> bool {
    matches!(seen, Global::Paused(note) if *note == pause_note(a.identity, a.namespace, a.name))
}

/// What the schedule is after `action`.
pub fn after(seen: &Global, action: &Action) -> Global {
    match action {
        Action::Leave => seen.clone(),
        Action::Pause(note) => Global::Paused(note.clone()),
        Action::Unpause(_) => Global::Running,
    }
}

/// The `GlobalScheduleActive` condition: true while the global schedule runs beside the
/// worker's FeedSources; `refused`: the worker asks for a pause the operator may not make.
pub fn condition(feeds: i32, seen: &Global, refused: bool) -> Desired {
    let id = GLOBAL_SCHEDULE_ID;
    match seen {
        Global::Running if feeds > 0 && refused => Desired::new(
            GLOBAL_SCHEDULE_ACTIVE,
            Status::True,
            "PauseNotAllowed",
            format!(
                "schedule {id} ingests every feed, and {feeds} FeedSources ingest theirs again; spec.globalIngestSchedule asks for a pause, and this operator may not pause a schedule every namespace shares (--allow-global-schedule-pause is off): ask a cluster admin"
            ),
        ),
        Global::Running if feeds > 0 => Desired::new(
            GLOBAL_SCHEDULE_ACTIVE,
            Status::True,
            "DoubleIngestion",
            format!(
                "schedule {id} ingests every feed, and {feeds} FeedSources ingest theirs again on their own schedules: set spec.globalIngestSchedule: Pause, or pause it yourself (see docs/feedsource.md, \"Migrating from buun-curator's global schedule\")"
            ),
        ),
        Global::Unknown => Desired::new(
            GLOBAL_SCHEDULE_ACTIVE,
            Status::Unknown,
            "TemporalUnreachable",
            format!("schedule {id} could not be read"),
        ),
        Global::Running => Desired::new(
            GLOBAL_SCHEDULE_ACTIVE,
            Status::False,
            "NoFeedSources",
            format!("schedule {id} runs, and no FeedSource uses this worker"),
        ),
        Global::Paused(note) => Desired::new(
            GLOBAL_SCHEDULE_ACTIVE,
            Status::False,
            "Paused",
            format!("schedule {id} is paused: {note}"),
        ),
        Global::Absent => Desired::new(
            GLOBAL_SCHEDULE_ACTIVE,
            Status::False,
            "Absent",
            format!("there is no schedule {id}"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use GlobalIngestSchedule::{Leave, Pause};

    fn asker(policy: GlobalIngestSchedule, deleting: bool, feeds: i32) -> Asker<'static> {
        Asker {
            policy,
            allowed: true,
            deleting,
            feeds,
            identity: "curator-operator",
            namespace: "news",
            name: "w",
        }
    }

    #[test]
    fn pauses_only_when_asked_and_lifts_only_its_own_pause() {
        let ours = Global::Paused(pause_note("curator-operator", "news", "w"));
        let theirs = Global::Paused("paused by hand".into());
        let d =
            |policy, deleting, feeds, seen: &Global| decide(&asker(policy, deleting, feeds), seen);
        assert_eq!(
            d(Pause, false, 3, &Global::Running),
            Action::Pause(pause_note("curator-operator", "news", "w"))
        );
        assert_eq!(
            d(Leave, false, 3, &Global::Running),
            Action::Leave,
            "Leave only reports"
        );
        assert_eq!(
            d(Pause, false, 0, &Global::Running),
            Action::Leave,
            "no FeedSources, no pause"
        );
        assert_eq!(
            d(Pause, true, 3, &Global::Running),
            Action::Leave,
            "a worker going away does not pause"
        );
        assert_eq!(d(Pause, false, 3, &ours), Action::Leave, "already paused");
        assert!(
            matches!(d(Leave, false, 3, &ours), Action::Unpause(_)),
            "field changed"
        );
        assert!(
            matches!(d(Pause, true, 3, &ours), Action::Unpause(_)),
            "worker deleted"
        );
        assert!(
            matches!(d(Pause, false, 0, &ours), Action::Unpause(_)),
            "no FeedSources left"
        );
        assert_eq!(
            d(Leave, true, 3, &theirs),
            Action::Leave,
            "a pause made by someone else stays"
        );
        let other_worker = Global::Paused(pause_note("curator-operator", "news", "other"));
        assert_eq!(
            d(Leave, true, 3, &other_worker),
            Action::Leave,
            "another worker's pause stays"
        );
        assert_eq!(
            d(Pause, false, 3, &Global::Absent),
            Action::Leave,
            "never created"
        );
    }

    #[test]
    fn a_pause_needs_the_operators_leave_and_is_signed_with_its_identity() {
        let gated = Asker {
            allowed: false,
            ..asker(Pause, false, 3)
        };
        assert_eq!(
            decide(&gated, &Global::Running),
            Action::Leave,
            "not allowed: no pause"
        );
        assert!(refused(&gated));
        let ours = Global::Paused(pause_note("curator-operator", "news", "w"));
        assert!(
            matches!(decide(&gated, &ours), Action::Unpause(_)),
            "a pause made before the gate closed is lifted"
        );
        let other = Asker {
            identity: "curator-operator-b",
            ..asker(Pause, false, 3)
        };
        match decide(&other, &Global::Running) {
            Action::Pause(note) => assert!(note.starts_with("curator-operator-b: "), "{note}"),
            a => panic!("{a:?}"),
        }
        assert_eq!(
            decide(
                &Asker {
                    policy: Leave,
                    ..other
                },
                &ours
            ),
            Action::Leave,
            "another operator's pause is not this one's to lift"
        );
        assert_eq!(
            condition(3, &Global::Running, true).reason,
            "PauseNotAllowed"
        );
    }

    #[test]
    fn the_condition_is_true_only_while_both_ingest() {
        assert_eq!(condition(2, &Global::Running, false).status, Status::True);
        assert_eq!(
            condition(2, &Global::Running, false).reason,
            "DoubleIngestion"
        );
        for seen in [Global::Absent, Global::Paused("x".into())] {
            assert_eq!(condition(2, &seen, false).status, Status::False);
        }
        assert_eq!(condition(0, &Global::Running, false).status, Status::False);
        assert_eq!(
            condition(2, &Global::Unknown, false).status,
            Status::Unknown
        );
    }
}
