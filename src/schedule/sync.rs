//! The one reconcile of a schedule, shared by the controller and `curator-operator sync`:
//! describe → plan → write (guarded by the conflict token) → describe again to verify.

use sha2::{Digest, Sha256};

use super::{
    desired::DesiredSchedule,
    fingerprint,
    plan::{self, Plan, UpdateReason},
};
use crate::{
    crd::{FeedSource, feedsource::RUN_NOW_ANNOTATION},
    temporal::{
        Described, ScheduleApi, TemporalError,
        memo::{self, Owner},
        proto::{
            Memo, ScheduleOverlapPolicy, SchedulePatch, ScheduleState, TriggerImmediatelyRequest,
        },
    },
};

/// What the reconcile did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// The schedule was created.
    Created,
    /// The spec changed and the schedule was updated.
    Updated,
    /// The schedule had been changed (or deleted) outside the operator and was put back.
    DriftRepaired,
    /// The schedule was paused or unpaused.
    PauseChanged,
    /// Nothing needed writing.
    Unchanged,
}

impl Change {
    /// Lower-case word for CLI output and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Updated => "updated",
            Change::DriftRepaired => "drift-repaired",
            Change::PauseChanged => "pause-changed",
            Change::Unchanged => "unchanged",
        }
    }
}

/// What the operator last saw of the schedule.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// The schedule as `DescribeSchedule` returned it.
    Described(Box<Described>),
    /// Its entry in a schedule listing, as the controller keeps it: spec fingerprint, pause
    /// state, next and latest runs; no action and no run count.
    Listed(Box<super::listed::Entry>),
    /// Nothing: it was just created with one call, as desired.
    Created,
}

/// The result of a successful reconcile.
#[derive(Clone, Debug, PartialEq)]
pub struct Synced {
    /// What was done.
    pub change: Change,
    /// What Temporal holds now, as far as the reconcile read it.
    pub seen: Seen,
    /// Fingerprint of the server's schedule after the operator's write (to record in status);
    /// `None` right after a create, before the server's form was read.
    pub server_fingerprint: Option<String>,
    /// Fingerprint of the server's spec, when it was read.
    pub spec_fingerprint: Option<String>,
    /// True when a pause the operator did not make is being kept.
    pub held_foreign_pause: bool,
    /// True when a run-now request fired a run.
    pub triggered: bool,
}

/// Why a reconcile failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SyncError {
    /// The ID is taken by a schedule this resource does not own.
    #[error("schedule {id} exists and is not owned by this resource (owner: {owner})")]
    Conflict {
        /// Schedule ID.
        id: String,
        /// Who owns it, as its memo says.
        owner: String,
    },
    /// Temporal failed.
    #[error(transparent)]
    Temporal(#[from] TemporalError),
}

impl SyncError {
    /// Whether only a change of the resource (or of the foreign schedule) can fix this.
    pub fn is_permanent(&self) -> bool {
        match self {
            SyncError::Conflict { .. } => true,
            SyncError::Temporal(e) => e.is_permanent(),
        }
    }

    /// Stable PascalCase reason.
    pub fn reason(&self) -> &'static str {
        match self {
            SyncError::Conflict { .. } => "ScheduleConflict",
            SyncError::Temporal(e) => e.reason(),
        }
    }
}

impl Change {
    /// The Normal event that reports this change of schedule `id`, if it deserves one.
    pub fn event(self, id: &str, suspended: bool) -> Option<(&'static str, String)> {
        Some(match self {
            Change::Created => ("ScheduleCreated", format!("created schedule {id}")),
            Change::Updated => (
                "ScheduleUpdated",
                format!("updated schedule {id} to the new spec"),
            ),
            Change::DriftRepaired => (
                "DriftRepaired",
                format!("schedule {id} was changed or deleted outside the operator; put back"),
            ),
            Change::PauseChanged if suspended => ("Suspended", format!("paused schedule {id}")),
            Change::PauseChanged => ("Resumed", format!("unpaused schedule {id}")),
            Change::Unchanged => return None,
        })
    }
}

/// Inputs the reconcile takes from the resource's status.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Server fingerprint recorded after the last write.
    pub fingerprint: Option<String>,
    /// Whether the resource changed since the last successful reconcile.
    pub generation_changed: bool,
    /// A run-now value not handled yet, if any.
    pub run_now: Option<String>,
    /// The resource never had a schedule: try to create first, without a describe.
    pub expect_missing: bool,
}

