//! PURE: how many worker replicas to run, and why.
//!
//! desired = max(⌈backlog / targetBacklogPerReplica⌉, ⌈feeds / feedsPerReplica⌉,
//!               1 if workflows are running, 1 if a scheduled run is due within `prewarm`),
//! clamped to [minReplicas, maxReplicas]. Up at once; down only after the lower value has held
//! for `scaleDownDelay`. Never on missing data: when Temporal cannot be read, the count stays.

use std::time::Duration;

use jiff::Timestamp;

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::deployment::Replicas;
use crate::{
    crd::{FeedSource, SpecError, curatorworker::Autoscaling},
    temporal::queue::QueueLoad,
};

/// The autoscaling spec with its durations parsed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Params {
    /// Fewest replicas.
    pub min: i32,
    /// Most replicas.
    pub max: i32,
    /// Backlog one replica handles.
    pub target_backlog: i32,
    /// Feeds one replica serves, if feeds drive scaling.
    pub feeds_per_replica: Option<i32>,
    /// Lead time before a scheduled run.
    pub prewarm: Duration,
    /// How long a lower count must hold before scaling down.
    pub scale_down_delay: Duration,
    /// Poll interval of the task queue.
    pub poll_interval: Duration,
}

impl Params {
    /// Parses the spec.
    pub fn from_spec(a: &Autoscaling) -> Result<Self, SpecError> {
        let d = |field: &'static str, v: &crate::crd::GoDuration| {
            v.parse()
                .map_err(|source| SpecError::Duration { field, source })
        };
        if a.min_replicas > a.max_replicas {
            return Err(SpecError::Invalid {
                field: "autoscaling.minReplicas",
                message: "must not exceed maxReplicas".into(),
            });
        }
        let poll_interval = d("autoscaling.pollInterval", &a.poll_interval)?;
        if poll_interval < MIN_POLL_INTERVAL {
            return Err(SpecError::Invalid {
                field: "autoscaling.pollInterval",
                message: "must be at least 5s".into(),
            });
        }
        Ok(Self {
            min: a.min_replicas.max(0),
            max: a.max_replicas.max(1),
            target_backlog: a.target_backlog_per_replica.max(1),
            feeds_per_replica: a.feeds_per_replica.map(|f| f.max(1)),
            prewarm: d("autoscaling.prewarm", &a.prewarm)?,
            scale_down_delay: d("autoscaling.scaleDownDelay", &a.scale_down_delay)?,
            poll_interval,
        })
    }
}

/// Everything a decision depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inputs {
    /// The spec.
    pub params: Params,
    /// The queue's load, or `None` when Temporal was unreachable.
    pub load: Option<QueueLoad>,
    /// FeedSources served by the worker.
    pub feeds: i32,
    /// Earliest next scheduled run among them.
    pub next_run: Option<Timestamp>,
    /// Replicas the operator asked for last time (the Deployment's count).
    pub current: i32,
    /// Since when a count below `current` has been wanted, if it has.
    pub lower_since: Option<Timestamp>,
    /// The clock.
    pub now: Timestamp,
}

/// Why the count is what it is; becomes the `Scaling` condition's reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// The task queue backlog drives it.
    Backlog,
    /// The number of feeds drives it.
    Feeds,
    /// Workflows are still running.
    RunningWorkflows,
    /// A scheduled run is due soon.
    Prewarm,
    /// Held at `minReplicas`.
    MinReplicas,
    /// Capped at `maxReplicas`.
    MaxReplicas,
    /// Nothing to do.
    Idle,
    /// A lower count is wanted but has not held for `scaleDownDelay` yet.
    ScaleDownDelayed,
    /// Temporal could not be read; the count is kept.
    TemporalUnreachable,
}

