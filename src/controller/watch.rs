//! Watch helpers: which changes deserve a reconcile.

use std::{
    collections::{
        HashMap,
        hash_map::{DefaultHasher, Entry},
    },
    hash::{Hash, Hasher},
    pin::Pin,
};

use futures::{Stream, StreamExt, future};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
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
    keep_annotations(meta, |k| k != LAST_APPLIED);
}

/// The prefix of the annotations a FeedSource reconcile reads (`run-now`, `skip-cleanup`).
const FEED_ANNOTATIONS: &str = "curator.buun.dev/";

/// [`slim`] for FeedSources, the kind counted in thousands: also drops the labels and every
/// annotation but the operator's own (kubectl's last-applied among them), which no FeedSource
/// reconcile reads. GitOps tools add their own to every object (Argo CD's tracking annotation,
/// Helm's and Flux's labels): a few hundred bytes, and allocations, per cached FeedSource.
pub fn slim_feed(fs: &mut FeedSource) {
    let meta = &mut fs.metadata;
    meta.managed_fields = None;
    meta.labels = None;
    keep_annotations(meta, |k| k.starts_with(FEED_ANNOTATIONS));
}

/// Keeps the annotations whose key `keep` accepts; none left is no map at all.
fn keep_annotations(meta: &mut ObjectMeta, keep: impl Fn(&str) -> bool) {
    if let Some(a) = meta.annotations.as_mut() {
        a.retain(|k, _| keep(k));
        if a.is_empty() {
            meta.annotations = None;
        }
    }
}

/// PURE: the part of a FeedSource whose change needs a reconcile: its generation (spec), the
/// run-now annotation, deletion and finalizers. Status-only writes (including the operator's
/// own) hash the same and are skipped.
pub fn feed_predicate(fs: &FeedSource) -> u64 {
    let mut h = DefaultHasher::new();
    lifecycle(fs, &mut h);
    fs.annotations().get(RUN_NOW_ANNOTATION).hash(&mut h);
    fs.annotations().get(SKIP_CLEANUP_ANNOTATION).hash(&mut h);
    h.finish()
}

/// PURE: the part of any resource whose change needs a reconcile: its generation (spec),
/// deletion and finalizers (the finalizer helper adds its own and waits for that change).
pub fn spec_or_lifecycle<K: Resource>(obj: &K) -> u64 {
    let mut h = DefaultHasher::new();
    lifecycle(obj, &mut h);
    h.finish()
}

/// Watch events, errors included.
pub type Events<K> = Pin<Box<dyn Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send>>;

/// One watch shared by two controllers (one watch and one cache per kind and scope).
pub struct Tee<K> {
    /// Drives the watch; ends when both copies are dropped.
    pub drive: Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
    /// The events, for one controller.
    pub first: Events<K>,
    /// The same events, for the other.
    pub second: Events<K>,
}

/// Two copies of every event of `events`. Errors stay with the watch:
/// [`super::watch_health`] reports and retries them before this.
pub fn tee<K: Clone + Send + 'static>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send + 'static,
) -> Tee<K> {
    let (a_tx, a_rx) = futures::channel::mpsc::unbounded();
    let (b_tx, b_rx) = futures::channel::mpsc::unbounded();
    let drive = async move {
        let mut events = std::pin::pin!(events.filter_map(|e| future::ready(e.ok())));
        while let Some(event) = events.next().await {
            let a = a_tx.unbounded_send(event.clone());
            let b = b_tx.unbounded_send(event);
            if a.is_err() && b.is_err() {
                return;
            }
        }
    };
    Tee {
        drive: Box::pin(drive),
        first: Box::pin(a_rx.map(Ok)),
        second: Box::pin(b_rx.map(Ok)),
    }
}

fn lifecycle<K: Resource>(obj: &K, h: &mut DefaultHasher) {
    obj.meta().generation.hash(h);
    obj.meta().deletion_timestamp.is_some().hash(h);
    obj.finalizers().hash(h);
}

