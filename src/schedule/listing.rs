//! PURE: the cheap resync. One schedule listing per Temporal namespace (a page per thousand
//! schedules) shows each schedule's owner, spec and pause state; when that is exactly what the
//! operator left, no describe is needed. The listing shows neither the action nor the run
//! count, so every schedule is still described in full from time to time.

pub use super::listed::{Entry, Listing};
use super::{
    desired::DesiredSchedule,
    plan::pause_decision,
    sync::{Change, Seen, Synced},
};
use crate::{
    crd::{FeedSourceStatus, fingerprint::Fingerprint},
    temporal::{Listed, proto::ScheduleState},
};

/// PURE: a listing entry as the controller caches it, by ID; `None` for a schedule whose ID
/// does not start with `listing_prefix` ([`super::desired::listing_prefix`]: not the
/// operator's, no FeedSource asks for it).
pub fn compact(listing_prefix: &str, listed: Listed) -> Option<(String, Entry)> {
    if !listed.id.starts_with(listing_prefix) {
        return None;
    }
    let entry = Entry::of(&listed);
    Some((listed.id, entry))
}

/// PURE: whether the cheap schedule listing shows the schedule as the operator left it, so that
/// no describe is needed. Returns the spec fingerprint to record (the listed one), or `None` when
/// a full describe must decide.
///
/// `recorded_spec` is the spec fingerprint recorded after the last full read (absent right after
/// a create, when the listed one is adopted because the operator just wrote it).
pub fn listed_in_sync(
    desired: &DesiredSchedule,
    recorded_desired: Option<&Fingerprint>,
    recorded_spec: Option<&Fingerprint>,
    listed: Option<&Entry>,
) -> Option<String> {
    let listed = listed?;
    if !recorded_desired.is_some_and(|f| f.is(&desired.fingerprint)) {
        return None;
    }
    if !listed
        .owner
        .as_ref()
        .is_some_and(|o| o.same_resource(&desired.owner))
    {
        return None;
    }
    if recorded_spec.is_some_and(|r| *r != Fingerprint::Sha256(listed.spec_fingerprint)) {
        return None;
    }
    let state = ScheduleState {
        paused: listed.paused,
        notes: listed.notes.to_string(),
        ..Default::default()
    };
    if pause_decision(desired, Some(&state), false).paused != listed.paused {
        return None;
    }
    Some(listed.spec_fingerprint_hex())
}

/// PURE: what a resync learns from the listing alone: the schedule is as the operator left it
/// (`status` records the operator's last full read). `None`: a describe must decide.
pub fn synced(
    desired: &DesiredSchedule,
    status: &FeedSourceStatus,
    listed: &Entry,
) -> Option<Synced> {
    let spec_fingerprint = listed_in_sync(
        desired,
        status.desired_fingerprint.as_ref(),
        status.observed_spec_fingerprint.as_ref(),
        Some(listed),
    )?;
    let state = ScheduleState {
        paused: listed.paused,
        notes: listed.notes.to_string(),
        ..Default::default()
    };
    Some(Synced {
        change: Change::Unchanged,
        held_foreign_pause: pause_decision(desired, Some(&state), false).held_foreign_pause,
        seen: Seen::Listed(Box::new(listed.clone())),
        server_fingerprint: status
            .observed_fingerprint
            .as_ref()
            .map(ToString::to_string),
        spec_fingerprint: Some(spec_fingerprint),
        triggered: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crd::FeedSource, schedule::fingerprint, temporal::memo::MemoInfo};

    fn desired(suspend: bool) -> DesiredSchedule {
        let mut fs = FeedSource::test("news", "hn").with_uid("u1");
        fs.spec.suspend = suspend;
        fs.desired("t:1", "c")
    }

    fn listed(d: &DesiredSchedule) -> Entry {
        let state = d.schedule.state.clone().unwrap_or_default();
        Entry::of(&Listed {
            id: d.id.clone(),
            memo_info: MemoInfo {
                owner: Some(d.owner.clone()),
                fingerprint: None,
            },
            spec: d.schedule.spec.clone(),
            paused: state.paused,
            notes: state.notes,
            ..Default::default()
        })
    }

    #[test]
    fn the_cache_keeps_the_operators_schedules_and_what_the_status_reads() {
        let at = |s| prost_wkt_types::Timestamp {
            seconds: s,
            nanos: 0,
        };
        let run = |s| crate::temporal::proto::ScheduleActionResult {
            schedule_time: Some(at(s)),
            ..Default::default()
        };
        let l = Listed {
            id: "curator/news/hn".into(),
            future_action_times: (1..=10).map(at).collect(),
            recent_actions: vec![run(5), run(9), run(7)],
            ..Default::default()
        };
        let ours = crate::schedule::desired::listing_prefix("curator");
        let (id, kept) = compact(&ours, l.clone()).expect("ours");
        assert_eq!(kept.next_runs[..], [at(1), at(2), at(3)]);
        assert_eq!(kept.last_run, Some(run(9)), "the latest run");
        assert_eq!(id, l.id);
        assert_eq!(kept.spec_fingerprint_hex(), fingerprint::of_spec(None));
        let foreign = |id: &str| Listed {
            id: id.into(),
            ..Default::default()
        };
        assert!(compact(&ours, foreign("raw/news/hn")).is_none());
        assert!(compact(&ours, foreign("curator-2/news/hn")).is_none());
        assert!(
            compact("", foreign("raw/news/hn")).is_some(),
            "no prefix: every ID"
        );
    }

    #[test]
    fn the_listing_decides_only_when_everything_matches() {
        let d = desired(false);
        let l = listed(&d);
        let spec = fingerprint::of_spec(d.schedule.spec.as_ref());
        assert_eq!(
            l.spec_fingerprint_hex(),
            spec,
            "the spec is kept as its fingerprint"
        );
        let recorded = |text: &str| Fingerprint::from(text);
        let (desired_fp, spec_fp) = (recorded(&d.fingerprint), recorded(&spec));
        let fp = Some(&desired_fp);
        assert_eq!(
            listed_in_sync(&d, fp, Some(&spec_fp), Some(&l)),
            Some(spec.clone())
        );
        assert_eq!(
            listed_in_sync(&d, fp, None, Some(&l)),
            Some(spec.clone()),
            "adopted after a create"
        );
        assert_eq!(
            listed_in_sync(&d, fp, Some(&spec_fp), None),
            None,
            "not listed yet"
        );
        assert_eq!(
            listed_in_sync(&d, Some(&recorded("older")), Some(&spec_fp), Some(&l)),
            None,
            "spec changed"
        );
        assert_eq!(
            listed_in_sync(&d, fp, Some(&recorded("other")), Some(&l)),
            None,
            "edited in Temporal"
        );
        let mut foreign = l.clone();
        foreign.owner = Some(crate::schedule::listed::OwnerKey::Uid("u2".into()));
        assert_eq!(listed_in_sync(&d, fp, Some(&spec_fp), Some(&foreign)), None);
        let mut unpaused = l.clone();
        unpaused.paused = false;
        let s = desired(true);
        assert_eq!(
            listed_in_sync(
                &s,
                Some(&recorded(&s.fingerprint)),
                Some(&spec_fp),
                Some(&unpaused)
            ),
            None,
            "needs a pause"
        );
        let mut failed = l.clone();
        failed.paused = true;
        failed.notes = "paused after a failure".into();
        assert_eq!(
            listed_in_sync(&d, fp, Some(&spec_fp), Some(&failed)),
            Some(spec),
            "a held pause needs no write"
        );
    }
}
