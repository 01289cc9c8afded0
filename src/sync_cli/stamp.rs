//! What `sync` keeps on the schedule itself, since it has no status: the fingerprint of the
//! schedule it last wrote, in the notes of the schedule's state (`curator-operator sync:
//! <fingerprint>`). The notes are the one field a schedule listing shows that every write
//! replaces (Temporal 1.32 refuses to update the memo of a workflow-backed schedule, and the
//! action's memo, where the controller keeps the fingerprint, is not listed). So one listing
//! tells, per schedule, which declaration `sync` wrote last; a listed spec equal to the
//! predicted server form then shows nobody edited it since.
//!
//! Notes belong to the pause: a paused schedule keeps its notes (the operator's suspend note,
//! or a person's or Temporal's reason), carries no stamp, and is described on every run.

use std::sync::Mutex;

use crate::temporal::{
    Described, ListPage, ScheduleApi, TemporalError,
    proto::{Memo, Schedule, SchedulePatch},
};

/// How the notes of a stamped schedule start.
pub const PREFIX: &str = "curator-operator sync: ";

/// The notes that record `fingerprint`.
pub fn notes(fingerprint: &str) -> String {
    format!("{PREFIX}{fingerprint}")
}

/// The fingerprint recorded in `notes`, if they are a stamp.
pub fn fingerprint(notes: &str) -> Option<&str> {
    notes.strip_prefix(PREFIX).filter(|f| !f.is_empty())
}

/// A request ID of its own for every patch: Temporal drops a patch whose ID it has seen on
/// the schedule before, so a second pause (or unpause) with a derived ID would be lost.
pub fn request_id(kind: &str) -> String {
    crate::runtime::request_id(&format!("sync-{kind}"))
}

/// A [`ScheduleApi`] for one feed that stamps every unpaused state the shared reconcile writes
/// (update, unpause) with the feed's fingerprint, so the stamp changes in the same call as the
/// schedule, and remembers the first describe (the schedule before any write, for the list of
/// changed fields).
pub struct Stamped<'a, A> {
    inner: &'a A,
    notes: String,
    first: Mutex<Option<Option<Described>>>,
    create_lost: Mutex<bool>,
}

impl<'a, A> Stamped<'a, A> {
    /// Stamps with `fingerprint` what goes through to `inner`.
    pub fn new(inner: &'a A, fingerprint: &str) -> Self {
        Self {
            inner,
            notes: notes(fingerprint),
            first: Mutex::new(None),
            create_lost: Mutex::new(false),
        }
    }

    /// The schedule as the first describe found it (`Some(None)`: it did not exist).
    pub fn first_described(&self) -> Option<Option<Described>> {
        self.first.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Whether a create failed without an answer (it may have succeeded all the same).
    pub fn create_lost(&self) -> bool {
        *self.create_lost.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stamp(&self, schedule: &mut Schedule) {
        if let Some(state) = schedule.state.as_mut()
            && !state.paused
        {
            state.notes.clone_from(&self.notes);
        }
    }
}

impl<A: ScheduleApi> ScheduleApi for Stamped<'_, A> {
    async fn describe(&self, id: &str) -> Result<Option<Described>, TemporalError> {
        let d = self.inner.describe(id).await?;
        let mut first = self.first.lock().unwrap_or_else(|p| p.into_inner());
        if first.is_none() {
            *first = Some(d.clone());
        }
        Ok(d)
    }

    async fn create(&self, id: &str, mut s: Schedule, m: Memo) -> Result<bool, TemporalError> {
        self.stamp(&mut s);
        let r = self.inner.create(id, s, m).await;
        if r.is_err() {
            *self.create_lost.lock().unwrap_or_else(|p| p.into_inner()) = true;
        }
        r
    }

    async fn update(&self, id: &str, mut s: Schedule, t: Vec<u8>) -> Result<(), TemporalError> {
        self.stamp(&mut s);
        self.inner.update(id, s, t).await
    }

    async fn patch(&self, id: &str, mut p: SchedulePatch, _: String) -> Result<(), TemporalError> {
        // An unpause is only planned when the schedule is otherwise as declared.
        if !p.unpause.is_empty() {
            p.unpause.clone_from(&self.notes);
        }
        self.inner.patch(id, p, request_id("patch")).await
    }

    async fn list(&self, p: &str, n: i32, t: Vec<u8>) -> Result<ListPage, TemporalError> {
        self.inner.list(p, n, t).await
    }

    async fn delete(&self, id: &str) -> Result<bool, TemporalError> {
        self.inner.delete(id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        crd::FeedSource,
        schedule::{
            desired::SUSPEND_NOTE,
            sync::{Change, Recorded, sync},
        },
        testing::schedules::FakeSchedules,
    };

    fn notes_of(fake: &FakeSchedules, id: &str) -> String {
        let s = fake.get(id).expect("stored");
        s.schedule.state.unwrap_or_default().notes
    }

    #[tokio::test]
    async fn every_unpaused_write_carries_the_stamp_and_paused_ones_keep_their_notes() {
        let fake = FakeSchedules::default();
        let d = FeedSource::test("news", "hn")
            .with_uid("")
            .desired("t:1", "c");
        let api = Stamped::new(&fake, &d.fingerprint);
        let created = sync(&api, &d, &Recorded::default()).await.expect("create");
        assert_eq!(created.change, Change::Created);
        assert_eq!(
            fingerprint(&notes_of(&fake, &d.id)),
            Some(d.fingerprint.as_str())
        );

        let mut fs = FeedSource::test("news", "hn").with_uid("");
        fs.spec.feed.fetch_limit = Some(3);
        let d2 = fs.desired("t:1", "c");
        let api = Stamped::new(&fake, &d2.fingerprint);
        let updated = sync(&api, &d2, &Recorded::default()).await.expect("update");
        assert_eq!(updated.change, Change::Updated);
        assert_eq!(
            fingerprint(&notes_of(&fake, &d.id)),
            Some(d2.fingerprint.as_str())
        );
        let before = api
            .first_described()
            .flatten()
            .expect("described before the update");
        assert_eq!(
            before.memo_info.fingerprint.as_deref(),
            Some(d.fingerprint.as_str())
        );

        let d3 = fs.clone().suspended().desired("t:1", "c");
        let api = Stamped::new(&fake, &d3.fingerprint);
        sync(&api, &d3, &Recorded::default())
            .await
            .expect("suspend");
        assert_eq!(
            notes_of(&fake, &d.id),
            SUSPEND_NOTE,
            "a pause keeps its note"
        );

        let api = Stamped::new(&fake, &d2.fingerprint);
        let resumed = sync(&api, &d2, &Recorded::default()).await.expect("resume");
        assert_eq!(resumed.change, Change::PauseChanged);
        assert_eq!(
            fingerprint(&notes_of(&fake, &d.id)),
            Some(d2.fingerprint.as_str())
        );
    }

    #[test]
    fn only_stamps_read_as_fingerprints() {
        assert_eq!(fingerprint(&notes("abc")), Some("abc"));
        assert_eq!(fingerprint(PREFIX), None);
        assert_eq!(fingerprint(""), None);
        assert_eq!(fingerprint("paused by hand"), None);
    }
}
