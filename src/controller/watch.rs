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
