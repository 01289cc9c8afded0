//! Builder-style fixtures: minimal valid resources that tests adjust, e.g.
//! `FeedSource::test("news", "hn").with_cron("0 9 * * *").suspended()`.

use kube::core::ObjectMeta;

use crate::{
    crd::{
        CuratorWorker, CuratorWorkerSpec, FeedSource, FeedSourceSpec, FeedSourceStatus, GoDuration,
        curatorworker::TemporalConnection,
        feedsource::{DeletionPolicy, FeedSpec, ScheduleSpec, WorkerRef, WorkflowSpec},
    },
    schedule::{BuildOptions, DesiredSchedule, desired},
};

/// Identity of the operator in tests.
pub const IDENTITY: &str = "curator-operator-test";

impl FeedSource {
    /// A FeedSource `namespace/name` on worker `curator`, running every hour, as the API server
    /// would hold it (UID `uid-<namespace>-<name>`, generation 1).
    pub fn test(namespace: &str, name: &str) -> Self {
        let mut fs = FeedSource::new(
            name,
            FeedSourceSpec {
                worker_ref: WorkerRef {
                    name: "curator".into(),
                },
                feed: FeedSpec {
                    id: Some(format!("feed-{name}")),
                    name: format!("Feed {name}"),
                    url: format!("https://example.com/{name}.xml"),
                    ..Default::default()
                },
                schedule: ScheduleSpec {
                    every: Some(GoDuration::new("1h")),
                    offset: None,
                    cron: vec![],
                    calendars: vec![],
                    timezone: None,
                    jitter: None,
                    start_at: None,
                    end_at: None,
                    overlap_policy: Default::default(),
                    catchup_window: GoDuration::new("5m"),
                    pause_on_failure: false,
                },
                suspend: false,
                workflow: WorkflowSpec::default(),
                deletion_policy: DeletionPolicy::Delete,
                feed_deletion_policy: Default::default(),
            },
        );
        fs.metadata = ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            uid: Some(format!("uid-{namespace}-{name}")),
            generation: Some(1),
            ..Default::default()
        };
        fs
    }

    /// Without the fields the API server sets (UID, generation): ready to be created on one.
    pub fn unsaved(mut self) -> Self {
        self.metadata.uid = None;
        self.metadata.generation = None;
        self
    }

    /// With this UID.
    pub fn with_uid(mut self, uid: &str) -> Self {
        self.metadata.uid = Some(uid.into());
        self
    }

    /// On the CuratorWorker `name`.
    pub fn with_worker(mut self, name: &str) -> Self {
        self.spec.worker_ref.name = name.into();
        self
    }

    /// Running on these cron expressions instead of every hour.
    pub fn with_cron(mut self, cron: &[&str]) -> Self {
        self.spec.schedule.every = None;
        self.spec.schedule.cron = cron.iter().map(|c| (*c).to_owned()).collect();
        self
    }

    /// With `spec.suspend: true`.
    pub fn suspended(mut self) -> Self {
        self.spec.suspend = true;
        self
    }

    /// Carrying the operator's finalizer, as after its first reconcile.
    pub fn with_finalizer(mut self) -> Self {
        self.metadata.finalizers = Some(vec![crate::crd::feedsource::FINALIZER.into()]);
        self
    }

    /// With this status.
    pub fn with_status(mut self, status: FeedSourceStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// Being deleted (a deletion timestamp is set).
    pub fn deleting(mut self) -> Self {
        self.metadata.deletion_timestamp = Some(
            k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::now()),
        );
        self
    }

    /// The schedule this FeedSource asks for on a worker at `address`, with schedule IDs under
    /// `prefix`.
    pub fn desired(&self, address: &str, prefix: &str) -> DesiredSchedule {
        desired::build(
            self.metadata.namespace.as_deref().unwrap_or_default(),
            self.metadata.name.as_deref().unwrap_or_default(),
            self.metadata.uid.as_deref().unwrap_or_default(),
            &self.spec,
            &TemporalConnection::test(address),
            &BuildOptions::test(prefix),
        )
        .unwrap_or_else(|e| panic!("fixture FeedSource builds: {e}"))
    }
}

impl CuratorWorker {
    /// A CuratorWorker `namespace/curator` pointing at `address`, Temporal namespace `default`,
    /// as the API server would hold it (UID `uid-<namespace>-curator`, generation 1).
    pub fn test(namespace: &str, address: &str) -> Self {
        let spec: CuratorWorkerSpec = serde_json::from_value(serde_json::json!({
            "image": "ghcr.io/buun-ch/buun-curator-worker:1.0",
            "temporal": { "address": address },
            // Tests that check the settings set them; the others start no worker.
            "requiredEnv": [],
        }))
        .unwrap_or_else(|e| panic!("fixture worker spec: {e}"));
        let mut w = CuratorWorker::new("curator", spec);
        w.metadata.namespace = Some(namespace.into());
        w.metadata.uid = Some(format!("uid-{namespace}-curator"));
        w.metadata.generation = Some(1);
        w
    }

    /// Without the fields the API server sets (UID, generation): ready to be created on one.
    pub fn unsaved(mut self) -> Self {
        self.metadata.uid = None;
        self.metadata.generation = None;
        self
    }

    /// Carrying the operator's finalizer, as after its first reconcile.
    pub fn with_finalizer(mut self) -> Self {
        self.metadata.finalizers = Some(vec![crate::crd::curatorworker::FINALIZER.into()]);
        self
    }

    /// Named `name`.
    pub fn named(mut self, name: &str) -> Self {
        self.metadata.name = Some(name.into());
        self.metadata.uid = Some(format!(
            "uid-{}-{name}",
            self.metadata.namespace.as_deref().unwrap_or_default()
        ));
        self
    }

    /// With these spec fields (camelCase JSON) set over the fixture's.
    pub fn with_spec(self, fields: serde_json::Value) -> Self {
        let mut v = serde_json::to_value(&self).unwrap_or_else(|e| panic!("worker json: {e}"));
        for (k, val) in fields.as_object().into_iter().flatten() {
            v["spec"][k] = val.clone();
        }
        serde_json::from_value(v).unwrap_or_else(|e| panic!("worker spec: {e}"))
    }
}

impl TemporalConnection {
    /// The Temporal connection of [`CuratorWorker::test`].
    pub fn test(address: &str) -> Self {
        CuratorWorker::test("default", address).spec.temporal
    }
}

impl BuildOptions {
    /// Schedule IDs under `prefix`, identity [`IDENTITY`].
    pub fn test(prefix: &str) -> Self {
        BuildOptions::new(prefix, IDENTITY)
    }
}
