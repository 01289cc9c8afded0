//! Where a FeedSource's schedule lives (the Temporal frontend, namespace and ID its status
//! recorded), the credentials that reach it, also while the worker and its Secrets are being
//! deleted, and the removal of a schedule from its old place when the FeedSource moved.

use kube::{ResourceExt, runtime::events::EventType};

use super::context::FeedContext;
use crate::{
    controller::{error::Error, secrets},
    crd::{CuratorWorker, FeedSource},
    schedule::{DesiredSchedule, delete},
    temporal::pool::Credentials,
};

/// Where a FeedSource's schedule lives, as its status recorded it.
pub(super) struct Place {
    pub id: String,
    pub address: String,
    pub namespace: String,
    /// The CuratorWorker whose connection made it.
    pub worker: String,
}

/// The credentials for `place`: the worker's, read from its Secrets, when it still points there;
/// else the ones the schedule was made with, as remembered since. `None`: nothing to use.
pub(super) async fn credentials_for(
    fs: &FeedSource,
    ctx: &FeedContext,
    place: &Place,
) -> Result<Option<Credentials>, Error> {
    let ns = fs.namespace().unwrap_or_default();
    let worker = ctx
        .shared
        .api::<CuratorWorker>(&ns)
        .get_opt(&place.worker)
        .await?;
    let remembered = ctx
        .shared
        .remembered_credentials(&ns, &place.worker, &place.address);
    match worker {
        Some(w) if w.spec.temporal.address == place.address => {
            match secrets::credentials(&ctx.shared.client, &ns, &w.spec.temporal).await {
                Ok(c) => Ok(Some(c)),
                // The Secret went first (a namespace being deleted): what the schedule was made
                // with still works.
                Err(e @ Error::Secret { .. }) => remembered.map(Some).ok_or(e),
                Err(e) => Err(e),
            }
        }
        _ => Ok(remembered),
    }
}

/// When the schedule's ID or location changed (another worker, frontend or namespace, or a new
/// prefix), removes the old schedule if this resource owns it. Until that worked the status
/// keeps the old place, so it is tried again; the new schedule waits.
pub(super) async fn move_away_from_old_place(
    fs: &FeedSource,
    ctx: &FeedContext,
    desired: &DesiredSchedule,
) -> Result<(), Error> {
    let prev = fs.status.clone().unwrap_or_default();
    let (Some(id), Some(address), Some(namespace)) = (
        prev.schedule_id.clone(),
        prev.temporal_address.clone(),
        prev.temporal_namespace.clone(),
    ) else {
        return Ok(());
    };
    if desired.is_recorded_in(&prev) {
        return Ok(());
    }
    let place = Place {
        id,
        address,
        namespace,
        worker: prev.worker.unwrap_or_else(|| desired.worker.clone()),
    };
    let creds = credentials_for(fs, ctx, &place).await?.unwrap_or_default();
    let api = ctx
        .shared
        .pool
        .schedules(&place.address, &place.namespace, &creds)
        .await?;
    let outcome = delete::delete(&api, &place.id, &desired.owner, fs.spec.deletion_policy).await?;
    let note = format!(
        "moved: the previous schedule {} at {}/{} is {}",
        place.id,
        place.address,
        place.namespace,
        if outcome == delete::Deleted::Orphaned {
            "orphaned"
        } else {
            "gone"
        }
    );
    ctx.shared
        .event(fs, EventType::Normal, "ScheduleMoved", "Reconcile", note)
        .await;
    Ok(())
}
