//! The crate's one error type.

/// What can go wrong running the local edge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EdgeError {
    /// A process (Node, the origin, dynalite) could not be started or talked to.
    #[error("{what}: {source}")]
    Process {
        /// What was being started.
        what: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A socket could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The behaviour table is unreadable or breaks a rule.
    #[error("behaviour table {0}")]
    Behaviours(String),
    /// A setup step failed (seeding, waiting for a port, a bad option).
    #[error("{0}")]
    Setup(String),
}
