//! Tests of the shared schedule reconcile against the in-memory fake server.

use super::*;
use crate::schedule::pages::{MAX_LIST_PAGES, list_all};
use crate::{
    crd::{GoDuration, feedsource::DeletionPolicy},
    schedule::delete::{Deleted, delete},
    schedule::desired::SUSPEND_NOTE,
    temporal::proto::Action,
    testing::schedules::FakeSchedules,
};

fn desired_with(f: impl FnOnce(&mut FeedSource)) -> DesiredSchedule {
    let mut fs = FeedSource::test("news", "hn")
        .with_uid("uid-1")
        .with_cron(&["0 9 * * *"]);
    f(&mut fs);
    fs.desired("t:7233", "curator")
}

fn desired() -> DesiredSchedule {
    desired_with(|_| {})
}

fn with_fp(fp: &Option<String>) -> Recorded {
    Recorded {
        fingerprint: fp.clone(),
        ..Default::default()
    }
}

#[tokio::test]
async fn creates_then_stays_quiet() {
    let fake = FakeSchedules::default();
    let d = desired();
    let first = sync(&fake, &d, &Recorded::default()).await.expect("sync");
    assert_eq!(first.change, Change::Created);
    assert_eq!(fake.writes(), 1);
    // The server rewrote the cron string, yet the next pass sees no difference.
    let second = sync(&fake, &d, &with_fp(&first.server_fingerprint))
        .await
        .expect("sync");
    assert_eq!(second.change, Change::Unchanged);
    assert_eq!(fake.writes(), 1, "an unchanged resource writes nothing");
    assert_eq!(second.server_fingerprint, first.server_fingerprint);
}

#[tokio::test]
async fn spec_change_updates_and_verifies() {
    let fake = FakeSchedules::default();
    let first = sync(&fake, &desired(), &Recorded::default())
        .await
        .expect("sync");
    let changed = desired_with(|f| f.spec.feed.fetch_limit = Some(50));
    let r = sync(&fake, &changed, &with_fp(&first.server_fingerprint))
        .await
        .expect("sync");
    assert_eq!(r.change, Change::Updated);
    assert_eq!(fake.calls("UpdateSchedule"), 1);
    let stored = fake.get(&changed.id).expect("stored");
    assert_eq!(
        memo::parse(Some(&stored.memo), Some(&stored.schedule))
            .fingerprint
            .as_deref(),
        Some(changed.fingerprint.as_str())
    );
}

#[tokio::test]
async fn drift_in_input_is_reverted() {
    let fake = FakeSchedules::default();
    let d = desired();
    let first = sync(&fake, &d, &Recorded::default()).await.expect("sync");
    fake.edit(&d.id, |s| {
        if let Some(Action::StartWorkflow(wf)) =
            s.schedule.action.as_mut().and_then(|a| a.action.as_mut())
        {
            wf.input.as_mut().expect("input").payloads[0].data = br#"{"feedId":"evil"}"#.to_vec();
        }
    });
    let r = sync(&fake, &d, &with_fp(&first.server_fingerprint))
        .await
        .expect("sync");
    assert_eq!(r.change, Change::DriftRepaired);
    assert_eq!(
        r.server_fingerprint, first.server_fingerprint,
        "back to what was written"
    );
}

#[tokio::test]
async fn deleted_schedule_is_recreated_as_drift() {
    let fake = FakeSchedules::default();
    let d = desired();
    let first = sync(&fake, &d, &Recorded::default()).await.expect("sync");
    fake.schedules.lock().expect("lock").clear();
    let r = sync(&fake, &d, &with_fp(&first.server_fingerprint))
        .await
        .expect("sync");
    assert_eq!(r.change, Change::DriftRepaired);
    assert!(fake.get(&d.id).is_some());
}

