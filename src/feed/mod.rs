//! FeedSource → its feed in buun-curator: which feed a FeedSource stands for, and what to
//! write so that the fields the API can write follow the spec (PURE: [`plan`], [`route`]), and
//! the one engine that settles it through the API for the controller and `sync`
//! ([`settle`]). Every POST and PATCH starts an ingestion run in buun-curator, so nothing is
//! written unless a field differs.

pub mod claim;
pub mod normal;
pub mod route;
pub mod settle;

use crate::{
    crd::{conditions::Failure, feedsource::FeedSpec},
    curator_api::{FeedFields, FeedRow},
};

/// Where the FeedSource's feed stands after a reconcile: `status.feedId` and the
/// `FeedRegistered` condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Registration {
    /// The worker has no `spec.curatorApi`: the feed (`feed.id`) is not checked.
    NotChecked {
        /// `feed.id`.
        id: String,
    },
    /// The feed is `id`.
    Registered {
        /// Its ID.
        id: String,
        /// How it was found or made.
        origin: Origin,
    },
    /// `feed.id` names no feed in buun-curator.
    NotFound {
        /// The ID.
        id: String,
    },
    /// More than one feed has the FeedSource's URL.
    Ambiguous {
        /// The URL.
        url: String,
        /// The feeds.
        ids: Vec<String>,
    },
    /// Another FeedSource holds the feed (its `FeedClaim`): nothing is written to it.
    HeldByOther {
        /// The feed.
        id: String,
        /// The holder, `namespace/name`.
        holder: String,
    },
    /// The feed belongs to another namespace, and the operator does not let a FeedSource take
    /// another namespace's feed.
    OfAnotherNamespace {
        /// The feed.
        id: String,
        /// The namespace it belongs to.
        namespace: String,
        /// Its holder there, `namespace/name`, if any.
        holder: Option<String>,
    },
    /// buun-curator's API (or its token) failed.
    Failed {
        /// Why.
        failure: Failure,
        /// Whether only a change can fix it.
        permanent: bool,
    },
}

impl Registration {
    /// The failure that makes the FeedSource not Ready, and whether it is permanent.
    pub fn failure(&self) -> Option<(Failure, bool)> {
        match self {
            Registration::NotChecked { .. } | Registration::Registered { .. } => None,
            Registration::NotFound { id } => Some((
                Failure {
                    reason: "FeedNotFound",
                    message: format!(
                        "feed {id} (feed.id) does not exist in buun-curator; its schedule is not run until it does"
                    ),
                },
                true,
            )),
            Registration::Ambiguous { url, ids } => Some((
                Failure {
                    reason: "AmbiguousFeed",
                    message: format!(
                        "feeds {} all have URL {url}; set feed.id to the one this FeedSource is",
                        ids.join(", ")
                    ),
                },
                true,
            )),
            Registration::HeldByOther { id, holder } => Some((
                Failure {
                    reason: "FeedHeld",
                    message: format!(
                        "feed {id} is held by FeedSource {holder}: this one writes nothing to it and its schedule does not run (one feed, one ingestion) until that one is deleted or turns to another feed; then this one takes it"
                    ),
                },
                true,
            )),
            Registration::OfAnotherNamespace {
                id,
                namespace,
                holder,
            } => Some((
                Failure {
                    reason: "FeedOfAnotherNamespace",
                    message: format!(
                        "feed {id} belongs to namespace {namespace}{}; the operator does not let a FeedSource take another namespace's feed (--allow-cross-namespace-adoption): nothing is written to it and this schedule does not run",
                        holder
                            .as_ref()
                            .map(|h| format!(" (held by FeedSource {h})"))
                            .unwrap_or_default()
                    ),
                },
                true,
            )),
            Registration::Failed { failure, permanent } => Some((failure.clone(), *permanent)),
        }
    }
}

/// How the FeedSource's feed was found or made; the `FeedRegistered` reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// `feed.id` names it.
    Exists,
    /// It was the one feed with `feed.url`, and the operator took it on.
    Adopted,
    /// The operator created it.
    Created,
}

impl Origin {
    /// PascalCase name, the condition's reason.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Exists => "Exists",
            Origin::Adopted => "Adopted",
            Origin::Created => "Created",
        }
    }

    /// Lower-case word, as `sync` prints it.
    pub fn word(self) -> &'static str {
        match self {
            Origin::Exists => "exists",
            Origin::Adopted => "adopted",
            Origin::Created => "created",
        }
    }
}

/// What the FeedSource's status remembers of its feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recorded<'a> {
    /// `status.feedId`.
    pub id: &'a str,
    /// Whether the operator created it (`status.feedCreated`).
    pub created: bool,
}

