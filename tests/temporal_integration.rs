//! The schedule reconcile against a real Temporal dev server (started by the test on a free
//! loopback port). Each test uses its own schedule IDs, so they share one server.

mod common;

use common::wait;
use curator_operator::{
    crd::{FeedSource, GoDuration, feedsource::DeletionPolicy},
    schedule::{
        DesiredSchedule,
        delete::{self, Deleted},
        pages,
        sync::{self, Change, Recorded, SyncError, Synced},
    },
    temporal::{ScheduleApi, grpc::GrpcSchedules},
    testing::counting::Counting,
};

fn desired(test: &str, f: impl FnOnce(&mut FeedSource)) -> DesiredSchedule {
    let mut fs = FeedSource::test("news", test).with_uid(&format!("uid-{test}"));
    f(&mut fs);
    fs.desired(&common::shared().address, "it")
}

async fn api() -> Counting<GrpcSchedules> {
    Counting::new(common::schedules(&common::shared().address).await)
}

fn after(s: &Synced) -> Recorded {
    Recorded {
        fingerprint: s.server_fingerprint.clone(),
        ..Default::default()
    }
}

#[tokio::test]
async fn create_then_no_write_even_with_cron_and_timezone() {
    let api = api().await;
    let d = desired("quiet", |f| {
        f.spec.schedule.every = None;
        f.spec.schedule.cron = vec!["30 7 * * MON-FRI".into(), "@daily".into()];
        f.spec.schedule.timezone = Some("Europe/Berlin".into());
        f.spec.schedule.jitter = Some(GoDuration::new("30s"));
    });
    let first = sync::sync(&api, &d, &Recorded::default())
        .await
        .expect("create");
    assert_eq!(first.change, Change::Created);
    assert!(
        !first
            .described()
            .expect("described")
            .info
            .future_action_times
            .is_empty()
    );
    api.reset();
    for _ in 0..3 {
        let again = sync::sync(&api, &d, &after(&first)).await.expect("resync");
        assert_eq!(again.change, Change::Unchanged);
    }
    assert_eq!(api.writes(), 0, "calls: {:?}", api.snapshot());
    assert_eq!(api.get("DescribeSchedule"), 3, "one describe per reconcile");
}

#[tokio::test]
async fn spec_change_is_applied_and_verified() {
    let api = api().await;
    let d = desired("edit", |_| {});
    let first = sync::sync(&api, &d, &Recorded::default())
        .await
        .expect("create");
    let d2 = desired("edit", |f| {
        f.spec.schedule.every = Some(GoDuration::new("45m"));
        f.spec.feed.fetch_limit = Some(7);
    });
    let r = sync::sync(&api, &d2, &after(&first)).await.expect("update");
    assert_eq!(r.change, Change::Updated);
    let spec = r
        .described()
        .expect("described")
        .schedule
        .spec
        .as_ref()
        .expect("spec");
    assert_eq!(
        spec.interval[0].interval.as_ref().map(|d| d.seconds),
        Some(2700)
    );
    let r2 = sync::sync(&api, &d2, &after(&r)).await.expect("resync");
    assert_eq!(r2.change, Change::Unchanged);
}

#[tokio::test]
async fn drift_made_with_the_cli_is_reverted() {
    let server = common::shared();
    let api = api().await;
    let d = desired("drift", |_| {});
    let first = sync::sync(&api, &d, &Recorded::default())
        .await
        .expect("create");
    common::cli(
        &server.address,
        &[
            "schedule",
            "update",
            "--schedule-id",
            &d.id,
            "--interval",
            "7m",
            "--workflow-id",
            "evil",
            "--task-queue",
            "elsewhere",
            "--type",
            "SingleFeedIngestionWorkflow",
            "--input",
            r#"{"feedId":"evil"}"#,
        ],
    );
    let r = sync::sync(&api, &d, &after(&first)).await;
    let r = match r {
        Ok(r) => r,
        Err(SyncError::Conflict { .. }) => {
            panic!("the CLI update dropped our memo; drift must still be repaired")
        }
        Err(e) => panic!("{e}"),
    };
    assert_eq!(r.change, Change::DriftRepaired);
    assert_eq!(r.server_fingerprint, first.server_fingerprint);
}

