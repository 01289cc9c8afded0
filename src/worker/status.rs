//! PURE: the CuratorWorker status from the Deployment and the scaling decision.

use k8s_openapi::{api::apps::v1::Deployment, apimachinery::pkg::apis::meta::v1::Time};

use super::{deployment::Replicas, global, scaler::Scale};
use crate::{
    crd::{
        CuratorWorkerStatus,
        conditions::{self, Desired, Failure, READY, Status, TEMPORAL_REACHABLE, truncate},
    },
    temporal::queue::QueueLoad,
};

/// Condition saying why the replica count is what it is.
pub const SCALING: &str = "Scaling";

/// What a reconcile observed and decided.
#[derive(Clone, Debug)]
pub struct Observation<'a> {
    /// The Deployment as the API server returned it.
    pub deployment: Option<&'a Deployment>,
    /// The replica decision.
    pub scale: &'a Scale,
    /// The queue load, or why it could not be read.
    pub load: Result<QueueLoad, Failure>,
    /// FeedSources served.
    pub feeds: i32,
    /// Earliest next run among them.
    pub next_run: Option<Time>,
    /// True when the operator changed the replica count in this pass.
    pub scaled: bool,
    /// A problem only a change can fix (an invalid spec, a name taken by an object the worker
    /// does not control), which makes the worker not Ready and stalled.
    pub invalid: Option<Failure>,
    /// buun-curator's global schedule, as the reconcile left it; `None`: not looked at.
    pub global: Option<&'a global::Outcome>,
    /// Whether the container gets the settings the worker requires (`SettingsProvided`);
    /// `None`: not checked.
    pub settings: Option<Desired>,
}

/// The status of a worker being deleted while `users` FeedSources still need its connection to
/// remove their schedules: it is kept until they are gone.
pub fn waiting_for_feedsources(
    prev: &CuratorWorkerStatus,
    generation: Option<i64>,
    users: usize,
    now: &Time,
) -> CuratorWorkerStatus {
    let mut s = prev.clone();
    let ready = Desired::new(
        READY,
        Status::False,
        "WaitingForFeedSources",
        format!(
            "being deleted; {users} FeedSources still use this worker's Temporal connection to remove their schedules, and it goes when they are gone"
        ),
    );
    let [reconciling, stalled] = conditions::kstatus(&ready, false);
    s.conditions = conditions::merge(
        &prev.conditions,
        &[ready, reconciling, stalled],
        generation,
        &truncate(now),
    );
    s
}

/// Computes the new status.
pub fn compute(
    prev: &CuratorWorkerStatus,
    generation: Option<i64>,
    o: &Observation<'_>,
    now: &Time,
) -> CuratorWorkerStatus {
    let mut s = prev.clone();
    s.observed_generation = generation;
    let dep_status = o.deployment.and_then(|d| d.status.as_ref());
    let spec_replicas = o
        .deployment
        .and_then(|d| d.spec.as_ref())
        .and_then(|s| s.replicas);
    s.replicas = dep_status.and_then(|d| d.replicas).or(Some(0));
    s.ready_replicas = Some(dep_status.and_then(|d| d.ready_replicas).unwrap_or(0));
    let asked = match o.scale.replicas {
        Replicas::Set(n) => Some(n),
        Replicas::External => None,
    };
    s.desired_replicas = asked.or(spec_replicas);
    s.scale_down_since = o
        .scale
        .lower_since
        .and_then(|t| jiff::Timestamp::from_second(t.as_second()).ok())
        .map(Time);
    if let Ok(l) = &o.load {
        s.backlog = Some(l.backlog);
    }
    s.feeds = Some(o.feeds);
    s.next_run = o.next_run.clone();
    if o.scaled {
        s.last_scale_time = Some(truncate(now));
    }
    let missing = o.settings.as_ref().filter(|c| c.status == Status::False);
    let ready_cond = ready(
        o,
        missing,
        s.desired_replicas.unwrap_or(0),
        s.ready_replicas.unwrap_or(0),
    );
    let reach = match &o.load {
        Ok(_) => Desired::new(
            TEMPORAL_REACHABLE,
            Status::True,
            "Connected",
            "Temporal answered",
        ),
        Err(f) => Desired::new(
            TEMPORAL_REACHABLE,
            Status::False,
            f.reason,
            f.message.clone(),
        ),
    };
    let scaling = Desired::new(
        SCALING,
        Status::True,
        o.scale.reason,
        o.scale.message.clone(),
    );
    let stalled = o.invalid.is_some() || missing.is_some();
    let [reconciling, stalled] = conditions::kstatus(&ready_cond, stalled);
    let mut conds = vec![ready_cond, reach, scaling, reconciling, stalled];
    conds.extend(o.settings.clone());
    if let Some(g) = o.global {
        conds.push(global::condition(o.feeds, &g.seen, g.refused));
        s.global_schedule_paused_at.clone_from(&g.paused_at);
    }
    s.conditions = conditions::merge(&prev.conditions, &conds, generation, &truncate(now));
    s
}

