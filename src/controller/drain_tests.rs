use super::*;
use std::time::Duration;

#[tokio::test]
async fn counts_reconciles_and_starts_none_once_stopping() {
    let metrics = Arc::new(Metrics::default());
    let drain = Drain::new(metrics.clone());
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(drain.reconcile("FeedSource", "ns/a".into(), async {
        let _ = released.await;
        Ok::<_, std::convert::Infallible>(Action::requeue(Duration::from_secs(1)))
    }));
    assert_eq!(drain.in_flight(), 1, "counted from the moment it is made");
    assert!(
        metrics
            .encode()
            .contains("curator_reconciles_in_flight{kind=\"FeedSource\"} 1")
    );
    drain.stop();
    let skipped = drain
        .reconcile("FeedSource", "ns/b".into(), async {
            panic!("a reconcile ran after stop");
            #[allow(unreachable_code)]
            Ok::<_, std::convert::Infallible>(Action::await_change())
        })
        .await;
    assert_eq!(skipped.ok(), Some(Action::await_change()));
    let idle = tokio::spawn({
        let d = drain.clone();
        async move { d.idle().await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!idle.is_finished(), "one reconcile is still in flight");
    let _ = release.send(());
    let done = running.await.expect("join");
    assert_eq!(done.ok(), Some(Action::requeue(Duration::from_secs(1))));
    tokio::time::timeout(Duration::from_secs(1), idle)
        .await
        .expect("idle once it ended")
        .expect("join");
    assert_eq!(drain.in_flight(), 0);
}

#[tokio::test]
async fn a_cancelled_reconcile_is_counted_out() {
    let drain = Drain::new(Arc::default());
    let pending = drain.reconcile("CuratorWorker", "ns/w".into(), async {
        std::future::pending::<Result<Action, std::convert::Infallible>>().await
    });
    assert_eq!(drain.in_flight(), 1);
    drop(pending);
    assert_eq!(drain.in_flight(), 0);
    assert!(drain.oldest().is_none());
}

#[tokio::test(start_paused = true)]
async fn a_reconcile_running_past_the_limit_is_a_stall() {
    let drain = Drain::new(Arc::default());
    let limit = Duration::from_secs(300);
    assert_eq!(drain.stalled(limit), None, "nothing in flight");
    let _stuck = drain.reconcile("FeedSource", "news/hn".into(), async {
        std::future::pending::<Result<Action, std::convert::Infallible>>().await
    });
    tokio::time::advance(Duration::from_secs(200)).await;
    let _young = drain.reconcile("FeedSource", "news/lobsters".into(), async {
        std::future::pending::<Result<Action, std::convert::Infallible>>().await
    });
    assert_eq!(drain.stalled(limit), None, "200 s is within the limit");
    tokio::time::advance(Duration::from_secs(101)).await;
    assert_eq!(
        drain.stalled(limit).as_deref(),
        Some("the reconcile of FeedSource news/hn has been running for 301.0s (limit 300s)")
    );
    drop(_stuck);
    assert_eq!(drain.stalled(limit), None, "the stuck one ended");
}

#[tokio::test]
async fn a_reconcile_over_its_share_does_nothing_and_its_object_is_called_back() {
    use futures::StreamExt as _;
    let metrics = Arc::new(Metrics::default());
    let drain = Drain::with_slots(metrics.clone(), 2);
    let mut called = Box::pin(drain.callbacks::<crate::crd::FeedSource>("FeedSource"));
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let greedy = tokio::spawn(drain.reconcile("FeedSource", "a/1".into(), async {
        let _ = released.await;
        Ok::<_, std::convert::Infallible>(Action::requeue(Duration::from_secs(1)))
    }));
    let put_off = drain
        .reconcile("FeedSource", "a/2".into(), async {
            panic!("a reconcile over its share ran");
            #[allow(unreachable_code)]
            Ok::<_, std::convert::Infallible>(Action::await_change())
        })
        .await;
    assert_eq!(put_off.ok(), Some(Action::await_change()));
    assert_eq!(drain.in_flight(), 1, "only a/1 runs");
    let text = metrics.encode();
    assert!(
        text.contains("curator_reconciles_waiting{kind=\"FeedSource\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("curator_reconciles_deferred_total{kind=\"FeedSource\"} 1"),
        "{text}"
    );
    let other = drain.reconcile("FeedSource", "b/1".into(), async {
        Ok::<_, std::convert::Infallible>(Action::await_change())
    });
    assert_eq!(drain.in_flight(), 2, "another namespace starts at once");
    let _ = release.send(());
    greedy.await.expect("join").expect("reconciled");
    let back = tokio::time::timeout(Duration::from_secs(1), called.next())
        .await
        .expect("called back")
        .expect("an object");
    assert_eq!(
        (back.namespace.as_deref(), back.name.as_str()),
        (Some("a"), "2")
    );
    let ran = drain
        .reconcile("FeedSource", "a/2".into(), async {
            Ok::<_, std::convert::Infallible>(Action::requeue(Duration::from_secs(5)))
        })
        .await;
    assert_eq!(
        ran.ok(),
        Some(Action::requeue(Duration::from_secs(5))),
        "its slot was kept"
    );
    assert!(
        metrics
            .encode()
            .contains("curator_reconciles_waiting{kind=\"FeedSource\"} 0")
    );
    drop(other);
}

#[tokio::test]
async fn without_the_fair_share_nothing_is_called_back() {
    use futures::StreamExt as _;
    let drain = Drain::new(Arc::default());
    let mut called = Box::pin(drain.callbacks::<crate::crd::FeedSource>("FeedSource"));
    assert!(called.next().await.is_none());
}
