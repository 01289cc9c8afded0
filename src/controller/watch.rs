//! Watch helpers: which changes deserve a reconcile.

use std::{
    collections::{HashMap, hash_map::DefaultHasher},
    hash::{Hash, Hasher},
};

use futures::{Stream, StreamExt, future};
use kube::{Resource, ResourceExt, runtime::watcher};

use crate::crd::{
    FeedSource,
    feedsource::{RUN_NOW_ANNOTATION, SKIP_CLEANUP_ANNOTATION},
};

/// The client-side-apply annotation: a copy of the whole last applied manifest.
const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no reconcile reads before an object enters a cache: `managedFields` (one entry
/// per field manager, each a tree of every field it owns: several times the size of the spec)
/// and kubectl's last-applied annotation. Writes never need them: status and finalizers are
/// patched, and server-side apply keeps its own record on the server.
pub fn slim<K: Resource>(obj: &mut K) {
    let meta = obj.meta_mut();
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
        if a.is_empty() {
            meta.annotations = None;
        }
    }
}

/// PURE: the part of a FeedSource whose change needs a reconcile: its generation (spec), the
/// run-now annotation, deletion and finalizers. Status-only writes (including the operator's
/// own) hash the same and are skipped.
pub fn feed_predicate(fs: &FeedSource) -> Option<u64> {
    let mut h = DefaultHasher::new();
    lifecycle(fs, &mut h);
    fs.annotations().get(RUN_NOW_ANNOTATION).hash(&mut h);
    fs.annotations().get(SKIP_CLEANUP_ANNOTATION).hash(&mut h);
    Some(h.finish())
}

/// PURE: the part of any resource whose change needs a reconcile: its generation (spec),
/// deletion and finalizers (the finalizer helper adds its own and waits for that change).
pub fn spec_or_lifecycle<K: Resource>(obj: &K) -> Option<u64> {
    let mut h = DefaultHasher::new();
    lifecycle(obj, &mut h);
    Some(h.finish())
}

fn lifecycle<K: Resource>(obj: &K, h: &mut DefaultHasher) {
    obj.meta().generation.hash(h);
    obj.meta().deletion_timestamp.is_some().hash(h);
    obj.finalizers().hash(h);
}

/// Objects from a watch whose generation changed, plus deleted ones (a plain predicate filter
/// would drop deletions, which do not change the generation).
pub fn spec_changes_and_deletions<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource + Clone + Send + 'static,
{
    let mut seen: HashMap<String, Option<i64>> = HashMap::new();
    events
        .map(move |ev| match ev {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                let key = o.meta().uid.clone().unwrap_or_default();
                let generation = o.meta().generation;
                if seen.insert(key, generation) == Some(generation) {
                    None
                } else {
                    Some(Ok(o))
                }
            }
            Ok(watcher::Event::Delete(o)) => {
                seen.remove(&o.meta().uid.clone().unwrap_or_default());
                Some(Ok(o))
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => None,
            Err(e) => Some(Err(e)),
        })
        .filter_map(future::ready)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};

    #[test]
    fn slim_keeps_what_reconciles_read_and_drops_the_rest() {
        let mut fs = FeedSource::test("news", "hn");
        fs.metadata.managed_fields = Some(vec![ManagedFieldsEntry {
            manager: Some("kubectl".into()),
            fields_v1: Some(FieldsV1(serde_json::json!({"f:spec": {"f:feed": {}}}))),
            ..Default::default()
        }]);
        fs.metadata.finalizers = Some(vec!["curator.buun.dev/schedule".into()]);
        let annotations = fs.annotations_mut();
        annotations.insert(LAST_APPLIED.into(), "{\"spec\":{}}".into());
        annotations.insert(RUN_NOW_ANNOTATION.into(), "1".into());
        let before = feed_predicate(&fs);
        slim(&mut fs);
        assert_eq!(fs.metadata.managed_fields, None);
        assert_eq!(
            fs.annotations().keys().collect::<Vec<_>>(),
            vec![RUN_NOW_ANNOTATION],
            "the annotations the operator reads stay"
        );
        assert_eq!(
            feed_predicate(&fs),
            before,
            "nothing a decision reads changed"
        );
        assert_eq!(fs.finalizers(), ["curator.buun.dev/schedule"]);

        let mut bare = FeedSource::test("news", "lobsters");
        bare.annotations_mut()
            .insert(LAST_APPLIED.into(), "{}".into());
        slim(&mut bare);
        assert_eq!(bare.metadata.annotations, None);
    }
}
