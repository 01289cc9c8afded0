//! A real Kubernetes API server for the cluster tests.
//!
//! Where it comes from, in order:
//! 1. `CURATOR_TEST_KUBECONFIG`: a cluster the user provides (the tests create their own
//!    namespaces there and delete them);
//! 2. a control plane started by `scripts/cluster.sh` (from `KUBEBUILDER_ASSETS`, or from
//!    `../shared/k8s/cluster`): once per test binary, shared by its tests, each test in its own
//!    namespace, and stopped when the test process exits (a watchdog does it even on a panic).
//!
//! `scripts/test.sh` starts one control plane for the whole run and passes it on as
//! `CURATOR_TEST_KUBECONFIG`. When none can be had, a cluster test prints why and returns, unless
//! `CURATOR_REQUIRE_CLUSTER=1` (CI), where that is a failure.
#![allow(dead_code)]

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::OnceLock,
    time::Duration,
};

use k8s_openapi::{
    api::core::v1::Namespace,
    apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
};
use kube::{
    Api, Client, Config, ResourceExt,
    api::{ApiResource, DeleteParams, DynamicObject, Patch, PatchParams, PostParams},
    config::{KubeConfigOptions, Kubeconfig},
    core::GroupVersionKind,
    runtime::wait::{await_condition, conditions},
};

pub use super::wait::eventually;

/// A control plane the tests can use.
pub struct TestCluster {
    /// Admin kubeconfig.
    pub kubeconfig: PathBuf,
    /// Where it came from, for messages.
    pub source: String,
    /// The directory of a control plane this process started (stopped on drop).
    started: Option<tempfile::TempDir>,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A project tool: `.tools/bin/NAME` when installed there, else `PATH`.
pub fn tool(name: &str) -> PathBuf {
    let local = repo().join(".tools/bin").join(name);
    if local.exists() {
        local
    } else {
        PathBuf::from(name)
    }
}

impl TestCluster {
    /// Starts a private control plane with `scripts/cluster.sh`; `Err` says why it cannot.
    pub fn start() -> Result<Self, String> {
        Self::start_with("up")
    }

    /// Starts a private control plane whose kube-apiserver can be stopped and started again on
    /// the same data ([`TestCluster::stop_apiserver`], [`TestCluster::start_apiserver`]).
    pub fn start_restartable() -> Result<Self, String> {
        Self::start_with("up-restartable")
    }

    /// Stops the kube-apiserver of a control plane from [`TestCluster::start_restartable`].
    pub fn stop_apiserver(&self) {
        self.script("apiserver-stop");
    }

    /// Starts it again on the same data, port and certificates; returns once it is ready.
    pub fn start_apiserver(&self) {
        self.script("apiserver-start");
    }