/// Objects from a watch whose `hash` changed since the last event of the same object (by UID),
/// as kube-runtime's `predicate_filter`, but with a smaller memory: the key is the UID alone (one
/// string, not name, namespace and UID), and a deleted object is forgotten at once, on its
/// delete event or, when a relist replaces the watch's view, at the end of that relist
/// (kube-runtime's filter keeps every entry for an hour). Deletions are not emitted: an object
/// being deleted still arrives, with its deletion timestamp, while a finalizer holds it.
pub fn changed<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
    hash: fn(&K) -> u64,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource + Send + 'static,
{
    by_uid(events, hash, false)
}

/// Objects from a watch whose generation changed, plus deleted ones (a plain predicate filter
/// would drop deletions, which do not change the generation). Forgets as [`changed`] does.
pub fn spec_changes_and_deletions<K>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource + Send + 'static,
{
    by_uid(events, |o: &K| o.meta().generation, true)
}

/// The objects whose `key` changed since the last event of the same UID, and the deleted ones
/// if `deletions`.
fn by_uid<K, V>(
    events: impl Stream<Item = Result<watcher::Event<K>, watcher::Error>> + Send,
    key: fn(&K) -> V,
    deletions: bool,
) -> impl Stream<Item = Result<K, watcher::Error>> + Send
where
    K: Resource + Send + 'static,
    V: PartialEq + Send + 'static,
{
    let mut seen = Seen::default();
    events
        .map(move |ev| match ev {
            Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => {
                seen.changed(uid_of(&o), key(&o)).then_some(Ok(o))
            }
            Ok(watcher::Event::Delete(o)) => {
                seen.forget(&uid_of(&o));
                deletions.then_some(Ok(o))
            }
            Ok(watcher::Event::Init) => {
                seen.relist();
                None
            }
            Ok(watcher::Event::InitDone) => {
                seen.relisted();
                None
            }
            Err(e) => Some(Err(e)),
        })
        .filter_map(future::ready)
}

fn uid_of<K: Resource>(o: &K) -> Box<str> {
    o.meta().uid.as_deref().unwrap_or_default().into()
}

/// The last key of every object, by UID; during a relist, the entries not yet listed again.
struct Seen<V> {
    now: HashMap<Box<str>, V>,
    before_relist: HashMap<Box<str>, V>,
}

impl<V> Default for Seen<V> {
    fn default() -> Self {
        Self {
            now: HashMap::new(),
            before_relist: HashMap::new(),
        }
    }
}

impl<V: PartialEq> Seen<V> {
    /// Records `key` for `uid`; whether it differs from the last one (or is the first).
    fn changed(&mut self, uid: Box<str>, key: V) -> bool {
        let before = self.before_relist.remove(&uid);
        match self.now.entry(uid) {
            Entry::Occupied(mut e) => e.insert(key) != *e.get(),
            Entry::Vacant(e) => before.as_ref() != Some(e.insert(key)),
        }
    }

    fn forget(&mut self, uid: &str) {
        self.now.remove(uid);
        self.before_relist.remove(uid);
    }

    /// A relist begins: what it does not list again is gone when it ends.
    fn relist(&mut self) {
        self.before_relist.extend(self.now.drain());
    }

