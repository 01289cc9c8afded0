//! The real operator binary as a process: `curator-operator run` against a kubeconfig, its
//! endpoints on a free loopback port, its log in a file, stopped by a real SIGTERM (the `kill`
//! command) and the time to its exit measured.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    time::{Duration, Instant},
};

use k8s_openapi::api::coordination::v1::Lease;
use kube::{Api, Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::wait;

/// A running operator; killed (SIGKILL) when dropped while still running.
pub struct Operator {
    child: Child,
    /// Its stdout and stderr.
    pub log: PathBuf,
    /// `/livez`, `/readyz`, `/metrics`.
    pub http: SocketAddr,
    /// The Lease it elects on, when election is on: (namespace, name).
    pub lease: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

/// How a SIGTERM ended the process.
#[derive(Debug)]
pub struct Exit {
    /// From the signal to the exit.
    pub took: Duration,
    /// The exit status.
    pub status: ExitStatus,
    /// The whole log.
    pub log: String,
}

/// What to start.
pub struct Options<'a> {
    /// Admin (or other) kubeconfig.
    pub kubeconfig: &'a Path,
    /// `POD_NAME`: the identity in the Lease.
    pub pod_name: &'a str,
    /// `Some((namespace, name))`: election on that Lease; `None`: no election.
    pub lease: Option<(&'a str, &'a str)>,
    /// More flags, e.g. `--watch-namespaces ns`.
    pub args: Vec<String>,
}

impl Operator {
    /// Starts `curator-operator run` with a short `--temporal-timeout` (3 s) unless `args` set
    /// one.
    pub fn start(o: Options<'_>) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("operator.log");
        let port = super::free_port();
        let http: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        // Another build of the binary, where asked (comparing builds: allocators, profiles).
        let bin = std::env::var_os("CURATOR_OPERATOR_BIN")
            .unwrap_or_else(|| env!("CARGO_BIN_EXE_curator-operator").into());
        let mut cmd = Command::new(bin);
        cmd.arg("run")
            .arg("--http-addr")
            .arg(http.to_string())
            .arg("--log-format")
            .arg("text");
        if !o.args.iter().any(|a| a == "--temporal-timeout") {
            cmd.args(["--temporal-timeout", "3s"]);
        }
        match o.lease {
            Some((ns, name)) => {
                cmd.args(["--leader-election", "true", "--lease-namespace", ns]);
                cmd.args(["--lease-name", name, "--lease-duration", "15s"]);
            }
            None => {
                cmd.args(["--leader-election", "false"]);
            }
        }
        cmd.args(&o.args)
            .env_clear()
            .env("KUBECONFIG", o.kubeconfig)
            .env("POD_NAME", o.pod_name)
            .env("RUST_LOG", "info")
            // A heap profile (a binary built with `--features heap-profile`), where asked.
            .envs(std::env::var_os("CURATOR_HEAP_PROFILE").map(|p| ("CURATOR_HEAP_PROFILE", p)))
            // The allocator's tuning (glibc's `MALLOC_ARENA_MAX`, `GLIBC_TUNABLES`…, jemalloc's
            // `_RJEM_MALLOC_CONF`), for memory measurements (BENCHMARKS.md).
            .envs(std::env::vars_os().filter(|(k, _)| {
                k.to_str().is_some_and(|k| {
                    k.starts_with("MALLOC_") || k == "GLIBC_TUNABLES" || k == "_RJEM_MALLOC_CONF"
                })
            }))
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(
                std::fs::OpenOptions::new()
                    .append(true)
                    .open(&log)
                    .expect("log"),
            );
        Self {
            child: cmd.spawn().expect("operator binary"),
            log,
            http,
            lease: o.lease.map(|(ns, n)| (ns.to_owned(), n.to_owned())),
            _dir: dir,
        }
    }

    /// Its process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// How many TCP connections the process has open to `port` (established), from its file
    /// descriptors and the kernel's socket tables.
    pub fn connections_to(&self, port: u16) -> usize {
        let pid = self.pid();
        let inodes: std::collections::HashSet<String> =
            std::fs::read_dir(format!("/proc/{pid}/fd"))
                .into_iter()
                .flatten()
                .flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| {
                    let l = l.to_string_lossy().into_owned();
                    Some(l.strip_prefix("socket:[")?.strip_suffix(']')?.to_owned())
                })
                .collect();
        ["tcp", "tcp6"]
            .iter()
            .flat_map(|t| {
                std::fs::read_to_string(format!("/proc/{pid}/net/{t}"))
                    .unwrap_or_default()
                    .lines()
                    .skip(1)
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .filter(|line| {
                // sl local_address rem_address st ... inode (the tenth field)
                let f: Vec<&str> = line.split_whitespace().collect();
                let remote_port = f
                    .get(2)
                    .and_then(|a| a.rsplit_once(':'))
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
                remote_port == Some(port)
                    && f.get(3) == Some(&"01")
                    && f.get(9).is_some_and(|i| inodes.contains(*i))
            })
            .count()
    }

    /// The log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// How many log lines contain `text`.
    pub fn lines_with(&self, text: &str) -> usize {
        self.log().lines().filter(|l| l.contains(text)).count()
    }

    /// The process still runs.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// `GET path` on its endpoints: status and body (`(0, "")` when it does not answer).
    pub async fn get(&self, path: &str) -> (u16, String) {
        let ask = async {
            let mut s = tokio::net::TcpStream::connect(self.http).await.ok()?;
            s.write_all(
                format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")
                    .as_bytes(),
            )
            .await
            .ok()?;
            let mut buf = String::new();
            s.read_to_string(&mut buf).await.ok()?;
            let status = buf.split_whitespace().nth(1)?.parse().ok()?;
            let body = buf.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
            Some((status, body))
        };
        tokio::time::timeout(Duration::from_secs(5), ask)
            .await
            .ok()
            .flatten()
            .unwrap_or((0, String::new()))
    }

    /// The value of the series `series` (name with labels, as exposed) in `/metrics`.
    pub async fn metric(&self, series: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics").await;
        body.lines().find_map(|l| {
            l.strip_prefix(series)?
                .strip_prefix(' ')?
                .trim()
                .parse()
                .ok()
        })
    }

    /// The sum of every series of `family` whose labels contain all of `labels`.
    pub async fn metric_sum(&self, family: &str, labels: &[&str]) -> f64 {
        let (_, body) = self.get("/metrics").await;
        body.lines()
            .filter(|l| l.starts_with(&format!("{family}{{")))
            .filter(|l| labels.iter().all(|want| l.contains(want)))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Waits until the log contains `text`, for at most `limit`.
    pub async fn wait_log(&self, text: &str, limit: Duration) {
        let every = Duration::from_millis(100);
        if wait::until(limit, every, async || {
            self.log().contains(text).then_some(())
        })
        .await
        .is_none()
        {
            panic!("no {text:?} in the log after {limit:?}:\n{}", self.log());
        }
    }

    /// Sends SIGTERM (the `kill` command) and waits for the exit, at most 60 s (then SIGKILL
    /// and a failure).
    pub async fn terminate(mut self) -> Exit {
        let pid = self.child.id().to_string();
        let started = Instant::now();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        assert!(sent.success(), "kill -TERM {pid}");
        let limit = Duration::from_secs(60);
        let every = Duration::from_millis(5);
        let exited = wait::until(limit, every, async || self.child.try_wait().expect("wait")).await;
        let Some(status) = exited else {
            let _ = self.child.kill();
            panic!("still running 60 s after SIGTERM; log:\n{}", self.log());
        };
        Exit {
            took: started.elapsed(),
            status,
            log: self.log(),
        }
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The Lease's holder (`None`: nobody, or no Lease).
pub async fn lease_holder(client: &Client, namespace: &str, name: &str) -> Option<String> {
    Api::<Lease>::namespaced(client.clone(), namespace)
        .get_opt(name)
        .await
        .expect("get lease")
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity)
}

/// Asserts that SIGTERM ended the process cleanly within `limit`, and prints the figure.
pub fn assert_clean_exit(state: &str, exit: &Exit, limit: Duration) {
    println!(
        "exit after SIGTERM, {state}: {:.3} s (limit {:.1} s)",
        exit.took.as_secs_f64(),
        limit.as_secs_f64()
    );
    assert!(
        exit.status.success(),
        "{state}: exit status {:?}; log:\n{}",
        exit.status,
        exit.log
    );
    assert!(
        exit.took <= limit,
        "{state}: exit took {:?}, over {limit:?}; log:\n{}",
        exit.took,
        exit.log
    );
}
