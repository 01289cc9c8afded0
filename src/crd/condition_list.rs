//! A FeedSource's conditions as the operator holds them in memory: the same list as
//! `[]metav1.Condition` on the wire and in the schema, but the strings that most FeedSources
//! share (the condition types, statuses, usual reasons and fixed messages) are a one-byte index
//! into a list of constants instead of each taking an allocation of its own. With thousands of
//! FeedSources in the controller's cache, the conditions were the largest part of each cached
//! object.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer, ser::SerializeSeq};

use super::conditions::{
    Desired, NO_CURATOR_API, READY, RECONCILING, STALLED, Status, TEMPORAL_REACHABLE, merge,
};

/// Strings held as an index into this list rather than copied into every condition. Only
/// memory depends on it: a string that is not in it is kept as it came (at most 256 entries).
const SHARED: &[&str] = &[
    "",
    READY,
    TEMPORAL_REACHABLE,
    RECONCILING,
    STALLED,
    "FeedRegistered",
    "True",
    "False",
    "Unknown",
    "Synced",
    "Suspended",
    "Connected",
    "Reconciled",
    "Temporal answered",
    "NoCuratorApi",
    NO_CURATOR_API,
    "Exists",
    "Adopted",
    "Created",
    "WorkerNotFound",
    "InvalidSpec",
    "PausedOnFailure",
    "PausedExternally",
    "CleanupBlocked",
    "TemporalUnreachable",
    "FeedNotFound",
    "Ingesting",
    "RunCompleted",
    "RunFailed",
    "RunTimedOut",
    "RunStuck",
    "FirstRunPending",
    "Running",
];

/// A string of a condition: an entry of [`SHARED`], or its own (16 bytes either way). Built by
/// [`text`] only, so a string of the list is always `Shared`, and equal strings compare equal.
#[derive(Clone, Debug, PartialEq)]
enum Text {
    Shared(u8),
    Own(Box<str>),
}

impl Text {
    fn as_str(&self) -> &str {
        match self {
            Text::Shared(i) => SHARED[usize::from(*i)],
            Text::Own(s) => s,
        }
    }
}

fn text(s: String) -> Text {
    match SHARED
        .iter()
        .position(|k| **k == s)
        .and_then(|i| u8::try_from(i).ok())
    {
        Some(i) => Text::Shared(i),
        None => Text::Own(s.into_boxed_str()),
    }
}

/// One condition, its strings shared where they can be.
#[derive(Clone, Debug, PartialEq)]
struct Held {
    type_: Text,
    status: Text,
    reason: Text,
    message: Text,
    last_transition_time: Time,
    observed_generation: Option<i64>,
}

impl From<Condition> for Held {
    fn from(c: Condition) -> Self {
        Self {
            type_: text(c.type_),
            status: text(c.status),
            reason: text(c.reason),
            message: text(c.message),
            last_transition_time: c.last_transition_time,
            observed_generation: c.observed_generation,
        }
    }
}

impl From<&Held> for Condition {
    fn from(h: &Held) -> Self {
        Condition {
            type_: h.type_.as_str().to_owned(),
            status: h.status.as_str().to_owned(),
            reason: h.reason.as_str().to_owned(),
            message: h.message.as_str().to_owned(),
            last_transition_time: h.last_transition_time.clone(),
            observed_generation: h.observed_generation,
        }
    }
}

/// A list of conditions (`[]metav1.Condition`), held compactly; read it with [`Self::iter`],
/// [`Self::find`] or [`Self::to_vec`], build it from a `Vec<Condition>`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Conditions(Box<[Held]>);

