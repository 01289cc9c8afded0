//! A fake buun-curator feed API on a loopback port, written to the contract table of
//! CONTRACT.md: a bad or missing token is answered with a 307 redirect to `/login`; feed URLs are
//! not unique; a POST or PATCH starts one ingestion run (counted here); a PATCH writes every
//! field (a missing `fetchContent` becomes true, a missing `fetchLimit` 20, missing
//! `siteUrl`/`categoryId` null); 404 bodies are `{"error": "Feed not found"}`.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use serde_json::{Value, json};

/// The fake API's state.
#[derive(Default)]
pub struct FakeCuratorApi {
    /// The token it accepts.
    pub token: String,
    /// Feed rows by ID.
    pub feeds: Mutex<BTreeMap<String, Value>>,
    /// Ingestion runs started by POST and PATCH.
    pub ingestion_runs: AtomicU64,
    /// Requests as `METHOD /path`.
    pub requests: Mutex<Vec<String>>,
    /// When true, every call answers 503.
    pub down: AtomicBool,
    /// How long every call takes to be answered, in milliseconds (a slow API).
    pub delay_ms: AtomicU64,
    next_id: AtomicU64,
}

/// A running fake API.
pub struct Running {
    /// Its state.
    pub api: Arc<FakeCuratorApi>,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeCuratorApi {
    /// Serves a fresh API accepting `token` on a free loopback port.
    pub async fn start(token: &str) -> Running {
        let api = Arc::new(FakeCuratorApi {
            token: token.to_owned(),
            ..Default::default()
        });
        let app = Router::new()
            .route("/api/feeds", get(list).post(create))
            .route("/api/feeds/{id}", get(one).patch(update).delete(remove))
            .layer(axum::middleware::from_fn_with_state(api.clone(), slow))
            .with_state(api.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("bind: {e}"));
        let url = format!(
            "http://{}",
            listener
                .local_addr()
                .unwrap_or_else(|e| panic!("addr: {e}"))
        );
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Running { api, url, task }
    }

    /// Adds a feed as buun-curator's UI would (no ingestion counted); returns its ID.
    pub fn add(&self, name: &str, url: &str) -> String {
        let id = self.new_id();
        let row = json!({
            "id": id, "name": name, "url": url, "siteUrl": null, "categoryId": null,
            "type": null, "fetchContent": true, "fetchLimit": 20, "options": null, "etag": null,
            "lastModified": null, "checkedAt": null,
            "createdAt": "2026-11-29T00:00:00.000Z", "updatedAt": "2026-11-29T00:00:00.000Z",
        });
        self.feeds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), row);
        id
    }

    /// Changes a stored feed in place, as a person in the UI would.
    pub fn edit(&self, id: &str, f: impl FnOnce(&mut Value)) {
        if let Some(row) = self
            .feeds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get_mut(id)
        {
            f(row);
        }
    }

    /// A stored feed.
    pub fn feed(&self, id: &str) -> Option<Value> {
        self.feeds
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(id)
            .cloned()
    }

    /// Requests seen whose `METHOD /path` starts with `prefix`.
    pub fn count(&self, prefix: &str) -> usize {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|r| r.starts_with(prefix))
            .count()
    }

    /// POST and PATCH requests seen (each starts an ingestion run in buun-curator).
    pub fn writes(&self) -> usize {
        self.count("POST ") + self.count("PATCH ") + self.count("DELETE ")
    }

    fn new_id(&self) -> String {
        // A ULID-shaped ID: 26 characters.
        format!("01FAKE{:020}", self.next_id.fetch_add(1, Ordering::Relaxed))
    }

    fn check(&self, method: &str, path: &str, headers: &HeaderMap) -> Option<Response> {
        self.requests
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(format!("{method} {path}"));
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer != Some(self.token.as_str()) {
            return Some(
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(header::LOCATION, "/login")],
                )
                    .into_response(),
            );
        }
        if self.down.load(Ordering::Relaxed) {
            return Some(
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": "Failed to fetch feeds"})),
                )
                    .into_response(),
            );
        }
        None
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "Feed not found"})),
    )
        .into_response()
}

