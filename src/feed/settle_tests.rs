//! Unit tests of the registration engine, on an in-memory feed API.

use std::sync::Mutex;

use super::*;
use crate::{curator_api::FeedFields, feed::Origin};

/// buun-curator's feed API in memory: the feeds, the calls, and a POST whose answer is lost
/// (the feed is made, the caller gets an error) when asked for.
#[derive(Default)]
struct MemApi {
    rows: Mutex<Vec<FeedRow>>,
    calls: Mutex<Vec<&'static str>>,
    lose_next_create: Mutex<bool>,
}

impl MemApi {
    fn with(rows: &[(&str, &str)]) -> Self {
        let api = Self::default();
        for (id, url) in rows {
            api.add(id, url);
        }
        api
    }

    fn add(&self, id: &str, url: &str) {
        self.rows.lock().expect("rows").push(FeedRow {
            id: id.into(),
            name: "HN".into(),
            url: url.into(),
            site_url: None,
            category_id: None,
            fetch_content: true,
            fetch_limit: 20,
        });
    }

    fn calls(&self, call: &str) -> usize {
        self.calls
            .lock()
            .expect("calls")
            .iter()
            .filter(|c| **c == call)
            .count()
    }

    fn call(&self, call: &'static str) {
        self.calls.lock().expect("calls").push(call);
    }
}

impl FeedApi for MemApi {
    async fn list(&self) -> Result<Vec<FeedRow>, ApiError> {
        self.call("list");
        Ok(self.rows.lock().expect("rows").clone())
    }
    async fn get(&self, id: &str) -> Result<Option<FeedRow>, ApiError> {
        self.call("get");
        Ok(self
            .rows
            .lock()
            .expect("rows")
            .iter()
            .find(|r| r.id == id)
            .cloned())
    }
    async fn create(&self, fields: &FeedFields) -> Result<FeedRow, ApiError> {
        self.call("create");
        let id = format!("new-{}", self.calls("create"));
        self.add(&id, &fields.url);
        let row = self
            .rows
            .lock()
            .expect("rows")
            .last()
            .cloned()
            .expect("row");
        if std::mem::take(&mut *self.lose_next_create.lock().expect("flag")) {
            return Err(ApiError::Unavailable("the answer was lost".into()));
        }
        Ok(row)
    }
    async fn update(&self, id: &str, f: &FeedFields) -> Result<Option<FeedRow>, ApiError> {
        self.call("update");
        let mut rows = self.rows.lock().expect("rows");
        Ok(rows.iter_mut().find(|r| r.id == id).map(|r| {
            r.name.clone_from(&f.name);
            r.clone()
        }))
    }
    async fn delete(&self, _id: &str) -> Result<bool, ApiError> {
        self.call("delete");
        Ok(true)
    }
}

fn spec(url: &str) -> FeedSpec {
    FeedSpec {
        name: "HN".into(),
        url: url.into(),
        ..Default::default()
    }
}

fn ask<'a>(spec: &'a FeedSpec, retry: Retry) -> Ask<'a> {
    Ask {
        spec,
        recorded: None,
        dry_run: false,
        retry,
        max_age: Duration::from_secs(60),
        fresh_for_create: Duration::from_secs(1),
    }
}

#[tokio::test]
async fn the_one_feed_with_the_url_is_adopted_and_nothing_is_written() {
    let api = MemApi::with(&[("f1", "https://hn/rss")]);
    let s = spec("https://hn/rss");
    let got = settle(&api, &FeedCache::default(), "k", &ask(&s, Retry::once())).await;
    assert!(
        matches!(&got.done, Ok(Done::Found { row, origin: Origin::Adopted }) if row.id == "f1"),
        "{got:?}"
    );
    assert_eq!((api.calls("create"), api.calls("update")), (0, 0));
}

#[tokio::test]
async fn a_post_is_decided_on_a_fresh_listing() {
    let api = MemApi::default();
    let cache = FeedCache::default();
    let s = spec("https://hn/rss");
    // A listing from before the feed was added in buun-curator's UI.
    cache.put(&"k".to_owned(), Arc::new(Vec::new())).await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    api.add("ui", "https://hn/rss");
    let got = settle(&api, &cache, "k", &ask(&s, Retry::once())).await;
    assert!(
        matches!(&got.done, Ok(Done::Found { row, .. }) if row.id == "ui"),
        "{got:?}"
    );
    assert_eq!(api.calls("create"), 0, "adopted, not made twice");
}

#[tokio::test]
async fn a_post_whose_answer_was_lost_is_not_repeated() {
    let api = MemApi::default();
    *api.lose_next_create.lock().expect("flag") = true;
    let s = spec("https://hn/rss");
    let retry = Retry {
        budget: Duration::from_secs(5),
        first: Duration::from_millis(5),
        cap: Duration::from_millis(20),
    };
    let got = settle(&api, &FeedCache::default(), "k", &ask(&s, retry)).await;
    assert!(
        matches!(
            &got.done,
            Ok(Done::Found {
                origin: Origin::Adopted,
                ..
            })
        ),
        "{got:?}"
    );
    assert_eq!(api.calls("create"), 1, "one POST");
    assert_eq!(api.rows.lock().expect("rows").len(), 1, "one feed");
    assert_eq!(got.retries, 1);
}

#[tokio::test]
async fn a_dry_run_writes_nothing_and_an_id_not_listed_is_asked_for() {
    let api = MemApi::with(&[("f1", "https://old/rss")]);
    let s = spec("https://hn/rss");
    let mut a = ask(&s, Retry::once());
    a.dry_run = true;
    let got = settle(&api, &FeedCache::default(), "k", &a).await;
    assert_eq!(got.done, Ok(Done::WouldCreate));
    let mut by_id = spec("https://old/rss");
    by_id.id = Some("f1".into());
    by_id.name = "Renamed".into();
    let got = settle(&api, &FeedCache::default(), "k", &Ask { spec: &by_id, ..a }).await;
    assert!(matches!(got.done, Ok(Done::WouldUpdate { ref changed, .. }) if changed == &["name"]));
    assert_eq!((api.calls("create"), api.calls("update")), (0, 0));
    // Listed before the feed existed: a GET decides.
    let cache = FeedCache::default();
    cache.put(&"k".to_owned(), Arc::new(Vec::new())).await;
    let mut gone = spec("https://x/rss");
    gone.id = Some("nope".into());
    let got = settle(&api, &cache, "k", &ask(&gone, Retry::once())).await;
    assert_eq!(got.done, Ok(Done::NotFound { id: "nope".into() }));
    assert_eq!(api.calls("get"), 1);
}
