//! PURE: what the controller keeps of a listed schedule.

use super::fingerprint;
use crate::temporal::{Listed, memo::Owner, proto::ScheduleActionResult};

/// The next runs a status records.
pub const NEXT_RUNS: usize = 3;

/// A schedule listing entry as the controller keeps it (by schedule ID): only what its
/// decisions and the status read. The listed spec is kept as its fingerprint, the next runs
/// as the status's three, the recent runs as the latest; about a quarter of the entry as
/// listed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entry {
    /// The owner read from the schedule memo.
    pub owner: Option<Owner>,
    /// Fingerprint of the listed spec ([`fingerprint::of_spec`]).
    pub spec_fingerprint: String,
    /// Whether it is paused.
    pub paused: bool,
    /// The pause note.
    pub notes: String,
    /// The next action times, at most [`NEXT_RUNS`].
    pub next_runs: Vec<prost_wkt_types::Timestamp>,
    /// The latest of the recent actions.
    pub last_run: Option<ScheduleActionResult>,
}

impl Entry {
    /// PURE: what is kept of a listed schedule.
    pub fn of(listed: &Listed) -> Self {
        let mut next_runs = listed.future_action_times.clone();
        next_runs.truncate(NEXT_RUNS);
        next_runs.shrink_to_fit();
        Self {
            owner: listed.memo_info.owner.clone(),
            spec_fingerprint: fingerprint::of_spec(listed.spec.as_ref()),
            paused: listed.paused,
            notes: listed.notes.clone(),
            next_runs,
            last_run: listed
                .recent_actions
                .iter()
                .max_by_key(|a| a.schedule_time.as_ref().map(|t| (t.seconds, t.nanos)))
                .cloned(),
        }
    }
}