#[tokio::test]
async fn foreign_or_unowned_schedules_are_never_overwritten() {
    for memo in [
        Memo::default(),
        memo::schedule_memo(&memo::Owner {
            namespace: "news".into(),
            name: "hn".into(),
            uid: "someone-else".into(),
            operator: "op".into(),
        }),
    ] {
        let fake = FakeSchedules::default();
        let d = desired();
        fake.create(&d.id, Default::default(), memo)
            .await
            .expect("create");
        let err = sync(&fake, &d, &Recorded::default())
            .await
            .expect_err("conflict");
        assert!(matches!(err, SyncError::Conflict { .. }));
        assert!(err.is_permanent());
        assert_eq!(err.reason(), "ScheduleConflict");
        assert_eq!(fake.writes(), 1, "only the test's own create");
    }
}

#[tokio::test]
async fn own_schedule_is_adopted_without_writing() {
    let fake = FakeSchedules::default();
    let d = desired();
    sync(&fake, &d, &Recorded::default()).await.expect("sync");
    // A restart lost the status: no recorded fingerprint, same owner UID.
    let r = sync(&fake, &d, &Recorded::default()).await.expect("sync");
    assert_eq!(r.change, Change::Unchanged);
    assert_eq!(fake.writes(), 1);
    assert_eq!(
        r.server_fingerprint,
        Some(fingerprint::of(&fake.get(&d.id).expect("s").schedule))
    );
}

#[tokio::test]
async fn suspend_and_resume_are_patches() {
    let fake = FakeSchedules::default();
    let first = sync(&fake, &desired(), &Recorded::default())
        .await
        .expect("sync");
    let suspended = desired_with(|f| f.spec.suspend = true);
    let fp = with_fp(&first.server_fingerprint);
    let r = sync(
        &fake,
        &suspended,
        &Recorded {
            generation_changed: true,
            ..fp.clone()
        },
    )
    .await
    .expect("sync");
    assert_eq!(r.change, Change::PauseChanged);
    assert_eq!(fake.calls("UpdateSchedule"), 0, "pausing needs no update");
    let state = fake
        .get(&suspended.id)
        .expect("s")
        .schedule
        .state
        .expect("state");
    assert!(state.paused);
    assert_eq!(state.notes, SUSPEND_NOTE);
    let r = sync(
        &fake,
        &desired(),
        &Recorded {
            generation_changed: true,
            ..fp
        },
    )
    .await
    .expect("sync");
    assert_eq!(r.change, Change::PauseChanged);
    assert!(
        !fake
            .get(&suspended.id)
            .expect("s")
            .schedule
            .state
            .expect("state")
            .paused
    );
}

#[tokio::test]
async fn a_pause_made_by_temporal_is_kept_until_the_spec_changes() {
    let fake = FakeSchedules::default();
    let d = desired();
    let first = sync(&fake, &d, &Recorded::default()).await.expect("sync");
    let note = "Paused due to workflow failure";
    fake.edit(&d.id, |s| {
        let st = s.schedule.state.get_or_insert_with(Default::default);
        st.paused = true;
        st.notes = note.into();
    });
    let fp = first.server_fingerprint.clone();
    let r = sync(&fake, &d, &with_fp(&fp)).await.expect("sync");
    assert_eq!(r.change, Change::Unchanged);
    assert!(r.held_foreign_pause);
    assert_eq!(fake.writes(), 1);
    // Drift repair while paused carries the pause over.
    fake.edit(&d.id, |s| {
        s.schedule.policies.as_mut().expect("p").catchup_window = None
    });
    let r = sync(&fake, &d, &with_fp(&fp)).await.expect("sync");
    assert_eq!(r.change, Change::DriftRepaired);
    let st = fake.get(&d.id).expect("s").schedule.state.expect("state");
    assert!(
        st.paused && st.notes == note,
        "update must not unpause: {st:?}"
    );
    // A new generation lifts it.
    let r = sync(
        &fake,
        &d,
        &Recorded {
            fingerprint: fp,
            generation_changed: true,
            ..Default::default()
        },
    )
    .await
    .expect("sync");
    assert_eq!(r.change, Change::PauseChanged);
    assert!(!r.held_foreign_pause);
    assert!(
        !fake
            .get(&d.id)
            .expect("s")
            .schedule
            .state
            .expect("state")
            .paused
    );
}

