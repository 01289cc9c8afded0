//! Plumbing that the controllers, `sync` and leader election share, below all of them: how
//! failures are retried (per-object backoff for the controllers, a time-bounded retry for
//! `sync`), jitter, results shared per key for a time, fair shares of the reconcile slots per
//! namespace, unique request IDs, the page size of listings, and the field manager of every
//! write to Kubernetes.

pub mod backoff;
pub mod cache;
pub mod fair;
pub mod request_id;
pub mod retry;

pub use request_id::request_id;

/// The field manager of every write this operator makes to Kubernetes.
pub const MANAGER: &str = "curator-operator";

/// Schedules per listing page (the most Temporal returns).
pub const LIST_PAGE: i32 = 1000;
