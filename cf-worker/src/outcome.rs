//! How a request was answered, as one value: the `Cache-Status` member (RFC 9211) is
//! rendered from it, never assembled in several places.

use std::fmt;

use edge_policy::cache_api::{BypassReason, NotStored};

/// RFC 9211 §2: "The cache name ... identifies the cache"; the origin writes `origin`.
pub const CACHE_NAME: &str = "cf-worker";

/// Why an origin request brought no usable answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginFailure {
    /// A server error (any 5xx).
    Status(u16),
    /// The connection failed (refused, reset, DNS).
    Unreachable,
    /// No answer within the configured timeout.
    TimedOut,
}

/// Whether the answer went into the Cache API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// A copy was put (in `ctx.wait_until`).
    Yes,
    /// Not put, and why.
    No(NotStored),
}

/// How one request was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A fresh stored copy, `ttl` seconds of freshness left.
    Hit {
        /// Remaining freshness, seconds.
        ttl: i64,
    },
    /// A stale copy inside `stale-while-revalidate`, served at once.
    StaleWhileRevalidate {
        /// Remaining freshness (negative: how long it has been stale).
        ttl: i64,
        /// This request started the background revalidation (else one was in flight).
        revalidating: bool,
    },
    /// A stale copy inside `stale-if-error`, served because the origin failed.
    StaleIfError {
        /// Remaining freshness (negative).
        ttl: i64,
        /// What failed.
        failure: OriginFailure,
    },
    /// A stale copy the origin revalidated (`304`, refreshed) or replaced.
    Revalidated {
        /// The origin's status.
        status: u16,
        /// Whether the answer was stored.
        stored: Stored,
    },
    /// Not in the cache (or expired): the origin answered.
    Miss {
        /// The origin's status.
        status: u16,
        /// Whether the answer was stored.
        stored: Stored,
    },
    /// Not in the cache and the origin failed: the Worker answered `502`/`504` itself.
    MissFailed(OriginFailure),
    /// Never looked up nor stored.
    Bypass(BypassReason),
    /// The glue failed and the request went to the origin unchanged (workers.md, "Never").
    Fallback,
}

fn write_failure(f: &mut fmt::Formatter<'_>, failure: OriginFailure) -> fmt::Result {
    match failure {
        OriginFailure::Status(status) => write!(f, "; fwd-status={status}"),
        OriginFailure::Unreachable => f.write_str("; detail=origin-unreachable"),
        OriginFailure::TimedOut => f.write_str("; detail=origin-timeout"),
    }
}

fn write_stored(f: &mut fmt::Formatter<'_>, stored: Stored) -> fmt::Result {
    match stored {
        Stored::Yes => f.write_str("; stored"),
        Stored::No(reason) => write!(f, "; detail=not-stored-{}", reason.label()),
    }
}

/// The `Cache-Status` member (RFC 9211 §2): `fwd` says why the origin was asked (`bypass`,
/// `method`, `miss`, `stale`, or `request` for the fallback), `fwd-status` what it answered,
/// `stored` whether the answer was put, `ttl` the remaining freshness, `detail` the rest
/// (once: parameters are a Structured Fields dictionary, RFC 8941). A stale copy served on
/// an origin failure reads `fwd=stale` with the failure (`fwd-status=503`, or
/// `detail=origin-unreachable`/`origin-timeout`) under a successful status.
impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(CACHE_NAME)?;
        match *self {
            Outcome::Hit { ttl } => write!(f, "; hit; ttl={ttl}"),
            Outcome::StaleWhileRevalidate { ttl, revalidating } => {
                write!(f, "; fwd=stale; ttl={ttl}")?;
                f.write_str(if revalidating {
                    "; detail=revalidating"
                } else {
                    "; detail=revalidation-in-flight"
                })
            }
            Outcome::StaleIfError { ttl, failure } => {
                write!(f, "; fwd=stale; ttl={ttl}")?;
                write_failure(f, failure)
            }
            Outcome::Revalidated { status, stored } => {
                write!(f, "; fwd=stale; fwd-status={status}")?;
                write_stored(f, stored)
            }
            Outcome::Miss { status, stored } => {
                write!(f, "; fwd=miss; fwd-status={status}")?;
                write_stored(f, stored)
            }
            Outcome::MissFailed(failure) => {
                f.write_str("; fwd=miss")?;
                write_failure(f, failure)
            }
            Outcome::Bypass(BypassReason::Method) => f.write_str("; fwd=method"),
            Outcome::Bypass(reason) => write!(f, "; fwd=bypass; detail={}", reason.label()),
            Outcome::Fallback => f.write_str("; fwd=request; detail=internal-error"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_render_as_rfc_9211_lists() {
        let cases = [
            (Outcome::Hit { ttl: 42 }, "cf-worker; hit; ttl=42"),
            (
                Outcome::StaleWhileRevalidate {
                    ttl: -3,
                    revalidating: true,
                },
                "cf-worker; fwd=stale; ttl=-3; detail=revalidating",
            ),
            (
                Outcome::StaleIfError {
                    ttl: -9,
                    failure: OriginFailure::Status(503),
                },
                "cf-worker; fwd=stale; ttl=-9; fwd-status=503",
            ),
            (
                Outcome::StaleIfError {
                    ttl: -9,
                    failure: OriginFailure::Unreachable,
                },
                "cf-worker; fwd=stale; ttl=-9; detail=origin-unreachable",
            ),
            (
                Outcome::Miss {
                    status: 200,
                    stored: Stored::Yes,
                },
                "cf-worker; fwd=miss; fwd-status=200; stored",
            ),
            (
                Outcome::Miss {
                    status: 200,
                    stored: Stored::No(NotStored::SetCookie),
                },
                "cf-worker; fwd=miss; fwd-status=200; detail=not-stored-set-cookie",
            ),
            (
                Outcome::Bypass(BypassReason::PrivateRoute),
                "cf-worker; fwd=bypass; detail=private-route",
            ),
            (Outcome::Bypass(BypassReason::Method), "cf-worker; fwd=method"),
            (Outcome::Fallback, "cf-worker; fwd=request; detail=internal-error"),
        ];
        for (outcome, text) in cases {
            assert_eq!(outcome.to_string(), text);
        }
    }
}