/// A server on which someone else writes between our describe and our update.
struct Racing(FakeSchedules);

impl ScheduleApi for Racing {
    async fn describe(&self, id: &str) -> Result<Option<Described>, TemporalError> {
        self.0.describe(id).await
    }
    async fn create(&self, id: &str, s: Schedule, m: Memo) -> Result<bool, TemporalError> {
        self.0.create(id, s, m).await
    }
    async fn update(&self, id: &str, s: Schedule, t: Vec<u8>) -> Result<(), TemporalError> {
        self.0.edit(id, |_| {});
        self.0.update(id, s, t).await
    }
    async fn patch(&self, id: &str, p: SchedulePatch, r: String) -> Result<(), TemporalError> {
        self.0.patch(id, p, r).await
    }
    async fn list(
        &self,
        p: &str,
        n: i32,
        t: Vec<u8>,
    ) -> Result<crate::temporal::ListPage, TemporalError> {
        self.0.list(p, n, t).await
    }
    async fn delete(&self, id: &str) -> Result<bool, TemporalError> {
        self.0.delete(id).await
    }
}

use crate::temporal::proto::{Memo, Schedule};

#[tokio::test]
async fn an_update_dropped_for_a_stale_token_is_detected() {
    let racing = Racing(FakeSchedules {
        drop_stale_updates: true,
        ..Default::default()
    });
    let first = sync(&racing, &desired(), &Recorded::default())
        .await
        .expect("sync");
    let changed = desired_with(|f| f.spec.schedule.every = Some(GoDuration::new("2h")));
    let err = sync(&racing, &changed, &with_fp(&first.server_fingerprint))
        .await
        .expect_err("lost update");
    assert!(matches!(
        err,
        SyncError::Temporal(TemporalError::UpdateLost)
    ));
    assert!(!err.is_permanent(), "retried with backoff");
}

#[tokio::test]
async fn run_now_triggers_once_per_call() {
    let fake = FakeSchedules::default();
    let d = desired();
    let r = sync(
        &fake,
        &d,
        &Recorded {
            run_now: Some("v1".into()),
            ..Default::default()
        },
    )
    .await
    .expect("sync");
    assert!(r.triggered);
    assert_eq!(fake.get(&d.id).expect("s").triggered, 1);
    let r = sync(&fake, &d, &with_fp(&r.server_fingerprint))
        .await
        .expect("sync");
    assert!(!r.triggered);
    assert_eq!(fake.get(&d.id).expect("s").triggered, 1);
}

#[tokio::test]
async fn delete_and_orphan_respect_ownership() {
    let d = desired();
    let fake = FakeSchedules::default();
    assert_eq!(
        delete(&fake, &d.id, &d.owner, DeletionPolicy::Delete)
            .await
            .expect("ok"),
        Deleted::AlreadyGone
    );
    sync(&fake, &d, &Recorded::default()).await.expect("sync");
    let mut stranger = d.owner.clone();
    stranger.uid = "other".into();
    assert_eq!(
        delete(&fake, &d.id, &stranger, DeletionPolicy::Delete)
            .await
            .expect("ok"),
        Deleted::NotOwned
    );
    assert!(fake.get(&d.id).is_some());
    assert_eq!(
        delete(&fake, &d.id, &d.owner, DeletionPolicy::Orphan)
            .await
            .expect("ok"),
        Deleted::Orphaned
    );
    let kept = fake.get(&d.id).expect("orphan keeps the schedule");
    assert_eq!(
        memo::parse(Some(&kept.memo), Some(&kept.schedule)),
        memo::MemoInfo::default()
    );
    // Once orphaned it is no longer ours: a second cleanup leaves it alone.
    assert_eq!(
        delete(&fake, &d.id, &d.owner, DeletionPolicy::Delete)
            .await
            .expect("ok"),
        Deleted::NotOwned
    );

    let fake = FakeSchedules::default();
    sync(&fake, &d, &Recorded::default()).await.expect("sync");
    assert_eq!(
        delete(&fake, &d.id, &d.owner, DeletionPolicy::Delete)
            .await
            .expect("ok"),
        Deleted::Deleted
    );
    assert!(fake.get(&d.id).is_none());
}

