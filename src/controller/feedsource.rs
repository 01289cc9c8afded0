//! The FeedSource controller: one Temporal Schedule per FeedSource.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{
        controller::Action,
        events::EventType,
        finalizer::{self, Event as Finalizer},
    },
};
use serde_json::json;
use tracing::Instrument;

use super::{Context, MANAGER, error::Error, secrets, watch::RUN_NOW_ANNOTATION};
use crate::{
    crd::{
        CuratorWorker, FeedSource, FeedSourceStatus,
        conditions::{self, READY},
    },
    resources::{
        feedsource_status::{self, Outcome},
        memo::Owner,
        schedule::{self, DesiredSchedule},
    },
    schedule_sync::{self, Change, Deleted, Recorded},
    temporal::pool::Credentials,
};

/// Finalizer that guarantees the schedule is cleaned up before the resource goes away.
pub const FINALIZER: &str = "curator.buun.dev/schedule";

/// Reconciles one FeedSource (entry point for the kube-runtime controller).
pub async fn reconcile(fs: Arc<FeedSource>, ctx: Arc<Context>) -> Result<Action, Error> {
    let started = std::time::Instant::now();
    let ns = fs.namespace().unwrap_or_default();
    let uid = fs.uid().unwrap_or_default();
    let api: Api<FeedSource> = Api::namespaced(ctx.client.clone(), &ns);
    let span = tracing::info_span!("reconcile", kind = "FeedSource", namespace = %ns, name = %fs.name_any());
    let result = finalizer::finalizer(&api, FINALIZER, fs, |event| async {
        match event {
            Finalizer::Apply(fs) => apply(&fs, &ctx).await,
            Finalizer::Cleanup(fs) => cleanup(&fs, &ctx).await,
        }
    })
    .instrument(span)
    .await;
    let result = match result {
        Ok(action) => {
            ctx.backoff.reset(&uid);
            Ok(action)
        }
        Err(finalizer::Error::ApplyFailed(e) | finalizer::Error::CleanupFailed(e)) => Err(e),
        Err(e) => Err(Error::Finalizer(e.to_string())),
    };
    ctx.metrics.reconciled(
        "FeedSource",
        started.elapsed(),
        result.as_ref().err().map(Error::reason),
    );
    result
}

/// Decides the retry delay after a failed reconcile: exponential per object, with jitter.
pub fn error_policy(fs: Arc<FeedSource>, err: &Error, ctx: Arc<Context>) -> Action {
    let delay = ctx.backoff.next(&fs.uid().unwrap_or_default());
    tracing::warn!(
        namespace = %fs.namespace().unwrap_or_default(),
        name = %fs.name_any(),
        reason = err.reason(),
        error = %err,
        retry_in = ?delay,
        "FeedSource reconcile failed"
    );
    Action::requeue(delay)
}

fn now() -> Time {
    Time(jiff::Timestamp::now())
}

