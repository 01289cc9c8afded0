//! Prometheus metrics (prometheus-client), served at `/metrics`.

use std::{
    collections::HashSet,
    sync::{Mutex, atomic::AtomicU64},
    time::Duration,
};

use prometheus_client::{
    encoding::{EncodeLabelSet, text::encode},
    metrics::{counter::Counter, family::Family, gauge::Gauge, histogram::Histogram},
    registry::Registry,
};

/// `kind` and `result` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindResult {
    /// `FeedSource` or `CuratorWorker`.
    pub kind: String,
    /// `success` or `error`.
    pub result: String,
}

/// `kind` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    /// `FeedSource` or `CuratorWorker`.
    pub kind: String,
}

/// `kind` and `reason` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindReason {
    /// `FeedSource` or `CuratorWorker`.
    pub kind: String,
    /// PascalCase error reason.
    pub reason: String,
}

/// `method` and `outcome` labels.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodOutcome {
    /// Temporal RPC name.
    pub method: String,
    /// `ok` or the gRPC code / `timeout`.
    pub outcome: String,
}

/// `method` label.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Method {
    /// Temporal RPC name.
    pub method: String,
}

/// A pace's budget at a Temporal namespace at one frontend (`temporal::pace::Budget`:
/// `schedule`, `visibility`, `namespace`; named so as not to clash with Kubernetes'
/// `namespace` label).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TemporalBudget {
    /// Frontend address.
    pub temporal_address: String,
    /// Temporal namespace.
    pub temporal_namespace: String,
    /// What Temporal counts the calls against.
    pub budget: String,
}

/// `crd` label: a CustomResourceDefinition's name.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Crd {
    /// `feedsources.curator.buun.dev` or `curatorworkers.curator.buun.dev`.
    pub crd: String,
}

/// A request to the Kubernetes API server.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KubeRequest {
    /// `get`, `list`, `watch`, `create`, `update`, `patch` or `delete`.
    pub verb: String,
    /// The resource, with its subresource: `feedsources`, `feedsources/status`, `events`, ….
    pub resource: String,
}

/// `namespace` and `outcome` of ended runs.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NamespaceOutcome {
    /// The FeedSources' namespace.
    pub namespace: String,
    /// How the runs ended: `Completed`, `Failed`, `TimedOut`, `Canceled`, `Terminated`,
    /// `ContinuedAsNew`.
    pub outcome: String,
}

/// `namespace` of a FeedSource.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Namespace {
    /// Namespace.
    pub namespace: String,
}

