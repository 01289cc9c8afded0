//! The schedule memo: who owns a schedule, and the fingerprint of what the owner wrote.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::proto::{Memo, Payload};

/// Memo key holding the owner record (a JSON object).
pub const OWNER_KEY: &str = "curator.buun.dev/owner";
/// Memo key holding the fingerprint of the schedule as the owner last wrote it.
pub const FINGERPRINT_KEY: &str = "curator.buun.dev/fingerprint";

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

/// What the memo of an existing schedule says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemoInfo {
    /// The owner, when the memo names one in a form this operator reads.
    pub owner: Option<Owner>,
    /// The fingerprint the owner recorded.
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

/// Builds the memo for a schedule owned by `owner`, written with fingerprint `fingerprint`.
pub fn build(owner: &Owner, fingerprint: &str) -> Memo {
    Memo {
        fields: HashMap::from([
            (OWNER_KEY.to_owned(), json_payload(owner)),
            (FINGERPRINT_KEY.to_owned(), json_payload(&fingerprint)),
        ]),
    }
}

/// The memo left on an orphaned schedule: the operator's keys removed, other keys kept.
pub fn orphaned(current: Option<&Memo>) -> Memo {
    let mut fields = current.map(|m| m.fields.clone()).unwrap_or_default();
    fields.remove(OWNER_KEY);
    fields.remove(FINGERPRINT_KEY);
    Memo { fields }
}

/// Reads the operator's keys from a memo; unknown or malformed values read as absent.
pub fn parse(memo: Option<&Memo>) -> MemoInfo {
    let Some(memo) = memo else {
        return MemoInfo::default();
    };
    MemoInfo {
        owner: memo.fields.get(OWNER_KEY).and_then(decode),
        fingerprint: memo.fields.get(FINGERPRINT_KEY).and_then(decode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(uid: &str) -> Owner {
        Owner {
            namespace: "news".into(),
            name: "hn".into(),
            uid: uid.into(),
            operator: "curator-operator".into(),
        }
    }

    #[test]
    fn memo_round_trips() {
        let m = build(&owner("u1"), "abc");
        let info = parse(Some(&m));
        assert_eq!(info.owner, Some(owner("u1")));
        assert_eq!(info.fingerprint.as_deref(), Some("abc"));
        let p = &m.fields[OWNER_KEY];
        assert_eq!(p.metadata["encoding"], b"json/plain");
        let v: serde_json::Value = serde_json::from_slice(&p.data).unwrap();
        assert_eq!(v["uid"], "u1");
        assert_eq!(v["namespace"], "news");
    }

    #[test]
    fn malformed_or_foreign_memo_has_no_owner() {
        assert_eq!(parse(None), MemoInfo::default());
        let mut m = build(&owner("u1"), "abc");
        m.fields.get_mut(OWNER_KEY).unwrap().data = b"not json".to_vec();
        assert_eq!(parse(Some(&m)).owner, None);
        let mut m = build(&owner("u1"), "abc");
        m.fields
            .get_mut(OWNER_KEY)
            .unwrap()
            .metadata
            .insert("encoding".into(), b"binary/plain".to_vec());
        assert_eq!(parse(Some(&m)).owner, None);
    }

    #[test]
    fn orphaning_clears_only_operator_keys() {
        let mut m = build(&owner("u1"), "abc");
        m.fields.insert("team".into(), json_payload(&"news"));
        let o = orphaned(Some(&m));
        assert_eq!(o.fields.len(), 1);
        assert!(o.fields.contains_key("team"));
        assert_eq!(parse(Some(&o)), MemoInfo::default());
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
