//! [`FeedApi`] over HTTP (reqwest), and [`Endpoints`]: the operator's one client for every
//! buun-curator it serves, and the check each base URL passes before a token is sent there
//! (`--allowed-curator-api-urls`, [`crate::crd::api_url`]). Redirects are not followed:
//! buun-curator answers a bad token with a redirect to `/login`, which must read as
//! "unauthorized", not as a login page. No proxy is used unless one is configured for the
//! operator; every answer is read up to a bound; an answer from an endpoint no entry of the
//! list names is never quoted.

use std::{sync::Arc, time::Duration};

use reqwest::{Method, StatusCode, redirect::Policy};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use super::{ApiError, FeedApi, FeedFields, FeedRow};
use crate::{
    crd::api_url::{ApiUrl, UrlAllowList},
    metrics::Metrics,
};

/// The largest answer read by default: 32 MiB (a listing of 10,000 feeds is about 6 MB).
pub const DEFAULT_MAX_BODY: usize = 32 << 20;

/// How the operator reaches buun-curator's APIs.
#[derive(Clone, Debug)]
pub struct EndpointOptions {
    /// Bound of every call (connect included).
    pub timeout: Duration,
    /// Where the token may go.
    pub allowed: UrlAllowList,
    /// The largest answer read, in bytes.
    pub max_body: usize,
    /// A proxy for every call (`None`: none, whatever the environment says).
    pub proxy: Option<String>,
}

impl EndpointOptions {
    /// No list (any `https://` URL and loopback), no proxy, [`DEFAULT_MAX_BODY`].
    pub fn new(timeout: Duration) -> Self {
        Self {
            timeout,
            allowed: UrlAllowList::default(),
            max_body: DEFAULT_MAX_BODY,
            proxy: None,
        }
    }
}

/// One HTTP client for every buun-curator (its pool keeps a connection per host), and the
/// check of each base URL. Cloning shares the client.
#[derive(Clone)]
pub struct Endpoints {
    client: reqwest::Client,
    allowed: Arc<UrlAllowList>,
    max_body: usize,
    metrics: Option<Arc<Metrics>>,
}

impl Endpoints {
    /// The client `options` describe.
    pub fn new(options: EndpointOptions) -> Result<Self, ApiError> {
        let mut builder = reqwest::Client::builder()
            .redirect(Policy::none())
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .no_proxy();
        if let Some(p) = &options.proxy {
            let proxy = reqwest::Proxy::all(p)
                .map_err(|e| ApiError::NotAllowed(format!("proxy {p:?}: {e}")))?;
            builder = builder.proxy(proxy);
        }
        let client = builder
            .build()
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
        Ok(Self {
            client,
            allowed: Arc::new(options.allowed),
            max_body: options.max_body,
            metrics: None,
        })
    }

    /// Records every call in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// PURE: `url` read by the grammar and checked against the list: the one check before the
    /// token is sent there, by the operator or by a worker Deployment.
    pub fn check(&self, url: &str) -> Result<(ApiUrl, bool), ApiError> {
        let parsed = ApiUrl::parse(url).map_err(|e| ApiError::NotAllowed(e.to_string()))?;
        let allowed = self.allowed.check(&parsed).map_err(ApiError::NotAllowed)?;
        Ok((parsed, allowed.listed))
    }

    /// The API at `url`, authenticating with `token`, once `url` passed [`Endpoints::check`].
    pub fn api(&self, url: &str, token: &str) -> Result<HttpFeedApi, ApiError> {
        let (parsed, listed) = self.check(url)?;
        Ok(HttpFeedApi {
            client: self.client.clone(),
            base: parsed.to_string(),
            token: token.trim().to_owned(),
            metrics: self.metrics.clone(),
            quote: listed,
            max_body: self.max_body,
        })
    }
}

/// buun-curator's API at one base URL with one token. Cloning shares the connection pool.
#[derive(Clone)]
pub struct HttpFeedApi {
    client: reqwest::Client,
    base: String,
    token: String,
    metrics: Option<Arc<Metrics>>,
    /// Whether its answers may be quoted (an entry of the list names it).
    quote: bool,
    max_body: usize,
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
            // A listing always exists: a 404 is another service (an ingress's default
            // backend), never "no feeds".
            if status == StatusCode::NOT_FOUND && route != "GET /api/feeds" {
                return Ok(None);
            }
            let bytes = bounded(resp, self.max_body).await?;
            if status.is_success() {
                return serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                    ApiError::Unexpected {
                        status: status.as_u16(),
                        body: format!("not the expected JSON: {e}"),
                    }
                });
            }
            let message = if self.quote {
                serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v["error"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(300).collect())
            } else {
                "(the answer is not quoted: no entry of --allowed-curator-api-urls names this endpoint)".into()
            };
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

/// The body of `resp`, read up to `max` bytes: a longer one is refused unread.
async fn bounded(mut resp: reqwest::Response, max: usize) -> Result<Vec<u8>, ApiError> {
    let status = resp.status().as_u16();
    let too_long = || ApiError::Unexpected {
        status,
        body: format!("the answer is longer than {max} bytes (--curator-api-max-response-bytes)"),
    };
    if resp.content_length().is_some_and(|n| n > max as u64) {
        return Err(too_long());
    }
    let mut out = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ApiError::Unavailable(without_url(e)))?
    {
        if out.len() + chunk.len() > max {
            return Err(too_long());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
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
