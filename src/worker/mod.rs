//! CuratorWorker → the worker Deployment and PodDisruptionBudget, and how many replicas it runs.
//! All pure:
//!
//! - [`deployment`]: the Deployment and PDB built from the spec;
//! - [`env`]: the worker container's environment;
//! - [`pod`]: the pod template the operator generates (container, probes, security, stop hook);
//! - [`pod_overrides`]: the user's `podOverrides` merged over that template;
//! - [`scaler`]: the replica decision and what it remembers (in the status);
//! - [`global`]: buun-curator's global ingestion schedule beside the worker's FeedSources;
//! - [`settings`]: whether the container gets the settings the worker cannot start without;
//! - [`status`]: the CuratorWorker status a reconcile leaves.

pub mod deployment;
pub mod env;
pub mod global;
pub mod pod;
pub mod pod_overrides;
pub mod scaler;
pub mod settings;
pub mod status;
