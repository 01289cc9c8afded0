//! PURE: given the desired schedule and what Temporal holds, decide what to write.
//!
//! Rules:
//! - missing → create;
//! - owned by someone else, or by no one → conflict, never overwritten;
//! - the fingerprint in the action memo differs from the desired one (the spec changed), or the server's
//!   fingerprint differs from the one recorded after the operator's last write (someone edited
//!   it in Temporal) → one guarded update carrying the state decided below;
//! - otherwise only the paused state may need a patch.
//!
//! Pause ownership: `spec.suspend` decides. A pause the operator did not make (Temporal's
//! pause-on-failure, or a person in the UI) is kept until the resource's generation changes.

use super::{
    desired::{DesiredSchedule, is_operator_pause},
    fingerprint,
};
use crate::temporal::{
    Described,
    memo::Owner,
    proto::{SchedulePatch, ScheduleState},
};

/// The note the operator leaves when it lifts a pause.
pub const UNPAUSE_NOTE: &str = "curator-operator: resumed to match FeedSource spec";

/// What a reconcile must do to the schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// No schedule with this ID: create it.
    Create,
    /// A schedule with this ID belongs to another owner, or to none: leave it alone.
    Conflict {
        /// The owner its memo names, if any.
        owner: Option<Owner>,
    },
    /// Replace spec, action, policies and state.
    Update {
        /// Why.
        reason: UpdateReason,
        /// The state to write.
        state: ScheduleState,
    },
    /// Only pause or unpause.
    Patch {
        /// The patch.
        patch: SchedulePatch,
    },
    /// Nothing to write.
    InSync,
}

/// Why an update is needed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UpdateReason {
    /// The resource's spec changed since the last write.
    SpecChanged,
    /// The schedule was changed outside the operator.
    Drift,
}

/// The paused state the operator wants, given what the server has.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PauseDecision {
    /// Whether the schedule should be paused.
    pub paused: bool,
    /// The note to keep with it.
    pub note: String,
    /// True when a pause the operator did not make is being kept.
    pub held_foreign_pause: bool,
}

/// Decides the paused state. `generation_changed` is true when the resource changed since the
/// last successful reconcile; only then is a foreign pause lifted.
pub fn pause_decision(
    desired: &DesiredSchedule,
    server: Option<&ScheduleState>,
    generation_changed: bool,
) -> PauseDecision {
    let (server_paused, server_note) = server
        .map(|s| (s.paused, s.notes.as_str()))
        .unwrap_or((false, ""));
    if desired.suspended() {
        return PauseDecision {
            paused: true,
            note: desired.pause_note().to_owned(),
            held_foreign_pause: false,
        };
    }
    if server_paused && !is_operator_pause(server_note) && !generation_changed {
        return PauseDecision {
            paused: true,
            note: server_note.to_owned(),
            held_foreign_pause: true,
        };
    }
    PauseDecision {
        paused: false,
        note: if server_paused {
            UNPAUSE_NOTE.to_owned()
        } else {
            server_note.to_owned()
        },
        held_foreign_pause: false,
    }
}

/// Decides what to do. `recorded_fingerprint` is the server fingerprint stored after the
/// operator's last write (absent after a restart without status, or for `sync`).
pub fn plan(
    desired: &DesiredSchedule,
    observed: Option<&Described>,
    recorded_fingerprint: Option<&str>,
    generation_changed: bool,
) -> Plan {
    let Some(observed) = observed else {
        return Plan::Create;
    };
    match &observed.memo_info.owner {
        Some(owner) if owner.same_resource(&desired.owner) => {}
        other => {
            return Plan::Conflict {
                owner: other.clone(),
            };
        }
    }
    let pause = pause_decision(
        desired,
        observed.schedule.state.as_ref(),
        generation_changed,
    );
    let spec_changed = observed.memo_info.fingerprint.as_deref() != Some(&desired.fingerprint);
    let drift = recorded_fingerprint.is_some_and(|r| r != fingerprint::of(&observed.schedule));
    if spec_changed || drift {
        let mut state = observed.schedule.state.clone().unwrap_or_default();
        state.paused = pause.paused;
        state.notes = pause.note;
        return Plan::Update {
            reason: if drift {
                UpdateReason::Drift
            } else {
                UpdateReason::SpecChanged
            },
            state,
        };
    }
    let server_paused = observed.schedule.state.as_ref().is_some_and(|s| s.paused);
    match (server_paused, pause.paused) {
        (false, true) => Plan::Patch {
            patch: SchedulePatch {
                pause: pause.note,
                ..Default::default()
            },
        },
        (true, false) => Plan::Patch {
            patch: SchedulePatch {
                unpause: pause.note,
                ..Default::default()
            },
        },
        _ => Plan::InSync,
    }
}
