//! The crate's one error type.

/// What can go wrong in the policy library. Input the policy declines (a `POST`, a private
/// response) is a decision, not an error: see [`crate::Passthrough`] and [`crate::cache_control::Rule`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum PolicyError {
    /// A rule set built in code is not usable (e.g. no catch-all route).
    #[error("invalid rules: {0}")]
    InvalidRules(String),
    /// An event does not have the Lambda@Edge shape.
    #[error("unusable Lambda@Edge event: {0}")]
    UnusableEvent(String),
}
