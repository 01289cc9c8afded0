//! curator-operator: makes buun-curator's Temporal workers and per-feed ingestion schedules
//! declarative on Kubernetes.
//!
//! The crate is a pure core (API types, builders, diffs, scaling decisions) behind a thin I/O
//! shell (controllers, Temporal client), as described in the README.

pub mod app;
pub mod config;
pub mod controller;
pub mod crd;
pub mod fixtures;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod plan;
pub mod resources;
pub mod scaling;
pub mod schedule_sync;
pub mod sync_cli;
pub mod telemetry;
pub mod temporal;