/// `namespace` and `name` of a FeedSource.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Feed {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// `namespace` and `name` of a CuratorWorker.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Worker {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// Every metric the operator exports.
pub struct Metrics {
    registry: Registry,
    /// `curator_reconciles_total{kind,result}`.
    pub reconciles: Family<KindResult, Counter>,
    /// `curator_reconcile_duration_seconds{kind}`.
    pub reconcile_duration: Family<Kind, Histogram>,
    /// `curator_reconcile_errors_total{kind,reason}`.
    pub errors: Family<KindReason, Counter>,
    /// `curator_schedules_managed`.
    pub schedules_managed: Gauge,
    /// `curator_temporal_requests_total{method,outcome}`.
    pub temporal_requests: Family<MethodOutcome, Counter>,
    /// `curator_temporal_request_duration_seconds{method}`.
    pub temporal_latency: Family<Method, Histogram>,
    /// `curator_worker_backlog{namespace,name}`.
    pub worker_backlog: Family<Worker, Gauge>,
    /// `curator_worker_desired_replicas{namespace,name}`.
    pub worker_desired: Family<Worker, Gauge>,
    /// `curator_feed_api_requests_total{method,outcome}`: calls to buun-curator's feed API.
    pub feed_api_requests: Family<MethodOutcome, Counter>,
    /// `curator_leader` (1 when this replica leads).
    pub leader: Gauge,
    /// `curator_temporal_throttled_total{temporal_address,temporal_namespace,budget}`: calls
    /// Temporal refused with `ResourceExhausted` (each slows that budget's pace down).
    pub temporal_throttled: Family<TemporalBudget, Counter>,
    /// `curator_temporal_pace_rps{temporal_address,temporal_namespace,budget}`: the calls per
    /// second the operator currently allows itself to that namespace, per budget.
    pub temporal_pace: Family<TemporalBudget, Gauge<f64, AtomicU64>>,
    /// `curator_reconciles_in_flight{kind}`.
    pub in_flight: Family<Kind, Gauge>,
    /// `curator_reconciles_deferred_total{kind}`: objects that joined their namespace's queue
    /// while a slot was free for another namespace.
    pub reconciles_deferred: Family<Kind, Counter>,
    /// `curator_reconciles_waiting{kind}`: objects waiting for a slot in their namespace's
    /// queue (with the namespace fair share): all are taken, or their namespace holds its share.
    pub reconciles_waiting: Family<Kind, Gauge>,
    /// `curator_crd_installed{crd}` (0 while the API server does not serve it).
    pub crd_installed: Family<Crd, Gauge>,
    /// `curator_watch_errors_total{kind,reason}`.
    pub watch_errors: Family<KindReason, Counter>,
    /// `curator_kube_requests_total{verb,resource}`: requests to the Kubernetes API server.
    pub kube_requests: Family<KubeRequest, Counter>,
    /// `curator_cleanups_skipped_total{namespace}`: FeedSources let go with their schedule left
    /// in Temporal (`curator.buun.dev/skip-cleanup` on a blocked cleanup).
    pub cleanups_skipped: Family<Namespace, Counter>,
    /// `curator_feed_runs_total{namespace,outcome}`: runs of FeedSources' schedules seen to end.
    pub feed_runs: Family<NamespaceOutcome, Counter>,
    /// `curator_feed_last_success_timestamp_seconds{namespace,name}`: when a FeedSource's last
    /// successful run ended.
    pub feed_last_success: Family<Feed, Gauge>,
    /// The FeedSources whose schedule is managed, by UID.
    managed: Mutex<HashSet<crate::uid::UidKey>>,
}

fn latency_histogram() -> Histogram {
    Histogram::new([
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
    ])
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("curator");
        let m = Self {
            reconciles: Family::default(),
            reconcile_duration: Family::new_with_constructor(latency_histogram),
            errors: Family::default(),
            schedules_managed: Gauge::default(),
            temporal_requests: Family::default(),
            temporal_latency: Family::new_with_constructor(latency_histogram),
            worker_backlog: Family::default(),
            worker_desired: Family::default(),
            feed_api_requests: Family::default(),
            leader: Gauge::default(),
            temporal_throttled: Family::default(),
            temporal_pace: Family::default(),
            in_flight: Family::default(),
            reconciles_deferred: Family::default(),
            reconciles_waiting: Family::default(),
            crd_installed: Family::default(),
            watch_errors: Family::default(),
            kube_requests: Family::default(),
            feed_runs: Family::default(),
            cleanups_skipped: Family::default(),
            feed_last_success: Family::default(),
            managed: Mutex::default(),
            registry: Registry::default(),
        };
        // The field, its name (after the `curator_` prefix) and its help.
        macro_rules! register {
            ($($field:ident: $name:literal, $help:literal;)*) => {
                $(registry.register($name, $help, m.$field.clone());)*
            };
        }
        register! {
            reconciles: "reconciles", "Reconciles by kind and result";
            reconcile_duration: "reconcile_duration_seconds", "Duration of a reconcile";
            errors: "reconcile_errors", "Failed reconciles by reason";
            schedules_managed: "schedules_managed", "Temporal schedules in sync with a FeedSource";
            temporal_requests: "temporal_requests", "Temporal RPCs by method and outcome";
            temporal_latency: "temporal_request_duration_seconds", "Latency of Temporal RPCs";
            worker_backlog: "worker_backlog", "Task queue backlog seen for a CuratorWorker";
            worker_desired: "worker_desired_replicas", "Replicas the operator wants for a CuratorWorker";
            feed_api_requests: "feed_api_requests", "Calls to buun-curator's feed API by route and outcome";
            leader: "leader", "1 when this replica is the leader";
            temporal_throttled: "temporal_throttled", "Calls a Temporal namespace refused with ResourceExhausted, by budget";
            temporal_pace: "temporal_pace_rps", "Calls per second the operator currently allows to a Temporal namespace, by budget";
            in_flight: "reconciles_in_flight", "Reconciles running now";
            reconciles_deferred: "reconciles_deferred", "Objects that joined their namespace's queue while a slot was free for another namespace";
            reconciles_waiting: "reconciles_waiting", "Objects waiting for a slot in their namespace's queue: all are taken, or their namespace holds its share";
            crd_installed: "crd_installed", "1 when the API server serves the CRD, 0 when it does not (its controller waits)";
            watch_errors: "watch_errors", "Failed lists and watches of the controllers, by kind and reason";
            kube_requests: "kube_requests", "Requests to the Kubernetes API server by verb and resource";
            feed_runs: "feed_runs", "Runs of FeedSources' schedules seen to end, by namespace and outcome";
            cleanups_skipped: "cleanups_skipped", "FeedSources let go on a blocked cleanup (skip-cleanup), their schedules left in Temporal";
            feed_last_success: "feed_last_success_timestamp_seconds", "When a FeedSource's last successful run ended (Unix seconds)";
        }
        Self { registry, ..m }
    }
}

