//! The origin's one error enum, and the kinds of L2 fault it names. "Not cacheable", "too
//! large" and "a newer entry exists" are decisions, not errors; an unreadable L2 item is a
//! miss, reported here only so it can be logged.

use std::fmt;

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
    /// An L2 call failed (counted by the breaker and in `L2Errors`).
    #[error("L2 {op} failed ({fault}): {message}")]
    L2 {
        /// The operation.
        op: &'static str,
        /// What kind of fault it was.
        fault: L2Fault,
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

/// What kind of fault an L2 call was. Every kind is counted the same way (the breaker hears
/// a failure, `L2Errors` counts one, and L2 is done for the invocation); [`L2Fault::Slow`]
/// is also counted in `L2Slow`. The name is what the log line says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum L2Fault {
    /// The client's deadline passed (the per-call deadline, or the connect deadline).
    Timeout,
    /// The invocation's one L2 budget ran out during the call.
    Budget,
    /// The request could not be sent, or its connection failed.
    Dispatch,
    /// The answer could not be read.
    Response,
    /// The service answered with an error (throttling, a server error).
    Service,
    /// Any other failure the client reports.
    Other,
    /// An answer later than `ORIGIN_L2_SLOW_MS`: used, but a fault all the same (never an
    /// error).
    Slow,
}

impl L2Fault {
    /// The fault's name, as the log line says it.
    pub fn as_str(self) -> &'static str {
        match self {
            L2Fault::Timeout => "timeout",
            L2Fault::Budget => "budget",
            L2Fault::Dispatch => "dispatch",
            L2Fault::Response => "response",
            L2Fault::Service => "service",
            L2Fault::Other => "other",
            L2Fault::Slow => "slow",
        }
    }
}

impl fmt::Display for L2Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_l2_error_names_its_fault_as_the_log_line_always_did() {
        let e = OriginError::L2 {
            op: "GetItem",
            fault: L2Fault::Timeout,
            message: "no answer".into(),
        };
        assert_eq!(e.to_string(), "L2 GetItem failed (timeout): no answer");
        assert_eq!(e.error_type(), "CacheError");
    }
}
