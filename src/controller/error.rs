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
    /// A same-named child exists that this CuratorWorker does not control: it is left alone.
    #[error(
        "{kind} {name:?} exists and is not controlled by this CuratorWorker: left as it is \
         (rename the CuratorWorker, or delete the {kind} to let the operator create its own)"
    )]
    NameConflict {
        /// The child's kind.
        kind: &'static str,
        /// Its name.
        name: String,
    },
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

impl From<kube::runtime::finalizer::Error<Error>> for Error {
    /// A reconcile's own error as it was; a failure of the finalizer bookkeeping itself as
    /// [`Error::Finalizer`].
    fn from(e: kube::runtime::finalizer::Error<Error>) -> Self {
        use kube::runtime::finalizer::Error as F;
        match e {
            F::ApplyFailed(e) | F::CleanupFailed(e) => e,
            other => Error::Finalizer(other.to_string()),
        }
    }
}

impl Error {
    /// buun-curator's API failed (or the operator refused its URL) for the token in `secret`
    /// of `namespace`.
    pub fn curator_api(
        namespace: &str,
        secret: &crate::crd::curatorworker::SecretKeyRef,
        source: crate::curator_api::ApiError,
    ) -> Self {
        Error::CuratorApi {
            secret: format!("{namespace}/{} (key {})", secret.name, secret.key),
            source,
        }
    }

    /// Whether only a change (of the resource, or of what it references) can fix this.
    pub fn is_permanent(&self) -> bool {
        match self {
            Error::Kube(kube::Error::Api(e)) => e.code == 422,
            Error::Kube(_) | Error::Finalizer(_) | Error::MissingUid => false,
            Error::Spec(_) | Error::Secret { .. } | Error::NameConflict { .. } => true,
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
            // The API server refused what the spec made (e.g. an invalid label value): only a
            // change of the spec helps.
            Error::Kube(kube::Error::Api(e)) if e.code == 422 => "InvalidSpec",
            Error::Kube(_) => "KubernetesApiError",
            Error::Spec(_) => "InvalidSpec",
            Error::Sync(e) => e.reason(),
            Error::Secret { .. } => "SecretNotFound",
            Error::CuratorApi { source, .. } => source.reason(),
            Error::Finalizer(_) => "FinalizerError",
            Error::NameConflict { .. } => "NameConflict",
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

#[cfg(test)]
mod tests {
    use super::Error;

    fn api(code: u16) -> Error {
        Error::Kube(kube::Error::Api(
            kube::core::Status::failure("refused", "Invalid")
                .with_code(code)
                .boxed(),
        ))
    }

    #[test]
    fn a_422_is_a_permanent_invalid_spec_and_other_api_errors_are_retried() {
        assert!(api(422).is_permanent());
        assert_eq!(api(422).reason(), "InvalidSpec");
        assert!(!api(500).is_permanent());
        assert_eq!(api(500).reason(), "KubernetesApiError");
        assert!(!api(403).is_permanent());
        assert_eq!(api(403).reason(), "KubernetesForbidden");
    }
}
