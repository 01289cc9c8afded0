//! Unit tests of the metrics.

use super::*;

#[test]
fn exposes_every_metric_family() {
    let m = Metrics::default();
    m.reconciled("FeedSource", Duration::from_millis(20), None);
    m.reconciled(
        "FeedSource",
        Duration::from_millis(20),
        Some("TemporalUnreachable"),
    );
    m.temporal_call("DescribeSchedule", "ok", Duration::from_millis(3));
    m.set_managed("a", true);
    m.set_managed("b", true);
    m.set_managed("a", false);
    m.worker_backlog
        .get_or_create(&Worker {
            namespace: "news".into(),
            name: "curator".into(),
        })
        .set(7);
    m.leader.set(1);
    m.in_flight
        .get_or_create(&Kind {
            kind: "FeedSource".into(),
        })
        .set(2);
    m.crd_installed
        .get_or_create(&Crd {
            crd: "feedsources.curator.buun.dev".into(),
        })
        .set(0);
    m.watch_errors
        .get_or_create(&KindReason {
            kind: "FeedSource".into(),
            reason: "NotFound".into(),
        })
        .inc();
    m.feed_run_ended("news", "TimedOut");
    m.feed_succeeded(
        "news",
        "hn",
        jiff::Timestamp::from_second(1_800_000_000).expect("ts"),
    );
    m.feed_succeeded("news", "gone", jiff::Timestamp::UNIX_EPOCH);
    m.forget_feed("news", "gone");
    let text = m.encode();
    assert!(
        !text.contains("name=\"gone\""),
        "a deleted FeedSource's series goes"
    );
    for line in [
        "curator_reconciles_total{kind=\"FeedSource\",result=\"success\"} 1",
        "curator_reconciles_total{kind=\"FeedSource\",result=\"error\"} 1",
        "curator_reconcile_errors_total{kind=\"FeedSource\",reason=\"TemporalUnreachable\"} 1",
        "curator_temporal_requests_total{method=\"DescribeSchedule\",outcome=\"ok\"} 1",
        "curator_schedules_managed 1",
        "curator_worker_backlog{namespace=\"news\",name=\"curator\"} 7",
        "curator_leader 1",
        "curator_reconciles_in_flight{kind=\"FeedSource\"} 2",
        "curator_crd_installed{crd=\"feedsources.curator.buun.dev\"} 0",
        "curator_watch_errors_total{kind=\"FeedSource\",reason=\"NotFound\"} 1",
        "curator_reconcile_duration_seconds_count{kind=\"FeedSource\"} 2",
        "curator_feed_runs_total{namespace=\"news\",outcome=\"TimedOut\"} 1",
        "curator_feed_last_success_timestamp_seconds{namespace=\"news\",name=\"hn\"} 1800000000",
        "curator_temporal_request_duration_seconds_bucket{le=\"0.005\",method=\"DescribeSchedule\"} 1",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
}
