//! A Kubernetes node whose Pods really run: `../shared/k8s/cluster up DIR --node` (kube-apiserver,
//! kube-controller-manager, kube-scheduler, containerd and one kubelet, node `127.0.0.1`), one per
//! test, taken down when the test ends (a watchdog does it even on a panic or SIGKILL).
//!
//! The node runs only hostNetwork Pods (its CNI sets up loopback alone), has no Services or DNS,
//! and reaches no registry: images are loaded from archives. The node tests take the images
//! that `scripts/test.sh` builds (`scripts/image.sh`, `scripts/worker-image.sh`) from
//! `CURATOR_OPERATOR_IMAGE` and `CURATOR_WORKER_IMAGE` ("<archive> <reference>"). Without them,
//! root, or the node's Debian packages, a node test says why and returns, unless
//! `CURATOR_REQUIRE_NODE=1` (CI), where that is a failure.
#![allow(dead_code)]

use std::{
    os::unix::process::CommandExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::Duration,
};

use kube::Client;

use super::cluster::{self, client_for, tool};

/// An image archive and the reference it holds.
#[derive(Clone, Debug)]
pub struct Image {
    /// A docker-archive, as `podman save` writes it.
    pub archive: PathBuf,
    /// The image reference inside it (e.g. `localhost/curator-operator:0.1.0-dev`).
    pub reference: String,
}

impl Image {
    /// The reference's repository (before the last `:`).
    pub fn repository(&self) -> &str {
        self.reference
            .rsplit_once(':')
            .map_or(self.reference.as_str(), |(r, _)| r)
    }

    /// The reference's tag.
    pub fn tag(&self) -> &str {
        self.reference.rsplit_once(':').map_or("latest", |(_, t)| t)
    }
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn shared_cluster() -> PathBuf {
    repo().join("../shared/k8s/cluster")
}

fn skip_or_fail(why: &str) {
    if std::env::var("CURATOR_REQUIRE_NODE").is_ok_and(|v| v == "1") {
        panic!("CURATOR_REQUIRE_NODE=1 but {why}");
    }
    eprintln!("SKIPPED (node test): {why}");
}

/// The image named by environment variable `var` ("<archive> <reference>").
fn image(var: &str) -> Result<Image, String> {
    let v = std::env::var(var)
        .map_err(|_| format!("{var} is not set (scripts/test.sh builds the images and sets it)"))?;
    let (archive, reference) = v
        .trim()
        .split_once(' ')
        .ok_or_else(|| format!("{var}={v:?} is not \"<archive> <reference>\""))?;
    let archive = PathBuf::from(archive);
    if !archive.is_file() {
        return Err(format!("{var}: no archive at {}", archive.display()));
    }
    Ok(Image {
        archive,
        reference: reference.to_owned(),
    })
}

/// The operator's and the contract worker's images, or `None` (after saying why).
pub fn images() -> Option<(Image, Image)> {
    match (
        image("CURATOR_OPERATOR_IMAGE"),
        image("CURATOR_WORKER_IMAGE"),
    ) {
        (Ok(o), Ok(w)) => Some((o, w)),
        (Err(why), _) | (_, Err(why)) => {
            skip_or_fail(&why);
            None
        }
    }
}

/// A running node.
pub struct Node {
    dir: tempfile::TempDir,
    /// Admin kubeconfig.
    pub kubeconfig: PathBuf,
}

impl Node {
    /// Starts a node, or returns `None` (after saying why) when this machine cannot run one.
    pub fn start() -> Option<Self> {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout.starts_with(b"0\n"));
        if !root {
            skip_or_fail("a node needs root");
            return None;
        }
        let cluster = shared_cluster();
        if !cluster.exists() {
            skip_or_fail(&format!("no {}", cluster.display()));
            return None;
        }
        // Short: the node's sockets live under DIR (a long path moves them to /run).
        let dir = tempfile::Builder::new()
            .prefix("curator-node-")
            .tempdir_in("/tmp")
            .expect("tempdir");
        let up = Command::new(&cluster)
            .arg("up")
            .arg(dir.path())
            .arg("--node")
            .stdin(Stdio::null())
            .output()
            .expect("cluster up");
        if !up.status.success() {
            let _ = Command::new(&cluster).arg("down").arg(dir.path()).status();
            skip_or_fail(&format!(
                "cluster up --node failed (scripts/install-deps.sh installs containerd, runc and containernetworking-plugins): {}",
                String::from_utf8_lossy(&up.stderr).trim()
            ));
            return None;
        }
        // Takes the node down when this process exits, however it exits.
        let _ = Command::new("bash")
            .arg("-c")
            .arg(r#"while kill -0 "$1" 2>/dev/null; do sleep 1; done; "$2" down "$3""#)
            .arg("watchdog")
            .arg(std::process::id().to_string())
            .arg(&cluster)
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let kubeconfig = dir.path().join("kubeconfig");
        Some(Self { dir, kubeconfig })
    }

