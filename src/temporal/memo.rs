//! Who owns a schedule, and the fingerprint of what the owner wrote.
//!
//! The owner is recorded in the schedule's memo when the schedule is created. Temporal (1.32,
//! workflow-backed schedules) does not accept memo updates, so everything that must change
//! later lives in the memo of the action's workflow instead, which every update replaces: the
//! fingerprint of the desired schedule, the FeedSource's name, and an orphan marker. Workflows
//! started by the schedule carry that memo too, so each run says which FeedSource started it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::proto::{Action, Memo, Payload, Schedule};

/// Schedule memo key holding the owner record (a JSON object).
pub const OWNER_KEY: &str = "curator.buun.dev/owner";
/// Action memo key holding the fingerprint of the schedule as the owner last wrote it.
pub const FINGERPRINT_KEY: &str = "curator.buun.dev/fingerprint";
/// Action memo key holding `namespace/name` of the FeedSource.
pub const FEEDSOURCE_KEY: &str = "curator.buun.dev/feedsource";
/// Action memo key set when the owner was deleted with `deletionPolicy: Orphan`.
pub const ORPHANED_KEY: &str = "curator.buun.dev/orphaned";

/// The resource that owns a schedule, and the operator that manages it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Kubernetes namespace of the FeedSource.
    pub namespace: String,
    /// Name of the FeedSource.
    pub name: String,
    /// UID of the FeedSource (empty for `sync`, which has no API server).
    pub uid: String,
    /// Identity of the operator that manages the schedule.
    pub operator: String,
}

impl Owner {
    /// Whether `other` is the same resource. With UIDs on both sides they decide; a `sync` owner
    /// (no UID) matches by namespace and name.
    pub fn same_resource(&self, other: &Owner) -> bool {
        if !self.uid.is_empty() && !other.uid.is_empty() {
            return self.uid == other.uid;
        }
        self.uid.is_empty()
            && other.uid.is_empty()
            && self.namespace == other.namespace
            && self.name == other.name
    }
}

/// What the memos of an existing schedule say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoInfo {
    /// The owner, when the memo names one and the schedule was not orphaned.
    pub owner: Option<Owner>,
    /// The fingerprint the owner recorded with its last write.
    pub fingerprint: Option<String>,
}

fn json_payload(value: &impl Serialize) -> Payload {
    Payload {
        metadata: HashMap::from([("encoding".to_owned(), b"json/plain".to_vec())]),
        // Serializing plain structs and strings cannot fail.
        data: serde_json::to_vec(value).unwrap_or_default(),
        ..Default::default()
    }
}

fn decode<T: for<'de> Deserialize<'de>>(p: &Payload) -> Option<T> {
    let enc = p.metadata.get("encoding")?;
    if enc.as_slice() != b"json/plain" {
        return None;
    }
    serde_json::from_slice(&p.data).ok()
}

/// The schedule memo of a schedule owned by `owner` (written once, at creation).
pub fn schedule_memo(owner: &Owner) -> Memo {
    Memo {
        fields: HashMap::from([(OWNER_KEY.to_owned(), json_payload(owner))]),
    }
}

/// The action memo before the fingerprint is added: the FeedSource's name.
pub fn action_memo(owner: &Owner) -> Memo {
    Memo {
        fields: HashMap::from([(
            FEEDSOURCE_KEY.to_owned(),
            json_payload(&format!("{}/{}", owner.namespace, owner.name)),
        )]),
    }
}

/// Records `fingerprint` in the action memo of `schedule`.
pub fn set_fingerprint(schedule: &mut Schedule, fingerprint: &str) {
    if let Some(Action::StartWorkflow(wf)) =
        schedule.action.as_mut().and_then(|a| a.action.as_mut())
    {
        wf.memo
            .get_or_insert_with(Memo::default)
            .fields
            .insert(FINGERPRINT_KEY.to_owned(), json_payload(&fingerprint));
    }
}

