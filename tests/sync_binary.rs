//! `curator-operator sync` as a process against a real Temporal dev server: exit codes, the
//! JSON output, progress on stderr, and the `temporal` CLI's flag and variable names.

mod common;

use std::{
    path::Path,
    process::{Command, Output},
    time::{Duration, Instant},
};

use common::wait;
use curator_operator::{schedule::pages::list_all, sync_cli::stamp};

/// Every variable the `temporal` CLI reads, so the test's own environment cannot leak in.
const TEMPORAL_ENV: &[&str] = &[
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_CERT_DATA",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_DATA",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_API_KEY",
    "CURATOR_CONCURRENCY",
    "BUUN_CURATOR_API_URL",
    "INTERNAL_API_TOKEN",
];

fn sync(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_curator-operator"));
    c.arg("sync").args(args);
    for v in TEMPORAL_ENV {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run the binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A repository: one worker and `names` FeedSources in namespace `ns`.
fn write_repo(dir: &Path, ns: &str, names: &[String]) {
    let mut y = format!(
        "apiVersion: curator.buun.dev/v1alpha1\nkind: CuratorWorker\nmetadata: {{name: curator, namespace: {ns}}}\nspec: {{image: \"w:1\", temporal: {{address: \"unused:7233\"}}}}\n"
    );
    for n in names {
        y.push_str(&format!(
            "---\napiVersion: curator.buun.dev/v1alpha1\nkind: FeedSource\nmetadata: {{name: {n}, namespace: {ns}}}\nspec:\n  workerRef: {{name: curator}}\n  feed: {{id: \"id-{n}\", name: \"{n}\", url: \"https://example.com/{n}.xml\"}}\n  schedule: {{every: 1h}}\n"
        ));
    }
    std::fs::write(dir.join("feeds.yaml"), y).expect("write");
}

fn names(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("f{i}")).collect()
}

/// Waits until the listing shows `n` stamped schedules under `prefix`.
async fn settle(prefix: &str, n: usize) {
    let api = common::schedules(&common::shared().address).await;
    let mut stamped = 0;
    let listed = wait::until(Duration::from_secs(60), wait::EVERY, async || {
        let l = list_all(&api, "", 1000).await.expect("list");
        stamped = l
            .values()
            .filter(|s| s.id.starts_with(prefix) && stamp::fingerprint(&s.notes).is_some())
            .count();
        (stamped >= n).then_some(())
    })
    .await;
    assert!(listed.is_some(), "{stamped} of {n} listed");
}

async fn listed(prefix: &str) -> usize {
    let api = common::schedules(&common::shared().address).await;
    let l = list_all(&api, "", 1000).await.expect("list");
    l.keys().filter(|id| id.starts_with(prefix)).count()
}

#[tokio::test]
async fn exit_codes_say_in_sync_failed_bad_input_or_pending() {
    let addr = common::shared().address.clone();
    let dir = tempfile::tempdir().expect("dir");
    let f = dir.path().to_str().expect("utf8");

    // Bad input: a FeedSource on an undeclared worker. Nothing reaches Temporal.
    std::fs::write(
        dir.path().join("broken.yaml"),
        "apiVersion: curator.buun.dev/v1alpha1\nkind: FeedSource\nmetadata: {name: lost, namespace: codes}\nspec:\n  workerRef: {name: nobody}\n  feed: {id: x, name: x, url: \"https://x.example/rss\"}\n  schedule: {every: 1h}\n",
    )
    .expect("write");
    write_repo(dir.path(), "codes", &names(3));
    let out = sync(&["-f", f, "--address", &addr], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("CuratorWorker \"nobody\" is not declared"));
    assert!(text(&out.stderr).contains("nothing was sent to Temporal"));
    assert_eq!(listed("curator/codes/").await, 0);
    std::fs::remove_file(dir.path().join("broken.yaml")).expect("rm");

    // Pending changes: a dry run with --exit-code says 3 and creates nothing.
    let out = sync(
        &["-f", f, "--address", &addr, "--dry-run", "--exit-code"],
        &[],
    );
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("create ")).count(),
        3,
        "{stdout}"
    );
    assert!(
        stdout.contains("(dry run: nothing was changed)"),
        "{stdout}"
    );
    assert_eq!(listed("curator/codes/").await, 0);

    // Applied (with the old flag name): 0.
    let out = sync(&["-f", f, "--temporal-address", &addr], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("3 feeds: 3 created, 0 failed"),
        "{}",
        text(&out.stdout)
    );

    // In sync: 0, also with --exit-code; the address from TEMPORAL_ADDRESS.
    settle("curator/codes/", 3).await;
    let out = sync(
        &["-f", f, "--dry-run", "--exit-code"],
        &[("TEMPORAL_ADDRESS", &addr)],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    assert!(text(&out.stdout).contains("3 feeds: 3 unchanged, 0 failed"));

    // --exit-code means nothing without --dry-run: a usage error.
    let out = sync(&["-f", f, "--exit-code"], &[("TEMPORAL_ADDRESS", &addr)]);
    assert_eq!(out.status.code(), Some(2));

    // Failed: Temporal unreachable, retried for the retry timeout, then 1.
    let port = common::free_port();
    let nowhere = format!("127.0.0.1:{port}");
    let out = sync(
        &[
            "-f",
            f,
            "--address",
            &nowhere,
            "--retry-timeout",
            "1s",
            "--temporal-timeout",
            "1s",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).contains("3 failed (TemporalUnreachable: 3)"),
        "{}",
        text(&out.stdout)
    );
}