#[tokio::test]
async fn deleted_schedule_is_recreated() {
    let server = common::shared();
    let api = api().await;
    let d = desired("recreate", |_| {});
    let first = sync::sync(&api, &d, &Recorded::default())
        .await
        .expect("create");
    common::cli(
        &server.address,
        &["schedule", "delete", "--schedule-id", &d.id],
    );
    let r = sync::sync(&api, &d, &after(&first))
        .await
        .expect("recreate");
    assert_eq!(r.change, Change::DriftRepaired);
    assert!(api.describe(&d.id).await.expect("describe").is_some());
}

#[tokio::test]
async fn a_foreign_pause_is_kept_until_the_generation_changes() {
    let server = common::shared();
    let api = api().await;
    let d = desired("paused", |f| f.spec.schedule.pause_on_failure = true);
    let first = sync::sync(&api, &d, &Recorded::default())
        .await
        .expect("create");
    common::cli(
        &server.address,
        &[
            "schedule",
            "toggle",
            "--schedule-id",
            &d.id,
            "--pause",
            "--reason",
            "paused by a person",
        ],
    );
    api.reset();
    let r = sync::sync(&api, &d, &after(&first)).await.expect("resync");
    assert!(r.held_foreign_pause);
    assert_eq!(api.writes(), 0);
    let state = r
        .described()
        .expect("described")
        .schedule
        .state
        .clone()
        .expect("state");
    assert!(state.paused);
    assert_eq!(state.notes, "paused by a person");
    let lifted = sync::sync(
        &api,
        &d,
        &Recorded {
            generation_changed: true,
            ..after(&first)
        },
    )
    .await
    .expect("new generation");
    assert_eq!(lifted.change, Change::PauseChanged);
    assert!(
        !lifted
            .described()
            .expect("described")
            .schedule
            .state
            .clone()
            .expect("state")
            .paused
    );
}

#[tokio::test]
async fn suspend_pauses_and_resume_unpauses() {
    let api = api().await;
    let d = desired("suspend", |f| f.spec.suspend = true);
    let first = sync::sync(&api, &d, &Recorded::default())
        .await
        .expect("create");
    assert!(
        first
            .described()
            .expect("described")
            .schedule
            .state
            .as_ref()
            .expect("state")
            .paused
    );
    let running = desired("suspend", |_| {});
    let r = sync::sync(
        &api,
        &running,
        &Recorded {
            generation_changed: true,
            ..after(&first)
        },
    )
    .await
    .expect("resume");
    assert_eq!(r.change, Change::PauseChanged);
    assert!(
        !r.described()
            .expect("described")
            .schedule
            .state
            .clone()
            .expect("state")
            .paused
    );
}

