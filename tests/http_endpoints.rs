//! `/livez`, `/readyz` and `/metrics` answer over a real TCP connection.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use curator_operator::{
    http::{self, AppState, ControllerReport, Health},
    metrics::Metrics,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.expect("read");
    let status = buf
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .expect("status line");
    let body = buf.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    (status, body)
}

#[tokio::test]
async fn health_and_metrics_endpoints_answer() {
    let health = Arc::new(Health::default());
    let metrics = Arc::new(Metrics::default());
    metrics.reconciled("FeedSource", Duration::from_millis(12), None);
    metrics.temporal_call("CreateSchedule", "ok", Duration::from_millis(4));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(http::serve(
        listener,
        AppState {
            health: health.clone(),
            metrics: metrics.clone(),
        },
        async {
            let _ = stop_rx.await;
        },
    ));

    assert_eq!(get(addr, "/livez").await.0, 200);
    assert_eq!(
        get(addr, "/readyz").await.0,
        200,
        "a standby is ready to take over"
    );
    health.leader.store(true, Ordering::SeqCst);
    metrics.leader.set(1);
    let (code, body) = get(addr, "/readyz").await;
    assert_eq!((code, body.as_str()), (503, "caches not synced\n"));
    health.report(ControllerReport {
        synced: true,
        notes: vec!["CRD feedsources.curator.buun.dev is not installed".into()],
    });
    assert_eq!(
        get(addr, "/readyz").await,
        (
            200,
            "ok\nCRD feedsources.curator.buun.dev is not installed\n".into()
        )
    );
    health.stopping.store(true, Ordering::SeqCst);
    assert_eq!(get(addr, "/readyz").await, (503, "shutting down\n".into()));

    let (code, body) = get(addr, "/metrics").await;
    assert_eq!(code, 200);
    for want in [
        "curator_leader 1",
        "curator_reconciles_total{kind=\"FeedSource\",result=\"success\"} 1",
        "curator_temporal_requests_total{method=\"CreateSchedule\",outcome=\"ok\"} 1",
        "# TYPE curator_reconcile_duration_seconds histogram",
    ] {
        assert!(body.contains(want), "missing {want:?} in\n{body}");
    }
    assert_eq!(get(addr, "/nope").await.0, 404);
    let _ = stop_tx.send(());
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("stops")
        .expect("join")
        .expect("serve");
}
