//! curator-operator: makes buun-curator's Temporal workers and per-feed ingestion schedules
//! declarative on Kubernetes.
//!
//! A pure core behind a thin I/O shell, in layers whose imports point down only: the one
//! picture of them, and of where things are, is `docs/architecture.md` (`tests/layering.rs`
//! checks the layers, `tests/docs.rs` the paths that page names).
#![forbid(unsafe_code)]

pub mod app;
pub mod config;
pub mod controller;
pub mod crd;
pub mod curator_api;
pub mod feed;
pub mod http;
pub mod kube_client;
pub mod leader;
pub mod metrics;
pub mod runtime;
pub mod schedule;
pub mod sync_cli;
pub mod telemetry;
pub mod temporal;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod uid;
pub mod worker;
