//! What a FeedSource reconcile tells and leaves after its status is written: the events of
//! what changed (the schedule, a run started, the feed's ingestion), the runs counted in the
//! metrics, and when the FeedSource comes back.

use kube::{
    ResourceExt,
    runtime::{controller::Action, events::EventType, reflector::ObjectRef},
};

use super::{
    context::{AWAIT_FALLBACK, FOLLOW_UP, FeedContext},
    runs,
    stages::{Step, Waiting},
};
use crate::{
    controller::{cache::NEWS_PACE_MAX, error::Error},
    crd::{FeedSource, FeedSourceStatus, conditions::Status, feedsource::RUN_NOW_ANNOTATION},
    schedule::{DesiredSchedule, health::INGESTING, sync::Seen},
};

/// Events about what the reconcile changed in Temporal, and about the feed's ingestion; what
/// the written status records of the runs is no news any more.
pub(super) async fn report(
    ctx: &FeedContext,
    fs: &FeedSource,
    step: &Step,
    status: Option<&FeedSourceStatus>,
) {
    let Step::Synced {
        desired,
        synced,
        runs,
        ..
    } = step
    else {
        return;
    };
    if let (Some(observed), Some(status)) = (runs, status) {
        ingestion_recorded(ctx, fs, desired, observed, status).await;
    }
    let id = &desired.id;
    if let Some((reason, note)) = synced.change.event(id, desired.suspended()) {
        tracing::info!(schedule = %id, change = synced.change.as_str(), "schedule reconciled");
        ctx.shared
            .event(fs, EventType::Normal, reason, "Reconcile", note)
            .await;
    }
    if synced.triggered {
        let note = format!("started a run of schedule {id} for {RUN_NOW_ANNOTATION}");
        ctx.shared
            .event(fs, EventType::Normal, "RunTriggered", "RunNow", note)
            .await;
    }
}

/// When to come back, and what this reconcile leaves in memory. A FeedSource in line (or
/// failed for good) comes back with the resync sweep (`controller::resync`), one that only a
/// change can help is parked: the sweep leaves it out.
pub(super) fn next(ctx: &FeedContext, fs: &FeedSource, step: Step) -> Result<Action, Error> {
    let uid = fs.uid().unwrap_or_default();
    let parked = matches!(step, Step::WorkerNotFound(_) | Step::InvalidSpec(_));
    ctx.parked.set(&uid, parked);
    match step {
        Step::Error(e) => Err(e),
        // The worker watch brings the resource back when the worker appears; a spec problem
        // needs a spec change.
        Step::WorkerNotFound(_) | Step::InvalidSpec(_) => Ok(Action::await_change()),
        Step::Pending(Waiting::Polling(wait)) => Ok(Action::requeue(wait.max(FOLLOW_UP))),
        Step::Pending(Waiting::Notified(took)) => {
            Ok(Action::requeue(took.clamp(AWAIT_FALLBACK, NEWS_PACE_MAX)))
        }
        Step::Synced {
            ref synced,
            ref desired,
            ..
        } => {
            ctx.shared.metrics.set_managed(&uid, true);
            // Created with one call: come back in a moment, when a listing shows it, to record
            // the server's form and the next runs. After a run-now trigger the same: the
            // listing shows the run it started (then the runs watch waits for its end).
            let follow = matches!(synced.seen, Seen::Created) || synced.triggered;
            if follow {
                ctx.awaiting
                    .start(&uid, ObjectRef::from_obj(fs), desired.id.clone());
            } else {
                ctx.awaiting.stop(&uid);
            }
            Ok(if follow {
                Action::requeue(FOLLOW_UP)
            } else {
                Action::await_change()
            })
        }
        // Retried by the sweep too: a Secret, a foreign schedule or a feed can change without
        // this resource changing.
        Step::Failed { error, .. } if error.is_permanent() => Ok(Action::await_change()),
        Step::Failed { error, .. } => Err(error),
        Step::Held {
            retry: Some(error), ..
        } => Err(error),
        Step::Held { retry: None, .. } => Ok(Action::await_change()),
    }
}

/// The status recorded the runs `observed`: the runs that ended count in the metrics (once
/// each), and a change of `Ingesting` to True or False (or of its reason) is an event, a Warning
/// when it turns False.
async fn ingestion_recorded(
    ctx: &FeedContext,
    fs: &FeedSource,
    desired: &DesiredSchedule,
    observed: &runs::Observed,
    status: &FeedSourceStatus,
) {
    let place = (desired.address.clone(), desired.namespace.clone());
    let ns = fs.namespace().unwrap_or_default();
    let name = fs.name_any();
    let metrics = &ctx.shared.metrics;
    for (run, outcome) in &observed.recorded.ended {
        if ctx.run_news.first_count(&place, run) {
            metrics.feed_run_ended(&ns, outcome.as_str());
        }
    }
    if let Some(t) = &status.last_success_time {
        metrics.feed_succeeded(&ns, &name, t.0);
    }
    let before = fs
        .status
        .as_ref()
        .and_then(|s| s.conditions.find(INGESTING));
    // A transition to True or False; not the first "no run yet" of a new FeedSource.
    let Some(now) = status
        .conditions
        .find(INGESTING)
        .filter(|c| c.status != Status::Unknown.as_str())
    else {
        return;
    };
    if before
        .as_ref()
        .is_some_and(|b| b.status == now.status && b.reason == now.reason)
    {
        return;
    }
    let kind = if now.status == Status::False.as_str() {
        EventType::Warning
    } else {
        EventType::Normal
    };
    ctx.shared
        .event(fs, kind, &now.reason, "Ingestion", now.message.clone())
        .await;
}
