//! Pacing of the calls to one Temporal namespace, so that the operator stays inside the
//! namespace's rate limits.

/// Paces the calls to one Temporal namespace.
pub type Limiter = governor::DefaultDirectRateLimiter;