impl Recorded {
    /// PURE: what `fs`'s status says about its schedule, `desired`.
    pub fn of(fs: &FeedSource, desired: &DesiredSchedule) -> Self {
        let prev = fs.status.clone().unwrap_or_default();
        let run_now = fs
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(RUN_NOW_ANNOTATION))
            .filter(|v| !v.is_empty() && prev.run_now_handled.as_ref() != Some(*v))
            .cloned();
        Self {
            fingerprint: if desired.is_recorded_in(&prev) {
                prev.observed_fingerprint.as_ref().map(ToString::to_string)
            } else {
                None
            },
            generation_changed: prev.observed_generation != fs.metadata.generation,
            run_now,
            // Never synced: a new resource, whose schedule most likely does not exist yet.
            expect_missing: prev.schedule_id.is_none(),
        }
    }
}

impl crate::runtime::retry::Transient for SyncError {
    fn is_transient(&self) -> bool {
        !self.is_permanent()
    }
}

pub(super) async fn describe_required<A: ScheduleApi>(
    api: &A,
    id: &str,
) -> Result<Described, TemporalError> {
    api.describe(id).await?.ok_or_else(|| TemporalError::Rpc {
        method: "DescribeSchedule",
        code: tonic::Code::NotFound,
        message: format!("schedule {id} vanished right after it was written"),
    })
}

fn owner_text(owner: &Option<Owner>) -> String {
    match owner {
        Some(o) if o.uid.is_empty() => format!("{}/{} (by {})", o.namespace, o.name, o.operator),
        Some(o) => format!(
            "{}/{} uid {} (by {})",
            o.namespace, o.name, o.uid, o.operator
        ),
        None => "none recorded".to_owned(),
    }
}

/// Brings the schedule in line with `desired`. An unchanged schedule costs one describe and
/// no write.
pub async fn sync<A: ScheduleApi>(
    api: &A,
    desired: &DesiredSchedule,
    recorded: &Recorded,
) -> Result<Synced, SyncError> {
    let memo = memo::schedule_memo(&desired.owner);
    let mut synced = if recorded.expect_missing
        && api
            .create(&desired.id, desired.schedule.clone(), memo.clone())
            .await?
    {
        // One RPC for a new resource: the server's canonical form is read later, from the
        // schedule listing or the background verification.
        Synced {
            change: Change::Created,
            seen: Seen::Created,
            server_fingerprint: None,
            spec_fingerprint: None,
            held_foreign_pause: false,
            triggered: false,
        }
    } else {
        let written = write(api, desired, recorded, &memo).await?;
        let described = match written.observed {
            Some(d) => d,
            None => describe_required(api, &desired.id).await?,
        };
        let server_fingerprint = match (written.change, recorded.fingerprint.as_ref()) {
            // Nothing written and a fingerprint known: keep it (a mismatch would have been drift).
            (Change::Unchanged, Some(fp)) => fp.clone(),
            _ => fingerprint::of(&described.schedule),
        };
        Synced {
            change: written.change,
            spec_fingerprint: Some(fingerprint::of_spec(described.schedule.spec.as_ref())),
            seen: Seen::Described(Box::new(described)),
            server_fingerprint: Some(server_fingerprint),
            held_foreign_pause: written.held,
            triggered: false,
        }
    };
    if let Some(value) = &recorded.run_now {
        trigger(api, desired, value).await?;
        synced.triggered = true;
    }
    Ok(synced)
}

/// What the writing part of a reconcile left behind.
struct Written {
    change: Change,
    /// The schedule as last described (`None` when it was never found).
    observed: Option<Described>,
    /// A pause the operator did not make is being kept.
    held: bool,
}