/// PURE: the `Ready` condition: a spec problem or missing settings first, then whether the
/// Deployment exists, rolled out, and has `ready` of its `desired` replicas ready.
fn ready(o: &Observation<'_>, missing: Option<&Desired>, desired: i32, ready: i32) -> Desired {
    let rolled_out = o.deployment.is_some_and(|d| {
        let observed = d.status.as_ref().and_then(|st| st.observed_generation);
        observed >= d.metadata.generation
            && d.status
                .as_ref()
                .and_then(|st| st.updated_replicas)
                .unwrap_or(0)
                >= desired
    });
    if let Some(f) = &o.invalid {
        Desired::new(READY, Status::False, f.reason, f.message.clone())
    } else if let Some(m) = missing {
        // The worker exits at start: the rollout cannot complete until the settings change.
        Desired::new(READY, Status::False, m.reason.clone(), m.message.clone())
    } else if o.deployment.is_none() {
        Desired::new(
            READY,
            Status::False,
            "DeploymentMissing",
            "the worker Deployment does not exist yet",
        )
    } else if desired == 0 && rolled_out {
        Desired::new(READY, Status::True, "ScaledToZero", "no replica is needed")
    } else if rolled_out && ready >= desired {
        Desired::new(
            READY,
            Status::True,
            "Available",
            format!("{ready}/{desired} replicas ready"),
        )
    } else {
        Desired::new(
            READY,
            Status::False,
            "Progressing",
            format!("{ready}/{desired} replicas ready"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        crd::{CuratorWorker, SpecError},
        worker::scaler::{self, Observed, Params},
    };

    fn at(secs: i64) -> jiff::Timestamp {
        jiff::Timestamp::from_second(1_800_000_000 + secs).expect("ts")
    }

    fn decide(prev: &CuratorWorkerStatus, now: i64) -> Scale {
        let w = CuratorWorker::test("news", "t:7233").with_spec(serde_json::json!({
            "autoscaling": {"minReplicas": 0, "maxReplicas": 4, "scaleDownDelay": "5m"}
        }));
        let params: Result<Option<Params>, SpecError> = w
            .spec
            .autoscaling
            .as_ref()
            .map(Params::from_spec)
            .transpose();
        scaler::scale(
            None,
            &params,
            &Observed {
                load: Some(QueueLoad {
                    backlog: 0,
                    running: 0,
                }),
                feeds: 0,
                next_run: None,
                current: Some(3),
                lower_since: prev.scale_down_since.as_ref().map(|t| t.0),
                now: at(now),
            },
        )
    }

    fn status_after(prev: &CuratorWorkerStatus, scale: &Scale, now: i64) -> CuratorWorkerStatus {
        compute(
            prev,
            Some(1),
            &Observation {
                deployment: None,
                scale,
                load: Ok(QueueLoad {
                    backlog: 0,
                    running: 0,
                }),
                feeds: 0,
                next_run: None,
                scaled: false,
                invalid: None,
                global: None,
                settings: None,
            },
            &Time(at(now)),
        )
    }

    #[test]
    fn the_scale_down_delay_survives_a_new_leader() {
        // The old leader wants fewer replicas at t=0 and keeps 3 for now.
        let first = decide(&CuratorWorkerStatus::default(), 0);
        assert_eq!(first.replicas, Replicas::Set(3));
        assert_eq!(first.reason, "ScaleDownDelayed");
        let stored = status_after(&CuratorWorkerStatus::default(), &first, 0);
        assert_eq!(stored.scale_down_since.as_ref().map(|t| t.0), Some(at(0)));
        // A new leader, with nothing in memory, reads the status: at t=4m the delay still holds,
        // and the remembered start does not move.
        let later = decide(&stored, 240);
        assert_eq!(later.replicas, Replicas::Set(3), "{later:?}");
        let stored = status_after(&stored, &later, 240);
        assert_eq!(stored.scale_down_since.as_ref().map(|t| t.0), Some(at(0)));
        // At t=5m the lower count has held for scaleDownDelay: down it goes, and the memory clears.
        let done = decide(&stored, 300);
        assert_eq!(done.replicas, Replicas::Set(0));
        assert_eq!(status_after(&stored, &done, 300).scale_down_since, None);
    }
}
