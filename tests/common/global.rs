//! buun-curator's global `ingest-schedule` in a Temporal namespace of a test's own, on a dev
//! server: made as buun-curator makes it, and read back.
#![allow(dead_code)]

use std::time::Duration;

use curator_operator::temporal::{ScheduleApi, grpc::GrpcSchedules, pool::Pool};

/// Creates Temporal namespace `tns` at `address`, waits (at most `limit`) until it is served,
/// and creates `ingest-schedule` there; a client of the namespace.
pub async fn namespace_with_global_schedule(
    address: &str,
    tns: &str,
    limit: Duration,
) -> GrpcSchedules {
    super::cli(
        address,
        &["operator", "namespace", "create", "--namespace", tns],
    );
    let pool = Pool::new("global-test", Duration::from_secs(5));
    // The namespace is served a moment after it is created.
    let api = super::wait::until(limit, Duration::from_millis(200), async || {
        let api = pool
            .schedules(address, tns, &Default::default())
            .await
            .ok()?;
        api.describe("probe").await.ok().map(|_| api)
    })
    .await
    .expect("the namespace is served");
    super::cli(
        address,
        &[
            "schedule",
            "create",
            "--schedule-id",
            "ingest-schedule",
            "--interval",
            "1h",
            "--type",
            "AllFeedsIngestionWorkflow",
            "--task-queue",
            "buun-curator",
            "--namespace",
            tns,
        ],
    );
    api
}

/// Whether `ingest-schedule` is paused, and its note.
pub async fn paused(api: &GrpcSchedules) -> (bool, String) {
    let s = api
        .describe("ingest-schedule")
        .await
        .expect("describe")
        .expect("exists")
        .schedule
        .state
        .unwrap_or_default();
    (s.paused, s.notes)
}
