//! `FeedClaim`: which FeedSource holds one buun-curator feed, kept by the operator where no
//! tenant can write it (a cluster-scoped object; tenants' roles are namespaced). One FeedSource
//! at a time writes to a feed; only the FeedSource the operator created the feed for may
//! delete it, and only while no other waits for it.

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Label on a FeedClaim: the UID of the FeedSource that holds it (to find a FeedSource's
/// claims when it is deleted or moves to another feed).
pub const HOLDER_UID_LABEL: &str = "curator.buun.dev/holder-uid";

/// Which FeedSource holds one feed of one buun-curator API. Written only by the operator.
#[allow(
    clippy::duplicated_attributes,
    reason = "kube's printcolumn(...) entries repeat the same keys by design"
)]
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[kube(
    group = "curator.buun.dev",
    version = "v1alpha1",
    kind = "FeedClaim",
    plural = "feedclaims",
    shortname = "fclaim",
    category = "curator",
    doc = "Which FeedSource holds a buun-curator feed, and for which one the operator created it. Written by the operator only: delete one to free a feed a namespace keeps.",
    printcolumn(name = "Feed", type_ = "string", json_path = ".spec.feedId"),
    printcolumn(
        name = "Namespace",
        type_ = "string",
        description = "The namespace the feed belongs to.",
        json_path = ".spec.namespace"
    ),
    printcolumn(
        name = "Holder",
        type_ = "string",
        description = "The FeedSource that holds the feed (none: released).",
        json_path = ".spec.holder.name"
    ),
    printcolumn(
        name = "Created For",
        type_ = "string",
        description = "The FeedSource the operator created the feed for.",
        json_path = ".spec.creator.name"
    ),
    printcolumn(name = "API", type_ = "string", priority = 1, json_path = ".spec.api"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct FeedClaimSpec {
    /// buun-curator's API, its URL normalised (scheme and host in lower case, no default port,
    /// no trailing slash).
    pub api: String,
    /// The feed's ID in buun-curator.
    pub feed_id: String,
    /// The namespace the feed belongs to: that of the first FeedSource that held it. A
    /// FeedSource of another namespace takes it only where the operator allows adoption across
    /// namespaces (`--allow-cross-namespace-adoption`).
    pub namespace: String,
    /// The FeedSource that holds the feed: the only one that writes to it. Unset: released
    /// (its holder is gone and the feed was kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holder: Option<FeedSourceRef>,
    /// The FeedSource the operator created the feed for: the only one whose
    /// `feedDeletionPolicy: Delete` deletes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<FeedSourceRef>,
    /// FeedSources that resolve to the same feed and wait for it, first come first served.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting: Vec<FeedSourceRef>,
}

/// One FeedSource, by namespace, name and UID (a FeedSource recreated under the same name is
/// another one).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedSourceRef {
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
    /// Its UID.
    pub uid: String,
}

impl std::fmt::Display for FeedSourceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}
