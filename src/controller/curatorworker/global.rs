//! buun-curator's global ingestion schedule beside the worker's FeedSources: read (one describe
//! per Temporal namespace per interval), paused or unpaused as `worker::global` decides, and
//! reported with events.

use kube::{ResourceExt, runtime::events::EventType};

use super::WorkerContext;
use crate::{
    controller::{error::Error, secrets},
    crd::CuratorWorker,
    temporal::{ScheduleApi, proto::SchedulePatch},
    worker::global::{self, Action, GLOBAL_SCHEDULE_ID, Global},
};

/// Reads the global schedule and carries out what `worker::global::decide` says; returns the
/// schedule as it is afterwards (`Global::Unknown` when Temporal could not be read).
pub(super) async fn reconcile_global(
    w: &CuratorWorker,
    ctx: &WorkerContext,
    feeds: i32,
    deleting: bool,
) -> Result<Global, Error> {
    let ns = w.namespace().unwrap_or_default();
    let t = &w.spec.temporal;
    let creds = secrets::credentials(&ctx.shared.client, &ns, t).await?;
    let api = ctx
        .shared
        .pool
        .schedules(&t.address, &t.namespace, &creds)
        .await?;
    let key = (t.address.clone(), t.namespace.clone(), creds.tag());
    let seen = ctx
        .global_cache
        .get(&key, ctx.global_ttl(), || async {
            Ok(match api.describe(GLOBAL_SCHEDULE_ID).await? {
                None => Global::Absent,
                Some(d) => match d.schedule.state {
                    Some(s) if s.paused => Global::Paused(s.notes),
                    _ => Global::Running,
                },
            })
        })
        .await
        .unwrap_or(Global::Unknown);
    let action = global::decide(
        w.spec.global_ingest_schedule,
        deleting,
        feeds,
        &seen,
        &ns,
        &w.name_any(),
    );
    let (patch, reason) = match &action {
        Action::Leave => return Ok(seen),
        Action::Pause(note) => (
            SchedulePatch {
                pause: note.clone(),
                ..Default::default()
            },
            "GlobalSchedulePaused",
        ),
        Action::Unpause(note) => (
            SchedulePatch {
                unpause: note.clone(),
                ..Default::default()
            },
            "GlobalScheduleResumed",
        ),
    };
    // A request ID of its own for every pause and unpause (Temporal drops a repeated request ID
    // as a retry, and both are idempotent anyway).
    let request_id =
        crate::runtime::request_id(&format!("{reason}-{}", w.uid().unwrap_or_default()));
    api.patch(GLOBAL_SCHEDULE_ID, patch, request_id).await?;
    let now = global::after(&seen, &action);
    ctx.global_cache.update(&key, |g| *g = now.clone()).await;
    let note = match &action {
        Action::Pause(n) | Action::Unpause(n) => format!("schedule {GLOBAL_SCHEDULE_ID}: {n}"),
        Action::Leave => String::new(),
    };
    ctx.shared
        .event(w, EventType::Normal, reason, "GlobalSchedule", note)
        .await;
    Ok(now)
}
