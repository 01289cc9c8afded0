//! Removing a schedule with its FeedSource: deleted, or orphaned (kept running, no longer
//! managed), and never one that another owner holds.

use super::sync::describe_required;
use crate::{
    crd::feedsource::DeletionPolicy,
    temporal::{ScheduleApi, TemporalError, memo, memo::Owner},
};

/// What deleting did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deleted {
    /// The schedule was deleted.
    Deleted,
    /// The schedule was kept and its owner memo cleared.
    Orphaned,
    /// There was no schedule.
    AlreadyGone,
    /// The schedule belongs to someone else and was left alone.
    NotOwned,
}

impl Deleted {
    /// The Normal event that reports this cleanup of schedule `id`.
    pub fn event(self, id: &str) -> (&'static str, String) {
        match self {
            Deleted::Deleted => ("ScheduleDeleted", format!("deleted schedule {id}")),
            Deleted::Orphaned => (
                "ScheduleOrphaned",
                format!("left schedule {id} running and cleared its owner"),
            ),
            Deleted::AlreadyGone => ("ScheduleDeleted", format!("schedule {id} was already gone")),
            Deleted::NotOwned => (
                "ScheduleNotOwned",
                format!("schedule {id} belongs to another owner; left alone"),
            ),
        }
    }
}

/// Deletes or orphans the schedule `id` owned by `owner`, per `policy`. Idempotent: a missing
/// schedule is success, and a schedule owned by someone else is never touched.
pub async fn delete<A: ScheduleApi>(
    api: &A,
    id: &str,
    owner: &Owner,
    policy: DeletionPolicy,
) -> Result<Deleted, TemporalError> {
    let Some(observed) = api.describe(id).await? else {
        return Ok(Deleted::AlreadyGone);
    };
    if !observed
        .memo_info
        .owner
        .as_ref()
        .is_some_and(|o| o.same_resource(owner))
    {
        return Ok(Deleted::NotOwned);
    }
    match policy {
        DeletionPolicy::Delete => {
            api.delete(id).await?;
            Ok(Deleted::Deleted)
        }
        DeletionPolicy::Orphan => {
            let mut schedule = observed.schedule.clone();
            memo::mark_orphaned(&mut schedule);
            api.update(id, schedule, observed.conflict_token.clone())
                .await?;
            let after = describe_required(api, id).await?;
            if after.memo_info.owner.is_some() {
                return Err(TemporalError::UpdateLost);
            }
            Ok(Deleted::Orphaned)
        }
    }
}
