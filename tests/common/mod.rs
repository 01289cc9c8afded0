//! Shared test harness: a real Temporal dev server on a free loopback port.
//!
//! One server per test binary, shared by its tests (each uses its own schedule IDs). A small
//! watchdog shell stops the server when the test process exits, even on a panic or SIGKILL.
#![allow(dead_code)]

pub mod cluster;
pub mod curator;
pub mod env;
pub mod global;
pub mod namespace;
pub mod node;
pub mod operator;
pub mod pods;
pub mod wait;

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::OnceLock,
    time::Duration,
};

use curator_operator::temporal::{
    ScheduleApi,
    grpc::GrpcSchedules,
    pool::{Credentials, Pool},
};

/// A running dev server.
pub struct TemporalServer {
    /// `127.0.0.1:PORT`.
    pub address: String,
    child: Child,
    _dir: tempfile::TempDir,
}

/// The `temporal` CLI: `$TEMPORAL_CLI`, the project's `.tools/bin/temporal`, or `PATH`.
pub fn temporal_cli() -> PathBuf {
    if let Some(p) = std::env::var_os("TEMPORAL_CLI") {
        return p.into();
    }
    let local = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/temporal");
    if local.exists() {
        return local;
    }
    PathBuf::from("temporal")
}

/// A free loopback port (free now; the server binds it right after).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl TemporalServer {
    /// Starts a server and waits until it serves the `default` namespace.
    pub fn start() -> Self {
        Self::start_on(free_port(), tempfile::tempdir().expect("tempdir"))
    }

    /// Starts a server on `port` with its database in `dir` (reusing `dir` keeps the data, so a
    /// test can stop and restart "the same" server).
    pub fn start_on(port: u16, dir: tempfile::TempDir) -> Self {
        Self::start_with(port, dir, &[])
    }

    /// Starts a server as [`TemporalServer::start_on`], with extra `server start-dev`
    /// arguments (e.g. `--dynamic-config-value frontend.namespaceRPS=5`).
    pub fn start_with(port: u16, dir: tempfile::TempDir, extra: &[&str]) -> Self {
        let db = dir.path().join("temporal.db");
        let log = std::fs::File::create(dir.path().join("temporal.log")).expect("log file");
        let script = r#"
            "$1" server start-dev --headless --ip 127.0.0.1 --port "$2" --db-filename "$3" --log-level warn "${@:5}" &
            srv=$!
            trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null' EXIT TERM INT
            while kill -0 "$4" 2>/dev/null && kill -0 $srv 2>/dev/null; do sleep 0.5; done
        "#;
        let child = Command::new("bash")
            .arg("-c")
            .arg(script)
            .arg("watchdog")
            .arg(temporal_cli())
            .arg(port.to_string())
            .arg(&db)
            .arg(std::process::id().to_string())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn temporal dev server (is the temporal CLI installed? run scripts/install-deps.sh)");
        let server = Self {
            address: format!("127.0.0.1:{port}"),
            child,
            _dir: dir,
        };
        server.wait_ready(Duration::from_secs(60));
        server
    }

    fn wait_ready(&self, limit: Duration) {
        let address = self.address.clone();
        // Its own thread and runtime: callers may already be inside a tokio runtime.
        let ready = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("rt");
            let serves = || {
                rt.block_on(async {
                    let pool = Pool::new("test-harness", Duration::from_secs(2));
                    match pool
                        .schedules(&address, "default", &Credentials::default())
                        .await
                    {
                        Ok(s) => s.describe("harness-probe").await.is_ok(),
                        Err(_) => false,
                    }
                })
            };
            wait::until_blocking(limit, Duration::from_millis(300), || serves().then_some(()))
                .is_some()
        })
        .join()
        .expect("probe thread");
        assert!(
            ready,
            "Temporal dev server on {} did not start",
            self.address
        );
    }

    /// Stops the server and returns its data directory (to restart it with the same data).
    pub fn stop(mut self) -> tempfile::TempDir {
        self.kill();
        let dir = tempfile::tempdir().expect("tempdir");
        std::mem::replace(&mut self._dir, dir)
    }

    fn kill(&mut self) {
        // Ending the watchdog ends the server through its trap.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("port")
    }
}

impl Drop for TemporalServer {
    fn drop(&mut self) {
        self.kill();
    }
}

static SHARED: OnceLock<TemporalServer> = OnceLock::new();

/// The server shared by the tests of this binary.
pub fn shared() -> &'static TemporalServer {
    SHARED.get_or_init(TemporalServer::start)
}

/// Schedules of the `default` namespace on `server`.
pub async fn schedules(address: &str) -> GrpcSchedules {
    Pool::new("curator-operator-test", Duration::from_secs(10))
        .schedules(address, "default", &Credentials::default())
        .await
        .expect("connect")
}

/// The raw loop's create of `d` (benchmarks): a loaded dev server cancels a call now and then,
/// so it is retried, as any client would, up to 10 times.
pub async fn raw_create(api: &GrpcSchedules, d: &curator_operator::schedule::DesiredSchedule) {
    for attempt in 1.. {
        let memo = curator_operator::temporal::memo::schedule_memo(&d.owner);
        match api.create(&d.id, d.schedule.clone(), memo).await {
            Ok(_) => return,
            Err(e) if attempt < 10 => {
                eprintln!("raw create of {} retried: {e}", d.id);
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => panic!("raw create of {}: {e}", d.id),
        }
    }
}

/// Runs `temporal` CLI arguments against `address` and returns stdout.
pub fn cli(address: &str, args: &[&str]) -> String {
    let out = Command::new(temporal_cli())
        .args(args)
        .arg("--address")
        .arg(address)
        .output()
        .expect("temporal CLI");
    assert!(
        out.status.success(),
        "temporal {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The contract worker (`tests/python/ingestion_worker.py serve`) serving a task queue until it
/// is dropped: each run ends as its input's `testOutcome` says (complete by default).
pub struct PythonWorker(Child);

impl PythonWorker {
    /// Serves `queue` on the dev server at `address`.
    pub fn serve(address: &str, queue: &str) -> Self {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/python/ingestion_worker.py"
        );
        let child = Command::new("python3")
            .args([script, "serve", address, queue, "3600"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            // It logs a traceback for every failure it is told to make.
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with temporalio (scripts/install-deps.sh)");
        Self(child)
    }
}

impl Drop for PythonWorker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A Temporal "frontend" that accepts connections and never answers: its address, and how many
/// connections it accepted.
pub async fn black_hole() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("addr").to_string();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((conn, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            open.push(conn);
        }
    });
    (address, accepted)
}