/// Writes the status with server-side apply, only when it differs from the stored one.
async fn write_status(
    api: &Api<FeedSource>,
    fs: &FeedSource,
    status: &FeedSourceStatus,
) -> Result<bool, Error> {
    if fs.status.as_ref() == Some(status) {
        return Ok(false);
    }
    let body = json!({
        "apiVersion": "curator.buun.dev/v1alpha1",
        "kind": "FeedSource",
        "status": status,
    });
    api.patch_status(
        &fs.name_any(),
        &PatchParams::apply(MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(true)
}

/// Emits a Warning event when the Ready condition's reason differs from the stored one, so a
/// failure that repeats is reported once, not on every retry.
async fn warn_on_transition(ctx: &Context, fs: &FeedSource, new: &FeedSourceStatus) {
    let prev_reason = fs
        .status
        .as_ref()
        .and_then(|s| conditions::find(&s.conditions, READY))
        .map(|c| c.reason.clone());
    if let Some(c) = conditions::find(&new.conditions, READY)
        && c.status == "False"
        && prev_reason.as_deref() != Some(c.reason.as_str())
    {
        ctx.event(
            fs,
            EventType::Warning,
            &c.reason,
            "Reconcile",
            c.message.clone(),
        )
        .await;
    }
}

/// Whether the status records the schedule at the ID, frontend and namespace it should have.
fn in_recorded_place(status: &FeedSourceStatus, desired: &DesiredSchedule) -> bool {
    status.schedule_id.as_deref() == Some(&desired.id)
        && status.temporal_address.as_deref() == Some(&desired.address)
        && status.temporal_namespace.as_deref() == Some(&desired.namespace)
}

fn recorded(fs: &FeedSource, desired: &DesiredSchedule) -> Recorded {
    let prev = fs.status.clone().unwrap_or_default();
    let same_place = in_recorded_place(&prev, desired);
    let run_now = fs
        .annotations()
        .get(RUN_NOW_ANNOTATION)
        .filter(|v| !v.is_empty() && prev.run_now_handled.as_ref() != Some(*v))
        .cloned();
    Recorded {
        fingerprint: if same_place {
            prev.observed_fingerprint.clone()
        } else {
            None
        },
        generation_changed: prev.observed_generation != fs.metadata.generation,
        run_now,
        // Never synced: a new resource, whose schedule most likely does not exist yet.
        expect_missing: prev.schedule_id.is_none(),
    }
}

async fn apply(fs: &FeedSource, ctx: &Context) -> Result<Action, Error> {
    let ns = fs.namespace().unwrap_or_default();
    let api: Api<FeedSource> = Api::namespaced(ctx.client.clone(), &ns);
    let prev = fs.status.clone().unwrap_or_default();
    let generation = fs.metadata.generation;
    let workers: Api<CuratorWorker> = Api::namespaced(ctx.client.clone(), &ns);
    let worker_name = &fs.spec.worker_ref.name;
    let Some(worker) = workers.get_opt(worker_name).await? else {
        let status = feedsource_status::compute(
            &prev,
            generation,
            None,
            &Outcome::WorkerNotFound(worker_name),
            &now(),
        );
        warn_on_transition(ctx, fs, &status).await;
        write_status(&api, fs, &status).await?;
        // The CuratorWorker watch brings this resource back when the worker appears.
        return Ok(Action::await_change());
    };
    let desired = match schedule::build(
        &ns,
        &fs.name_any(),
        &fs.uid().unwrap_or_default(),
        &fs.spec,
        &worker.spec.temporal,
        &ctx.build,
    ) {
        Ok(d) => d,
        Err(e) => {
            let status = feedsource_status::compute(
                &prev,
                generation,
                None,
                &Outcome::InvalidSpec(e.to_string()),
                &now(),
            );
            warn_on_transition(ctx, fs, &status).await;
            write_status(&api, fs, &status).await?;
            return Ok(Action::await_change());
        }
    };
    let recorded = recorded(fs, &desired);
    let result = async {
        let creds = secrets::credentials(&ctx.client, &ns, &worker.spec.temporal).await?;
        move_away_from_old_place(fs, ctx, &desired, &creds).await;
        let schedules = ctx
            .pool
            .schedules(&desired.address, &desired.namespace, &creds)
            .await?;
        match listed_in_sync(fs, ctx, &desired, &recorded, &schedules).await {
            Listing::InSync(synced) => return Ok(Some(*synced)),
            Listing::NotYet => return Ok(None),
            Listing::Describe => {}
        }
        let synced = schedule_sync::sync(&schedules, &desired, &recorded).await?;
        ctx.mark_verified(&fs.uid().unwrap_or_default());
        Ok::<_, Error>(Some(synced))
    }
    .await;
    match result {
        // Created moments ago and not listed yet: nothing new to record.
        Ok(None) => Ok(Action::requeue(FOLLOW_UP)),
        Ok(Some(synced)) => {
            let mut status = feedsource_status::compute(
                &prev,
                generation,
                Some(&desired),
                &Outcome::Synced {
                    synced: &synced,
                    desired: &desired,
                },
                &now(),
            );
            if synced.triggered {
                status.run_now_handled = recorded.run_now.clone();
            }
            ctx.metrics.set_managed(&fs.uid().unwrap_or_default(), true);
            warn_on_transition(ctx, fs, &status).await;
            write_status(&api, fs, &status).await?;
            report_change(ctx, fs, &desired, &synced).await;
            let uid = fs.uid().unwrap_or_default();
            if synced.server_fingerprint.is_none() {
                // Created with one call: come back in a moment, when a schedule listing shows
                // it, to record the server's form and the next runs.
                ctx.awaiting_listing(&uid, true);
                return Ok(Action::requeue(FOLLOW_UP));
            }
            ctx.awaiting_listing(&uid, false);
            Ok(Action::requeue(ctx.resync))
        }
        Err(e) => {
            let status = feedsource_status::compute(
                &prev,
                generation,
                Some(&desired),
                &Outcome::Failed {
                    reason: e.reason(),
                    message: e.to_string(),
                    temporal_answered: e.temporal_answered(),
                    permanent: e.is_permanent(),
                },
                &now(),
            );
            warn_on_transition(ctx, fs, &status).await;
            write_status(&api, fs, &status).await?;
            if e.is_permanent() {
                // Retried at the resync interval too: a Secret or a foreign schedule can change
                // without this resource changing.
                Ok(Action::requeue(ctx.resync))
            } else {
                Err(e)
            }
        }
    }
}

async fn report_change(
    ctx: &Context,
    fs: &FeedSource,
    desired: &DesiredSchedule,
    synced: &schedule_sync::Synced,
) {
    let id = &desired.id;
    let (reason, note) = match synced.change {
        Change::Created => ("ScheduleCreated", format!("created schedule {id}")),
        Change::Updated => (
            "ScheduleUpdated",
            format!("updated schedule {id} to the new spec"),
        ),
        Change::DriftRepaired => (
            "DriftRepaired",
            format!("schedule {id} was changed or deleted outside the operator; put back"),
        ),
        Change::PauseChanged if desired.suspended() => {
            ("Suspended", format!("paused schedule {id}"))
        }
        Change::PauseChanged => ("Resumed", format!("unpaused schedule {id}")),
        Change::Unchanged => ("", String::new()),
    };
    if !reason.is_empty() {
        tracing::info!(schedule = %id, change = synced.change.as_str(), "schedule reconciled");
        ctx.event(fs, EventType::Normal, reason, "Reconcile", note)
            .await;
    }
    if synced.triggered {
        ctx.event(
            fs,
            EventType::Normal,
            "RunTriggered",
            "RunNow",
            format!("started a run of schedule {id} for {RUN_NOW_ANNOTATION}"),
        )
        .await;
    }
}

/// When the schedule's ID or location changed (worker moved to another namespace or frontend,
/// prefix changed), removes the old schedule if this resource owns it. Best effort: a failure is
/// reported and does not block the new schedule.
async fn move_away_from_old_place(
    fs: &FeedSource,
    ctx: &Context,
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
    if in_recorded_place(&prev, desired) {
        return;
    }
    let creds = if *address == desired.address {
        creds.clone()
    } else {
        Credentials::default()
    };
    let result = async {
        let api = ctx.pool.schedules(address, namespace, &creds).await?;
        schedule_sync::delete(&api, id, &desired.owner, fs.spec.deletion_policy).await
    }
    .await;
    match result {
        Ok(d) => tracing::info!(old = %id, outcome = ?d, "schedule moved"),
        Err(e) => {
            ctx.event(
                fs,
                EventType::Warning,
                "OldScheduleNotRemoved",
                "Reconcile",
                format!(
                    "could not remove the previous schedule {id} at {address}/{namespace}: {e}"
                ),
            )
            .await;
        }
    }
}

async fn cleanup(fs: &FeedSource, ctx: &Context) -> Result<Action, Error> {
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
        .unwrap_or_else(|| schedule::schedule_id(&ctx.build.id_prefix, &ns, &name));
    let workers: Api<CuratorWorker> = Api::namespaced(ctx.client.clone(), &ns);
    let worker = workers.get_opt(&fs.spec.worker_ref.name).await?;
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
            secrets::credentials(&ctx.client, &ns, &w.spec.temporal).await
        }
        _ => Ok(Credentials::default()),
    };
    let result = async {
        let api = ctx.pool.schedules(&address, &namespace, &creds?).await?;
        Ok::<_, Error>(schedule_sync::delete(&api, &id, &owner, fs.spec.deletion_policy).await?)
    }
    .await;
    match result {
        Ok(d) => {
            ctx.metrics
                .set_managed(&fs.uid().unwrap_or_default(), false);
            let (reason, note) = match d {
                Deleted::Deleted => ("ScheduleDeleted", format!("deleted schedule {id}")),
                Deleted::Orphaned => (
                    "ScheduleOrphaned",
                    format!("left schedule {id} running and cleared its owner"),
                ),
                Deleted::AlreadyGone => {
                    ("ScheduleDeleted", format!("schedule {id} was already gone"))
                }
                Deleted::NotOwned => (
                    "ScheduleNotOwned",
                    format!("schedule {id} belongs to another owner; left alone"),
                ),
            };
            ctx.event(fs, EventType::Normal, reason, "Cleanup", note)
                .await;
            Ok(Action::await_change())
        }
        Err(e) if worker.is_none() && e.is_permanent() => {
            // The worker and its credentials are gone and Temporal refuses us: do not block the
            // deletion forever.
            ctx.event(
                fs,
                EventType::Warning,
                "ScheduleCleanupSkipped",
                "Cleanup",
                format!("could not remove schedule {id} ({e}); the CuratorWorker is gone, so it is left in Temporal"),
            )
            .await;
            Ok(Action::await_change())
        }
        Err(e) => Err(e),
    }
}

