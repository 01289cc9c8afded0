//! The controllers running in-process against a real API server (see `common::cluster` for
//! where it comes from) and the shared Temporal dev server, in a namespace of their own.

use std::{ops::Deref, sync::Arc, time::Duration};

use super::{
    cluster::eventually,
    namespace::{TestNamespace, with_namespace},
};
use curator_operator::{
    controller::{self, Shared, feedsource::FeedContext},
    crd::{CuratorWorker, FeedSource},
    schedule::BuildOptions,
    temporal::pool::Pool,
};
use kube::{Api, api::PostParams};

/// A namespace of its own (CRDs applied), a Temporal dev server and the controllers running;
/// the namespace's fields and helpers are reached through it ([`TestNamespace`]).
pub struct ClusterEnv {
    /// The namespace, its client and cluster.
    pub space: TestNamespace<'static>,
    /// The Temporal dev server shared by this binary's tests.
    pub temporal: &'static super::TemporalServer,
    stop: tokio::sync::oneshot::Sender<()>,
    run: tokio::task::JoinHandle<()>,
}

impl Deref for ClusterEnv {
    type Target = TestNamespace<'static>;

    fn deref(&self) -> &Self::Target {
        &self.space
    }
}

impl ClusterEnv {
    /// Starts the controllers on a namespace `prefix-…`, with a 30 s resync; `None` (after
    /// saying why) without a control plane.
    pub async fn start(prefix: &str) -> Option<Self> {
        Self::start_with_resync(prefix, Duration::from_secs(30)).await
    }

    /// As [`ClusterEnv::start`], with the resync interval `resync`.
    pub async fn start_with_resync(prefix: &str, resync: Duration) -> Option<Self> {
        let space = with_namespace(prefix).await?;
        let temporal = super::shared();
        let pool = Pool::new("cluster-test", Duration::from_secs(10));
        let shared = Shared::new(space.client.clone(), pool, resync);
        let ctx = Arc::new(FeedContext::new(
            Arc::new(shared),
            BuildOptions::new("cluster", "cluster-test"),
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let opts = controller::RunOptions {
            scopes: vec![Some(space.ns.clone())],
            fair_share: false,
            concurrency: 4,
            drain: Duration::from_secs(10),
            stall: Duration::from_secs(300),
        };
        let run = tokio::spawn(controller::run(ctx, opts, async {
            let _ = stopped.await;
        }));
        Some(Self {
            space,
            temporal,
            stop,
            run,
        })
    }

    /// Creates the test CuratorWorker on the shared dev server, changed by `f`.
    pub async fn create_worker(&self, f: impl FnOnce(&mut CuratorWorker)) {
        let mut w = CuratorWorker::test(&self.ns, &self.temporal.address).unsaved();
        f(&mut w);
        self.api::<CuratorWorker>()
            .create(&PostParams::default(), &w)
            .await
            .expect("worker");
    }

    /// Creates the test FeedSource `name`.
    pub async fn create_feed(&self, name: &str) {
        let f = FeedSource::test(&self.ns, name).unsaved();
        self.api::<FeedSource>()
            .create(&PostParams::default(), &f)
            .await
            .expect("feed");
    }

    /// The Temporal schedule ID of FeedSource `name`.
    pub fn schedule_id(&self, name: &str) -> String {
        format!("cluster/{}/{name}", self.ns)
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

    /// Stops the controllers and deletes the namespace.
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.run.await;
        self.space.delete().await;
    }
}
