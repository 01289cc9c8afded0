//! Errors of the Temporal layer.

use tonic::Code;

/// A failed call to Temporal.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TemporalError {
    /// The frontend could not be reached or the connection could not be set up.
    #[error("cannot connect to Temporal at {address}: {message}")]
    Connect {
        /// Frontend address.
        address: String,
        /// Cause (never contains credentials).
        message: String,
    },
    /// The connection settings are unusable (bad address, unreadable certificate).
    #[error("invalid Temporal connection settings: {0}")]
    Config(String),
    /// The operator's `--allowed-temporal-addresses` does not include the address, so no
    /// connection (and no credential) is sent there.
    #[error(
        "Temporal address {0:?} is not allowed by the operator (--allowed-temporal-addresses); ask a cluster admin"
    )]
    AddressNotAllowed(String),
    /// An RPC returned an error status.
    #[error("Temporal {method} failed ({code:?}): {message}")]
    Rpc {
        /// RPC name.
        method: &'static str,
        /// gRPC status code.
        code: Code,
        /// Server message.
        message: String,
    },
    /// An RPC did not answer in time.
    #[error("Temporal {0} timed out")]
    Timeout(&'static str),
    /// A listing went on past the most pages the operator reads (a server that keeps giving
    /// a next-page token); callers fall back to describing schedules one by one.
    #[error("Temporal ListSchedules gave more than {0} pages; listing abandoned")]
    ListingTooLong(usize),
    /// The server accepted an update but a describe shows it did not take effect (a stale
    /// conflict token is dropped silently by some servers).
    #[error("schedule update was not applied (concurrent change); will retry")]
    UpdateLost,
}

impl TemporalError {
    /// Builds an RPC error from a gRPC status.
    pub fn rpc(method: &'static str, status: &tonic::Status) -> Self {
        Self::Rpc {
            method,
            code: status.code(),
            message: status.message().to_owned(),
        }
    }

    /// The gRPC code, for RPC errors.
    pub fn code(&self) -> Option<Code> {
        match self {
            Self::Rpc { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether retrying without a change to the resource cannot help: the server rejected the
    /// request itself (bad cron or time zone, unknown namespace, permission).
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Config(_) | Self::AddressNotAllowed(_) => true,
            Self::Rpc { code, .. } => matches!(
                code,
                Code::InvalidArgument
                    | Code::PermissionDenied
                    | Code::Unauthenticated
                    | Code::NotFound
                    | Code::Unimplemented
            ),
            _ => false,
        }
    }

    /// Whether Temporal could not be reached at all (as opposed to answering with an error).
    pub fn is_unreachable(&self) -> bool {
        match self {
            Self::Connect { .. } | Self::Timeout(_) => true,
            Self::Rpc { code, .. } => matches!(code, Code::Unavailable | Code::DeadlineExceeded),
            _ => false,
        }
    }

    /// Stable PascalCase reason for conditions, events and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Connect { .. } | Self::Timeout(_) => "TemporalUnreachable",
            Self::Config(_) => "TemporalConfigInvalid",
            Self::AddressNotAllowed(_) => "AddressNotAllowed",
            Self::UpdateLost => "UpdateConflict",
            Self::ListingTooLong(_) => "TemporalListingTooLong",
            Self::Rpc { code, .. } => match code {
                Code::InvalidArgument => "TemporalRejectedSpec",
                Code::PermissionDenied | Code::Unauthenticated => "TemporalUnauthorized",
                Code::NotFound => "TemporalNamespaceNotFound",
                Code::Unavailable | Code::DeadlineExceeded => "TemporalUnreachable",
                Code::ResourceExhausted => "TemporalRateLimited",
                _ => "TemporalError",
            },
        }
    }
}

impl crate::runtime::retry::Transient for TemporalError {
    fn is_transient(&self) -> bool {
        !self.is_permanent()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tonic::Code;

    #[test]
    fn what_is_retried() {
        use crate::runtime::retry::Transient;
        let rpc = |code| TemporalError::Rpc {
            method: "CreateSchedule",
            code,
            message: "no".into(),
        };
        for code in [
            Code::Unavailable,
            Code::ResourceExhausted,
            Code::DeadlineExceeded,
        ] {
            assert!(rpc(code).is_transient(), "{code:?}");
        }
        assert!(TemporalError::Timeout("DescribeSchedule").is_transient());
        assert!(TemporalError::UpdateLost.is_transient());
        for code in [
            Code::InvalidArgument,
            Code::PermissionDenied,
            Code::Unauthenticated,
        ] {
            assert!(!rpc(code).is_transient(), "{code:?}");
        }
    }

    #[test]
    fn classifies_codes() {
        let e = |code| TemporalError::Rpc {
            method: "CreateSchedule",
            code,
            message: String::new(),
        };
        assert!(e(Code::InvalidArgument).is_permanent());
        assert_eq!(e(Code::InvalidArgument).reason(), "TemporalRejectedSpec");
        assert!(!e(Code::Unavailable).is_permanent());
        assert!(e(Code::Unavailable).is_unreachable());
        assert!(!e(Code::ResourceExhausted).is_permanent());
        assert!(!e(Code::Internal).is_permanent());
        assert!(!TemporalError::UpdateLost.is_permanent());
        let c = TemporalError::Connect {
            address: "a:1".into(),
            message: "refused".into(),
        };
        assert!(c.is_unreachable() && !c.is_permanent());
        assert_eq!(c.reason(), "TemporalUnreachable");
    }
}