    fn script(&self, command: &str) {
        let dir = self.started.as_ref().expect("a control plane of this test");
        let out = Command::new("bash")
            .arg(repo().join("scripts/cluster.sh"))
            .arg(command)
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .expect("cluster.sh");
        assert!(
            out.status.success(),
            "cluster.sh {command} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn start_with(up_command: &str) -> Result<Self, String> {
        let script = repo().join("scripts/cluster.sh");
        let source = Command::new("bash")
            .arg(&script)
            .arg("source")
            .output()
            .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
        if !source.status.success() {
            return Err(format!(
                "no Kubernetes control plane: {}",
                String::from_utf8_lossy(&source.stderr).trim()
            ));
        }
        let dir = tempfile::Builder::new()
            .prefix("curator-k8s-")
            .tempdir()
            .map_err(|e| e.to_string())?;
        let up = Command::new("bash")
            .arg(&script)
            .arg(up_command)
            .arg(dir.path())
            .stdin(Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if !up.status.success() {
            let _ = Command::new("bash")
                .arg(&script)
                .arg("down")
                .arg(dir.path())
                .status();
            return Err(format!(
                "control plane did not start: {}",
                String::from_utf8_lossy(&up.stderr).trim()
            ));
        }
        // Stops it when this process exits, however it exits.
        let _ = Command::new("bash")
            .arg("-c")
            .arg(r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done; bash "$2" down "$3""#)
            .arg("watchdog")
            .arg(std::process::id().to_string())
            .arg(&script)
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        Ok(Self {
            kubeconfig: dir.path().join("kubeconfig"),
            source: String::from_utf8_lossy(&source.stdout).trim().to_owned(),
            started: Some(dir),
        })
    }

    /// A client with the admin kubeconfig.
    pub async fn client(&self) -> Client {
        client_for(&self.kubeconfig).await
    }

    /// The port of the API server the kubeconfig points to (its first cluster's).
    pub fn apiserver_port(&self) -> u16 {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        let server = kc
            .clusters
            .iter()
            .find_map(|c| c.cluster.as_ref()?.server.clone())
            .expect("a cluster with a server");
        let uri: http::Uri = server.parse().expect("server URL");
        uri.port_u16()
            .unwrap_or(if uri.scheme_str() == Some("http") {
                80
            } else {
                443
            })
    }

    /// Runs `kubectl` against this cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl(&self.kubeconfig, args)
    }

    /// Runs `kubectl` and returns stdout, failing the test on a non-zero exit.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        kubectl_ok(&self.kubeconfig, args)
    }

    /// Runs `helm` against this cluster.
    pub fn helm(&self, args: &[&str]) -> Output {
        Command::new(tool("helm"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env(
                "HELM_CACHE_HOME",
                std::env::temp_dir().join("curator-helm-cache"),
            )
            .env(
                "HELM_CONFIG_HOME",
                std::env::temp_dir().join("curator-helm-config"),
            )
            .env(
                "HELM_DATA_HOME",
                std::env::temp_dir().join("curator-helm-data"),
            )
            .output()
            .expect("helm (run scripts/install-deps.sh)")
    }
}

impl Drop for TestCluster {
    fn drop(&mut self) {
        if let Some(dir) = &self.started {
            let _ = Command::new("bash")
                .arg(repo().join("scripts/cluster.sh"))
                .arg("down")
                .arg(dir.path())
                .status();
        }
    }
}

/// Runs `kubectl` against the cluster in `kubeconfig`.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(tool("kubectl"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .expect("kubectl (run scripts/install-deps.sh)")
}

/// Runs `kubectl` against the cluster in `kubeconfig` and returns stdout, failing the test on a
/// non-zero exit.
pub fn kubectl_ok(kubeconfig: &Path, args: &[&str]) -> String {
    let out = kubectl(kubeconfig, args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A client for the cluster in `kubeconfig`.
pub async fn client_for(kubeconfig: &Path) -> Client {
    let kc = Kubeconfig::read_from(kubeconfig).expect("read kubeconfig");
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig");
    Client::try_from(config).expect("client")
}

fn skip_or_fail(why: &str) {
    if std::env::var("CURATOR_REQUIRE_CLUSTER").is_ok_and(|v| v == "1") {
        panic!("CURATOR_REQUIRE_CLUSTER=1 but {why}");
    }
    eprintln!("SKIPPED (cluster test): {why}");
}

static SHARED: OnceLock<Result<TestCluster, String>> = OnceLock::new();

/// The control plane shared by this binary's tests, or `None` (after saying why) when none can
/// be had.
pub fn shared() -> Option<&'static TestCluster> {
    let c = SHARED.get_or_init(|| match std::env::var_os("CURATOR_TEST_KUBECONFIG") {
        Some(path) => Ok(TestCluster {
            kubeconfig: path.into(),
            source: "CURATOR_TEST_KUBECONFIG".into(),
            started: None,
        }),
        None => TestCluster::start(),
    });
    match c {
        Ok(c) => Some(c),
        Err(why) => {
            skip_or_fail(why);
            None
        }
    }
}

/// A control plane of the test's own, for tests that change cluster-wide state (CRDs). `None`
/// (after saying why) when none can be started; a user's cluster is never used for this.
pub fn private() -> Option<TestCluster> {
    match TestCluster::start() {
        Ok(c) => Some(c),
        Err(why) => {
            skip_or_fail(&why);
            None
        }
    }
}

/// Like [`private`], with a kube-apiserver that the test can stop and start again.
pub fn private_restartable() -> Option<TestCluster> {
    match TestCluster::start_restartable() {
        Ok(c) => Some(c),
        Err(why) => {
            skip_or_fail(&why);
            None
        }
    }
}

/// A name unique to this run: `prefix-<millis>-<counter>`.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_millis()
        % 100_000_000;
    format!("{prefix}-{ms}-{}", SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Applies the operator's CRDs (server-side, as `kubectl apply --server-side` would) and waits
/// until both are established.
pub async fn install_crds(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for (_, c) in curator_operator::crd::all() {
        let name = c.name_any();
        crds.patch(
            &name,
            &PatchParams::apply("curator-operator-test").force(),
            &Patch::Apply(&c),
        )
        .await
        .unwrap_or_else(|e| panic!("the API server refused CRD {name}: {e}"));
        tokio::time::timeout(
            Duration::from_secs(30),
            await_condition(crds.clone(), &name, conditions::is_crd_established()),
        )
        .await
        .expect("CRD established in time")
        .expect("watch");
    }
}

/// Creates a namespace named `prefix-…` and returns its name.
pub async fn namespace(client: &Client, prefix: &str) -> String {
    let ns = unique(prefix);
    let mut n = Namespace::default();
    n.metadata.name = Some(ns.clone());
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &n)
        .await
        .expect("create namespace");
    ns
}

/// Deletes a namespace (without waiting).
pub async fn delete_namespace(client: &Client, ns: &str) {
    let _ = Api::<Namespace>::all(client.clone())
        .delete(ns, &DeleteParams::default())
        .await;
}

/// Whether FeedSource `name` is `Ready=True` now (false when it cannot be read).
pub async fn feed_ready(feeds: &kube::Api<curator_operator::crd::FeedSource>, name: &str) -> bool {
    feeds
        .get(name)
        .await
        .ok()
        .and_then(|f| f.status)
        .is_some_and(|s| {
            s.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

/// Creates `obj` (a FeedSource or CuratorWorker as JSON) in `ns` with `dryRun=All`: `Ok` when
/// the API server accepts it, else its 422 message. Nothing is stored.
pub async fn dry_run_create(
    client: &Client,
    ns: &str,
    obj: &serde_json::Value,
) -> Result<(), String> {
    let kind = obj["kind"].as_str().expect("kind");
    let plural = format!("{}s", kind.to_lowercase());
    let gvk = GroupVersionKind::gvk(curator_operator::crd::GROUP, "v1alpha1", kind);
    let ar = ApiResource::from_gvk_with_plural(&gvk, &plural);
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), ns, &ar);
    let mut obj = obj.clone();
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or("probe")
        .to_owned();
    obj["metadata"] = serde_json::json!({"name": name, "namespace": ns});
    let dynamic: DynamicObject = serde_json::from_value(obj).expect("dynamic object");
    let pp = PostParams {
        dry_run: true,
        ..Default::default()
    };
    match api.create(&pp, &dynamic).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 422 => Err(e.message),
        Err(e) => panic!("unexpected API error: {e}"),
    }
}