    /// The node's directory (logs in `logs/`).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Loads an image archive into the node's containerd.
    pub fn load(&self, image: &Image) {
        let out = Command::new(shared_cluster())
            .arg("image-load")
            .arg(self.dir.path())
            .arg(&image.archive)
            .output()
            .expect("image-load");
        assert!(
            out.status.success(),
            "image-load {}: {}",
            image.archive.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// An admin client.
    pub async fn client(&self) -> Client {
        client_for(&self.kubeconfig).await
    }

    /// An admin client that does not retry answers 429, 503 and 504 (kube's default client
    /// retries them for minutes: an eviction refused by a PodDisruptionBudget is a 429).
    pub async fn client_without_retries(&self) -> Client {
        use kube::config::{KubeConfigOptions, Kubeconfig};
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("read kubeconfig");
        let mut config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("kubeconfig");
        config.default_retry = false;
        Client::try_from(config).expect("client")
    }

    /// The API server's loopback port (what a hostNetwork Pod connects to).
    pub fn apiserver_port(&self) -> u16 {
        let text = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        let server = text
            .split_whitespace()
            .find_map(|w| w.trim_matches('"').strip_prefix("https://127.0.0.1:"))
            .expect("server https://127.0.0.1:PORT in the kubeconfig");
        server
            .trim_end_matches(|c: char| !c.is_ascii_digit())
            .parse()
            .expect("port")
    }

    /// Runs `kubectl` against the node's cluster.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        cluster::kubectl(&self.kubeconfig, args)
    }

    /// Runs `kubectl`, failing the test on a non-zero exit; returns stdout.
    pub fn kubectl_ok(&self, args: &[&str]) -> String {
        cluster::kubectl_ok(&self.kubeconfig, args)
    }

    /// Runs `helm` against the node's cluster, failing the test on a non-zero exit.
    pub fn helm_ok(&self, args: &[&str]) -> String {
        let home = self.dir.path().join("helm");
        let out = Command::new(tool("helm"))
            .args(args)
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HELM_CACHE_HOME", home.join("cache"))
            .env("HELM_CONFIG_HOME", home.join("config"))
            .env("HELM_DATA_HOME", home.join("data"))
            .output()
            .expect("helm (run scripts/install-deps.sh)");
        assert!(
            out.status.success(),
            "helm {args:?}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// A pod's logs (all containers), or the error.
    pub fn logs(&self, ns: &str, pod: &str) -> String {
        let out = self.kubectl(&["logs", "-n", ns, pod, "--all-containers"]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = Command::new(shared_cluster())
            .arg("down")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// How long node tests wait for a Pod to start or a rollout to finish.
pub const POD_WAIT: Duration = Duration::from_secs(120);

/// The chart's release on a node, as `helm install` made it.
pub struct Release {
    /// Release name and namespace.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// The operator's http port on the node (`/livez`, `/readyz`, `/metrics`).
    pub http_port: u16,
}

/// `helm install` of the chart with `tests/helm/values-node.yaml`, the operator image `image`
/// (loaded on the node), a free http port and the API server's loopback address; `extra` are
/// more helm arguments. Returns once helm has; the Pod is not Ready yet.
pub fn helm_install(node: &Node, image: &Image, extra: &[&str]) -> Release {
    let http_port = super::free_port();
    let api_port = node.apiserver_port();
    let extra_env = format!(
        r#"extraEnv=[{{"name":"KUBERNETES_SERVICE_HOST","value":"127.0.0.1"}},{{"name":"KUBERNETES_SERVICE_PORT","value":"{api_port}"}}]"#
    );
    let chart = repo().join("charts/curator-operator");
    let values = repo().join("tests/helm/values-node.yaml");
    let mut args = vec![
        "install".to_owned(),
        "curator-operator".to_owned(),
        chart.display().to_string(),
        "--namespace".into(),
        "curator-system".into(),
        "--create-namespace".into(),
        "-f".into(),
        values.display().to_string(),
        "--set".into(),
        format!("image.repository={}", image.repository()),
        "--set".into(),
        format!("image.tag={}", image.tag()),
        "--set".into(),
        format!("httpPort={http_port}"),
        "--set-json".into(),
        extra_env,
    ];
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    node.helm_ok(&args);
    Release {
        name: "curator-operator".into(),
        namespace: "curator-system".into(),
        http_port,
    }
}
