use super::*;
use std::time::Duration;

#[tokio::test]
async fn counts_reconciles_and_starts_none_once_stopping() {
    let metrics = Arc::new(Metrics::default());
    let drain = Drain::new(metrics.clone());
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(drain.reconcile("FeedSource", "ns/a".into(), || {
        Some(async {
            let _ = released.await;
            Ok::<_, std::convert::Infallible>(Action::requeue(Duration::from_secs(1)))
        })
    }));
    assert_eq!(drain.in_flight(), 1, "counted from the moment it is made");
    assert!(
        metrics
            .encode()
            .contains("curator_reconciles_in_flight{kind=\"FeedSource\"} 1")
    );
    drain.stop();
    let skipped = drain
        .reconcile("FeedSource", "ns/b".into(), || {
            Some(async {
                panic!("a reconcile ran after stop");
                #[allow(unreachable_code)]
                Ok::<_, std::convert::Infallible>(Action::await_change())
            })
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
    let pending = drain.reconcile("CuratorWorker", "ns/w".into(), || {
        Some(async { std::future::pending::<Result<Action, std::convert::Infallible>>().await })
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
    let _stuck = drain.reconcile("FeedSource", "news/hn".into(), || {
        Some(async { std::future::pending::<Result<Action, std::convert::Infallible>>().await })
    });
    tokio::time::advance(Duration::from_secs(200)).await;
    let _young = drain.reconcile("FeedSource", "news/lobsters".into(), || {
        Some(async { std::future::pending::<Result<Action, std::convert::Infallible>>().await })
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

/// A boxed reconcile.
type Boxed =
    std::pin::Pin<Box<dyn Future<Output = Result<Action, std::convert::Infallible>> + Send>>;

/// A reconcile that waits for `rx`, then asks to come back in a second.
fn until(
    rx: tokio::sync::oneshot::Receiver<()>,
) -> impl FnOnce() -> Option<Boxed> + Send + 'static {
    move || {
        Some(Box::pin(async move {
            let _ = rx.await;
            Ok(Action::requeue(Duration::from_secs(1)))
        }) as _)
    }
}

#[tokio::test]
async fn a_reconcile_over_its_share_waits_unmade_and_starts_when_a_slot_is_given_back() {
    let metrics = Arc::new(Metrics::default());
    let drain = Drain::with_slots(metrics.clone(), 2);
    let (release, released) = tokio::sync::oneshot::channel();
    let greedy = tokio::spawn(drain.reconcile("FeedSource", "a/1".into(), until(released)));
    let made = Arc::new(AtomicBool::new(false));
    let waiting = tokio::spawn(drain.reconcile("FeedSource", "a/2".into(), {
        let made = made.clone();
        move || {
            made.store(true, Ordering::SeqCst);
            Some(async { Ok::<_, std::convert::Infallible>(Action::await_change()) })
        }
    }));
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!made.load(Ordering::SeqCst), "not made before its slot");
    assert_eq!(drain.in_flight(), 1, "a waiting reconcile is not in flight");
    let text = metrics.encode();
    assert!(
        text.contains("curator_reconciles_waiting{kind=\"FeedSource\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("curator_reconciles_deferred_total{kind=\"FeedSource\"} 1"),
        "{text}"
    );
    let (_keep, never) = tokio::sync::oneshot::channel();
    let other = drain.reconcile("FeedSource", "b/1".into(), until(never));
    assert_eq!(drain.in_flight(), 2, "another namespace starts at once");
    let _ = release.send(());
    assert_eq!(
        greedy.await.expect("join").ok(),
        Some(Action::requeue(Duration::from_secs(1)))
    );
    assert_eq!(
        waiting.await.expect("join").ok(),
        Some(Action::await_change())
    );
    assert!(made.load(Ordering::SeqCst));
    assert!(
        metrics
            .encode()
            .contains("curator_reconciles_waiting{kind=\"FeedSource\"} 0")
    );
    drop(other);
}

#[tokio::test]
async fn stopping_ends_the_reconciles_that_wait_for_a_slot() {
    let drain = Drain::with_slots(Arc::default(), 2);
    let (_keep, never) = tokio::sync::oneshot::channel();
    let _running = drain.reconcile("FeedSource", "a/1".into(), until(never));
    let (_keep2, never2) = tokio::sync::oneshot::channel();
    let waiting = drain.reconcile("FeedSource", "a/2".into(), until(never2));
    drain.stop();
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .expect("ended at once")
            .ok(),
        Some(Action::await_change())
    );
}

#[tokio::test]
async fn a_reconcile_of_an_object_gone_meanwhile_does_nothing() {
    let drain = Drain::new(Arc::default());
    let done = drain
        .reconcile("FeedSource", "a/gone".into(), || {
            None::<std::future::Ready<Result<Action, std::convert::Infallible>>>
        })
        .await;
    assert_eq!(done.ok(), Some(Action::await_change()));
    assert_eq!(drain.in_flight(), 0);
}

#[tokio::test]
async fn a_reconcile_waiting_for_its_slot_is_small_whatever_the_reconcile_holds() {
    let drain = Drain::with_slots(Arc::default(), 64);
    let big = || {
        Some(async {
            let state = [7u8; 16 * 1024];
            tokio::task::yield_now().await;
            Ok::<_, std::convert::Infallible>(Action::requeue(Duration::from_secs(u64::from(
                state[100],
            ))))
        })
    };
    let waiting = drain.reconcile("FeedSource", "a/1".into(), big);
    assert!(
        std::mem::size_of_val(&waiting) < 1024,
        "{} bytes: 10,000 queued reconciles would hold 10,000 reconciles' state",
        std::mem::size_of_val(&waiting)
    );
    assert_eq!(
        waiting.await.ok(),
        Some(Action::requeue(Duration::from_secs(7)))
    );
}