/// How long a schedule listing is reused.
fn list_ttl(ctx: &Context) -> std::time::Duration {
    (ctx.resync / 4).clamp(
        std::time::Duration::from_secs(5),
        std::time::Duration::from_secs(60),
    )
}

/// Page size of schedule listings.
const LIST_PAGE: i32 = 1000;

/// When a new schedule is looked for in the listing again.
const FOLLOW_UP: std::time::Duration = std::time::Duration::from_secs(2);

/// Fewest seconds between two listings fetched for schedules created since the last one: every
/// FeedSource created before a listing starts is served by it.
const NEWS_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// How long a new schedule may be missing from the listing (visibility lags a little behind)
/// before it is described instead.
const VISIBILITY_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

/// What the listing says about a schedule.
enum Listing {
    /// As the operator left it: nothing to write.
    InSync(Box<schedule_sync::Synced>),
    /// Created moments ago and not in a listing yet: look again shortly.
    NotYet,
    /// In doubt: the full reconcile (describe) decides.
    Describe,
}

/// The cheap path of a resync: when nothing changed on our side, one shared listing (a page per
/// thousand schedules) replaces a describe per FeedSource. Any doubt returns `None` and the full
/// reconcile runs; every schedule is still described in full at the `full_verify` rate, to catch
/// edits of the action or input, which the listing does not show.
async fn listed_in_sync<A: crate::temporal::ScheduleApi>(
    fs: &FeedSource,
    ctx: &Context,
    desired: &DesiredSchedule,
    recorded: &Recorded,
    api: &A,
) -> Listing {
    let uid = fs.uid().unwrap_or_default();
    let created = ctx.created_at(&uid);
    match listed(fs, ctx, desired, recorded, api, created).await {
        Some(Some(synced)) => Listing::InSync(Box::new(synced)),
        Some(None) => Listing::NotYet,
        None => Listing::Describe,
    }
}

