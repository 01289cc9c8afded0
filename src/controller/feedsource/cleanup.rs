//! Removing a FeedSource's schedule on deletion (the finalizer), with the connection and
//! credentials the schedule was made with (`place`), also while the worker and its Secrets are
//! being deleted (a namespace deletion); it never hangs without a reason and a way out.

use kube::{
    ResourceExt,
    runtime::{controller::Action, events::EventType},
};

use super::{
    context::FeedContext,
    place::{Place, credentials_for},
    register::let_go_of_feeds,
};
use crate::{
    controller::{error::Error, status::publish},
    crd::{
        CuratorWorker, FeedSource, FeedSourceStatus,
        feedsource::{FeedDeletionPolicy, SKIP_CLEANUP_ANNOTATION},
    },
    schedule::{delete, desired, status},
    temporal::memo::Owner,
};

/// Lets go of the FeedSource's feeds, deleting those the operator created for it when its
/// `feedDeletionPolicy` says so (`register::let_go_of_feeds`).
async fn remove_feed(
    fs: &FeedSource,
    ctx: &FeedContext,
    worker: Option<&CuratorWorker>,
) -> Result<(), Error> {
    let delete = fs.spec.feed_deletion_policy == FeedDeletionPolicy::Delete;
    let api = worker.and_then(|w| w.spec.curator_api.as_ref());
    if delete && api.is_none() {
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
    let_go_of_feeds(fs, ctx, api, delete).await
}

/// The finalizer's work: the schedule goes (or is orphaned), then the feed if asked for. A
/// failure that only a change can fix (credentials revoked, Temporal namespace gone, worker
/// and credentials both gone) keeps the FeedSource in deletion with `Ready=False` and one
/// Warning event; the annotation `curator.buun.dev/skip-cleanup: "true"` lets it go then, and
/// only then (a cleanup that can be done is done).
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
    let worker_name = prev
        .worker
        .clone()
        .unwrap_or_else(|| fs.spec.worker_ref.name.clone());
    let worker = ctx
        .shared
        .api::<CuratorWorker>(&ns)
        .get_opt(&worker_name)
        .await?;
    // No worker and nothing recorded: no schedule was ever written for this resource.
    let Some(place) = place_of(&prev, worker.as_ref(), id.clone(), worker_name) else {
        ctx.forget(fs);
        return Ok(Action::await_change());
    };
    let result = async {
        let creds = credentials_for(fs, ctx, &place).await?;
        let api = ctx
            .shared
            .pool
            .schedules(&place.address, &place.namespace, &creds.unwrap_or_default())
            .await?;
        Ok::<_, Error>(delete::delete(&api, &place.id, &owner, fs.spec.deletion_policy).await?)
    }
    .await;
    match result {
        Ok(d) => {
            let (reason, note) = d.event(&id);
            ctx.shared
                .event(fs, EventType::Normal, reason, "Cleanup", note)
                .await;
            remove_feed(fs, ctx, worker.as_ref()).await?;
            ctx.forget(fs);
            Ok(Action::await_change())
        }
        Err(e) if skips_cleanup(fs) => {
            skip(fs, ctx, &place, &e).await;
            Ok(Action::await_change())
        }
        Err(e) => {
            // Without a worker or credentials to try, nothing will change by itself.
            let stuck = e.is_permanent() || worker.is_none();
            if stuck {
                report_blocked(fs, ctx, &place, &e).await?;
            }
            Err(e)
        }
    }
}

/// The cleanup failed and the user asked for the FeedSource to go anyway: the schedule (and
/// any feed) is left, said in a Warning event, a log line and `curator_cleanups_skipped_total`;
/// the feeds it held go to whoever waits for them.
async fn skip(fs: &FeedSource, ctx: &FeedContext, place: &Place, e: &Error) {
    let ns = fs.namespace().unwrap_or_default();
    let note = format!(
        "{SKIP_CLEANUP_ANNOTATION} is set and schedule {} at {}/{} cannot be removed ({e}): it is left as it is, unmanaged, and keeps running until someone deletes it (any feed is left too)",
        place.id, place.address, place.namespace
    );
    tracing::warn!(namespace = %ns, name = %fs.name_any(), schedule = %place.id, error = %e, "cleanup skipped: the schedule is left in Temporal");
    ctx.shared
        .metrics
        .cleanups_skipped
        .get_or_create(&crate::metrics::Namespace { namespace: ns })
        .inc();
    ctx.shared
        .event(fs, EventType::Warning, "CleanupSkipped", "Cleanup", note)
        .await;
    if let Err(e) = let_go_of_feeds(fs, ctx, None, false).await {
        tracing::warn!(error = %e, "the feeds' claims were not let go");
    }
    ctx.forget(fs);
}

/// Whether the user asked the operator to leave the schedule (and the feed) behind where it
/// cannot be removed.
fn skips_cleanup(fs: &FeedSource) -> bool {
    fs.annotations()
        .get(SKIP_CLEANUP_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// PURE: where the schedule `id` is: as recorded in status, else where the worker points;
/// `None` when neither is known.
fn place_of(
    prev: &FeedSourceStatus,
    worker: Option<&CuratorWorker>,
    id: String,
    worker_name: String,
) -> Option<Place> {
    let (address, namespace) = match (&prev.temporal_address, &prev.temporal_namespace, worker) {
        (Some(a), Some(n), _) => (a.clone(), n.clone()),
        (_, _, Some(w)) => (
            w.spec.temporal.address.clone(),
            w.spec.temporal.namespace.clone(),
        ),
        _ => return None,
    };
    Some(Place {
        id,
        address,
        namespace,
        worker: worker_name,
    })
}

/// `Ready=False` on a FeedSource whose deletion cannot finish, saying how to let it go.
async fn report_blocked(
    fs: &FeedSource,
    ctx: &FeedContext,
    place: &Place,
    e: &Error,
) -> Result<(), Error> {
    let message = format!(
        "cannot remove schedule {} at {}/{} ({e}); fix that, or set the annotation {SKIP_CLEANUP_ANNOTATION}: \"true\" to delete this FeedSource and leave the schedule",
        place.id, place.address, place.namespace
    );
    let now = k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now());
    let prev = fs.status.clone().unwrap_or_default();
    let status = status::blocked_deletion(&prev, fs.metadata.generation, message, &now);
    publish(&ctx.shared, fs, &status).await?;
    Ok(())
}
