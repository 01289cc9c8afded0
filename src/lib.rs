//! curator-operator: makes buun-curator's Temporal workers and per-feed ingestion schedules
//! declarative on Kubernetes.
//!
//! A pure core behind a thin I/O shell; arrows point down only:
//!
//! ```text
//! app, sync_cli          entry points
//! controller             the I/O shell: one file per kind
//! schedule, worker       FeedSource → Temporal Schedule, CuratorWorker → Deployment (pure)
//! feed                   FeedSource → its feed in buun-curator (pure)
//! temporal, curator_api, kube_client
//!                        the clients of Temporal, buun-curator's API and Kubernetes
//! crd                    the API types
//! metrics, http, leader  process plumbing
//! runtime, uid           retries, backoff, request IDs; the UID as a compact map key
//! ```
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