impl Metrics {
    /// Records a finished reconcile.
    pub fn reconciled(&self, kind: &str, took: Duration, error_reason: Option<&str>) {
        let result = if error_reason.is_some() {
            "error"
        } else {
            "success"
        };
        self.reconciles
            .get_or_create(&KindResult {
                kind: kind.into(),
                result: result.into(),
            })
            .inc();
        self.reconcile_duration
            .get_or_create(&Kind { kind: kind.into() })
            .observe(took.as_secs_f64());
        if let Some(reason) = error_reason {
            self.errors
                .get_or_create(&KindReason {
                    kind: kind.into(),
                    reason: reason.into(),
                })
                .inc();
        }
    }

    /// Records a Temporal RPC.
    pub fn temporal_call(&self, method: &str, outcome: &str, took: Duration) {
        self.temporal_requests
            .get_or_create(&MethodOutcome {
                method: method.into(),
                outcome: outcome.into(),
            })
            .inc();
        self.temporal_latency
            .get_or_create(&Method {
                method: method.into(),
            })
            .observe(took.as_secs_f64());
    }

    /// Records a call to buun-curator's feed API (`route` like `PATCH /api/feeds/{id}`;
    /// `outcome` `ok`, `not-found` or an error reason).
    pub fn feed_api_call(&self, route: &str, outcome: &str) {
        self.feed_api_requests
            .get_or_create(&MethodOutcome {
                method: route.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Counts a run of a FeedSource in `namespace` that ended with `outcome` (`Completed`, …).
    pub fn feed_run_ended(&self, namespace: &str, outcome: &str) {
        self.feed_runs
            .get_or_create(&NamespaceOutcome {
                namespace: namespace.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Records when FeedSource `namespace/name`'s last successful run ended.
    pub fn feed_succeeded(&self, namespace: &str, name: &str, at: jiff::Timestamp) {
        let labels = Feed {
            namespace: namespace.into(),
            name: name.into(),
        };
        self.feed_last_success
            .get_or_create(&labels)
            .set(at.as_second());
    }

    /// Forgets FeedSource `namespace/name` (deleted).
    pub fn forget_feed(&self, namespace: &str, name: &str) {
        self.feed_last_success.remove(&Feed {
            namespace: namespace.into(),
            name: name.into(),
        });
    }

    /// Marks the schedule of FeedSource `uid` as managed (or not).
    pub fn set_managed(&self, uid: &str, managed: bool) {
        let mut set = self.managed.lock().unwrap_or_else(|p| p.into_inner());
        if managed {
            set.insert(uid.into());
        } else {
            set.remove(&uid.into());
        }
        self.schedules_managed
            .set(i64::try_from(set.len()).unwrap_or(i64::MAX));
    }

    /// The text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