/// What to do about the feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Plan {
    /// The row is as the spec wants it.
    Use {
        /// The feed.
        row: FeedRow,
        /// How it was found.
        origin: Origin,
    },
    /// Bring the row in line with one PATCH (which sends every field).
    Update {
        /// The feed as it is.
        row: FeedRow,
        /// How it was found.
        origin: Origin,
        /// The body to send.
        fields: FeedFields,
        /// Which fields differ.
        changed: Vec<&'static str>,
    },
    /// No feed has this URL: create one.
    Create {
        /// The body to send.
        fields: FeedFields,
    },
    /// `feed.id` names no feed in the listing (a GET of it decides).
    NotListed {
        /// The ID.
        id: String,
    },
    /// More than one feed has this URL: nothing is created or adopted.
    Ambiguous {
        /// Their IDs.
        ids: Vec<String>,
    },
}

/// An unset or empty site URL, as the API stores it (`siteUrl || null`).
fn site(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// The fields of `row` that differ from what `spec` asks for. Fields the spec leaves unset are
/// buun-curator's to keep.
pub fn changed(spec: &FeedSpec, row: &FeedRow) -> Vec<&'static str> {
    let mut out = Vec::new();
    if row.name != spec.name {
        out.push("name");
    }
    if row.url != spec.url {
        out.push("url");
    }
    if spec.site_url.is_some() && site(spec.site_url.as_deref()) != site(row.site_url.as_deref()) {
        out.push("siteUrl");
    }
    if spec
        .enable_content_fetch
        .is_some_and(|f| f != row.fetch_content)
    {
        out.push("fetchContent");
    }
    if spec.fetch_limit.is_some_and(|l| l != row.fetch_limit) {
        out.push("fetchLimit");
    }
    out
}

/// The body of a PATCH that brings `row` in line with `spec`: every field, the spec's where it
/// says, the row's otherwise (a field left out would be reset by the API).
pub fn update_fields(spec: &FeedSpec, row: &FeedRow) -> FeedFields {
    FeedFields {
        name: spec.name.clone(),
        url: spec.url.clone(),
        site_url: match &spec.site_url {
            Some(s) => site(Some(s)).map(str::to_owned),
            None => row.site_url.clone(),
        },
        category_id: row.category_id.clone(),
        fetch_content: Some(spec.enable_content_fetch.unwrap_or(row.fetch_content)),
        fetch_limit: Some(spec.fetch_limit.unwrap_or(row.fetch_limit)),
    }
}

/// The body of the POST that creates the feed `spec` describes (unset fields take the API's
/// defaults).
pub fn create_fields(spec: &FeedSpec) -> FeedFields {
    FeedFields {
        name: spec.name.clone(),
        url: spec.url.clone(),
        site_url: site(spec.site_url.as_deref()).map(str::to_owned),
        category_id: None,
        fetch_content: spec.enable_content_fetch,
        fetch_limit: spec.fetch_limit,
    }
}

fn keep(spec: &FeedSpec, row: &FeedRow, origin: Origin) -> Plan {
    let changed = changed(spec, row);
    if changed.is_empty() {
        Plan::Use {
            row: row.clone(),
            origin,
        }
    } else {
        Plan::Update {
            fields: update_fields(spec, row),
            row: row.clone(),
            origin,
            changed,
        }
    }
}

/// Decides what to do, given every feed the API holds. The feed is, in order: the one
/// `feed.id` names; the one the status recorded (unless it is gone: then as if new); the one
/// feed with `feed.url` (compared normalised: [`normal::url`]); a new one.
pub fn plan(spec: &FeedSpec, recorded: Option<Recorded<'_>>, rows: &[FeedRow]) -> Plan {
    let by_id = |id: &str| rows.iter().find(|r| r.id == id);
    if let Some(id) = &spec.id {
        return match by_id(id) {
            Some(row) => keep(spec, row, Origin::Exists),
            None => Plan::NotListed { id: id.clone() },
        };
    }
    if let Some(r) = recorded
        && let Some(row) = by_id(r.id)
    {
        let origin = if r.created {
            Origin::Created
        } else {
            Origin::Adopted
        };
        return keep(spec, row, origin);
    }
    let wanted = normal::url(&spec.url);
    let same_url: Vec<&FeedRow> = rows
        .iter()
        .filter(|r| normal::url(&r.url) == wanted)
        .collect();
    match same_url.as_slice() {
        [] => Plan::Create {
            fields: create_fields(spec),
        },
        [row] => keep(spec, row, Origin::Adopted),
        many => Plan::Ambiguous {
            ids: many.iter().map(|r| r.id.clone()).collect(),
        },
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