#[tokio::test]
async fn json_output_is_one_object_per_feed() {
    let addr = common::shared().address.clone();
    let dir = tempfile::tempdir().expect("dir");
    write_repo(dir.path(), "json", &names(4));
    let out = sync(
        &[
            "-f",
            dir.path().to_str().expect("utf8"),
            "--address",
            &addr,
            "-o",
            "json",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let objects: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON object per line"))
        .collect();
    assert_eq!(objects.len(), 4, "{stdout}");
    for (i, o) in objects.iter().enumerate() {
        assert_eq!(o["resource"], format!("json/f{i}"));
        assert_eq!(o["scheduleId"], format!("curator/json/f{i}"));
        assert_eq!(o["action"], "create");
        assert_eq!(o["applied"], true);
    }
    assert!(text(&out.stderr).contains("4 feeds: 4 created, 0 failed"));
}

#[tokio::test]
async fn progress_is_a_count_every_interval_not_a_line_per_feed() {
    let addr = common::shared().address.clone();
    let dir = tempfile::tempdir().expect("dir");
    write_repo(dir.path(), "progress", &names(30));
    // 30 creates at 15 a second take two seconds at least: several intervals of 300 ms.
    let started = Instant::now();
    let out = sync(
        &[
            "-f",
            dir.path().to_str().expect("utf8"),
            "--address",
            &addr,
            "--temporal-rps",
            "15",
            "--progress-interval",
            "300ms",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let counts: Vec<&str> = stderr.lines().filter(|l| l.starts_with("sync: ")).collect();
    assert!(counts.len() >= 2, "a count per interval: {stderr:?}");
    let intervals = started.elapsed().as_millis() / 300;
    assert!(
        counts.len() as u128 <= intervals + 1,
        "one line per interval ({intervals} intervals), not per feed: {stderr:?}"
    );
    assert!(counts.iter().all(|l| l.contains("/30 feeds")), "{stderr:?}");
    assert!(
        !stderr.contains("progress/f"),
        "no feed names on stderr: {stderr:?}"
    );
    assert!(
        !stderr.contains('\r') && !stderr.contains('\u{1b}'),
        "{stderr:?}"
    );
}

/// A loopback listener that counts connections; its port.
fn counting_listener() -> (u16, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    use std::sync::{Arc, atomic::AtomicUsize, atomic::Ordering};
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            count.fetch_add(1, Ordering::SeqCst);
            drop(c);
        }
    });
    (port, seen)
}

/// Issue 31, item 8: the secrets `sync` holds go only where the command line or the
/// environment says, not where a file says, unless `--trust-file-endpoints`.
#[test]
fn secrets_never_follow_an_endpoint_that_only_a_file_names() {
    use std::sync::atomic::Ordering;
    let (port, seen) = counting_listener();
    let dir = tempfile::tempdir().expect("dir");
    let y = format!(
        "apiVersion: curator.buun.dev/v1alpha1\nkind: CuratorWorker\nmetadata: {{name: curator, namespace: pr}}\nspec:\n  image: \"w:1\"\n  temporal: {{address: \"127.0.0.1:{port}\"}}\n  curatorApi: {{url: \"http://127.0.0.1:{port}\", tokenSecretRef: {{name: t, key: t}}}}\n---\napiVersion: curator.buun.dev/v1alpha1\nkind: FeedSource\nmetadata: {{name: f, namespace: pr}}\nspec:\n  workerRef: {{name: curator}}\n  feed: {{name: \"f\", url: \"https://example.com/f.xml\"}}\n  schedule: {{every: 1h}}\n"
    );
    std::fs::write(dir.path().join("pr.yaml"), y).expect("write");
    let file = dir.path().to_string_lossy().into_owned();
    let secrets = [
        ("TEMPORAL_API_KEY", "ci-key"),
        ("INTERNAL_API_TOKEN", "ci-token"),
    ];
    for extra in [&["--dry-run"][..], &[][..]] {
        let mut args = vec!["-f", file.as_str(), "--retry-timeout", "1s"];
        args.extend_from_slice(extra);
        let out = sync(&args, &secrets);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("TEMPORAL_API_KEY is sent only to an address given by --address")
                && err.contains(
                    "INTERNAL_API_TOKEN is sent only to a URL given by --curator-api-url"
                ),
            "{err}"
        );
        assert!(
            !err.contains("ci-key") && !err.contains("ci-token"),
            "{err}"
        );
    }
    assert_eq!(
        seen.load(Ordering::SeqCst),
        0,
        "nothing was sent to the file's endpoints"
    );
    // Opting in sends them there (the listener is no Temporal: the run fails after trying).
    let out = sync(
        &[
            "-f",
            &file,
            "--retry-timeout",
            "1s",
            "--trust-file-endpoints",
            "--dry-run",
        ],
        &secrets,
    );
    assert_ne!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        seen.load(Ordering::SeqCst) > 0,
        "with --trust-file-endpoints the file's endpoints are used"
    );
}
