//! Unit tests of the feed plan: which feed a FeedSource is, and that nothing is written unless
//! a field differs.

use super::*;
use crate::crd::FeedSource;

fn row(id: &str, url: &str) -> FeedRow {
    FeedRow {
        id: id.into(),
        name: "Feed hn".into(),
        url: url.into(),
        site_url: None,
        category_id: Some("cat-1".into()),
        fetch_content: true,
        fetch_limit: 20,
    }
}

const URL: &str = "https://example.com/hn.xml";

fn spec() -> FeedSpec {
    let mut s = FeedSource::test("news", "hn").spec.feed;
    s.id = None;
    s
}

#[test]
fn a_new_url_is_created_with_only_the_fields_the_spec_sets() {
    let mut s = spec();
    s.fetch_limit = Some(50);
    match plan(&s, None, &[row("a", "https://other.example/x")]) {
        Plan::Create { fields } => {
            assert_eq!(fields.url, URL);
            assert_eq!(fields.fetch_limit, Some(50));
            assert_eq!(fields.fetch_content, None, "left to the API's default");
            let body = serde_json::to_value(&fields).expect("json");
            assert!(body.get("fetchContent").is_none(), "{body}");
            assert_eq!(body["fetchLimit"], 50);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_one_feed_with_the_url_is_adopted_and_two_are_ambiguous() {
    assert_eq!(
        plan(&spec(), None, &[row("a", URL)]),
        Plan::Use {
            row: row("a", URL),
            origin: Origin::Adopted
        }
    );
    assert_eq!(
        plan(&spec(), None, &[row("a", URL), row("b", URL)]),
        Plan::Ambiguous {
            ids: vec!["a".into(), "b".into()]
        }
    );
}

#[test]
fn an_unchanged_feed_needs_no_write() {
    let mut s = spec();
    // Fields the spec leaves unset are buun-curator's, whatever their values.
    let mut r = row("a", URL);
    r.fetch_limit = 99;
    r.site_url = Some("https://example.com".into());
    r.fetch_content = false;
    assert!(matches!(
        plan(&s, None, std::slice::from_ref(&r)),
        Plan::Use { .. }
    ));
    s.site_url = Some("https://example.com".into());
    s.enable_content_fetch = Some(false);
    s.fetch_limit = Some(99);
    assert!(matches!(plan(&s, None, &[r]), Plan::Use { .. }));
}

#[test]
fn a_differing_field_is_patched_with_every_field() {
    let mut s = spec();
    s.fetch_limit = Some(5);
    s.name = "Hacker News".into();
    let recorded = Recorded {
        id: "a",
        created: true,
    };
    match plan(&s, Some(recorded), &[row("a", URL)]) {
        Plan::Update {
            origin,
            fields,
            changed,
            ..
        } => {
            assert_eq!(
                origin,
                Origin::Created,
                "the status remembers who created it"
            );
            assert_eq!(changed, vec!["name", "fetchLimit"]);
            // A PATCH resets what it leaves out: the row's values are sent back.
            assert_eq!(fields.category_id.as_deref(), Some("cat-1"));
            assert_eq!(fields.fetch_content, Some(true));
            assert_eq!(fields.fetch_limit, Some(5));
            let body = serde_json::to_value(&fields).expect("json");
            assert!(body.get("siteUrl").is_some_and(|v| v.is_null()), "{body}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_empty_site_url_is_the_apis_null() {
    let mut s = spec();
    s.site_url = Some(String::new());
    assert!(matches!(plan(&s, None, &[row("a", URL)]), Plan::Use { .. }));
}

#[test]
fn feed_id_decides_and_must_exist() {
    let mut s = spec();
    s.id = Some("given".into());
    assert_eq!(
        plan(&s, None, &[row("a", URL)]),
        Plan::NotListed { id: "given".into() },
        "a feed with the same URL is not taken instead"
    );
    assert!(matches!(
        plan(&s, None, &[row("given", URL)]),
        Plan::Use {
            origin: Origin::Exists,
            ..
        }
    ));
}

#[test]
fn a_recorded_feed_that_vanished_is_looked_for_again() {
    let recorded = Recorded {
        id: "gone",
        created: true,
    };
    assert!(matches!(
        plan(&spec(), Some(recorded), &[]),
        Plan::Create { .. }
    ));
    assert!(matches!(
        plan(&spec(), Some(recorded), &[row("b", URL)]),
        Plan::Use {
            origin: Origin::Adopted,
            ..
        }
    ));
}

#[test]
fn a_changed_url_updates_the_recorded_feed() {
    let mut s = spec();
    s.url = "https://example.com/new.xml".into();
    let recorded = Recorded {
        id: "a",
        created: false,
    };
    match plan(&s, Some(recorded), &[row("a", URL)]) {
        Plan::Update { changed, .. } => assert_eq!(changed, vec!["url"]),
        other => panic!("{other:?}"),
    }
}