impl Conditions {
    /// The conditions, in order, as `metav1.Condition` values.
    pub fn iter(&self) -> impl Iterator<Item = Condition> + '_ {
        self.0.iter().map(Condition::from)
    }

    /// The conditions as a `Vec<Condition>`.
    pub fn to_vec(&self) -> Vec<Condition> {
        self.iter().collect()
    }

    /// When the condition of this type last changed status, without copying it.
    pub fn transition_time(&self, type_: &str) -> Option<&Time> {
        self.0
            .iter()
            .find(|c| c.type_.as_str() == type_)
            .map(|c| &c.last_transition_time)
    }

    /// The condition of this type.
    pub fn find(&self, type_: &str) -> Option<Condition> {
        self.0
            .iter()
            .find(|c| c.type_.as_str() == type_)
            .map(Condition::from)
    }

    /// The condition of this type, if its status is `True`.
    pub fn find_true(&self, type_: &str) -> Option<Condition> {
        self.find(type_)
            .filter(|c| c.status == Status::True.as_str())
    }

    /// The list with `desired` merged in, by [`merge`]'s rules (a transition time changes only
    /// with the status).
    pub fn merged(&self, desired: &[Desired], generation: Option<i64>, now: &Time) -> Self {
        merge(&self.to_vec(), desired, generation, now).into()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<Vec<Condition>> for Conditions {
    fn from(v: Vec<Condition>) -> Self {
        v.into_iter().collect()
    }
}

impl FromIterator<Condition> for Conditions {
    fn from_iter<I: IntoIterator<Item = Condition>>(iter: I) -> Self {
        Self(iter.into_iter().map(Held::from).collect())
    }
}

impl IntoIterator for Conditions {
    type Item = Condition;
    type IntoIter = std::vec::IntoIter<Condition>;

    fn into_iter(self) -> Self::IntoIter {
        self.to_vec().into_iter()
    }
}

impl Serialize for Conditions {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for c in self.iter() {
            seq.serialize_element(&c)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for Conditions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Condition>::deserialize(d).map(Self::from)
    }
}

impl JsonSchema for Conditions {
    fn schema_name() -> Cow<'static, str> {
        <Vec<Condition>>::schema_name()
    }

    fn schema_id() -> Cow<'static, str> {
        <Vec<Condition>>::schema_id()
    }

    fn inline_schema() -> bool {
        <Vec<Condition>>::inline_schema()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        <Vec<Condition>>::json_schema(generator)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn wire() -> serde_json::Value {
        json!([
            {"type": "Ready", "status": "True", "reason": "Synced",
             "message": "schedule curator-news-hn matches the spec",
             "lastTransitionTime": "2026-11-22T00:00:00Z", "observedGeneration": 3},
            {"type": "Custom", "status": "False", "reason": "SomethingNew", "message": "",
             "lastTransitionTime": "2026-11-22T00:00:01Z"}
        ])
    }

    #[test]
    fn the_wire_form_is_metav1_conditions_unchanged() {
        let held: Conditions = serde_json::from_value(wire()).expect("conditions");
        assert_eq!(serde_json::to_value(&held).expect("json"), wire());
        let plain: Vec<Condition> = serde_json::from_value(wire()).expect("conditions");
        assert_eq!(held.to_vec(), plain);
        assert_eq!(Conditions::from(plain), held);
    }

    #[test]
    fn shared_strings_are_not_copied_and_others_are_kept() {
        let held: Conditions = serde_json::from_value(wire()).expect("conditions");
        let ready = &held.0[0];
        assert!(matches!(ready.type_, Text::Shared(_)));
        assert!(matches!(ready.status, Text::Shared(_)));
        assert!(matches!(ready.reason, Text::Shared(_)));
        assert!(matches!(ready.message, Text::Own(_)));
        assert!(matches!(held.0[1].reason, Text::Own(_)));
        assert_eq!(held.0[1].reason.as_str(), "SomethingNew");
        assert_eq!(
            std::mem::size_of::<Held>(),
            96,
            "a quarter smaller than a metav1.Condition (128 B)"
        );
    }

    #[test]
    fn every_shared_string_reads_back_as_itself() {
        assert!(SHARED.len() <= 256);
        for s in SHARED {
            assert_eq!(text((*s).to_owned()).as_str(), *s);
        }
    }

    #[test]
    fn find_reads_by_type() {
        let held: Conditions = serde_json::from_value(wire()).expect("conditions");
        assert_eq!(held.find(READY).map(|c| c.reason), Some("Synced".into()));
        assert!(held.find_true(READY).is_some());
        assert!(held.find_true("Custom").is_none());
        assert!(held.find("Missing").is_none());
        assert_eq!((held.len(), held.is_empty()), (2, false));
        assert!(Conditions::default().is_empty());
    }

    #[test]
    fn the_schema_is_that_of_a_metav1_condition_list() {
        let mut a = schemars::SchemaGenerator::default();
        let mut b = schemars::SchemaGenerator::default();
        assert_eq!(
            Conditions::json_schema(&mut a),
            <Vec<Condition>>::json_schema(&mut b)
        );
    }
}
