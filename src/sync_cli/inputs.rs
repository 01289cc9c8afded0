//! PURE: the documents → the feeds to sync, grouped by Temporal location. Anything that makes
//! the input unusable (a document that does not parse or breaks a CRD rule, a FeedSource
//! declared twice, an undeclared worker, a spec that cannot become a schedule) is collected,
//! and then nothing is sent to Temporal: a partial apply, or a prune that takes an unreadable
//! file's feeds for deleted ones, is worse than none.

use std::collections::{BTreeMap, BTreeSet};

use kube::ResourceExt;

use super::{
    documents::Documents,
    feed::Feed,
    register::{NEW_FEED_ID, Pending},
};
use crate::{
    crd::CuratorWorker,
    feed::route::{NoRoute, Route, route},
    schedule::{BuildOptions, desired},
};

/// buun-curator's API as `sync` is given it: a URL that overrides the workers'
/// `spec.curatorApi.url` (`--curator-api-url`), and whether a token is set
/// (`INTERNAL_API_TOKEN`). A FeedSource is settled there when its API has a URL and a token.
#[derive(Clone, Copy, Debug, Default)]
pub struct ApiGiven<'a> {
    /// `--curator-api-url` / `BUUN_CURATOR_API_URL`.
    pub url: Option<&'a str>,
    /// Whether `INTERNAL_API_TOKEN` is set.
    pub token: bool,
}

/// A Temporal frontend address and namespace.
pub type Location = (String, String);

/// What a run works on.
#[derive(Clone, Debug, Default)]
pub struct Prepared {
    /// Every declared feed that needs no API, in document order.
    pub feeds: Vec<Feed>,
    /// FeedSources whose feed is settled in buun-curator first, in document order.
    pub pending: Vec<Pending>,
    /// Every location a declared worker points at, with the schedule IDs declared there.
    pub locations: BTreeMap<Location, BTreeSet<String>>,
    /// The Kubernetes namespaces of the documents: `--prune` looks only at schedules of these.
    pub namespaces: BTreeSet<String>,
}

/// Prepares `docs` without buun-curator's API; `address` overrides every worker's frontend
/// address.
pub fn prepare(
    docs: &Documents,
    opts: &BuildOptions,
    address: Option<&str>,
) -> Result<Prepared, Vec<String>> {
    prepare_with(docs, opts, address, ApiGiven::default())
}