#[tokio::test]
async fn a_new_resource_is_created_with_a_single_call() {
    let fake = FakeSchedules::default();
    let d = desired();
    let r = sync(
        &fake,
        &d,
        &Recorded {
            expect_missing: true,
            ..Default::default()
        },
    )
    .await
    .expect("sync");
    assert_eq!(r.change, Change::Created);
    assert_eq!(
        (fake.calls("CreateSchedule"), fake.calls("DescribeSchedule")),
        (1, 0)
    );
    assert_eq!(r.server_fingerprint, None, "read later, from the listing");
    // Expected missing but there: falls back to describe and plans against it.
    let again = sync(
        &fake,
        &d,
        &Recorded {
            expect_missing: true,
            ..Default::default()
        },
    )
    .await
    .expect("sync");
    assert_eq!(again.change, Change::Unchanged);
    assert_eq!(fake.calls("CreateSchedule"), 2);
    assert!(again.server_fingerprint.is_some());
}

#[tokio::test]
async fn temporal_outage_is_transient() {
    let fake = FakeSchedules::default();
    *fake.fail_with.lock().expect("lock") = Some(TemporalError::Connect {
        address: "t:7233".into(),
        message: "connection refused".into(),
    });
    let err = sync(&fake, &desired(), &Recorded::default())
        .await
        .expect_err("down");
    assert!(!err.is_permanent());
    assert_eq!(err.reason(), "TemporalUnreachable");
}

/// A server whose listing never ends: every page names a next one.
struct EndlessListing(std::sync::atomic::AtomicUsize);

impl ScheduleApi for EndlessListing {
    async fn describe(&self, _: &str) -> Result<Option<Described>, TemporalError> {
        Ok(None)
    }
    async fn create(&self, _: &str, _: Schedule, _: Memo) -> Result<bool, TemporalError> {
        Ok(true)
    }
    async fn update(&self, _: &str, _: Schedule, _: Vec<u8>) -> Result<(), TemporalError> {
        Ok(())
    }
    async fn patch(&self, _: &str, _: SchedulePatch, _: String) -> Result<(), TemporalError> {
        Ok(())
    }
    async fn list(
        &self,
        _: &str,
        _: i32,
        _: Vec<u8>,
    ) -> Result<crate::temporal::ListPage, TemporalError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(crate::temporal::ListPage {
            schedules: Vec::new(),
            next_page_token: b"more".to_vec(),
        })
    }
    async fn delete(&self, _: &str) -> Result<bool, TemporalError> {
        Ok(false)
    }
}

#[tokio::test]
async fn an_endless_listing_is_abandoned_after_the_page_cap() {
    let api = EndlessListing(Default::default());
    let err = list_all(&api, "", 10).await.expect_err("abandoned");
    assert!(matches!(err, TemporalError::ListingTooLong(MAX_LIST_PAGES)));
    assert_eq!(
        api.0.load(std::sync::atomic::Ordering::Relaxed),
        MAX_LIST_PAGES
    );
}

#[test]
fn a_conflict_is_not_retried() {
    use crate::runtime::retry::Transient;
    let conflict = SyncError::Conflict {
        id: "a".into(),
        owner: "b".into(),
    };
    assert!(!conflict.is_transient());
}
