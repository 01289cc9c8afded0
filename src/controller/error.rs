//! Errors of the controller layer: each knows whether only a change can fix it (permanent) or a
//! retry may (transient), and its stable PascalCase reason.

use crate::{crd::SpecError, schedule::sync::SyncError, temporal::TemporalError};

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {}", kube_message(.0))]
    Kube(#[from] kube::Error),
    /// The spec is invalid.
    #[error("invalid spec: {0}")]
    Spec(#[from] SpecError),
    /// Reconciling the schedule failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// A Secret or key the worker references is missing.
    #[error("Secret {name:?}: {problem}")]
    Secret {
        /// Secret name.
        name: String,
        /// What is missing.
        problem: String,
    },
    /// buun-curator's API failed, or refused the token in `secret`.
    #[error("{}", curator_api_message(secret, source))]
    CuratorApi {
        /// The token's Secret, as `namespace/name (key k)`.
        secret: String,
        /// What failed.
        source: crate::curator_api::ApiError,
    },
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
    /// The object has no UID, so it did not come from the API server and cannot own anything.
    #[error("the object has no UID")]
    MissingUid,
}

/// The API server's own message for an API error (its status, without the Rust debug dump).
fn kube_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => s.message.clone(),
        other => other.to_string(),
    }
}

fn curator_api_message(secret: &str, e: &crate::curator_api::ApiError) -> String {
    match e {
        crate::curator_api::ApiError::Unauthorized => format!(
            "buun-curator refused the API token in Secret {secret} (it redirects to /login); fix the token or spec.curatorApi.tokenSecretRef"
        ),
        other => other.to_string(),
    }
}

impl From<TemporalError> for Error {
    fn from(e: TemporalError) -> Self {
        Error::Sync(SyncError::Temporal(e))
    }
}

impl Error {
    /// Whether only a change (of the resource, or of what it references) can fix this.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Kube(_) | Error::Finalizer(_) | Error::MissingUid => false,
            Error::Spec(_) | Error::Secret { .. } => true,
            Error::CuratorApi { source, .. } => source.is_permanent(),
            Error::Sync(e) => e.is_permanent(),
        }
    }

    /// Whether Temporal answered (false when it was not reached at all, or not involved).
    pub fn temporal_answered(&self) -> bool {
        match self {
            Error::Sync(SyncError::Temporal(e)) => !e.is_unreachable(),
            _ => true,
        }
    }

    /// Stable PascalCase reason for conditions, events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(e)) if e.code == 403 => "KubernetesForbidden",
            Error::Kube(_) => "KubernetesApiError",
            Error::Spec(_) => "InvalidSpec",
            Error::Sync(e) => e.reason(),
            Error::Secret { .. } => "SecretNotFound",
            Error::CuratorApi { source, .. } => source.reason(),
            Error::Finalizer(_) => "FinalizerError",
            Error::MissingUid => "MissingUid",
        }
    }

    /// The failure as a condition states it.
    pub fn failure(&self) -> crate::crd::conditions::Failure {
        crate::crd::conditions::Failure {
            reason: self.reason(),
            message: self.to_string(),
        }
    }
}
