//! buun-curator's feed API (`/api/feeds`), as the operator uses it: a small trait, its HTTP
//! implementation, and the shapes of the rows and bodies (see CONTRACT.md: every call needs the
//! internal API token; a bad one is answered with a redirect to `/login`; every POST and PATCH
//! starts one ingestion run of the feed).

pub mod http;

use std::future::Future;

use serde::{Deserialize, Serialize};

/// A feed as buun-curator's API returns it (the fields the operator reads).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedRow {
    /// The feed's ULID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Feed URL.
    pub url: String,
    /// Web site of the feed.
    #[serde(default)]
    pub site_url: Option<String>,
    /// Category, kept as it is by the operator.
    #[serde(default)]
    pub category_id: Option<String>,
    /// Whether content is fetched (buun-curator's default: true).
    #[serde(default = "default_fetch_content")]
    pub fetch_content: bool,
    /// Entries fetched per run (buun-curator's default: 20).
    #[serde(default = "default_fetch_limit")]
    pub fetch_limit: i32,
}

fn default_fetch_content() -> bool {
    true
}

fn default_fetch_limit() -> i32 {
    20
}

/// The body of a POST (new feed) or PATCH (all fields: a missing one is reset by the API).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeedFields {
    /// Display name.
    pub name: String,
    /// Feed URL.
    pub url: String,
    /// Web site of the feed.
    pub site_url: Option<String>,
    /// Category.
    pub category_id: Option<String>,
    /// Whether content is fetched; left out of a POST for the API's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetch_content: Option<bool>,
    /// Entries fetched per run; left out of a POST for the API's default.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetch_limit: Option<i32>,
}

/// A failed call to buun-curator's API.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The token was refused (buun-curator redirects to `/login`).
    #[error("buun-curator refused the API token (it redirects to /login)")]
    Unauthorized,
    /// The API refused the request itself (400), with its message.
    #[error("buun-curator refused the feed: {0}")]
    Rejected(String),
    /// The API could not be reached, timed out, or failed (5xx).
    #[error("buun-curator's API is unavailable: {0}")]
    Unavailable(String),
    /// The operator may not send the token to this URL (`--allowed-curator-api-urls`, or
    /// cleartext to a host other than loopback), or the URL is malformed: nothing was sent.
    #[error("{0}")]
    NotAllowed(String),
    /// Another FeedSource has been registering the same feed URL for longer than the
    /// operator waits: retried with backoff.
    #[error("another FeedSource is registering feed URL {0} with buun-curator; retried")]
    Busy(String),
    /// Any other answer.
    #[error("buun-curator's API answered {status}: {body}")]
    Unexpected {
        /// HTTP status.
        status: u16,
        /// Body (truncated).
        body: String,
    },
}

impl ApiError {
    /// Whether only a change (of the spec, or of the token Secret) can fix this.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ApiError::Unauthorized | ApiError::Rejected(_) | ApiError::NotAllowed(_)
        )
    }

    /// Stable PascalCase reason.
    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::Unauthorized => "CuratorApiUnauthorized",
            ApiError::Rejected(_) => "InvalidSpec",
            ApiError::Unavailable(_) | ApiError::Busy(_) => "CuratorApiUnavailable",
            ApiError::NotAllowed(_) => "CuratorApiNotAllowed",
            ApiError::Unexpected { .. } => "CuratorApiError",
        }
    }
}

/// buun-curator's feed API.
pub trait FeedApi: Send + Sync {
    /// Every feed.
    fn list(&self) -> impl Future<Output = Result<Vec<FeedRow>, ApiError>> + Send;
    /// One feed; `None` when it does not exist.
    fn get(&self, id: &str) -> impl Future<Output = Result<Option<FeedRow>, ApiError>> + Send;
    /// Creates a feed (and starts an ingestion run of it).
    fn create(&self, fields: &FeedFields)
    -> impl Future<Output = Result<FeedRow, ApiError>> + Send;
    /// Replaces a feed's fields (and starts an ingestion run); `None` when it does not exist.
    fn update(
        &self,
        id: &str,
        fields: &FeedFields,
    ) -> impl Future<Output = Result<Option<FeedRow>, ApiError>> + Send;
    /// Deletes a feed and its entries; `false` when it did not exist.
    fn delete(&self, id: &str) -> impl Future<Output = Result<bool, ApiError>> + Send;
}
impl crate::runtime::retry::Transient for ApiError {
    fn is_transient(&self) -> bool {
        !self.is_permanent()
    }
}