/// Describe → plan → the one write the plan asks for → describe again.
async fn write<A: ScheduleApi>(
    api: &A,
    desired: &DesiredSchedule,
    recorded: &Recorded,
    memo: &Memo,
) -> Result<Written, SyncError> {
    let mut observed = api.describe(&desired.id).await?;
    let mut recorded_fp = recorded.fingerprint.clone();
    // Recreating a schedule that vanished counts as drift when the operator had written it.
    let had_schedule = recorded_fp.is_some();
    // Two rounds at most: a create can race with another writer and find the ID taken.
    for _ in 0..2 {
        let p = plan::plan(
            desired,
            observed.as_ref(),
            recorded_fp.as_deref(),
            recorded.generation_changed,
        );
        let (change, held, after) = match p {
            Plan::Create => {
                if !api
                    .create(&desired.id, desired.schedule.clone(), memo.clone())
                    .await?
                {
                    // Someone created it in between: look again and plan against it.
                    observed = api.describe(&desired.id).await?;
                    recorded_fp = None;
                    continue;
                }
                let change = if had_schedule {
                    Change::DriftRepaired
                } else {
                    Change::Created
                };
                (change, false, describe_required(api, &desired.id).await?)
            }
            Plan::Conflict { owner } => {
                return Err(SyncError::Conflict {
                    id: desired.id.clone(),
                    owner: owner_text(&owner),
                });
            }
            Plan::Update { reason, state } => {
                let held = state.paused
                    && !super::desired::is_operator_pause(&state.notes)
                    && !desired.suspended();
                let after = update(api, desired, observed.as_ref(), state).await?;
                let change = match reason {
                    UpdateReason::SpecChanged => Change::Updated,
                    UpdateReason::Drift => Change::DriftRepaired,
                };
                (change, held, after)
            }
            Plan::Patch { patch } => {
                let after = pause(api, &desired.id, patch).await?;
                (Change::PauseChanged, false, after)
            }
            Plan::InSync => {
                let state = observed.as_ref().and_then(|o| o.schedule.state.as_ref());
                let held = plan::pause_decision(desired, state, recorded.generation_changed)
                    .held_foreign_pause;
                return Ok(Written {
                    change: Change::Unchanged,
                    observed,
                    held,
                });
            }
        };
        return Ok(Written {
            change,
            observed: Some(after),
            held,
        });
    }
    Ok(Written {
        change: Change::Unchanged,
        observed,
        held: false,
    })
}

/// Pauses or unpauses schedule `id` (a request ID derived from the patch, so a retry is
/// deduplicated) and reads it back.
async fn pause<A: ScheduleApi>(
    api: &A,
    id: &str,
    patch: SchedulePatch,
) -> Result<Described, SyncError> {
    let request_id = format!("pause-{}", short_hash(&[id, &patch.pause, &patch.unpause]));
    api.patch(id, patch, request_id).await?;
    Ok(describe_required(api, id).await?)
}

/// Replaces the schedule with `desired` in `state`, guarded by the conflict token of what was
/// described, and reads it back: a write that another writer overtook is an error.
async fn update<A: ScheduleApi>(
    api: &A,
    desired: &DesiredSchedule,
    observed: Option<&Described>,
    state: ScheduleState,
) -> Result<Described, SyncError> {
    let token = observed
        .map(|o| o.conflict_token.clone())
        .unwrap_or_default();
    let mut schedule = desired.schedule.clone();
    schedule.state = Some(state);
    api.update(&desired.id, schedule, token).await?;
    let after = describe_required(api, &desired.id).await?;
    if after.memo_info.fingerprint.as_deref() != Some(&desired.fingerprint) {
        return Err(TemporalError::UpdateLost.into());
    }
    Ok(after)
}

impl Synced {
    /// The schedule as described, when the reconcile described it.
    pub fn described(&self) -> Option<&Described> {
        match &self.seen {
            Seen::Described(d) => Some(d),
            _ => None,
        }
    }
}

fn short_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize()
        .iter()
        .take(12)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Starts one run now, with the schedule's overlap policy. The request ID is derived from the
/// owner and the run-now value, so a retried trigger is deduplicated by Temporal.
async fn trigger<A: ScheduleApi>(
    api: &A,
    desired: &DesiredSchedule,
    value: &str,
) -> Result<(), TemporalError> {
    let overlap = desired
        .schedule
        .policies
        .as_ref()
        .map(|p| p.overlap_policy)
        .unwrap_or(ScheduleOverlapPolicy::Skip as i32);
    let patch = SchedulePatch {
        trigger_immediately: Some(TriggerImmediatelyRequest {
            overlap_policy: overlap,
            scheduled_time: None,
        }),
        ..Default::default()
    };
    let request_id = format!(
        "run-now-{}",
        short_hash(&[&desired.id, &desired.owner.uid, value])
    );
    api.patch(&desired.id, patch, request_id).await
}

#[cfg(test)]
#[path = "sync_tests.rs"]
mod tests;
