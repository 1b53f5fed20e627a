//! The words the request flow answers in, shared by every step from the fetch to the
//! listener: what CloudFront answers itself when it has nothing to pass on ([`EdgeFailure`]),
//! what one cache fill came back with, as collapsed waiters see it ([`Outcome`]), and what
//! the viewer gets ([`Answer`]).

use std::sync::Arc;

use http::StatusCode;

use crate::cache::Entry;
use crate::error_page::{error_page, log_failure};
use crate::message::EdgeResponse;
use crate::stats::XCache;
use crate::triggers::TriggerFailure;

/// What CloudFront answers itself when it has no answer to pass on.
#[derive(Debug, Clone)]
pub struct EdgeFailure {
    /// The status.
    pub status: StatusCode,
    /// How it is reported.
    pub x_cache: XCache,
    /// Why, for the log only: never in the answer.
    pub detail: String,
    /// The origin failed (unreachable, timed out, no environment): a stale copy inside
    /// `stale-if-error` may answer instead.
    pub origin: bool,
}

impl EdgeFailure {
    /// CloudFront's error page for it, for the request `request_id`: the status and the
    /// request id, never the detail.
    pub fn response(&self, request_id: &str) -> EdgeResponse {
        error_page(self.status, request_id)
    }

    /// A failure of the origin itself, reported as `Error from cloudfront`.
    pub fn origin(status: StatusCode, detail: String) -> EdgeFailure {
        EdgeFailure {
            status,
            x_cache: XCache::Error,
            detail,
            origin: true,
        }
    }
}

impl From<TriggerFailure> for EdgeFailure {
    fn from(failure: TriggerFailure) -> Self {
        match failure {
            TriggerFailure::Execution(detail) => EdgeFailure {
                status: StatusCode::SERVICE_UNAVAILABLE,
                x_cache: XCache::LambdaExecutionError,
                detail,
                origin: false,
            },
            TriggerFailure::Validation(detail) => EdgeFailure {
                status: StatusCode::BAD_GATEWAY,
                x_cache: XCache::LambdaValidationError,
                detail,
                origin: false,
            },
        }
    }
}

/// The result of one cache fill (a fetch, then stored or not), as collapsed waiters see it.
#[derive(Debug)]
pub(crate) struct Outcome {
    /// The response and how it was got, or CloudFront's own failure.
    pub(crate) result: Result<(Arc<EdgeResponse>, XCache), EdgeFailure>,
    /// Whether a waiter may take it as its own answer.
    pub(crate) shareable: bool,
}

/// What the viewer gets, before the edge's own headers (`X-Cache`, `Age`, `Via`, …).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// The response.
    pub(crate) response: Arc<EdgeResponse>,
    /// How it was answered.
    pub(crate) x_cache: XCache,
    /// The `Age` of a stored copy, seconds.
    pub(crate) age: Option<u64>,
}

impl Answer {
    /// A response fetched (`Miss`) or confirmed by the origin (`RefreshHit`); a 4xx/5xx is
    /// reported as an `Error`.
    pub(crate) fn fetched(response: Arc<EdgeResponse>, x_cache: XCache) -> Answer {
        let x_cache = if response.status.as_u16() >= 400 {
            XCache::Error
        } else {
            x_cache
        };
        Answer {
            response,
            x_cache,
            // A copy the origin just confirmed is 0 s old again.
            age: (x_cache == XCache::RefreshHit).then_some(0),
        }
    }

    /// CloudFront's own answer to `failure` for the request `request_id`; the detail goes to
    /// the log.
    pub(crate) fn failure(failure: &EdgeFailure, request_id: &str) -> Answer {
        log_failure(
            request_id,
            failure.status,
            failure.x_cache.header_value(),
            &failure.detail,
        );
        Answer {
            response: Arc::new(failure.response(request_id)),
            x_cache: failure.x_cache,
            age: None,
        }
    }

    /// A stored copy, with its age at `now_ms` on the edge's clock.
    pub(crate) fn stored(entry: &Entry, now_ms: u64) -> Answer {
        Answer {
            response: entry.response.clone(),
            x_cache: if entry.error { XCache::Error } else { XCache::Hit },
            age: Some(entry.stamp.age_secs(now_ms)),
        }
    }
}
