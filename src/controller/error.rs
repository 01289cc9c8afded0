//! Errors of the controller layer.

use crate::{resources::SpecError, schedule_sync::SyncError, temporal::TemporalError};

/// Why a reconcile failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Kubernetes API failed.
    #[error("Kubernetes API: {0}")]
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
    /// Adding or removing the finalizer failed.
    #[error("finalizer: {0}")]
    Finalizer(String),
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
            Error::Kube(_) | Error::Finalizer(_) => false,
            Error::Spec(_) | Error::Secret { .. } => true,
            Error::Sync(e) => e.is_permanent(),
        }
    }

    /// Whether Temporal answered (false when it was not reached at all, or not involved).
    pub fn temporal_answered(&self) -> bool {
        match self {
            Error::Sync(SyncError::Temporal(e)) => !e.is_unreachable(),
            Error::Sync(SyncError::Conflict { .. }) => true,
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
            Error::Finalizer(_) => "FinalizerError",
        }
    }
}