/// Marks `schedule` orphaned: its fingerprint is dropped and no operator manages it again.
pub fn mark_orphaned(schedule: &mut Schedule) {
    if let Some(Action::StartWorkflow(wf)) =
        schedule.action.as_mut().and_then(|a| a.action.as_mut())
    {
        let memo = wf.memo.get_or_insert_with(Memo::default);
        memo.fields.remove(FINGERPRINT_KEY);
        memo.fields
            .insert(ORPHANED_KEY.to_owned(), json_payload(&true));
    }
}

fn action_memo_of(schedule: &Schedule) -> Option<&Memo> {
    match schedule.action.as_ref().and_then(|a| a.action.as_ref()) {
        Some(Action::StartWorkflow(wf)) => wf.memo.as_ref(),
        None => None,
    }
}

/// Reads ownership from the schedule memo and the fingerprint from the action memo; unknown or
/// malformed values read as absent, and an orphaned schedule has no owner.
pub fn parse(schedule_memo: Option<&Memo>, schedule: Option<&Schedule>) -> MemoInfo {
    let action = schedule.and_then(action_memo_of);
    let orphaned = action
        .and_then(|m| m.fields.get(ORPHANED_KEY))
        .and_then(decode::<bool>)
        .unwrap_or(false);
    MemoInfo {
        owner: if orphaned {
            None
        } else {
            schedule_memo
                .and_then(|m| m.fields.get(OWNER_KEY))
                .and_then(decode)
        },
        fingerprint: action
            .and_then(|m| m.fields.get(FINGERPRINT_KEY))
            .and_then(decode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::temporal::proto::{NewWorkflowExecutionInfo, ScheduleAction};

    fn owner(uid: &str) -> Owner {
        Owner {
            namespace: "news".into(),
            name: "hn".into(),
            uid: uid.into(),
            operator: "curator-operator".into(),
        }
    }

    fn schedule_with(memo: Memo) -> Schedule {
        Schedule {
            action: Some(ScheduleAction {
                action: Some(Action::StartWorkflow(NewWorkflowExecutionInfo {
                    memo: Some(memo),
                    ..Default::default()
                })),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn memos_round_trip() {
        let m = schedule_memo(&owner("u1"));
        let mut s = schedule_with(action_memo(&owner("u1")));
        set_fingerprint(&mut s, "abc");
        let info = parse(Some(&m), Some(&s));
        assert_eq!(info.owner, Some(owner("u1")));
        assert_eq!(info.fingerprint.as_deref(), Some("abc"));
        let p = &m.fields[OWNER_KEY];
        assert_eq!(p.metadata["encoding"], b"json/plain");
        let v: serde_json::Value = serde_json::from_slice(&p.data).expect("json");
        assert_eq!(v["uid"], "u1");
    }

    #[test]
    fn malformed_or_foreign_memo_has_no_owner() {
        assert_eq!(parse(None, None), MemoInfo::default());
        let mut m = schedule_memo(&owner("u1"));
        m.fields.get_mut(OWNER_KEY).expect("key").data = b"not json".to_vec();
        assert_eq!(parse(Some(&m), None).owner, None);
        let mut m = schedule_memo(&owner("u1"));
        m.fields
            .get_mut(OWNER_KEY)
            .expect("key")
            .metadata
            .insert("encoding".into(), b"binary/plain".to_vec());
        assert_eq!(parse(Some(&m), None).owner, None);
    }

    #[test]
    fn orphaning_removes_ownership_and_fingerprint() {
        let m = schedule_memo(&owner("u1"));
        let mut s = schedule_with(action_memo(&owner("u1")));
        set_fingerprint(&mut s, "abc");
        mark_orphaned(&mut s);
        assert_eq!(parse(Some(&m), Some(&s)), MemoInfo::default());
    }

    #[test]
    fn ownership_is_decided_by_uid() {
        assert!(owner("u1").same_resource(&owner("u1")));
        assert!(!owner("u1").same_resource(&owner("u2")));
        // A recreated resource with the same name is a different owner.
        assert!(!owner("u1").same_resource(&owner("")));
        assert!(owner("").same_resource(&owner("")));
        let mut other = owner("");
        other.name = "lobsters".into();
        assert!(!owner("").same_resource(&other));
    }
}