/// `None`: describe; `Some(None)`: not in a fresh enough listing yet.
async fn listed<A: crate::temporal::ScheduleApi>(
    fs: &FeedSource,
    ctx: &Context,
    desired: &DesiredSchedule,
    recorded: &Recorded,
    api: &A,
    created: Option<std::time::Instant>,
) -> Option<Option<schedule_sync::Synced>> {
    use crate::{
        resources::proto::{Schedule, ScheduleState},
        temporal::Described,
    };
    use temporalio_common::protos::temporal::api::schedule::v1::ScheduleInfo;
    let uid = fs.uid().unwrap_or_default();
    let prev = fs.status.as_ref()?;
    let same_place = in_recorded_place(prev, desired);
    if !same_place
        || recorded.run_now.is_some()
        || recorded.generation_changed
        || !ctx.verified_recently(&fs.uid().unwrap_or_default())
    {
        return None;
    }
    let key = (desired.address.clone(), desired.namespace.clone());
    let fetch = || async {
        schedule_sync::list_all(api, LIST_PAGE)
            .await
            .map(std::sync::Arc::new)
    };
    let listing = match created {
        Some(at) => match ctx
            .list_cache
            .get_since(&key, at, NEWS_INTERVAL, fetch)
            .await
        {
            Some(listing) => listing.ok()?,
            None => return Some(None),
        },
        None => ctx.list_cache.get(&key, list_ttl(ctx), fetch).await.ok()?,
    };
    let Some(listed) = listing.get(&desired.id) else {
        // Visibility lags a little behind a create; after that, describe.
        return created
            .is_some_and(|at| at.elapsed() < VISIBILITY_GRACE)
            .then_some(None);
    };
    let spec_fingerprint = crate::plan::listed_in_sync(
        desired,
        prev.desired_fingerprint.as_deref(),
        prev.observed_spec_fingerprint.as_deref(),
        Some(listed),
    )?;
    ctx.awaiting_listing(&uid, false);
    let state = ScheduleState {
        paused: listed.paused,
        notes: listed.notes.clone(),
        ..Default::default()
    };
    let held = crate::plan::pause_decision(desired, Some(&state), false).held_foreign_pause;
    Some(Some(schedule_sync::Synced {
        change: Change::Unchanged,
        described: Described {
            schedule: Schedule {
                spec: listed.spec.clone(),
                state: Some(state),
                policies: desired.schedule.policies,
                action: None,
            },
            info: ScheduleInfo {
                future_action_times: listed.future_action_times.clone(),
                recent_actions: listed.recent_actions.clone(),
                action_count: prev.action_count.unwrap_or_default(),
                ..Default::default()
            },
            ..Default::default()
        },
        server_fingerprint: prev.observed_fingerprint.clone(),
        spec_fingerprint: Some(spec_fingerprint),
        held_foreign_pause: held,
        triggered: false,
    }))
}
