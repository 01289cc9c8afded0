//! Server-side apply of children, skipped when the live object already holds what we apply.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{
    Api, Resource,
    api::{Patch, PatchParams},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

use crate::runtime::MANAGER;

/// PURE: whether every field of `desired` has the same value in `live`. Fields only in `live`
/// (server defaults, other managers' fields) are ignored; lists must match element by element.
pub fn is_subset(desired: &Value, live: &Value) -> bool {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => d
            .iter()
            .all(|(k, v)| v.is_null() || l.get(k).is_some_and(|lv| is_subset(v, lv))),
        (Value::Array(d), Value::Array(l)) => {
            d.len() == l.len() && d.iter().zip(l).all(|(a, b)| is_subset(a, b))
        }
        (d, l) => d == l,
    }
}

/// PURE: whether the live child `live` may be written for the owner with `uid`: its controller
/// owner reference names that owner. Anything else (another controller's object, a Helm
/// release's PDB, a hand-made Deployment) is not ours: a Deployment's selector cannot even be
/// changed, so taking one over could not work anyway.
pub fn may_take(live: &ObjectMeta, uid: &str) -> bool {
    live.owner_references
        .iter()
        .flatten()
        .any(|o| o.controller == Some(true) && o.uid == uid)
}

/// Applies `desired` with the operator's field manager unless `live` already matches it.
/// Returns the object as the server holds it, and whether a write happened.
pub async fn apply_if_changed<K>(
    api: &Api<K>,
    name: &str,
    desired: &K,
    live: Option<K>,
) -> Result<(K, bool), kube::Error>
where
    K: Resource + Clone + Serialize + DeserializeOwned + std::fmt::Debug,
{
    let want = serde_json::to_value(desired).unwrap_or(Value::Null);
    if let Some(live) = live {
        let have = serde_json::to_value(&live).unwrap_or(Value::Null);
        if is_subset(&strip_meta(want.clone()), &have) {
            return Ok((live, false));
        }
    }
    let applied = api
        .patch(
            name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(desired),
        )
        .await?;
    Ok((applied, true))
}

/// apiVersion/kind are always equal for the same type; comparing them against a live object
/// (which may lack them when read from a cache) would only cause needless applies.
fn strip_meta(mut v: Value) -> Value {
    if let Value::Object(m) = &mut v {
        m.remove("apiVersion");
        m.remove("kind");
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_children_we_control_may_be_taken() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
        let owner = |uid: &str, controller: bool| OwnerReference {
            uid: uid.into(),
            controller: Some(controller),
            ..Default::default()
        };
        let meta = |refs: Vec<OwnerReference>| ObjectMeta {
            owner_references: Some(refs),
            ..Default::default()
        };
        assert!(may_take(&meta(vec![owner("u1", true)]), "u1"));
        assert!(
            !may_take(&meta(vec![owner("u2", true)]), "u1"),
            "another owner"
        );
        assert!(
            !may_take(&meta(vec![owner("u1", false)]), "u1"),
            "not as controller"
        );
        assert!(!may_take(&ObjectMeta::default(), "u1"), "made by hand");
    }

    #[test]
    fn subset_ignores_server_defaults_but_not_changes() {
        let desired = json!({"spec": {"replicas": 2, "template": {"containers": [{"name": "w", "image": "a"}]}}});
        let live = json!({"spec": {"replicas": 2, "revisionHistoryLimit": 10,
            "template": {"containers": [{"name": "w", "image": "a", "terminationMessagePath": "/dev/x"}]}}});
        assert!(is_subset(&desired, &live));
        let edited = json!({"spec": {"replicas": 2, "template": {"containers": [{"name": "w", "image": "b"}]}}});
        assert!(!is_subset(&desired, &edited));
        let scaled = json!({"spec": {"replicas": 5, "template": {"containers": [{"name": "w", "image": "a"}]}}});
        assert!(!is_subset(&desired, &scaled));
        let extra_container = json!({"spec": {"replicas": 2, "template": {"containers": [{"name": "w", "image": "a"}, {"name": "x"}]}}});
        assert!(!is_subset(&desired, &extra_container));
    }
}
