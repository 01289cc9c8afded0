//! What a CuratorWorker reconcile tells besides its status: events and metrics.

use kube::{ResourceExt, runtime::events::EventType};

use super::super::shared::Shared;
use crate::{
    crd::{CuratorWorker, CuratorWorkerStatus, conditions},
    metrics,
    worker::{deployment::Replicas, global::GLOBAL_SCHEDULE_ACTIVE, scaler::Scale},
};

/// Tells, once `status` is known: a warning when the global ingestion schedule has just been
/// found active, a `ScaledUp`/`ScaledDown` event when the replicas were changed from
/// `scaled_from`, and the backlog and desired replicas as metrics.
pub(super) async fn tell(
    shared: &Shared,
    w: &CuratorWorker,
    status: &CuratorWorkerStatus,
    scale: &Scale,
    scaled_from: Option<i32>,
) {
    warn_on_double_ingestion(shared, w, status).await;
    if let (Some(old), Replicas::Set(n)) = (scaled_from, scale.replicas) {
        let (reason, verb) = if n > old {
            ("ScaledUp", "up")
        } else {
            ("ScaledDown", "down")
        };
        let note = format!(
            "scaled {verb} from {old} to {n}: {} ({})",
            scale.message, scale.reason
        );
        shared
            .event(w, EventType::Normal, reason, "Scale", note)
            .await;
    }
    let labels = metrics::Worker {
        namespace: w.namespace().unwrap_or_default(),
        name: w.name_any(),
    };
    if let Some(b) = status.backlog {
        shared.metrics.worker_backlog.get_or_create(&labels).set(b);
    }
    if let Some(d) = status.desired_replicas {
        let gauge = shared.metrics.worker_desired.get_or_create(&labels);
        gauge.set(i64::from(d));
    }
}

/// One Warning event when buun-curator's global schedule starts ingesting the worker's feeds a
/// second time.
async fn warn_on_double_ingestion(shared: &Shared, w: &CuratorWorker, new: &CuratorWorkerStatus) {
    let active = |s: Option<&CuratorWorkerStatus>| {
        s.and_then(|s| conditions::find_true(&s.conditions, GLOBAL_SCHEDULE_ACTIVE))
            .map(|c| c.message.clone())
    };
    if let (None, Some(message)) = (active(w.status.as_ref()), active(Some(new))) {
        shared
            .event(
                w,
                EventType::Warning,
                "GlobalScheduleActive",
                "Reconcile",
                message,
            )
            .await;
    }
}