/// `name` and `url` must be non-empty strings, as the API checks.
fn invalid(body: &Value) -> Option<Response> {
    for (field, message) in [("name", "Name is required"), ("url", "URL is required")] {
        if body[field].as_str().is_none_or(|s| s.is_empty()) {
            return Some(
                (StatusCode::BAD_REQUEST, Json(json!({"error": message}))).into_response(),
            );
        }
    }
    None
}

/// `value || null`, as the API stores optional strings.
fn or_null(v: &Value) -> Value {
    match v.as_str() {
        Some(s) if !s.is_empty() => json!(s),
        _ => Value::Null,
    }
}

/// Answers after [`FakeCuratorApi::delay_ms`].
async fn slow(
    State(api): State<Arc<FakeCuratorApi>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let ms = api.delay_ms.load(Ordering::Relaxed);
    if ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    next.run(req).await
}

async fn list(State(api): State<Arc<FakeCuratorApi>>, headers: HeaderMap) -> Response {
    if let Some(r) = api.check("GET", "/api/feeds", &headers) {
        return r;
    }
    let mut rows: Vec<Value> = api
        .feeds
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .values()
        .cloned()
        .collect();
    rows.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    Json(Value::Array(rows)).into_response()
}

async fn create(
    State(api): State<Arc<FakeCuratorApi>>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    if let Some(r) = api
        .check("POST", "/api/feeds", &headers)
        .or_else(|| invalid(&body))
    {
        return r;
    }
    let id = api.add(body["name"].as_str().unwrap_or_default(), "");
    api.edit(&id, |row| {
        row["url"] = body["url"].clone();
        row["siteUrl"] = or_null(&body["siteUrl"]);
        row["categoryId"] = or_null(&body["categoryId"]);
        row["type"] = or_null(&body["type"]);
        row["fetchContent"] = json!(body["fetchContent"].as_bool().unwrap_or(true));
        row["fetchLimit"] = json!(body["fetchLimit"].as_i64().unwrap_or(20));
    });
    api.ingestion_runs.fetch_add(1, Ordering::Relaxed);
    (StatusCode::CREATED, Json(api.feed(&id).unwrap_or_default())).into_response()
}

async fn one(
    State(api): State<Arc<FakeCuratorApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = api.check("GET", &format!("/api/feeds/{id}"), &headers) {
        return r;
    }
    match api.feed(&id) {
        Some(row) => Json(row).into_response(),
        None => not_found(),
    }
}

async fn update(
    State(api): State<Arc<FakeCuratorApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let path = format!("/api/feeds/{id}");
    if let Some(r) = api
        .check("PATCH", &path, &headers)
        .or_else(|| invalid(&body))
    {
        return r;
    }
    if api.feed(&id).is_none() {
        return not_found();
    }
    api.edit(&id, |row| {
        row["name"] = body["name"].clone();
        row["url"] = body["url"].clone();
        row["siteUrl"] = or_null(&body["siteUrl"]);
        row["categoryId"] = or_null(&body["categoryId"]);
        row["fetchContent"] = json!(body["fetchContent"].as_bool().unwrap_or(true));
        row["fetchLimit"] = json!(body["fetchLimit"].as_i64().unwrap_or(20));
    });
    api.ingestion_runs.fetch_add(1, Ordering::Relaxed);
    Json(api.feed(&id).unwrap_or_default()).into_response()
}

async fn remove(
    State(api): State<Arc<FakeCuratorApi>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = api.check("DELETE", &format!("/api/feeds/{id}"), &headers) {
        return r;
    }
    let gone = api
        .feeds
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .remove(&id);
    match gone {
        Some(_) => Json(json!({"success": true})).into_response(),
        None => not_found(),
    }
}
