//! Problems in a resource's spec that only a change of the resource can fix.

/// A problem in a resource's spec that no retry can fix: it is reported in status and the
/// controller waits for the resource to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// A duration field does not parse.
    #[error("{field}: {source}")]
    Duration {
        /// JSON path of the field.
        field: &'static str,
        /// The parse error.
        source: super::duration::DurationError,
    },
    /// `feed.url` is not an absolute http(s) URL.
    #[error("feed.url {0:?} is not an absolute http:// or https:// URL")]
    InvalidUrl(String),
    /// An `extraInput` key collides with a typed field or is forbidden.
    #[error("feed.extraInput.{0} is not allowed: {1}")]
    ExtraInputKey(String, &'static str),
    /// The workflow input is larger than Temporal accepts.
    #[error("workflow input is {size} bytes, over Temporal's {limit}-byte payload limit")]
    InputTooLarge {
        /// Encoded size of the input.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Any other invalid field.
    #[error("{field}: {message}")]
    Invalid {
        /// JSON path of the field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}
