//! `sync` over TLS: mTLS and an API key, with the `temporal` CLI's flag and variable names,
//! against a dev server behind a TLS-terminating proxy of the test's own
//! (`tests/support/tls_proxy.rs`). Credentials never show in the output.

mod common;
#[path = "support/tls_proxy.rs"]
mod tls_proxy;

use std::process::{Command, Output};

const TEMPORAL_ENV: &[&str] = &[
    "TEMPORAL_ADDRESS",
    "TEMPORAL_TLS",
    "TEMPORAL_TLS_CLIENT_CERT_PATH",
    "TEMPORAL_TLS_CLIENT_CERT_DATA",
    "TEMPORAL_TLS_CLIENT_KEY_PATH",
    "TEMPORAL_TLS_CLIENT_KEY_DATA",
    "TEMPORAL_TLS_SERVER_CA_CERT_PATH",
    "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
    "TEMPORAL_TLS_SERVER_NAME",
    "TEMPORAL_API_KEY",
];

const API_KEY: &str = "tk-live-3f9a1c7e5b2d8f4a6c0e";

fn repo(ns: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("feeds.yaml"),
        format!(
            "apiVersion: curator.buun.dev/v1alpha1\nkind: CuratorWorker\nmetadata: {{name: curator, namespace: {ns}}}\nspec: {{image: \"w:1\", temporal: {{address: \"unused:7233\"}}}}\n---\napiVersion: curator.buun.dev/v1alpha1\nkind: FeedSource\nmetadata: {{name: hn, namespace: {ns}}}\nspec:\n  workerRef: {{name: curator}}\n  feed: {{id: \"01H\", name: HN, url: \"https://news.ycombinator.com/rss\"}}\n  schedule: {{every: 1h}}\n"
        ),
    )
    .expect("write");
    dir
}

fn sync(dir: &tempfile::TempDir, args: &[&str], env: &[(&str, String)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_curator-operator"));
    c.args([
        "sync",
        "-f",
        dir.path().to_str().expect("utf8"),
        "--retry-timeout",
        "1s",
    ])
    .args(args);
    for v in TEMPORAL_ENV {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run the binary")
}

fn all(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// No line of a PEM file (other than its armour) appears in `text`.
fn assert_no_material(text: &str, pem: &std::path::Path) {
    let pem = std::fs::read_to_string(pem).expect("pem");
    for line in pem
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() > 16)
    {
        assert!(!text.contains(line), "key material in the output: {text}");
    }
    assert!(!text.contains("PRIVATE KEY"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_with_the_temporal_cli_variables_and_flags() {
    let certs = tls_proxy::Certs::new();
    let proxy = tls_proxy::start(&common::shared().address, &certs, true, None).await;
    let p = |n: &str| certs.path(n).display().to_string();
    let dir = repo("mtls");

    // The variables the `temporal` CLI reads.
    let env = [
        ("TEMPORAL_ADDRESS", proxy.address.clone()),
        ("TEMPORAL_TLS_CLIENT_CERT_PATH", p("client.crt")),
        ("TEMPORAL_TLS_CLIENT_KEY_PATH", p("client.key")),
        ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", p("ca.crt")),
        ("TEMPORAL_TLS_SERVER_NAME", "localhost".to_owned()),
    ];
    let out = sync(&dir, &[], &env);
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(
        all(&out).contains("1 feeds: 1 created, 0 failed"),
        "{}",
        all(&out)
    );
    assert_no_material(&all(&out), &certs.path("client.key"));

    // The same with flags, and the CA inline: in sync.
    let out = sync(
        &dir,
        &[
            "--address",
            &proxy.address,
            "--tls-cert-path",
            &p("client.crt"),
            "--tls-key-path",
            &p("client.key"),
            "--tls-server-name",
            "localhost",
        ],
        &[(
            "TEMPORAL_TLS_SERVER_CA_CERT_DATA",
            std::fs::read_to_string(certs.path("ca.crt")).expect("ca"),
        )],
    );
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));

    // Without a client certificate the proxy refuses the handshake: a failure, retried for the
    // retry timeout, that names no key material.
    let out = sync(
        &dir,
        &[
            "--address",
            &proxy.address,
            "--tls-ca-path",
            &p("ca.crt"),
            "--tls-server-name",
            "localhost",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    assert!(all(&out).contains("TemporalUnreachable"), "{}", all(&out));

    // A client key without its certificate is bad input: nothing is sent.
    let out = sync(
        &dir,
        &[
            "--address",
            &proxy.address,
            "--tls-key-path",
            &p("client.key"),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", all(&out));
    assert_no_material(&all(&out), &certs.path("client.key"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_key_is_sent_over_tls_and_never_shown() {
    let certs = tls_proxy::Certs::new();
    let proxy = tls_proxy::start(&common::shared().address, &certs, false, Some(API_KEY)).await;
    let ca = certs.path("ca.crt").display().to_string();
    let dir = repo("apikey");
    let env = |key: &str| {
        vec![
            ("TEMPORAL_ADDRESS", proxy.address.clone()),
            ("TEMPORAL_TLS_SERVER_CA_CERT_PATH", ca.clone()),
            ("TEMPORAL_API_KEY", key.to_owned()),
        ]
    };
    let out = sync(&dir, &[], &env(API_KEY));
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    assert!(!all(&out).contains(API_KEY));

    // A wrong key: refused (Unauthenticated is permanent, so no retries), never echoed.
    let wrong = "tk-live-0000000000000000wrong";
    let out = sync(&dir, &["-o", "json"], &env(wrong));
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));
    assert!(all(&out).contains("TemporalUnauthorized"), "{}", all(&out));
    assert!(
        !all(&out).contains(wrong) && !all(&out).contains(API_KEY),
        "{}",
        all(&out)
    );

    // With --api-key on the command line, and no key at all: refused the same way.
    let out = sync(
        &dir,
        &[
            "--api-key",
            API_KEY,
            "--address",
            &proxy.address,
            "--tls-ca-path",
            &ca,
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", all(&out));
    let out = sync(
        &dir,
        &["--address", &proxy.address, "--tls-ca-path", &ca],
        &[],
    );
    assert_eq!(out.status.code(), Some(1), "{}", all(&out));

    // `--help` does not print the key from the environment.
    let help = Command::new(env!("CARGO_BIN_EXE_curator-operator"))
        .args(["sync", "--help"])
        .env("TEMPORAL_API_KEY", API_KEY)
        .output()
        .expect("help");
    let text = all(&help);
    assert!(
        text.contains("--api-key") && text.contains("TEMPORAL_API_KEY"),
        "{text}"
    );
    assert!(text.contains("TEMPORAL_TLS_CLIENT_CERT_PATH") && text.contains("--tls-ca-path"));
    assert!(!text.contains(API_KEY), "{text}");
}
