//! The install paths on a real API server: `helm install` of the chart on a fresh cluster (with
//! default values, and with two replicas and watched namespaces), and the operator binary run
//! as the chart configures it, with nothing but the chart's ServiceAccount token: its RBAC is
//! enough, and without one of its rules a user sees which.

mod common;

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use common::{
    cluster::{self, TestCluster, eventually},
    namespace::with_namespace,
};
use curator_operator::{
    crd::{CuratorWorker, FeedSource},
    temporal::ScheduleApi,
};
use k8s_openapi::api::{apps::v1::Deployment, core::v1::Secret};
use kube::{
    Api, Client,
    api::{DeleteParams, PostParams},
};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(60);

fn chart() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/charts/curator-operator").to_owned()
}

fn ok(out: std::process::Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn docs(yaml: &str) -> Vec<Value> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_str(yaml)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|v| v.is_object())
        .collect()
}

/// Every object in a release's manifest exists on the server.
fn assert_all_exist(c: &TestCluster, manifest: &str, release_ns: &str) {
    for d in docs(manifest) {
        let kind = d["kind"].as_str().expect("kind");
        let name = d["metadata"]["name"].as_str().expect("name");
        let ns = d["metadata"]["namespace"].as_str().unwrap_or(release_ns);
        let out = c.kubectl(&["get", kind, name, "-n", ns, "-o", "name"]);
        assert!(
            out.status.success(),
            "{kind}/{name} in {ns} was not created: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn helm_install_on_a_fresh_cluster_with_default_and_ha_values() {
    let Some(c) = cluster::private() else {
        return;
    };
    let out = ok(
        c.helm(&[
            "install",
            "curator-operator",
            &chart(),
            "--namespace",
            "curator-system",
            "--create-namespace",
        ]),
        "helm install (default values)",
    );
    println!(
        "$ helm install curator-operator charts/curator-operator -n curator-system --create-namespace\n{out}"
    );
    assert!(out.contains("STATUS: deployed"), "{out}");
    // The chart installed the CRDs, and the API server serves them.
    for crd in [
        "feedsources.curator.buun.dev",
        "curatorworkers.curator.buun.dev",
    ] {
        c.kubectl_ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{crd}"),
            "--timeout=30s",
        ]);
    }
    let manifest = ok(
        c.helm(&[
            "get",
            "manifest",
            "curator-operator",
            "-n",
            "curator-system",
        ]),
        "helm get manifest",
    );
    assert_all_exist(&c, &manifest, "curator-system");
    assert!(manifest.contains("kind: ClusterRole"));

    // Two replicas, two watched namespaces (Roles there, a ClusterRole for FeedClaims only),
    // NetworkPolicy.
    for ns in ["news", "blogs", "curator-ha"] {
        c.kubectl_ok(&["create", "namespace", ns]);
    }
    ok(
        c.helm(&[
            "install",
            "curator-ha",
            &chart(),
            "--namespace",
            "curator-ha",
            "--set",
            "replicaCount=2",
            "--set",
            "watchNamespaces={news,blogs}",
            "--set",
            "networkPolicy.enabled=true",
        ]),
        "helm install (replicaCount 2, watchNamespaces)",
    );
    let manifest = ok(
        c.helm(&["get", "manifest", "curator-ha", "-n", "curator-ha"]),
        "helm get manifest",
    );
    assert_all_exist(&c, &manifest, "curator-ha");
    let kinds: Vec<String> = docs(&manifest)
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["kind"].as_str().unwrap_or(""),
                d["metadata"]["namespace"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(
        kinds.contains(&"Role/news".to_owned()) && kinds.contains(&"Role/blogs".to_owned()),
        "{kinds:?}"
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.starts_with("ClusterRole/"))
            .count(),
        1,
        "only the FeedClaims' ClusterRole: {kinds:?}"
    );
    let replicas = c.kubectl_ok(&[
        "get",
        "deployment",
        "-n",
        "curator-ha",
        "-o",
        "jsonpath={.items[0].spec.replicas}",
    ]);
    assert_eq!(replicas, "2");
    // And the CRDs apply over the chart's copy, as the README's upgrade path says.
    c.kubectl_ok(&[
        "apply",
        "--server-side",
        "-f",
        concat!(env!("CARGO_MANIFEST_DIR"), "/crds/"),
    ]);
}

