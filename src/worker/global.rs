//! PURE: buun-curator's own schedule `ingest-schedule`, which runs `AllFeedsIngestionWorkflow`
//! over every feed in the database. While a worker's FeedSources ingest their feeds one by one,
//! it ingests them all again. The operator reports that, and pauses it when asked; it unpauses
//! only a pause it made itself, and never deletes the schedule.

use crate::crd::{
    conditions::{Desired, Status},
    curatorworker::GlobalIngestSchedule,
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

/// The note the operator leaves when it pauses the global schedule for worker `ns/name`.
pub fn pause_note(namespace: &str, name: &str) -> String {
    format!(
        "curator-operator: paused for CuratorWorker {namespace}/{name}, whose FeedSources ingest their feeds one by one"
    )
}

/// Decides what to do. The worker asks for a pause while `policy` is `Pause`, it serves
/// FeedSources (`feeds > 0`) and it is not being deleted; a pause the operator made for this
/// worker is lifted when it no longer asks.
pub fn decide(
    policy: GlobalIngestSchedule,
    deleting: bool,
    feeds: i32,
    seen: &Global,
    namespace: &str,
    name: &str,
) -> Action {
    let ours = pause_note(namespace, name);
    let asks = policy == GlobalIngestSchedule::Pause && !deleting && feeds > 0;
    match seen {
        Global::Running if asks => Action::Pause(ours),
        Global::Paused(note) if !asks && *note == ours => Action::Unpause(format!(
            "curator-operator: resumed, CuratorWorker {namespace}/{name} no longer asks for a pause"
        )),
        _ => Action::Leave,
    }
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
/// worker's FeedSources.
pub fn condition(feeds: i32, seen: &Global) -> Desired {
    let id = GLOBAL_SCHEDULE_ID;
    match seen {
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

    #[test]
    fn pauses_only_when_asked_and_lifts_only_its_own_pause() {
        let ours = Global::Paused(pause_note("news", "w"));
        let theirs = Global::Paused("paused by hand".into());
        let d = |policy, deleting, feeds, seen: &Global| {
            decide(policy, deleting, feeds, seen, "news", "w")
        };
        assert_eq!(
            d(Pause, false, 3, &Global::Running),
            Action::Pause(pause_note("news", "w"))
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
        let other_worker = Global::Paused(pause_note("news", "other"));
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
    fn the_condition_is_true_only_while_both_ingest() {
        assert_eq!(condition(2, &Global::Running).status, Status::True);
        assert_eq!(condition(2, &Global::Running).reason, "DoubleIngestion");
        for seen in [Global::Absent, Global::Paused("x".into())] {
            assert_eq!(condition(2, &seen).status, Status::False);
        }
        assert_eq!(condition(0, &Global::Running).status, Status::False);
        assert_eq!(condition(2, &Global::Unknown).status, Status::Unknown);
    }
}
