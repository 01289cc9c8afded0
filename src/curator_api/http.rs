//! [`FeedApi`] over HTTP (reqwest). Redirects are not followed: buun-curator answers a bad
//! token with a redirect to `/login`, which must read as "unauthorized", not as a login page.

use std::{sync::Arc, time::Duration};

use reqwest::{Method, StatusCode, redirect::Policy};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{ApiError, FeedApi, FeedFields, FeedRow};
use crate::metrics::Metrics;

/// buun-curator's API at one base URL with one token. Cloning shares the connection pool.
#[derive(Clone)]
pub struct HttpFeedApi {
    client: reqwest::Client,
    base: String,
    token: String,
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for HttpFeedApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpFeedApi")
            .field("base", &self.base)
            .field("token", &"<redacted>")
            .finish()
    }
}

impl HttpFeedApi {
    /// The API at `base` (e.g. `http://buun-curator:3000`), authenticating with `token`; every
    /// call is bounded by `timeout`.
    pub fn new(base: &str, token: &str, timeout: Duration) -> Result<Self, ApiError> {
        let client = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
            metrics: None,
        })
    }

    /// Records every call in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// A key for caches shared by callers of the same API with the same token (the token itself
    /// never leaves this value: only a digest of it).
    pub fn cache_key(&self) -> String {
        let digest = Sha256::digest(self.token.as_bytes());
        let short: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!("{} {short}", self.base)
    }

    /// One call. `route` names it in metrics (`GET /api/feeds/{id}`); `None` for a 404.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        route: &'static str,
        path: &str,
        body: Option<&FeedFields>,
    ) -> Result<Option<T>, ApiError> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let result = async {
            let resp = req
                .send()
                .await
                .map_err(|e| ApiError::Unavailable(without_url(e)))?;
            let status = resp.status();
            if status.is_redirection() || status == StatusCode::UNAUTHORIZED {
                return Err(ApiError::Unauthorized);
            }
            if status == StatusCode::NOT_FOUND {
                return Ok(None);
            }
            let bytes = resp
                .bytes()
                .await
                .map_err(|e| ApiError::Unavailable(without_url(e)))?;
            if status.is_success() {
                return serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                    ApiError::Unexpected {
                        status: status.as_u16(),
                        body: format!("not the expected JSON: {e}"),
                    }
                });
            }
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(300).collect());
            Err(match status {
                StatusCode::BAD_REQUEST => ApiError::Rejected(message),
                s if s.is_server_error() => ApiError::Unavailable(format!("{s}: {message}")),
                s => ApiError::Unexpected {
                    status: s.as_u16(),
                    body: message,
                },
            })
        }
        .await;
        if let Some(m) = &self.metrics {
            let outcome = match &result {
                Ok(Some(_)) => "ok",
                Ok(None) => "not-found",
                Err(e) => e.reason(),
            };
            m.feed_api_call(route, outcome);
        }
        result
    }
}

/// A transport error's text without the URL (which carries nothing secret, but is noise).
fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    format!("{kind}: {}", e.without_url())
}

impl FeedApi for HttpFeedApi {
    async fn list(&self) -> Result<Vec<FeedRow>, ApiError> {
        let rows = self
            .call(Method::GET, "GET /api/feeds", "/api/feeds", None)
            .await?;
        Ok(rows.unwrap_or_default())
    }

    async fn get(&self, id: &str) -> Result<Option<FeedRow>, ApiError> {
        let path = format!("/api/feeds/{}", encode(id));
        self.call(Method::GET, "GET /api/feeds/{id}", &path, None)
            .await
    }

    async fn create(&self, fields: &FeedFields) -> Result<FeedRow, ApiError> {
        self.call(Method::POST, "POST /api/feeds", "/api/feeds", Some(fields))
            .await?
            .ok_or_else(|| ApiError::Unexpected {
                status: 404,
                body: "POST /api/feeds answered 404".into(),
            })
    }

    async fn update(&self, id: &str, fields: &FeedFields) -> Result<Option<FeedRow>, ApiError> {
        let path = format!("/api/feeds/{}", encode(id));
        self.call(Method::PATCH, "PATCH /api/feeds/{id}", &path, Some(fields))
            .await
    }

    async fn delete(&self, id: &str) -> Result<bool, ApiError> {
        let path = format!("/api/feeds/{}", encode(id));
        let r: Option<serde_json::Value> = self
            .call(Method::DELETE, "DELETE /api/feeds/{id}", &path, None)
            .await?;
        Ok(r.is_some())
    }
}

/// A path segment, percent-encoded.
fn encode(id: &str) -> String {
    url::form_urlencoded::byte_serialize(id.as_bytes()).collect()
}
