//! The last stage of every reconcile, for both kinds: the status is written once, by
//! server-side apply, only when it differs from the stored one, and a Warning event is
//! published when Ready turns False for a new reason. Also the shared error policy.

use std::{fmt::Debug, sync::Arc};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{
    Api, Resource, ResourceExt,
    api::{Patch, PatchParams},
    runtime::{controller::Action, events::EventType},
};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::json;

use super::{error::Error, shared::Shared};
use crate::crd::{
    CuratorWorker, CuratorWorkerStatus, FeedSource, FeedSourceStatus,
    conditions::{self, READY},
};

/// A kind this operator reconciles and reports on.
pub trait Reconciled:
    Resource<DynamicType = (), Scope = kube::core::NamespaceResourceScope>
    + Clone
    + Debug
    + DeserializeOwned
    + Send
    + Sync
    + 'static
{
    /// Its status.
    type Status: Serialize + PartialEq + Clone + Default + Send + Sync;
    /// The kind's name, for logs and metrics.
    const KIND: &'static str;
    /// The stored status.
    fn status(&self) -> Option<&Self::Status>;
    /// The condition of this type in a status.
    fn condition(status: &Self::Status, type_: &str) -> Option<Condition>;
    /// Whether `Ready=False` with this reason deserves a Warning event.
    fn warns(reason: &str) -> bool;
}

impl Reconciled for FeedSource {
    type Status = FeedSourceStatus;
    const KIND: &'static str = "FeedSource";
    fn status(&self) -> Option<&FeedSourceStatus> {
        self.status.as_ref()
    }
    fn condition(status: &FeedSourceStatus, type_: &str) -> Option<Condition> {
        status.conditions.find(type_)
    }
    fn warns(_: &str) -> bool {
        true
    }
}

impl Reconciled for CuratorWorker {
    type Status = CuratorWorkerStatus;
    const KIND: &'static str = "CuratorWorker";
    fn status(&self) -> Option<&CuratorWorkerStatus> {
        self.status.as_ref()
    }
    fn condition(status: &CuratorWorkerStatus, type_: &str) -> Option<Condition> {
        conditions::find(&status.conditions, type_).cloned()
    }
    /// A rollout in progress is not worth a warning; a spec or permission problem is.
    fn warns(reason: &str) -> bool {
        !matches!(reason, "Progressing" | "DeploymentMissing")
    }
}

/// Writes `status` unless the stored one equals it, after a Warning event if Ready turned False
/// for a new reason. Returns whether it wrote.
pub async fn publish<K: Reconciled>(
    shared: &Shared,
    obj: &K,
    status: &K::Status,
) -> Result<bool, Error> {
    warn_on_transition(shared, obj, status).await;
    if obj.status() == Some(status) {
        return Ok(false);
    }
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<K> = shared.api(&ns);
    let body = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": status,
    });
    api.patch_status(
        &obj.name_any(),
        &PatchParams::apply(crate::runtime::MANAGER).force(),
        &Patch::Apply(&body),
    )
    .await?;
    Ok(true)
}

/// A repeated failure is reported once, not on every retry.
async fn warn_on_transition<K: Reconciled>(shared: &Shared, obj: &K, new: &K::Status) {
    let prev_reason = obj
        .status()
        .and_then(|s| K::condition(s, READY))
        .map(|c| c.reason);
    if let Some(c) = K::condition(new, READY)
        && c.status == "False"
        && K::warns(&c.reason)
        && prev_reason.as_deref() != Some(c.reason.as_str())
    {
        shared
            .event(
                obj,
                EventType::Warning,
                &c.reason,
                "Reconcile",
                c.message.clone(),
            )
            .await;
    }
}

/// The retry delay after a failed reconcile: exponential per object, with jitter.
pub fn error_policy<K: Reconciled>(obj: Arc<K>, err: &Error, shared: &Shared) -> Action {
    let delay = shared.backoff.next(&obj.uid().unwrap_or_default());
    tracing::warn!(
        kind = K::KIND,
        namespace = %obj.namespace().unwrap_or_default(),
        name = %obj.name_any(),
        reason = err.reason(),
        error = %err,
        retry_in = ?delay,
        "reconcile failed"
    );
    Action::requeue(delay)
}

/// Records a finished reconcile: backoff reset on success, metrics either way.
pub fn finished<K: Reconciled>(
    shared: &Shared,
    obj: &K,
    started: std::time::Instant,
    result: &Result<Action, Error>,
) {
    if result.is_ok() {
        shared.backoff.reset(&obj.uid().unwrap_or_default());
    }
    shared.metrics.reconciled(
        K::KIND,
        started.elapsed(),
        result.as_ref().err().map(Error::reason),
    );
}