/// The operator binary, killed when dropped.
struct Operator {
    child: Child,
    log: PathBuf,
}

impl Drop for Operator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Operator {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// A kubeconfig for the same API server that authenticates with `token` only.
fn token_kubeconfig(admin: &Path, token: &str, dir: &Path) -> PathBuf {
    let admin: Value =
        serde_yaml::from_str(&std::fs::read_to_string(admin).expect("kubeconfig")).expect("yaml");
    let cluster = admin["clusters"][0]["cluster"].clone();
    let kc = serde_json::json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": cluster}],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "sa"}}],
        "current-context": "c",
    });
    let path = dir.join("sa.kubeconfig");
    std::fs::write(&path, serde_yaml::to_string(&kc).expect("yaml")).expect("write");
    path
}

/// The operator container's plain env in a rendered manifest.
fn chart_env(manifest: &str) -> BTreeMap<String, String> {
    let dep = docs(manifest)
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .expect("Deployment");
    dep["spec"]["template"]["spec"]["containers"][0]["env"]
        .as_array()
        .expect("env")
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_works_with_only_the_charts_service_account() {
    let Some(space) = with_namespace("feeds").await else {
        return;
    };
    let (c, admin, ns) = (space.cluster, space.client.clone(), space.ns.clone());
    let release_ns = cluster::namespace(&admin, "operator").await;
    let release = "curator";
    ok(
        c.helm(&[
            "install",
            release,
            &chart(),
            "--namespace",
            &release_ns,
            "--skip-crds",
            "--set",
            &format!("watchNamespaces={{{ns}}}"),
            "--set",
            "logFormat=text",
            "--set",
            "resyncInterval=30s",
        ]),
        "helm install",
    );
    let manifest = ok(
        c.helm(&["get", "manifest", release, "-n", &release_ns]),
        "manifest",
    );
    let sa = docs(&manifest)
        .into_iter()
        .find(|d| d["kind"] == "ServiceAccount")
        .and_then(|d| d["metadata"]["name"].as_str().map(str::to_owned))
        .expect("ServiceAccount");
    let token = c.kubectl_ok(&["create", "token", &sa, "-n", &release_ns, "--duration=1h"]);
    let dir = tempfile::tempdir().expect("tempdir");
    let kubeconfig = token_kubeconfig(&c.kubeconfig, token.trim(), dir.path());
    let temporal = common::shared();
    let log = dir.path().join("operator.log");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_curator-operator"));
    cmd.arg("run")
        .env_clear()
        .envs(chart_env(&manifest))
        .env(
            "CURATOR_HTTP_ADDR",
            format!("127.0.0.1:{}", common::free_port()),
        )
        .env("CURATOR_SCHEDULE_ID_PREFIX", "chart-test")
        .env("POD_NAME", "curator-operator-0")
        .env("POD_NAMESPACE", &release_ns)
        .env("KUBECONFIG", &kubeconfig)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).expect("log"))
        .stderr(
            std::fs::File::create(&log)
                .expect("log")
                .try_clone()
                .expect("log"),
        );
    let operator = Operator {
        child: cmd.spawn().expect("operator binary"),
        log,
    };

    // Everything the operator does for a user, with the chart's RBAC.
    let client: Client = admin.clone();
    let workers: Api<CuratorWorker> = Api::namespaced(client.clone(), &ns);
    let feeds: Api<FeedSource> = Api::namespaced(client.clone(), &ns);
    let mut w = CuratorWorker::test(&ns, &temporal.address).unsaved();
    w.spec.replicas = Some(2);
    workers
        .create(&PostParams::default(), &w)
        .await
        .expect("worker");
    for name in ["hn", "lobsters"] {
        let f = FeedSource::test(&ns, name).unsaved();
        feeds
            .create(&PostParams::default(), &f)
            .await
            .expect("feed");
    }
    for name in ["hn", "lobsters"] {
        space.wait_ready(name).await;
    }
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    eventually("the worker Deployment", WAIT, || async {
        deployments
            .get_opt("curator")
            .await
            .ok()
            .flatten()
            .is_some()
    })
    .await;
    eventually("the CuratorWorker status", WAIT, || async {
        workers
            .get("curator")
            .await
            .ok()
            .and_then(|w| w.status)
            .is_some_and(|s| s.feeds == Some(2))
    })
    .await;
    let schedules = common::schedules(&temporal.address).await;
    let id = format!("chart-test/{ns}/hn");
    assert!(schedules.describe(&id).await.expect("describe").is_some());
    feeds
        .delete("hn", &DeleteParams::default())
        .await
        .expect("delete");
    eventually("hn to be gone", WAIT, || async {
        feeds.get_opt("hn").await.ok().flatten().is_none()
    })
    .await;
    assert!(
        schedules.describe(&id).await.expect("describe").is_none(),
        "the schedule went with it"
    );
    let events = c.kubectl_ok(&[
        "get",
        "events",
        "-n",
        &ns,
        "-o",
        "jsonpath={.items[*].reason}",
    ]);
    assert!(events.contains("ScheduleCreated"), "events: {events}");

    // Without its Secret rule, a worker with an API key cannot be read: the FeedSource says so.
    let role = c.kubectl_ok(&["get", "role", "-n", &ns, "-o", "json"]);
    let role: Value = serde_json::from_str(&role).expect("json");
    let role = &role["items"][0];
    let index = role["rules"]
        .as_array()
        .expect("rules")
        .iter()
        .position(|r| r["resources"][0] == "secrets")
        .expect("a secrets rule");
    c.kubectl_ok(&[
        "patch",
        "role",
        role["metadata"]["name"].as_str().expect("name"),
        "-n",
        &ns,
        "--type=json",
        "-p",
        &format!(r#"[{{"op": "remove", "path": "/rules/{index}"}}]"#),
    ]);
    let mut key = Secret::default();
    key.metadata.name = Some("temporal-key".into());
    key.string_data = Some([("key".to_owned(), "not-a-real-key".to_owned())].into());
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &key)
        .await
        .expect("secret");
    let mut w2 = CuratorWorker::test(&ns, &temporal.address)
        .named("keyed")
        .unsaved();
    w2.spec.temporal.api_key_secret_ref =
        Some(curator_operator::crd::curatorworker::SecretKeyRef {
            name: "temporal-key".into(),
            key: "key".into(),
        });
    workers
        .create(&PostParams::default(), &w2)
        .await
        .expect("worker");
    let f = FeedSource::test(&ns, "keyed")
        .with_worker("keyed")
        .unsaved();
    feeds
        .create(&PostParams::default(), &f)
        .await
        .expect("feed");
    let ready = || async {
        feeds
            .get("keyed")
            .await
            .ok()
            .and_then(|f| f.status)
            .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready"))
    };
    eventually(
        "Ready=False naming the forbidden Secret read",
        WAIT,
        || async {
            ready()
                .await
                .is_some_and(|r| r.status == "False" && r.reason == "KubernetesForbidden")
        },
    )
    .await;
    let r = ready().await.expect("Ready");
    let seen = format!("{}: {}", r.reason, r.message);
    println!("what a user sees without the secrets rule: {seen}");
    assert!(
        seen.contains("secrets") && seen.contains("forbidden"),
        "{seen}"
    );
    let log = operator.log();
    assert!(
        !log.contains("not-a-real-key"),
        "a Secret value reached the log"
    );

    drop(operator);
    ok(
        c.helm(&["uninstall", release, "-n", &release_ns]),
        "helm uninstall",
    );
    // The finalizers need the operator; it is gone.
    space.delete_releasing_finalizers().await;
    cluster::delete_namespace(&admin, &release_ns).await;
}
