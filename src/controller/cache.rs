//! The caches the controllers share (see `runtime::cache`): task queue loads (one poll per
//! distinct queue per interval, however many workers share it), schedule listings (one paged
//! listing per Temporal namespace per interval) and buun-curator's feed list (one per API and
//! token per interval).

use std::sync::Arc;

pub use crate::feed::settle::FeedCache;
pub use crate::runtime::cache::*;
use crate::temporal::{TemporalError, queue::QueueLoad};

/// Identifies a task queue as seen with some credentials (a tenant's cached result is never
/// another's).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueKey {
    /// Frontend address.
    pub address: String,
    /// Temporal namespace.
    pub namespace: String,
    /// Task queue.
    pub task_queue: String,
    /// Digest of the credentials (`Credentials::tag`).
    pub creds: String,
}

/// A Temporal namespace as seen with some credentials: frontend address, namespace, digest of
/// the credentials.
pub type NamespaceKey = (String, String, String);

/// Task queue loads by queue.
pub type LoadCache = TtlCache<QueueKey, QueueLoad, TemporalError>;

/// Schedule listings by Temporal namespace and credentials.
pub type ListCache = TtlCache<NamespaceKey, Arc<crate::schedule::listing::Listing>, TemporalError>;

#[cfg(test)]
#[path = "cache_tests.rs"]
mod tests;