impl Reason {
    /// PascalCase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Backlog => "Backlog",
            Reason::Feeds => "Feeds",
            Reason::RunningWorkflows => "RunningWorkflows",
            Reason::Prewarm => "Prewarm",
            Reason::MinReplicas => "MinReplicas",
            Reason::MaxReplicas => "MaxReplicas",
            Reason::Idle => "Idle",
            Reason::ScaleDownDelayed => "ScaleDownDelayed",
            Reason::TemporalUnreachable => "TemporalUnreachable",
        }
    }
}

/// The decision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Replicas to run.
    pub replicas: i32,
    /// The count the rules ask for now (before the scale-down delay).
    pub wanted: i32,
    /// Why.
    pub reason: Reason,
    /// The numbers behind it, for events and the condition message.
    pub message: String,
    /// State to carry to the next decision.
    pub lower_since: Option<Timestamp>,
}

/// `a / b` rounded up; 0 for `a <= 0`; never overflows (`b` is at least 1).
fn ceil_div(a: i64, b: i64) -> i64 {
    let b = b.max(1);
    if a <= 0 {
        0
    } else {
        a / b + i64::from(a % b != 0)
    }
}

/// The shortest `autoscaling.pollInterval` accepted: each poll costs one Kubernetes read and up
/// to three Temporal calls.
pub const MIN_POLL_INTERVAL: Duration = Duration::from_secs(5);

fn to_i32(v: i64) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

/// Decides the replica count.
pub fn decide(i: &Inputs) -> Decision {
    let p = &i.params;
    let Some(load) = i.load else {
        return Decision {
            replicas: i.current,
            wanted: i.current,
            reason: Reason::TemporalUnreachable,
            message: format!(
                "task queue could not be read; keeping {} replicas",
                i.current
            ),
            lower_since: i.lower_since,
        };
    };
    let (wanted, reason, numbers) = rules(i, &load);
    if wanted >= i.current {
        return Decision {
            replicas: wanted,
            wanted,
            reason,
            message: format!("{wanted} replicas: {numbers}"),
            lower_since: None,
        };
    }
    let since = i.lower_since.unwrap_or(i.now);
    let held = i.now.duration_since(since);
    let delay =
        jiff::SignedDuration::try_from(p.scale_down_delay).unwrap_or(jiff::SignedDuration::MAX);
    if held >= delay {
        Decision {
            replicas: wanted,
            wanted,
            reason,
            message: format!(
                "{wanted} replicas after {held:#} below {}: {numbers}",
                i.current
            ),
            lower_since: None,
        }
    } else {
        Decision {
            replicas: i.current,
            wanted,
            reason: Reason::ScaleDownDelayed,
            message: format!(
                "keeping {} replicas until {wanted} has held for {}: {numbers}",
                i.current,
                crate::crd::duration::format_go_duration(p.scale_down_delay)
            ),
            lower_since: Some(since),
        }
    }
}

/// PURE: the count the rules ask for (clamped to the bounds), the rule that decided it, and
/// the numbers behind it. The strongest term names the reason; ties go to the first of
/// backlog, feeds, running workflows, prewarm.
fn rules(i: &Inputs, load: &QueueLoad) -> (i32, Reason, String) {
    let p = &i.params;
    let by_backlog = to_i32(ceil_div(load.backlog, i64::from(p.target_backlog)));
    let by_feeds = p
        .feeds_per_replica
        .map(|f| to_i32(ceil_div(i64::from(i.feeds), i64::from(f))))
        .unwrap_or(0);
    let by_running = i32::from(load.running > 0);
    let due_soon = i.next_run.is_some_and(|t| {
        let lead = t.duration_since(i.now);
        lead <= jiff::SignedDuration::try_from(p.prewarm).unwrap_or(jiff::SignedDuration::MAX)
    });
    let by_prewarm = i32::from(due_soon);
    // The strongest term names the reason; ties go to the first in this order.
    let terms = [
        (by_backlog, Reason::Backlog),
        (by_feeds, Reason::Feeds),
        (by_running, Reason::RunningWorkflows),
        (by_prewarm, Reason::Prewarm),
    ];
    let (raw, mut reason) =
        terms.iter().copied().fold(
            (0, Reason::Idle),
            |best, t| if t.0 > best.0 { t } else { best },
        );
    let wanted = raw.clamp(p.min, p.max);
    if wanted > raw {
        reason = Reason::MinReplicas;
    } else if wanted < raw {
        reason = Reason::MaxReplicas;
    }
    let numbers = format!(
        "backlog {} (target {}/replica), running {}, feeds {}{}, next run {}",
        load.backlog,
        p.target_backlog,
        load.running,
        i.feeds,
        p.feeds_per_replica
            .map(|f| format!(" ({f}/replica)"))
            .unwrap_or_default(),
        match i.next_run {
            Some(t) if due_soon => format!("{t} (within prewarm)"),
            Some(t) => t.to_string(),
            None => "none".into(),
        }
    );
    (wanted, reason, numbers)
}

