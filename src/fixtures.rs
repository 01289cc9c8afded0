//! Test fixtures: minimal valid resources that tests adjust. Public so that integration tests
//! and benchmarks share them.

use kube::core::ObjectMeta;

use crate::crd::{
    CuratorWorker, CuratorWorkerSpec, FeedSource, FeedSourceSpec, GoDuration,
    curatorworker::TemporalConnection,
    feedsource::{DeletionPolicy, FeedSpec, ScheduleSpec, WorkerRef, WorkflowSpec},
};

/// A FeedSource `namespace/name` on worker `curator`, running every hour.
pub fn feed(namespace: &str, name: &str) -> FeedSource {
    let mut fs = FeedSource::new(
        name,
        FeedSourceSpec {
            worker_ref: WorkerRef {
                name: "curator".into(),
            },
            feed: FeedSpec {
                id: format!("feed-{name}"),
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

/// A CuratorWorker `namespace/curator` pointing at `address`, namespace `default`.
pub fn worker(namespace: &str, address: &str) -> CuratorWorker {
    let spec: CuratorWorkerSpec = serde_json::from_value(serde_json::json!({
        "image": "ghcr.io/buun-ch/buun-curator-worker:1.0",
        "temporal": { "address": address },
    }))
    .unwrap_or_else(|e| panic!("fixture worker spec: {e}"));
    let mut w = CuratorWorker::new("curator", spec);
    w.metadata.namespace = Some(namespace.into());
    w.metadata.uid = Some(format!("uid-{namespace}-curator"));
    w.metadata.generation = Some(1);
    w
}

/// The Temporal connection of [`worker`].
pub fn temporal(address: &str) -> TemporalConnection {
    worker("default", address).spec.temporal
}
