//! PURE: the CuratorWorker status from the Deployment and the scaling decision.

use k8s_openapi::{api::apps::v1::Deployment, apimachinery::pkg::apis::meta::v1::Time};

use crate::{
    crd::{
        CuratorWorkerStatus,
        conditions::{self, Desired, READY, Status, TEMPORAL_REACHABLE},
    },
    resources::feedsource_status::truncate,
    scaling::QueueLoad,
};

/// Condition saying why the replica count is what it is.
pub const SCALING: &str = "Scaling";

/// What a reconcile observed and decided.
#[derive(Clone, Debug)]
pub struct Observation<'a> {
    /// The Deployment as the API server returned it.
    pub deployment: Option<&'a Deployment>,
    /// Replicas the operator asked for (`None`: an external autoscaler owns the field).
    pub desired_replicas: Option<i32>,
    /// The queue load, or why it could not be read.
    pub load: Result<QueueLoad, (&'static str, String)>,
    /// FeedSources served.
    pub feeds: i32,
    /// Earliest next run among them.
    pub next_run: Option<Time>,
    /// `Scaling` reason and message.
    pub scaling: (&'static str, String),
    /// True when the operator changed the replica count in this pass.
    pub scaled: bool,
    /// A spec problem, which makes the worker not Ready.
    pub invalid: Option<String>,
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
    s.desired_replicas = o.desired_replicas.or(spec_replicas);
    if let Ok(l) = &o.load {
        s.backlog = Some(l.backlog);
    }
    s.feeds = Some(o.feeds);
    s.next_run = o.next_run.clone();
    if o.scaled {
        s.last_scale_time = Some(truncate(now));
    }
    let desired = s.desired_replicas.unwrap_or(0);
    let ready = s.ready_replicas.unwrap_or(0);
    let rolled_out = o.deployment.is_some_and(|d| {
        let observed = d.status.as_ref().and_then(|st| st.observed_generation);
        observed >= d.metadata.generation
            && d.status
                .as_ref()
                .and_then(|st| st.updated_replicas)
                .unwrap_or(0)
                >= desired
    });
    let ready_cond = if let Some(msg) = &o.invalid {
        Desired::new(READY, Status::False, "InvalidSpec", msg.clone())
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
    };
    let reach = match &o.load {
        Ok(_) => Desired::new(
            TEMPORAL_REACHABLE,
            Status::True,
            "Connected",
            "Temporal answered",
        ),
        Err((reason, msg)) => Desired::new(TEMPORAL_REACHABLE, Status::False, *reason, msg.clone()),
    };
    let scaling = Desired::new(SCALING, Status::True, o.scaling.0, o.scaling.1.clone());
    let [reconciling, stalled] = conditions::kstatus(&ready_cond, o.invalid.is_some());
    s.conditions = conditions::merge(
        &prev.conditions,
        &[ready_cond, reach, scaling, reconciling, stalled],
        generation,
        &truncate(now),
    );
    s
}
