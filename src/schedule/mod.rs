//! FeedSource → Temporal Schedule. Everything here is pure except [`sync`], the one reconcile
//! of a schedule (describe → plan → write → verify) that the controller and `sync` share:
//!
//! - [`desired`]: the schedule a FeedSource asks for, with its [`input`], [`spec`] and
//!   [`fingerprint`];
//! - [`plan`]: what to write, given what Temporal holds;
//! - [`canonical`]: the form the server gives a spec (for `sync`, which has no status);
//! - [`listing`]: the cheap resync, from a schedule listing instead of a describe;
//! - [`delete`]: the schedule's end with its FeedSource (deleted or orphaned);
//! - [`runs`]: the runs the schedule started, and how they ended; [`health`]: whether the
//!   feed is being ingested (the `Ingesting` condition); [`expect`]: what of its runs a
//!   status waits for;
//! - [`status`]: the FeedSource status a reconcile leaves, with its conditions ([`ready`]).

pub mod canonical;
pub mod delete;
pub mod desired;
pub mod expect;
pub mod fingerprint;
pub mod health;
pub mod input;
pub mod listed;
pub mod listing;
pub mod pages;
pub mod plan;
pub mod ready;
pub mod runs;
pub mod spec;
pub mod status;
pub mod sync;

pub use desired::{BuildOptions, DesiredSchedule};

#[cfg(test)]
mod tests;
