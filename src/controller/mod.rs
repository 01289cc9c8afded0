//! I/O shell: the controllers. Each reconcile reads, builds (pure), diffs (pure), writes.

pub mod backoff;
pub mod error;
pub mod feedsource;
pub mod secrets;
pub mod watch;

use std::time::Duration;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::{
    Client, Resource,
    runtime::events::{Event, EventType, Recorder, Reporter},
};

use crate::{resources::schedule::BuildOptions, temporal::pool::Pool};

/// The field manager of every write this operator makes.
pub const MANAGER: &str = "curator-operator";

/// State shared by all reconciles.
pub struct Context {
    /// Kubernetes client.
    pub client: Client,
    /// Temporal connections.
    pub pool: Pool,
    /// Schedule ID prefix and identity.
    pub build: BuildOptions,
    /// Event recorder (one per process so that repeats aggregate).
    pub recorder: Recorder,
    /// Interval of the periodic re-check of every resource.
    pub resync: Duration,
    /// Per-object failure backoff.
    pub backoff: backoff::Backoffs,
}

impl Context {
    /// Builds the context.
    pub fn new(client: Client, pool: Pool, build: BuildOptions, resync: Duration) -> Self {
        let reporter = Reporter {
            controller: MANAGER.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            pool,
            build,
            resync,
            backoff: backoff::Backoffs::default(),
        }
    }

    /// Publishes an event about `obj`; a failure to publish is logged, never fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: String,
    ) {
        let reference: ObjectReference = obj.object_ref(&());
        let ev = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note),
            action: action.to_owned(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &reference).await {
            tracing::warn!(error = %e, reason, "cannot publish event");
        }
    }
}
