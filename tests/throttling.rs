//! A Temporal namespace over its rate limit answers `ResourceExhausted`: the operator slows down
//! (cutting the pace of the call's budget, each refusal counted in
//! `curator_temporal_throttled_total`) and sends the refused call again at the slower pace,
//! instead of retrying at full rate. Measured on a real dev server whose frontend allows 5 calls
//! per second per namespace.

mod common;

use std::{sync::Arc, time::Duration};

use curator_operator::{
    metrics::Metrics,
    temporal::{
        ScheduleApi, TemporalError,
        pace::Pacing,
        pool::{Credentials, Pool},
    },
};

/// Sends `n` describes, 5 at a time, through `pool`; returns how many were refused with
/// `ResourceExhausted`.
async fn refused(pool: &Pool, address: &str, n: usize) -> usize {
    let api = pool
        .schedules(address, "default", &Credentials::default())
        .await
        .expect("connect");
    let mut refused = 0;
    for batch in 0..n / 5 {
        let calls = (0..5).map(|i| {
            let api = api.clone();
            async move { api.describe(&format!("throttle-{batch}-{i}")).await }
        });
        for r in futures::future::join_all(calls).await {
            if matches!(
                r,
                Err(TemporalError::Rpc {
                    code: tonic::Code::ResourceExhausted,
                    ..
                })
            ) {
                refused += 1;
            }
        }
    }
    refused
}

#[tokio::test]
async fn resource_exhausted_slows_the_namespace_down() {
    let server = common::TemporalServer::start_with(
        common::free_port(),
        tempfile::tempdir().expect("tempdir"),
        &["--dynamic-config-value", "frontend.namespaceRPS=5"],
    );
    let calls = 60;
    // Unpaced, as before: every call goes out at once, whatever the server says.
    let unpaced = Pool::new("throttle-unpaced", Duration::from_secs(10));
    let before = refused(&unpaced, &server.address, calls).await;
    // Let the server's bucket refill.
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Paced, at most 50/s (far above the server's 5/s): the pace adapts to the refusals.
    let metrics = Arc::new(Metrics::default());
    let paced = Pool::new("throttle-paced", Duration::from_secs(10))
        .with_pacing(Pacing::Adaptive {
            ceiling: std::num::NonZeroU32::new(50),
        })
        .with_metrics(metrics.clone());
    let after = refused(&paced, &server.address, calls).await;
    let text = metrics.encode();
    println!("ResourceExhausted answers to {calls} calls: unpaced {before}, adaptive {after}");
    assert!(
        before > calls / 2,
        "the server refuses an unpaced burst: {before}"
    );
    assert!(
        after * 2 <= before,
        "the adaptive pace is refused less than half as often: {after} vs {before}"
    );
    // Describes count against the schedule budget.
    let throttled = text
        .lines()
        .find(|l| {
            l.starts_with("curator_temporal_throttled_total{") && l.contains("budget=\"schedule\"")
        })
        .unwrap_or_else(|| panic!("throttled counter in\n{text}"));
    assert!(!throttled.ends_with(" 0"), "{throttled}");
    let pace: f64 = text
        .lines()
        .find(|l| l.starts_with("curator_temporal_pace_rps{") && l.contains("budget=\"schedule\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .expect("pace gauge");
    assert!(pace < 50.0, "slowed below the configured 50/s: {pace}");
}
