//! PURE: what the controller keeps of a listed schedule.

use super::fingerprint;
use crate::temporal::{Listed, memo::Owner, proto::ScheduleActionResult};
use crate::uid::uuid;

/// The next runs a status records.
pub const NEXT_RUNS: usize = 3;

/// A schedule listing entry as the controller keeps it (by schedule ID): only what its
/// decisions and the status read, held compactly (one listing of every schedule stays cached,
/// and a second one builds up while the next listing is in flight). The listed spec is kept as
/// its fingerprint, the owner as what tells resources apart, the next runs as the status's
/// three, the recent runs as the latest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entry {
    /// Who owns it, from the schedule memo.
    pub owner: Option<OwnerKey>,
    /// SHA-256 of the listed spec ([`fingerprint::of_spec`]).
    pub spec_fingerprint: [u8; 32],
    /// Whether it is paused.
    pub paused: bool,
    /// The pause note.
    pub notes: Box<str>,
    /// The next action times, at most [`NEXT_RUNS`].
    pub next_runs: Box<[prost_wkt_types::Timestamp]>,
    /// The latest of the recent actions.
    pub last_run: Option<ScheduleActionResult>,
}

impl Entry {
    /// PURE: what is kept of a listed schedule.
    pub fn of(listed: &Listed) -> Self {
        Self {
            owner: listed.memo_info.owner.as_ref().map(OwnerKey::of),
            spec_fingerprint: fingerprint::of_spec_bytes(listed.spec.as_ref()),
            paused: listed.paused,
            notes: listed.notes.as_str().into(),
            next_runs: listed
                .future_action_times
                .iter()
                .take(NEXT_RUNS)
                .cloned()
                .collect(),
            last_run: listed
                .recent_actions
                .iter()
                .max_by_key(|a| a.schedule_time.as_ref().map(|t| (t.seconds, t.nanos)))
                .cloned(),
        }
    }

    /// The listed spec's fingerprint, in hex as [`fingerprint::of_spec`] gives it.
    pub fn spec_fingerprint_hex(&self) -> String {
        fingerprint::hex(&self.spec_fingerprint)
    }
}

/// What tells the owner of a schedule apart, as [`Owner::same_resource`] compares it: the
/// FeedSource's UID (kept as a number when it is a UUID, as every API server's are), or the
/// namespace and name of an owner without one (`sync`'s).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnerKey {
    /// A UUID.
    Uuid(u128),
    /// Any other UID.
    Uid(Box<str>),
    /// No UID: namespace and name.
    Named {
        /// The namespace.
        namespace: Box<str>,
        /// The name.
        name: Box<str>,
    },
}

impl OwnerKey {
    /// PURE: the key of `owner`.
    pub fn of(owner: &Owner) -> Self {
        if owner.uid.is_empty() {
            Self::Named {
                namespace: owner.namespace.as_str().into(),
                name: owner.name.as_str().into(),
            }
        } else {
            uuid(&owner.uid).map_or_else(|| Self::Uid(owner.uid.as_str().into()), Self::Uuid)
        }
    }

    /// Whether `other` is the same resource, exactly as [`Owner::same_resource`] says.
    pub fn same_resource(&self, other: &Owner) -> bool {
        match self {
            _ if other.uid.is_empty() => matches!(
                self,
                Self::Named { namespace, name }
                    if **namespace == other.namespace && **name == other.name
            ),
            Self::Uuid(u) => uuid(&other.uid) == Some(*u),
            Self::Uid(u) => **u == other.uid,
            Self::Named { .. } => false,
        }
    }
}

/// The operator's schedules of one listing, by ID, as the controller caches it: a boxed slice
/// sorted by ID and searched by bisection, with no slack, where a `HashMap` keeps empty buckets
/// of the entry's size (BENCHMARKS.md).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Listing(Box<[(Box<str>, Entry)]>);

impl Listing {
    /// The entry of schedule `id`.
    pub fn get(&self, id: &str) -> Option<&Entry> {
        self.0
            .binary_search_by(|(k, _)| (**k).cmp(id))
            .ok()
            .map(|i| &self.0[i].1)
    }

    /// Whether it shows schedule `id`.
    pub fn contains_key(&self, id: &str) -> bool {
        self.get(id).is_some()
    }

    /// How many schedules it holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Of entries with the same ID, the last one counts (as when a map is extended page by page).
impl From<Vec<(String, Entry)>> for Listing {
    fn from(mut v: Vec<(String, Entry)>) -> Self {
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Box<str>, Entry)> = Vec::with_capacity(v.len());
        for (id, entry) in v {
            match out.last_mut() {
                Some(last) if *last.0 == *id => last.1 = entry,
                _ => out.push((id.into_boxed_str(), entry)),
            }
        }
        Self(out.into_boxed_slice())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(notes: &str) -> Entry {
        Entry {
            notes: notes.into(),
            ..Default::default()
        }
    }

    fn owner(namespace: &str, name: &str, uid: &str) -> Owner {
        Owner {
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
            operator: "op".into(),
        }
    }

    #[test]
    fn an_owner_key_tells_resources_apart_as_the_owner_does() {
        let uuid = "0123abcd-4567-89ef-0123-456789abcdef";
        let other = "0123abcd-4567-89ef-0123-456789abcdee";
        let owners = [
            owner("ns", "a", uuid),
            owner("ns", "a", other),
            owner("ns", "b", uuid),
            owner("ns", "a", "uid-not-a-uuid"),
            owner("ns", "a", "0123ABCD-4567-89EF-0123-456789ABCDEF"),
            owner("ns", "a", ""),
            owner("ns", "b", ""),
            owner("other", "a", ""),
        ];
        for a in &owners {
            for b in &owners {
                assert_eq!(
                    OwnerKey::of(a).same_resource(b),
                    a.same_resource(b),
                    "{a:?} / {b:?}"
                );
            }
        }
        assert!(matches!(OwnerKey::of(&owners[0]), OwnerKey::Uuid(_)));
        assert!(
            matches!(OwnerKey::of(&owners[4]), OwnerKey::Uid(_)),
            "upper case stays text"
        );
    }

    #[test]
    fn a_listing_finds_every_id_and_the_last_of_duplicates() {
        let ids = ["c/x", "a/y", "b/z", "a/y"];
        let l = Listing::from(
            ids.iter()
                .enumerate()
                .map(|(i, id)| (id.to_string(), entry(&i.to_string())))
                .collect::<Vec<_>>(),
        );
        assert_eq!(l.len(), 3);
        assert_eq!(l.get("a/y").map(|e| &*e.notes), Some("3"));
        assert_eq!(l.get("b/z").map(|e| &*e.notes), Some("2"));
        assert_eq!(l.get("c/x").map(|e| &*e.notes), Some("0"));
        assert!(!l.contains_key("a"));
        assert!(!l.contains_key("d"));
        assert!(Listing::default().is_empty());
    }
}
