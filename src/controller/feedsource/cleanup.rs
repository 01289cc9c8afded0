//! Removing a FeedSource's schedule: on deletion (the finalizer), and from its old place when
//! it moved to another Temporal frontend or namespace.

use kube::{
    ResourceExt,
    runtime::{controller::Action, events::EventType},
};

use super::{context::FeedContext, register::delete_feed};
use crate::{
    controller::{error::Error, secrets},
    crd::{CuratorWorker, FeedSource, feedsource::FeedDeletionPolicy},
    schedule::{DesiredSchedule, delete, desired},
    temporal::{memo::Owner, pool::Credentials},
};

/// When the schedule's ID or location changed (worker moved to another namespace or frontend,
/// prefix changed), removes the old schedule if this resource owns it. Best effort: a failure is
/// reported and does not block the new schedule.
pub(super) async fn move_away_from_old_place(
    fs: &FeedSource,
    ctx: &FeedContext,
    desired: &DesiredSchedule,
    creds: &Credentials,
) {
    let prev = fs.status.clone().unwrap_or_default();
    let (Some(id), Some(address), Some(namespace)) = (
        prev.schedule_id.as_ref(),
        prev.temporal_address.as_ref(),
        prev.temporal_namespace.as_ref(),
    ) else {
        return;
    };
    if desired.is_recorded_in(&prev) {
        return;
    }
    let creds = if *address == desired.address {
        creds.clone()
    } else {
        Credentials::default()
    };
    let result = async {
        let api = ctx
            .shared
            .pool
            .schedules(address, namespace, &creds)
            .await?;
        delete::delete(&api, id, &desired.owner, fs.spec.deletion_policy).await
    }
    .await;
    match result {
        Ok(d) => tracing::info!(old = %id, outcome = ?d, "schedule moved"),
        Err(e) => {
            let note = format!(
                "could not remove the previous schedule {id} at {address}/{namespace}: {e}"
            );
            ctx.shared
                .event(
                    fs,
                    EventType::Warning,
                    "OldScheduleNotRemoved",
                    "Reconcile",
                    note,
                )
                .await;
        }
    }
}

async fn remove_feed(fs: &FeedSource, ctx: &FeedContext, worker: Option<&CuratorWorker>) {
    if fs.spec.feed_deletion_policy != FeedDeletionPolicy::Delete {
        return;
    }
    match worker.and_then(|w| w.spec.curator_api.as_ref()) {
        Some(api) => delete_feed(fs, ctx, api).await,
        None => {
            let status = fs.status.clone().unwrap_or_default();
            if let (Some(id), true) = (status.feed_id, status.feed_created) {
                let note = format!(
                    "feed {id} is left in buun-curator: the CuratorWorker and its spec.curatorApi are gone"
                );
                ctx.shared
                    .event(fs, EventType::Warning, "FeedNotDeleted", "Cleanup", note)
                    .await;
            }
        }
    }
}

pub(super) async fn cleanup(fs: &FeedSource, ctx: &FeedContext) -> Result<Action, Error> {
    let ns = fs.namespace().unwrap_or_default();
    let name = fs.name_any();
    let prev = fs.status.clone().unwrap_or_default();
    let owner = Owner {
        namespace: ns.clone(),
        name: name.clone(),
        uid: fs.uid().unwrap_or_default(),
        operator: ctx.build.identity.clone(),
    };
    let id = prev
        .schedule_id
        .clone()
        .unwrap_or_else(|| desired::schedule_id(&ctx.build.id_prefix, &ns, &name));
    let worker = ctx
        .shared
        .api::<CuratorWorker>(&ns)
        .get_opt(&fs.spec.worker_ref.name)
        .await?;
    // Where the schedule is: as recorded in status, else where the worker points.
    let place = match (&prev.temporal_address, &prev.temporal_namespace, &worker) {
        (Some(a), Some(n), _) => Some((a.clone(), n.clone())),
        (_, _, Some(w)) => Some((
            w.spec.temporal.address.clone(),
            w.spec.temporal.namespace.clone(),
        )),
        _ => None,
    };
    let Some((address, namespace)) = place else {
        // No worker and nothing recorded: no schedule was ever written for this resource.
        return Ok(Action::await_change());
    };
    let creds = match &worker {
        Some(w) if w.spec.temporal.address == address => {
            secrets::credentials(&ctx.shared.client, &ns, &w.spec.temporal).await
        }
        _ => Ok(Credentials::default()),
    };
    let result = async {
        let api = ctx
            .shared
            .pool
            .schedules(&address, &namespace, &creds?)
            .await?;
        Ok::<_, Error>(delete::delete(&api, &id, &owner, fs.spec.deletion_policy).await?)
    }
    .await;
    match result {
        Ok(d) => {
            ctx.shared
                .metrics
                .set_managed(&fs.uid().unwrap_or_default(), false);
            let (reason, note) = d.event(&id);
            ctx.shared
                .event(fs, EventType::Normal, reason, "Cleanup", note)
                .await;
            remove_feed(fs, ctx, worker.as_ref()).await;
            Ok(Action::await_change())
        }
        Err(e) if worker.is_none() && e.is_permanent() => {
            // The worker and its credentials are gone and Temporal refuses us: do not block the
            // deletion forever.
            let note = format!(
                "could not remove schedule {id} ({e}); the CuratorWorker is gone, so it is left in Temporal"
            );
            ctx.shared
                .event(
                    fs,
                    EventType::Warning,
                    "ScheduleCleanupSkipped",
                    "Cleanup",
                    note,
                )
                .await;
            Ok(Action::await_change())
        }
        Err(e) => Err(e),
    }
}
