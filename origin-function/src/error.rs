//! The origin's one error enum. "Not cacheable", "too large" and "a newer entry exists" are
//! decisions, not errors; an unreadable L2 item is a miss, reported here only so it can be
//! logged.

/// The origin's errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// An environment variable holds a value that cannot be used.
    #[error("environment variable {name} has an invalid value {value:?}")]
    Config {
        /// The variable.
        name: String,
        /// Its value (or a description of it, when the value is a secret).
        value: String,
    },
    /// An L2 call failed or answered too slowly (counted by the breaker).
    #[error("L2 {op} failed ({kind}): {message}")]
    L2 {
        /// The operation.
        op: &'static str,
        /// `timeout`, `budget`, `dispatch`, `response`, `service` or `other`.
        kind: &'static str,
        /// The client's description.
        message: String,
    },
    /// An L2 item could not be read (treated as a miss, not a fault).
    #[error("L2 item unreadable: {0}")]
    L2Item(String),
    /// The catalogue failed.
    #[error("source failed: {0}")]
    Source(String),
    /// The payload is neither an HTTP event nor a warm-up event.
    #[error("unsupported event: {0}")]
    Event(String),
}

impl OriginError {
    /// A stable `errorType` for the Lambda boundary.
    pub fn error_type(&self) -> &'static str {
        match self {
            OriginError::Config { .. } => "ConfigError",
            OriginError::L2 { .. } | OriginError::L2Item(_) => "CacheError",
            OriginError::Source(_) => "SourceError",
            OriginError::Event(_) => "InvalidEvent",
        }
    }

    /// A configuration error for `name`.
    pub(crate) fn config(name: &str, value: impl Into<String>) -> Self {
        OriginError::Config {
            name: name.into(),
            value: value.into(),
        }
    }
}
