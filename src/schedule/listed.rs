//! PURE: what the controller keeps of a listed schedule.

use super::fingerprint;
use crate::temporal::{Listed, memo::Owner, proto::ScheduleActionResult};

/// The next runs a status records.
pub const NEXT_RUNS: usize = 3;

/// A schedule listing entry as the controller keeps it (by schedule ID): only what its
/// decisions and the status read. The listed spec is kept as its fingerprint, the next runs
/// as the status's three, the recent runs as the latest; about a quarter of the entry as
/// listed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Entry {
    /// The owner read from the schedule memo.
    pub owner: Option<Owner>,
    /// Fingerprint of the listed spec ([`fingerprint::of_spec`]).
    pub spec_fingerprint: String,
    /// Whether it is paused.
    pub paused: bool,
    /// The pause note.
    pub notes: String,
    /// The next action times, at most [`NEXT_RUNS`].
    pub next_runs: Vec<prost_wkt_types::Timestamp>,
    /// The latest of the recent actions.
    pub last_run: Option<ScheduleActionResult>,
}

impl Entry {
    /// PURE: what is kept of a listed schedule.
    pub fn of(listed: &Listed) -> Self {
        let mut next_runs = listed.future_action_times.clone();
        next_runs.truncate(NEXT_RUNS);
        next_runs.shrink_to_fit();
        Self {
            owner: listed.memo_info.owner.clone(),
            spec_fingerprint: fingerprint::of_spec(listed.spec.as_ref()),
            paused: listed.paused,
            notes: listed.notes.clone(),
            next_runs,
            last_run: listed
                .recent_actions
                .iter()
                .max_by_key(|a| a.schedule_time.as_ref().map(|t| (t.seconds, t.nanos)))
                .cloned(),
        }
    }
}

/// The operator's schedules of one listing, by ID, as the controller caches it: a boxed slice
/// sorted by ID and searched by bisection. Measured with 10,000 entries, a `HashMap` spent
/// about 200 B per entry more, in the slack of its table (buckets of the entry's size, at 61%
/// load).
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
        assert_eq!(l.get("a/y").map(|e| e.notes.as_str()), Some("3"));
        assert_eq!(l.get("b/z").map(|e| e.notes.as_str()), Some("2"));
        assert_eq!(l.get("c/x").map(|e| e.notes.as_str()), Some("0"));
        assert!(!l.contains_key("a"));
        assert!(!l.contains_key("d"));
        assert!(Listing::default().is_empty());
    }
}