#[tokio::test]
async fn run_now_starts_exactly_one_run() {
    let api = api().await;
    let d = desired("runnow", |_| {});
    let first = sync::sync(
        &api,
        &d,
        &Recorded {
            run_now: Some("1".into()),
            ..Default::default()
        },
    )
    .await
    .expect("create + trigger");
    assert!(first.triggered);
    // The controller records the handled value; the next pass carries no run-now.
    sync::sync(&api, &d, &after(&first)).await.expect("resync");
    let mut count = 0;
    let every = std::time::Duration::from_millis(100);
    wait::until(std::time::Duration::from_secs(5), every, async || {
        count = api
            .describe(&d.id)
            .await
            .expect("d")
            .expect("exists")
            .info
            .action_count;
        (count >= 1).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let final_count = api
        .describe(&d.id)
        .await
        .expect("d")
        .expect("exists")
        .info
        .action_count;
    assert_eq!((count, final_count), (1, 1));
}

#[tokio::test]
async fn a_foreign_schedule_is_never_overwritten() {
    let server = common::shared();
    let api = api().await;
    let d = desired("foreign", |_| {});
    common::cli(
        &server.address,
        &[
            "schedule",
            "create",
            "--schedule-id",
            &d.id,
            "--interval",
            "13m",
            "--workflow-id",
            "theirs",
            "--task-queue",
            "theirs",
            "--type",
            "TheirWorkflow",
        ],
    );
    api.reset();
    let err = sync::sync(&api, &d, &Recorded::default())
        .await
        .expect_err("conflict");
    assert!(matches!(err, SyncError::Conflict { .. }), "{err}");
    assert_eq!(api.writes(), 0);
    let theirs = api.describe(&d.id).await.expect("d").expect("exists");
    let spec = theirs.schedule.spec.expect("spec");
    assert_eq!(
        spec.interval[0].interval.as_ref().map(|d| d.seconds),
        Some(780)
    );
}

#[tokio::test]
async fn delete_and_orphan() {
    let api = api().await;
    let d = desired("delete", |_| {});
    sync::sync(&api, &d, &Recorded::default())
        .await
        .expect("create");
    let r = delete::delete(&api, &d.id, &d.owner, DeletionPolicy::Delete)
        .await
        .expect("delete");
    assert_eq!(r, Deleted::Deleted);
    assert!(api.describe(&d.id).await.expect("d").is_none());
    let again = delete::delete(&api, &d.id, &d.owner, DeletionPolicy::Delete)
        .await
        .expect("idempotent");
    assert_eq!(again, Deleted::AlreadyGone);

    let o = desired("orphan", |_| {});
    sync::sync(&api, &o, &Recorded::default())
        .await
        .expect("create");
    let r = delete::delete(&api, &o.id, &o.owner, DeletionPolicy::Orphan)
        .await
        .expect("orphan");
    assert_eq!(r, Deleted::Orphaned);
    let kept = api.describe(&o.id).await.expect("d").expect("kept");
    assert!(kept.memo_info.owner.is_none(), "owner memo cleared");
    assert!(
        !kept.schedule.state.clone().expect("state").paused,
        "orphaned schedule keeps running"
    );
}

#[tokio::test]
async fn a_bad_time_zone_is_a_permanent_error() {
    let api = api().await;
    let d = desired("badtz", |f| {
        f.spec.schedule.cron = vec!["0 * * * *".into()];
        f.spec.schedule.timezone = Some("Mars/Olympus_Mons".into());
    });
    let err = sync::sync(&api, &d, &Recorded::default())
        .await
        .expect_err("rejected");
    assert!(err.is_permanent(), "{err}");
    let d = desired("badcron", |f| {
        f.spec.schedule.cron = vec!["61 25 * * *".into()]
    });
    let err = sync::sync(&api, &d, &Recorded::default())
        .await
        .expect_err("rejected");
    assert!(err.is_permanent(), "{err}");
}

#[tokio::test]
async fn calls_to_a_namespace_are_paced() {
    use curator_operator::temporal::{
        pace::Pacing,
        pool::{Credentials, Pool},
    };
    let server = common::shared();
    // A ceiling of 20 a second: the pace never goes above it, however fast Temporal answers.
    let pool = Pool::new("pacing-test", std::time::Duration::from_secs(10)).with_pacing(
        Pacing::Adaptive {
            ceiling: std::num::NonZeroU32::new(20),
        },
    );
    let a = pool
        .schedules(&server.address, "default", &Credentials::default())
        .await
        .expect("connect");
    let b = pool
        .schedules(&server.address, "default", &Credentials::default())
        .await
        .expect("connect");
    let start = std::time::Instant::now();
    // 60 calls through two handles of one namespace share one budget: 20 at once, then 20/s.
    for i in 0..30 {
        a.describe(&format!("paced-{i}")).await.expect("describe");
        b.describe(&format!("paced-{i}")).await.expect("describe");
    }
    let took = start.elapsed();
    assert!(
        took >= std::time::Duration::from_millis(1900),
        "60 calls at 20/s after a burst of 20 took {took:?}"
    );
}

#[tokio::test]
async fn a_listing_returns_only_the_schedules_under_its_prefix() {
    let server = common::shared();
    let api = api().await;
    let ids = ["listq-a/ns/one", "listq-a/ns/two", "listq-b/ns/one"];
    for id in ids {
        common::cli(
            &server.address,
            &[
                "schedule",
                "create",
                "--schedule-id",
                id,
                "--interval",
                "1h",
                "--task-queue",
                "q",
                "--type",
                "W",
            ],
        );
    }
    // Visibility lags a create a little.
    common::cluster::eventually(
        "every schedule listed",
        std::time::Duration::from_secs(30),
        || async {
            let all = pages::list_all(&api, "", 1000).await.expect("list");
            ids.iter().all(|id| all.contains_key(*id))
        },
    )
    .await;
    // The server itself filters: the page holds nothing outside the prefix.
    let page = api.list("listq-a/", 1000, Vec::new()).await.expect("page");
    let mut listed: Vec<&str> = page.schedules.iter().map(|l| l.id.as_str()).collect();
    listed.sort_unstable();
    assert_eq!(listed, ["listq-a/ns/one", "listq-a/ns/two"]);
    let kept = pages::list_all(&api, "listq-b/", 1000).await.expect("list");
    assert_eq!(kept.keys().collect::<Vec<_>>(), ["listq-b/ns/one"]);
}
