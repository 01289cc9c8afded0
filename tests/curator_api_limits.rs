//! buun-curator's API as the operator reads it, against real HTTP servers on loopback: an
//! answer is read up to a bound (issue 31, item 3), an endpoint no allow-list entry names is
//! never quoted, and a 404 on the listing is an error, not "no feeds".

use std::time::Duration;

use axum::{Router, body::Body, http::StatusCode, routing::get};
use curator_operator::{
    crd::api_url::{UrlAllowList, UrlPattern},
    curator_api::{
        ApiError, FeedApi,
        http::{EndpointOptions, Endpoints},
    },
};

/// Serves `app` on a free loopback port; its base URL.
async fn serve(app: Router) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(l, app).await });
    url
}

fn endpoints(max_body: usize, allowed: &[&str]) -> Endpoints {
    let mut o = EndpointOptions::new(Duration::from_secs(5));
    o.max_body = max_body;
    o.allowed = UrlAllowList::new(
        allowed
            .iter()
            .map(|p| UrlPattern::parse(p).expect("pattern"))
            .collect(),
    );
    Endpoints::new(o).expect("client")
}

#[tokio::test]
async fn an_answer_longer_than_the_bound_is_refused_unread() {
    // 64 MiB in 64 KiB chunks, without a Content-Length: the bound holds while streaming.
    let endless = || async {
        let chunk = bytes::Bytes::from(vec![b' '; 64 << 10]);
        let s =
            futures::stream::iter((0..1024).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
        Body::from_stream(s)
    };
    let url = serve(Router::new().route("/api/feeds", get(endless))).await;
    let api = endpoints(1 << 20, &[]).api(&url, "t").expect("api");
    let err = api.list().await.expect_err("over the bound");
    assert!(
        matches!(&err, ApiError::Unexpected { body, .. } if body.contains("longer than 1048576 bytes")),
        "{err:?}"
    );
    assert_eq!(err.reason(), "CuratorApiError");
    // Under the default bound, an ordinary listing reads.
    let small = serve(Router::new().route("/api/feeds", get(|| async { "[]" }))).await;
    let rows = endpoints(1 << 20, &[])
        .api(&small, "t")
        .expect("api")
        .list()
        .await;
    assert_eq!(rows, Ok(vec![]));
}

#[tokio::test]
async fn an_unlisted_endpoint_is_never_quoted() {
    let secret = "internal-admin-password=hunter2";
    let app = Router::new().route(
        "/api/feeds",
        get(move || async move { (StatusCode::IM_A_TEAPOT, secret) }),
    );
    let url = serve(app).await;
    let open = endpoints(1 << 20, &[]).api(&url, "t").expect("api");
    let err = open.list().await.expect_err("418").to_string();
    assert!(!err.contains("hunter2"), "quoted: {err}");
    assert!(err.contains("not quoted"), "{err}");
    let listed = endpoints(1 << 20, &[&url]).api(&url, "t").expect("api");
    let err = listed.list().await.expect_err("418").to_string();
    assert!(
        err.contains("hunter2"),
        "a listed endpoint's answer is quoted: {err}"
    );
}

#[tokio::test]
async fn a_404_on_the_listing_is_an_error_not_an_empty_list() {
    // An ingress's default backend answers 404 to everything.
    let url = serve(Router::new()).await;
    let api = endpoints(1 << 20, &[]).api(&url, "t").expect("api");
    let err = api.list().await.expect_err("404");
    assert!(
        matches!(err, ApiError::Unexpected { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(
        api.get("01ABC").await,
        Ok(None),
        "a feed that is not there is None"
    );
}

#[tokio::test]
async fn the_token_is_never_sent_in_cleartext_off_the_host_or_where_the_list_says_no() {
    let e = endpoints(1 << 20, &[]);
    let err = e
        .api("http://buun-curator.news:3000", "t")
        .expect_err("cleartext");
    assert_eq!(err.reason(), "CuratorApiNotAllowed");
    assert!(e.api("https://buun-curator.example", "t").is_ok());
    let listed = endpoints(1 << 20, &["http://buun-curator.*:3000"]);
    assert!(listed.api("http://buun-curator.news:3000", "t").is_ok());
    assert!(listed.api("https://other.example", "t").is_err());
    assert!(
        e.api("http://127.0.0.1@evil.example", "t").is_err(),
        "userinfo is not a host"
    );
}
