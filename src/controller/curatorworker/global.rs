//! buun-curator's global ingestion schedule beside the worker's FeedSources: read (one describe
//! per Temporal namespace per interval), paused or unpaused as `worker::global` decides, and
//! reported with events. A pause is made only when the operator may
//! (`--allow-global-schedule-pause`), signed with its `--identity`, recorded in the worker's
//! status, and lifted wherever it is when the worker stops asking, moves to another address or
//! namespace, or goes away (with the credentials last used there when its Secret is gone).

use kube::{ResourceExt, runtime::events::EventType};

use super::WorkerContext;
use crate::{
    controller::{error::Error, secrets},
    crd::{CuratorWorker, curatorworker::TemporalLocation},
    temporal::{
        ScheduleApi, TemporalError, grpc::GrpcSchedules, pool::Credentials, proto::SchedulePatch,
    },
    worker::global::{self, Action, Asker, GLOBAL_SCHEDULE_ID, Global, Outcome},
};

/// The worker's credentials for `address`: from its Secrets, remembered for a later cleanup;
/// while it is being deleted and the Secrets are gone (its namespace is going), the ones it
/// last connected there with.
async fn credentials(
    w: &CuratorWorker,
    ctx: &WorkerContext,
    address: &str,
    deleting: bool,
) -> Result<Credentials, Error> {
    let (ns, name) = (w.namespace().unwrap_or_default(), w.name_any());
    match secrets::credentials(&ctx.shared.client, &ns, &w.spec.temporal).await {
        Ok(c) => {
            if address == w.spec.temporal.address {
                ctx.shared.remember_credentials(&ns, &name, address, &c);
            }
            Ok(c)
        }
        Err(e) => match ctx.shared.remembered_credentials(&ns, &name, address) {
            Some(c) if deleting || address != w.spec.temporal.address => Ok(c),
            _ => Err(e),
        },
    }
}

/// The schedules at `at`, and the credentials they were reached with.
async fn connect(
    w: &CuratorWorker,
    ctx: &WorkerContext,
    at: &TemporalLocation,
    deleting: bool,
) -> Result<(GrpcSchedules, Credentials), Error> {
    let creds = credentials(w, ctx, &at.address, deleting).await?;
    let api = ctx
        .shared
        .pool
        .schedules(&at.address, &at.namespace, &creds)
        .await?;
    Ok((api, creds))
}

fn asker<'a>(
    w: &'a CuratorWorker,
    ctx: &'a WorkerContext,
    feeds: i32,
    deleting: bool,
) -> Asker<'a> {
    Asker {
        policy: w.spec.global_ingest_schedule,
        allowed: ctx.global_pause_allowed,
        deleting,
        feeds,
        identity: &ctx.identity,
        namespace: w.metadata.namespace.as_deref().unwrap_or_default(),
        name: w.metadata.name.as_deref().unwrap_or_default(),
    }
}

/// Lifts the operator's pause at `at`, where the worker no longer points; `Ok` when there is
/// none (any more) there.
async fn lift_elsewhere(
    w: &CuratorWorker,
    ctx: &WorkerContext,
    at: &TemporalLocation,
    deleting: bool,
) -> Result<(), Error> {
    let (api, _) = connect(w, ctx, at, deleting).await?;
    let a = asker(w, ctx, 0, true);
    let seen = read(&api).await?;
    if global::is_ours(&a, &seen) {
        let note = format!(
            "{} (it moved to another Temporal address or namespace)",
            global::lift_note(&a)
        );
        write(w, ctx, &api, &Action::Unpause(note)).await?;
    }
    Ok(())
}

async fn read(api: &GrpcSchedules) -> Result<Global, TemporalError> {
    Ok(match api.describe(GLOBAL_SCHEDULE_ID).await? {
        None => Global::Absent,
        Some(d) => match d.schedule.state {
            Some(s) if s.paused => Global::Paused(s.notes),
            _ => Global::Running,
        },
    })
}

/// Pauses or unpauses as `action` says, with an event.
async fn write(
    w: &CuratorWorker,
    ctx: &WorkerContext,
    api: &GrpcSchedules,
    action: &Action,
) -> Result<(), Error> {
    let (patch, reason, note) = match action {
        Action::Leave => return Ok(()),
        Action::Pause(note) => (
            SchedulePatch {
                pause: note.clone(),
                ..Default::default()
            },
            "GlobalSchedulePaused",
            note,
        ),
        Action::Unpause(note) => (
            SchedulePatch {
                unpause: note.clone(),
                ..Default::default()
            },
            "GlobalScheduleResumed",
            note,
        ),
    };
    // A request ID of its own for every pause and unpause (Temporal drops a repeated request ID
    // as a retry, and both are idempotent anyway).
    let request_id =
        crate::runtime::request_id(&format!("{reason}-{}", w.uid().unwrap_or_default()));
    api.patch(GLOBAL_SCHEDULE_ID, patch, request_id).await?;
    let note = format!("schedule {GLOBAL_SCHEDULE_ID}: {note}");
    ctx.shared
        .event(w, EventType::Normal, reason, "GlobalSchedule", note)
        .await;
    Ok(())
}

/// Reads the global schedule and carries out what `worker::global::decide` says (first lifting
/// a pause the status records at another address or namespace); returns the schedule as it is
/// afterwards (`Global::Unknown` when Temporal could not be read) and where the operator's pause
/// for this worker now is.
pub(super) async fn reconcile_global(
    w: &CuratorWorker,
    ctx: &WorkerContext,
    feeds: i32,
    deleting: bool,
) -> Result<Outcome, Error> {
    let t = &w.spec.temporal;
    let here = TemporalLocation {
        address: t.address.clone(),
        namespace: t.namespace.clone(),
    };
    let recorded = w
        .status
        .as_ref()
        .and_then(|s| s.global_schedule_paused_at.clone());
    if let Some(old) = recorded.as_ref().filter(|old| **old != here) {
        lift_elsewhere(w, ctx, old, deleting).await?;
    }
    let (api, creds) = connect(w, ctx, &here, deleting).await?;
    let key = (here.address.clone(), here.namespace.clone(), creds.tag());
    let seen = ctx
        .global_cache
        .get(&key, ctx.global_ttl(), || read(&api))
        .await
        .unwrap_or(Global::Unknown);
    let a = asker(w, ctx, feeds, deleting);
    let action = global::decide(&a, &seen);
    write(w, ctx, &api, &action).await?;
    let now = global::after(&seen, &action);
    if action != Action::Leave {
        ctx.global_cache.update(&key, |g| *g = now.clone()).await;
    }
    let paused_at = global::is_ours(&a, &now).then_some(here);
    Ok(Outcome {
        refused: global::refused(&a),
        seen: now,
        paused_at,
    })
}