    fn relisted(&mut self) {
        self.before_relist = HashMap::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{FieldsV1, ManagedFieldsEntry};

    fn feed(name: &str, uid: &str, generation: i64) -> FeedSource {
        let mut fs = FeedSource::test("news", name).with_uid(uid);
        fs.metadata.generation = Some(generation);
        fs
    }

    /// Runs `changed` with the FeedSource predicate; the names of what it let through.
    async fn let_through(events: Vec<watcher::Event<FeedSource>>) -> Vec<String> {
        changed(
            futures::stream::iter(events.into_iter().map(Ok)),
            feed_predicate,
        )
        .map(|r| r.expect("no error").name_any())
        .collect()
        .await
    }

    #[tokio::test]
    async fn changed_lets_through_what_its_hash_says_changed() {
        use watcher::Event::{Apply, Init, InitApply, InitDone};
        let mut status_only = feed("a", "u-a", 1);
        status_only.status = Some(Default::default());
        let got = let_through(vec![
            Init,
            InitApply(feed("a", "u-a", 1)),
            InitApply(feed("b", "u-b", 1)),
            InitDone,
            Apply(status_only),
            Apply(feed("a", "u-a", 2)),
            Apply(feed("b", "u-b", 1)),
        ])
        .await;
        assert_eq!(got, ["a", "b", "a"], "a status write alone is not a change");
    }

    #[tokio::test]
    async fn changed_forgets_deleted_objects_and_those_a_relist_no_longer_shows() {
        use watcher::Event::{Apply, Delete, Init, InitApply, InitDone};
        let got = let_through(vec![
            Apply(feed("a", "u-a", 1)),
            Apply(feed("b", "u-b", 1)),
            Apply(feed("c", "u-c", 1)),
            Delete(feed("a", "u-a", 1)),
            // The watch fell behind and relists: b is unchanged, c is gone.
            Init,
            InitApply(feed("b", "u-b", 1)),
            InitDone,
            // Forgotten objects count as new.
            Apply(feed("a", "u-a", 1)),
            Apply(feed("c", "u-c", 1)),
            Apply(feed("b", "u-b", 1)),
        ])
        .await;
        assert_eq!(got, ["a", "b", "c", "a", "c"]);
    }

    #[tokio::test]
    async fn spec_changes_and_deletions_lets_deletions_through_too() {
        use watcher::Event::{Apply, Delete};
        let events = vec![
            Apply(feed("a", "u-a", 1)),
            Apply(feed("a", "u-a", 1)),
            Apply(feed("a", "u-a", 2)),
            Delete(feed("a", "u-a", 2)),
            Apply(feed("a", "u-a", 2)),
        ];
        let got: Vec<_> =
            spec_changes_and_deletions(futures::stream::iter(events.into_iter().map(Ok)))
                .map(|r| r.expect("no error").metadata.generation)
                .collect()
                .await;
        assert_eq!(got, [Some(1), Some(2), Some(2), Some(2)]);
    }

    #[tokio::test]
    async fn changed_passes_watch_errors_on() {
        let events = vec![
            Err(watcher::Error::NoResourceVersion),
            Ok(watcher::Event::Apply(feed("a", "u-a", 1))),
        ];
        let got: Vec<_> = changed(futures::stream::iter(events), feed_predicate)
            .collect()
            .await;
        assert!(matches!(got[0], Err(watcher::Error::NoResourceVersion)));
        assert_eq!(got.len(), 2);
    }

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

    #[test]
    fn a_cached_feedsource_keeps_only_the_operators_annotations_and_no_labels() {
        let mut fs = FeedSource::test("news", "hn");
        fs.labels_mut()
            .insert("app.kubernetes.io/instance".into(), "feeds".into());
        let annotations = fs.annotations_mut();
        annotations.insert(
            "argocd.argoproj.io/tracking-id".into(),
            "feeds:curator.buun.dev/FeedSource:news/hn".into(),
        );
        annotations.insert(LAST_APPLIED.into(), "{}".into());
        annotations.insert(RUN_NOW_ANNOTATION.into(), "1".into());
        annotations.insert(SKIP_CLEANUP_ANNOTATION.into(), "true".into());
        let before = feed_predicate(&fs);
        slim_feed(&mut fs);
        assert_eq!(fs.metadata.labels, None);
        assert_eq!(
            fs.annotations().keys().collect::<Vec<_>>(),
            vec![RUN_NOW_ANNOTATION, SKIP_CLEANUP_ANNOTATION]
        );
        assert_eq!(
            feed_predicate(&fs),
            before,
            "nothing a decision reads changed"
        );

        let mut foreign = FeedSource::test("news", "lobsters");
        foreign
            .annotations_mut()
            .insert("meta.helm.sh/release-name".into(), "feeds".into());
        slim_feed(&mut foreign);
        assert_eq!(foreign.metadata.annotations, None);
    }
}