/// Prepares `docs`; `address` overrides every worker's frontend address, `api` says how
/// buun-curator's API is reached. A FeedSource without `feed.id` needs that API.
pub fn prepare_with(
    docs: &Documents,
    opts: &BuildOptions,
    address: Option<&str>,
    api: ApiGiven<'_>,
) -> Result<Prepared, Vec<String>> {
    let mut errors = docs.errors.clone();
    let mut out = Prepared::default();
    let workers = index_workers(docs, address, &mut out, &mut errors);
    let mut seen = BTreeSet::new();
    for f in &docs.feeds {
        let (ns, name) = (f.namespace().unwrap_or_default(), f.name_any());
        let resource = format!("{ns}/{name}");
        out.namespaces.insert(ns.clone());
        if !seen.insert(resource.clone()) {
            errors.push(format!("FeedSource {resource} is declared twice"));
            continue;
        }
        let Some(worker) = workers.get(&(ns.clone(), f.spec.worker_ref.name.clone())) else {
            errors.push(format!(
                "FeedSource {resource}: CuratorWorker {:?} is not declared in namespace {ns}",
                f.spec.worker_ref.name
            ));
            continue;
        };
        let mut temporal = worker.spec.temporal.clone();
        if let Some(a) = address {
            temporal.address = a.to_owned();
        }
        // The spec is checked now, with a stand-in for a feed ID still to be settled, so that
        // a bad spec stops the run before anything is written to buun-curator.
        let feed_id = f.spec.feed.id.as_deref().unwrap_or(NEW_FEED_ID);
        let d = match desired::build_for_feed(&ns, &name, "", &f.spec, feed_id, &temporal, opts) {
            Ok(d) => d,
            Err(e) => {
                errors.push(format!("FeedSource {resource}: invalid spec: {e}"));
                continue;
            }
        };
        out.locations
            .entry((d.address.clone(), d.namespace.clone()))
            .or_default()
            .insert(d.id.clone());
        let api_url = api
            .url
            .map(str::to_owned)
            .or_else(|| worker.spec.curator_api.as_ref().map(|c| c.url.clone()));
        let given = api_url.as_deref().map(|url| (url, api.token));
        match route(f.spec.feed.id.as_deref(), given) {
            Ok(Route::Register) => out.pending.push(Pending {
                resource,
                schedule_id: d.id,
                api: api_url.unwrap_or_default(),
                source: f.clone(),
                temporal,
            }),
            Ok(Route::Unchecked(_)) => out.feeds.push(Feed::new(resource, d)),
            Err(e @ NoRoute::NoApi) => errors.push(format!(
                "FeedSource {resource}: {e} (CuratorWorker {:?} has no spec.curatorApi.url, and \
                 --curator-api-url / BUUN_CURATOR_API_URL is not given; give the API and \
                 INTERNAL_API_TOKEN)",
                f.spec.worker_ref.name
            )),
            Err(e) => errors.push(format!("FeedSource {resource}: {e}")),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The declared CuratorWorkers by (namespace, name); each one's Temporal location and
/// namespace join `out`, and a worker declared twice is an error.
fn index_workers<'a>(
    docs: &'a Documents,
    address: Option<&str>,
    out: &mut Prepared,
    errors: &mut Vec<String>,
) -> BTreeMap<(String, String), &'a CuratorWorker> {
    let mut workers = BTreeMap::new();
    for w in &docs.workers {
        let key = (w.namespace().unwrap_or_default(), w.name_any());
        if workers.insert(key.clone(), w).is_some() {
            errors.push(format!(
                "CuratorWorker {}/{} is declared twice",
                key.0, key.1
            ));
        }
        let mut temporal = w.spec.temporal.clone();
        if let Some(a) = address {
            temporal.address = a.to_owned();
        }
        out.locations
            .entry((temporal.address, temporal.namespace))
            .or_default();
        out.namespaces.insert(key.0);
    }
    workers
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync_cli::documents::parse_documents;

    const DOCS: &str = r#"
apiVersion: curator.buun.dev/v1alpha1
kind: CuratorWorker
metadata: {name: curator, namespace: news}
spec: {image: "w:1", temporal: {address: "temporal:7233"}}
---
apiVersion: curator.buun.dev/v1alpha1
kind: FeedSource
metadata: {name: hn, namespace: news}
spec:
  workerRef: {name: curator}
  feed: {id: "01H", name: HN, url: "https://news.ycombinator.com/rss"}
  schedule: {every: 30m}
"#;

    fn docs(text: &str) -> Documents {
        let mut d = Documents::default();
        parse_documents(text, "test.yaml", "default", &mut d);
        d
    }

    #[test]
    fn feeds_are_grouped_by_location_with_the_address_override() {
        let opts = BuildOptions::new("curator", "curator-operator");
        let p = prepare(&docs(DOCS), &opts, Some("127.0.0.1:7233")).expect("valid");
        assert_eq!(p.feeds.len(), 1);
        assert_eq!(p.feeds[0].resource, "news/hn");
        assert_eq!(p.feeds[0].desired.id, "curator/news/hn");
        let loc = ("127.0.0.1:7233".to_owned(), "default".to_owned());
        assert_eq!(
            p.locations
                .get(&loc)
                .map(|ids| ids.iter().cloned().collect::<Vec<_>>()),
            Some(vec!["curator/news/hn".to_owned()])
        );
        assert!(
            p.feeds[0].expected.is_some(),
            "an interval spec is predictable"
        );
    }

    #[test]
    fn any_bad_document_stops_the_run() {
        let opts = BuildOptions::new("curator", "curator-operator");
        let twice = format!("{DOCS}---{}", DOCS.split("---").nth(1).expect("feed"));
        let e = prepare(&docs(&twice), &opts, None).expect_err("duplicate");
        assert!(e.iter().any(|e| e.contains("declared twice")), "{e:?}");
        let orphan = DOCS.split("---").nth(1).expect("feed");
        let e = prepare(&docs(orphan), &opts, None).expect_err("no worker");
        assert!(
            e[0].contains("CuratorWorker \"curator\" is not declared"),
            "{e:?}"
        );
        let bad = DOCS.replace("every: 30m", "every: 30m, offset: 45m");
        let e = prepare(&docs(&bad), &opts, None).expect_err("offset");
        assert!(e[0].contains("invalid spec"), "{e:?}");
    }
}
