//! End to end on a real cluster: `KUBECONFIG=... cargo test --test cluster -- --ignored`.
//!
//! Each test applies the CRDs, runs the controllers in-process against a fresh random
//! namespace and a local Temporal dev server, and checks the results through the API server.

mod common;

use std::{sync::Arc, time::Duration};

use curator_operator::{
    controller::{self, Context},
    crd::{self, CuratorWorker, FeedSource},
    fixtures,
    resources::schedule::BuildOptions,
    temporal::{ScheduleApi, pool::Pool},
};
use k8s_openapi::{
    api::{apps::v1::Deployment, core::v1::Namespace},
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, ResourceExt,
    api::{DeleteParams, Patch, PatchParams, PostParams},
    runtime::wait::{await_condition, conditions},
};

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..120 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("timed out waiting for {what}");
}

fn unique(prefix: &str) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis();
    format!("{prefix}-{ms}")
}

/// CRDs applied, a fresh namespace, a Temporal dev server and the controllers running.
struct ClusterEnv {
    client: Client,
    ns: String,
    server: common::TemporalServer,
    stop: tokio::sync::oneshot::Sender<()>,
    run: tokio::task::JoinHandle<()>,
}

impl ClusterEnv {
    async fn start(prefix: &str) -> Self {
        let client = Client::try_default().await.expect("KUBECONFIG");
        let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
        for (_, c) in crd::all() {
            let name = c.name_any();
            crds.patch(
                &name,
                &PatchParams::apply("curator-operator-test").force(),
                &Patch::Apply(&c),
            )
            .await
            .expect("apply CRD");
            tokio::time::timeout(
                Duration::from_secs(30),
                await_condition(crds.clone(), &name, conditions::is_crd_established()),
            )
            .await
            .expect("CRD established")
            .expect("watch");
        }
        let ns = unique(prefix);
        let mut n = Namespace::default();
        n.metadata.name = Some(ns.clone());
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &n)
            .await
            .expect("namespace");
        let server = common::TemporalServer::start();
        let ctx = Arc::new(Context::new(
            client.clone(),
            Pool::new("cluster-test", Duration::from_secs(10)),
            BuildOptions {
                id_prefix: "cluster".into(),
                identity: "cluster-test".into(),
            },
            Duration::from_secs(30),
        ));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let run = tokio::spawn(controller::run(
            client.clone(),
            ctx,
            vec![Some(ns.clone())],
            4,
            async {
                let _ = stopped.await;
            },
        ));
        Self {
            client,
            ns,
            server,
            stop,
            run,
        }
    }

    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = kube::core::NamespaceResourceScope, DynamicType = ()>,
    {
        Api::namespaced(self.client.clone(), &self.ns)
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.run.await;
        Api::<Namespace>::all(self.client.clone())
            .delete(&self.ns, &DeleteParams::default())
            .await
            .expect("cleanup");
    }
}

#[tokio::test]
#[ignore = "needs cluster"]
async fn feedsource_lifecycle_on_a_real_cluster() {
    let env = ClusterEnv::start("curator-test").await;
    let workers: Api<CuratorWorker> = env.api();
    let feeds: Api<FeedSource> = env.api();
    let mut w = fixtures::worker(&env.ns, &env.server.address);
    w.metadata.uid = None;
    workers
        .create(&PostParams::default(), &w)
        .await
        .expect("worker");
    let mut f = fixtures::feed(&env.ns, "hn");
    f.metadata.uid = None;
    f.metadata.generation = None;
    feeds
        .create(&PostParams::default(), &f)
        .await
        .expect("feed");

    let id = format!("cluster/{}/hn", env.ns);
    let api = common::schedules(&env.server.address).await;
    eventually("Ready=True", || async {
        feeds
            .get("hn")
            .await
            .ok()
            .and_then(|f| f.status)
            .is_some_and(|s| {
                s.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
    })
    .await;
    assert!(api.describe(&id).await.expect("describe").is_some());

    let patch = serde_json::json!({"spec": {"schedule": {"every": "2h"}}});
    feeds
        .patch("hn", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .expect("edit");
    eventually("the schedule to follow the edit", || async {
        api.describe(&id).await.ok().flatten().is_some_and(|d| {
            d.schedule.spec.is_some_and(|s| {
                s.interval
                    .first()
                    .and_then(|i| i.interval.as_ref())
                    .is_some_and(|i| i.seconds == 7200)
            })
        })
    })
    .await;

    feeds
        .delete("hn", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("the FeedSource to be gone", || async {
        feeds.get_opt("hn").await.ok().flatten().is_none()
    })
    .await;
    assert!(
        api.describe(&id).await.expect("describe").is_none(),
        "schedule deleted with the resource"
    );
    env.stop().await;
}

#[tokio::test]
#[ignore = "needs cluster"]
async fn curatorworker_owns_its_deployment_on_a_real_cluster() {
    let env = ClusterEnv::start("curator-test-w").await;
    let workers: Api<CuratorWorker> = env.api();
    let deployments: Api<Deployment> = env.api();
    let mut w = fixtures::worker(&env.ns, &env.server.address);
    w.metadata.uid = None;
    w.spec.replicas = Some(2);
    workers
        .create(&PostParams::default(), &w)
        .await
        .expect("worker");
    eventually("the Deployment with 2 replicas", || async {
        deployments
            .get_opt("curator")
            .await
            .ok()
            .flatten()
            .is_some_and(|d| {
                d.spec.and_then(|s| s.replicas) == Some(2)
                    && d.metadata
                        .owner_references
                        .is_some_and(|o| o.iter().any(|o| o.kind == "CuratorWorker"))
            })
    })
    .await;
    // A manual scale is reverted.
    let scale = serde_json::json!({"spec": {"replicas": 5}});
    deployments
        .patch("curator", &PatchParams::default(), &Patch::Merge(&scale))
        .await
        .expect("scale");
    eventually("the manual scale to be reverted", || async {
        deployments
            .get_opt("curator")
            .await
            .ok()
            .flatten()
            .and_then(|d| d.spec)
            .and_then(|s| s.replicas)
            == Some(2)
    })
    .await;
    env.stop().await;
}

#[tokio::test]
#[ignore = "needs cluster"]
async fn two_replicas_elect_one_leader_and_fail_over() {
    use curator_operator::leader::{LeaseConfig, elect};
    let client = Client::try_default().await.expect("KUBECONFIG");
    let name = unique("curator-test-lease");
    let cfg = |id: &str| LeaseConfig {
        name: name.clone(),
        namespace: "default".into(),
        identity: id.into(),
        duration: Duration::from_secs(6),
    };
    let (mut a, task_a) = elect(client.clone(), &cfg("replica-a"))
        .await
        .expect("elect a");
    let (mut b, task_b) = elect(client.clone(), &cfg("replica-b"))
        .await
        .expect("elect b");
    eventually("one leader", || {
        let (a, b) = (*a.borrow(), *b.borrow());
        async move { a ^ b }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(8)).await;
    assert!(
        *a.borrow() ^ *b.borrow(),
        "still exactly one leader after a lease period"
    );
    // Releasing the leader (what SIGTERM does) hands over to the standby at once.
    let a_led = *a.borrow_and_update();
    let started = std::time::Instant::now();
    let standby = if a_led {
        drop(a);
        let _ = task_a.await;
        &mut b
    } else {
        drop(b);
        let _ = task_b.await;
        &mut a
    };
    tokio::time::timeout(Duration::from_secs(8), standby.wait_for(|l| *l))
        .await
        .expect("standby takes over within the lease duration")
        .expect("channel");
    println!("failover took {:?}", started.elapsed());
}
