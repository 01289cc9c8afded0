//! PURE: the cheap resync. One schedule listing per Temporal namespace (a page per thousand
//! schedules) shows each schedule's owner, spec and pause state; when that is exactly what the
//! operator left, no describe is needed. The listing shows neither the action nor the run
//! count, so every schedule is still described in full from time to time.

use super::{
    desired::DesiredSchedule,
    fingerprint,
    plan::pause_decision,
    sync::{Change, Seen, Synced},
};
use crate::{
    crd::FeedSourceStatus,
    temporal::{Listed, proto::ScheduleState},
};

/// PURE: a listing entry as the controller caches it, `None` for a schedule whose ID does not
/// start with `listing_prefix` ([`super::desired::listing_prefix`]: not the operator's, no
/// FeedSource asks for it). Of the next runs, the status records three; of the recent runs,
/// the latest.
pub fn compact(listing_prefix: &str, mut listed: Listed) -> Option<Listed> {
    if !listed.id.starts_with(listing_prefix) {
        return None;
    }
    listed.future_action_times.truncate(3);
    let latest = listed
        .recent_actions
        .iter()
        .enumerate()
        .max_by_key(|(_, a)| a.schedule_time.as_ref().map(|t| (t.seconds, t.nanos)))
        .map(|(i, _)| i);
    if let Some(i) = latest {
        listed.recent_actions.swap(0, i);
        listed.recent_actions.truncate(1);
    }
    listed.recent_actions.shrink_to_fit();
    listed.future_action_times.shrink_to_fit();
    Some(listed)
}

/// PURE: whether the cheap schedule listing shows the schedule as the operator left it, so that
/// no describe is needed. Returns the spec fingerprint to record (the listed one), or `None` when
/// a full describe must decide.
///
/// `recorded_spec` is the spec fingerprint recorded after the last full read (absent right after
/// a create, when the listed one is adopted because the operator just wrote it).
pub fn listed_in_sync(
    desired: &DesiredSchedule,
    recorded_desired: Option<&str>,
    recorded_spec: Option<&str>,
    listed: Option<&Listed>,
) -> Option<String> {
    let listed = listed?;
    if recorded_desired != Some(desired.fingerprint.as_str()) {
        return None;
    }
    if !listed
        .memo_info
        .owner
        .as_ref()
        .is_some_and(|o| o.same_resource(&desired.owner))
    {
        return None;
    }
    let spec = fingerprint::of_spec(listed.spec.as_ref());
    if recorded_spec.is_some_and(|r| r != spec) {
        return None;
    }
    let state = ScheduleState {
        paused: listed.paused,
        notes: listed.notes.clone(),
        ..Default::default()
    };
    if pause_decision(desired, Some(&state), false).paused != listed.paused {
        return None;
    }
    Some(spec)
}

/// PURE: what a resync learns from the listing alone: the schedule is as the operator left it
/// (`status` records the operator's last full read). `None`: a describe must decide.
pub fn synced(
    desired: &DesiredSchedule,
    status: &FeedSourceStatus,
    listed: &Listed,
) -> Option<Synced> {
    let spec_fingerprint = listed_in_sync(
        desired,
        status.desired_fingerprint.as_deref(),
        status.observed_spec_fingerprint.as_deref(),
        Some(listed),
    )?;
    let state = ScheduleState {
        paused: listed.paused,
        notes: listed.notes.clone(),
        ..Default::default()
    };
    Some(Synced {
        change: Change::Unchanged,
        held_foreign_pause: pause_decision(desired, Some(&state), false).held_foreign_pause,
        seen: Seen::Listed(Box::new(listed.clone())),
        server_fingerprint: status.observed_fingerprint.clone(),
        spec_fingerprint: Some(spec_fingerprint),
        triggered: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{crd::FeedSource, temporal::memo::MemoInfo};

    fn desired(suspend: bool) -> DesiredSchedule {
        let mut fs = FeedSource::test("news", "hn").with_uid("u1");
        fs.spec.suspend = suspend;
        fs.desired("t:1", "c")
    }

    fn listed(d: &DesiredSchedule) -> Listed {
        let state = d.schedule.state.clone().unwrap_or_default();
        Listed {
            id: d.id.clone(),
            memo_info: MemoInfo {
                owner: Some(d.owner.clone()),
                fingerprint: None,
            },
            spec: d.schedule.spec.clone(),
            paused: state.paused,
            notes: state.notes,
            ..Default::default()
        }
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
        let kept = compact(&ours, l.clone()).expect("ours");
        assert_eq!(kept.future_action_times, vec![at(1), at(2), at(3)]);
        assert_eq!(kept.recent_actions, vec![run(9)], "the latest run");
        assert_eq!(kept.id, l.id);
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
        let spec = fingerprint::of_spec(l.spec.as_ref());
        let fp = Some(d.fingerprint.as_str());
        assert_eq!(
            listed_in_sync(&d, fp, Some(&spec), Some(&l)),
            Some(spec.clone())
        );
        assert_eq!(
            listed_in_sync(&d, fp, None, Some(&l)),
            Some(spec.clone()),
            "adopted after a create"
        );
        assert_eq!(
            listed_in_sync(&d, fp, Some(&spec), None),
            None,
            "not listed yet"
        );
        assert_eq!(
            listed_in_sync(&d, Some("older"), Some(&spec), Some(&l)),
            None,
            "spec changed"
        );
        assert_eq!(
            listed_in_sync(&d, fp, Some("other"), Some(&l)),
            None,
            "edited in Temporal"
        );
        let mut foreign = l.clone();
        foreign.memo_info.owner.as_mut().expect("owner").uid = "u2".into();
        assert_eq!(listed_in_sync(&d, fp, Some(&spec), Some(&foreign)), None);
        let mut unpaused = l.clone();
        unpaused.paused = false;
        let s = desired(true);
        assert_eq!(
            listed_in_sync(
                &s,
                Some(s.fingerprint.as_str()),
                Some(&spec),
                Some(&unpaused)
            ),
            None,
            "needs a pause"
        );
        let mut failed = l.clone();
        failed.paused = true;
        failed.notes = "paused after a failure".into();
        assert_eq!(
            listed_in_sync(&d, fp, Some(&spec), Some(&failed)),
            Some(spec),
            "a held pause needs no write"
        );
    }
}
