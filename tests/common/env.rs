//! The controllers running in-process against a real API server (see `common::cluster` for
//! where it comes from) and the shared Temporal dev server, in a namespace of their own.

use std::{sync::Arc, time::Duration};

use super::cluster::{self, TestCluster, eventually};
use curator_operator::{
    controller::{self, Shared, feedsource::FeedContext},
    crd::{CuratorWorker, FeedSource},
    schedule::BuildOptions,
    temporal::pool::Pool,
};
use kube::{Api, Client, api::PostParams};

/// How long a test waits for the controllers.
pub const WAIT: Duration = Duration::from_secs(60);

/// CRDs applied, a fresh namespace, a Temporal dev server and the controllers running.
pub struct ClusterEnv {
    pub cluster: &'static TestCluster,
    pub client: Client,
    pub ns: String,
    pub temporal: &'static super::TemporalServer,
    stop: tokio::sync::oneshot::Sender<()>,
    run: tokio::task::JoinHandle<()>,
}

impl ClusterEnv {
    pub async fn start(prefix: &str) -> Option<Self> {
        Self::start_with_resync(prefix, Duration::from_secs(30)).await
    }

    pub async fn start_with_resync(prefix: &str, resync: Duration) -> Option<Self> {
        let cluster = cluster::shared()?;
        let client = cluster.client().await;
        cluster::install_crds(&client).await;
        let ns = cluster::namespace(&client, prefix).await;
        let temporal = super::shared();
        let pool = Pool::new("cluster-test", Duration::from_secs(10));
        let shared = Shared::new(client.clone(), pool, resync);
        let ctx = Arc::new(FeedContext::new(
            Arc::new(shared),
            BuildOptions::new("cluster", "cluster-test"),
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let opts = controller::RunOptions {
            scopes: vec![Some(ns.clone())],
            concurrency: 4,
            drain: Duration::from_secs(10),
            stall: Duration::from_secs(300),
        };
        let run = tokio::spawn(controller::run(ctx, opts, async {
            let _ = stopped.await;
        }));
        Some(Self {
            cluster,
            client,
            ns,
            temporal,
            stop,
            run,
        })
    }

    pub fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    pub async fn create_worker(&self, f: impl FnOnce(&mut CuratorWorker)) {
        let mut w = CuratorWorker::test(&self.ns, &self.temporal.address).unsaved();
        f(&mut w);
        self.api::<CuratorWorker>()
            .create(&PostParams::default(), &w)
            .await
            .expect("worker");
    }

    pub async fn create_feed(&self, name: &str) {
        let f = FeedSource::test(&self.ns, name).unsaved();
        self.api::<FeedSource>()
            .create(&PostParams::default(), &f)
            .await
            .expect("feed");
    }

    pub fn schedule_id(&self, name: &str) -> String {
        format!("cluster/{}/{name}", self.ns)
    }

    pub async fn wait_ready(&self, name: &str) -> FeedSource {
        let feeds: Api<FeedSource> = self.api();
        eventually(&format!("{name} Ready=True"), WAIT, || {
            super::cluster::feed_ready(&feeds, name)
        })
        .await;
        feeds.get(name).await.expect("get")
    }

    /// Waits until FeedSource `name` shows its next runs: the follow-up that records a new
    /// schedule's server form is over.
    pub async fn wait_next_runs(&self, name: &str, within: Duration) {
        let feeds: Api<FeedSource> = self.api();
        eventually(&format!("{name} status.nextRuns"), within, || async {
            feeds
                .get(name)
                .await
                .ok()
                .and_then(|f| f.status)
                .is_some_and(|s| !s.next_runs.is_empty())
        })
        .await;
    }

    /// Checks that the schedules of the FeedSources `names` exist, deletes the namespace,
    /// waits until it is gone and checks that no schedule is left; returns how long the
    /// deletion took.
    pub async fn delete_namespace_removes_schedules(&self, names: &[&str]) -> Duration {
        use curator_operator::temporal::ScheduleApi;
        use k8s_openapi::api::core::v1::Namespace;
        let api = super::schedules(&self.temporal.address).await;
        for n in names {
            let found = api.describe(&self.schedule_id(n)).await.expect("describe");
            assert!(found.is_some(), "schedule {n} before the deletion");
        }
        let started = std::time::Instant::now();
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        namespaces
            .delete(&self.ns, &kube::api::DeleteParams::default())
            .await
            .expect("delete namespace");
        eventually(
            "the namespace to be gone",
            Duration::from_secs(120),
            || async { namespaces.get_opt(&self.ns).await.ok().flatten().is_none() },
        )
        .await;
        let took = started.elapsed();
        for n in names {
            let left = api.describe(&self.schedule_id(n)).await.expect("describe");
            assert!(left.is_none(), "schedule {n} left in Temporal");
        }
        took
    }

    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.run.await;
        cluster::delete_namespace(&self.client, &self.ns).await;
    }
}