/// PURE: the FeedSources that reference `worker`, and the earliest next run among the ones that
/// are not suspended.
pub fn feeds_of(feeds: &[Arc<FeedSource>], namespace: &str, worker: &str) -> (i32, Option<Time>) {
    let mine: Vec<_> = feeds
        .iter()
        .filter(|f| {
            f.metadata.namespace.as_deref() == Some(namespace) && f.spec.worker_ref.name == worker
        })
        .collect();
    let next = mine
        .iter()
        .filter(|f| !f.spec.suspend)
        .filter_map(|f| f.status.as_ref().and_then(|s| s.next_runs.first().cloned()))
        .min_by_key(|t| t.0);
    (i32::try_from(mine.len()).unwrap_or(i32::MAX), next)
}

/// What the replica decision observed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    /// The queue's load, or `None` when Temporal was unreachable.
    pub load: Option<QueueLoad>,
    /// FeedSources served by the worker.
    pub feeds: i32,
    /// Earliest next scheduled run among them.
    pub next_run: Option<Timestamp>,
    /// Replicas the Deployment has (or the status last wanted), if known.
    pub current: Option<i32>,
    /// Since when a lower count has been wanted, as the status remembers it (so a new leader
    /// honours the scale-down delay too).
    pub lower_since: Option<Timestamp>,
    /// The clock.
    pub now: Timestamp,
}

/// The replica decision: who owns `replicas`, the count, and why (the `Scaling` condition).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scale {
    /// Replicas to set, or none (an external autoscaler owns the field).
    pub replicas: Replicas,
    /// `Scaling` reason.
    pub reason: &'static str,
    /// `Scaling` message.
    pub message: String,
    /// Since when a lower count has been wanted, to remember in the status.
    pub lower_since: Option<Timestamp>,
}

/// PURE: the replica decision for a worker with fixed `replicas` or the autoscaling `params`.
pub fn scale(
    replicas: Option<i32>,
    params: &Result<Option<Params>, SpecError>,
    o: &Observed,
) -> Scale {
    let plain = |replicas, reason, message: String| Scale {
        replicas,
        reason,
        message,
        lower_since: None,
    };
    match (params, replicas) {
        (Err(e), _) => plain(Replicas::External, "InvalidSpec", e.to_string()),
        (Ok(None), Some(n)) => plain(Replicas::Set(n), "Fixed", format!("spec.replicas is {n}")),
        (Ok(None), None) => plain(
            Replicas::External,
            "ExternalAutoscaler",
            "replicas are left to an external autoscaler (HPA, KEDA)".to_owned(),
        ),
        (Ok(Some(p)), _) => {
            let d = decide(&Inputs {
                params: *p,
                load: o.load,
                feeds: o.feeds,
                next_run: o.next_run,
                current: o.current.unwrap_or(p.min),
                lower_since: o.lower_since,
                now: o.now,
            });
            Scale {
                replicas: Replicas::Set(d.replicas),
                reason: d.reason.as_str(),
                message: d.message,
                lower_since: d.lower_since,
            }
        }
    }
}

#[cfg(test)]
#[path = "scaler_tests.rs"]
mod tests;
