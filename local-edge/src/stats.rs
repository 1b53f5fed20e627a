//! The edge's counters, served as JSON on `GET /__edge/stats`, and the typed outcome they
//! count: how a request was answered ([`XCache`]) is one value; the `X-Cache` header and the
//! counters are both rendered from it.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{json, Value};

use crate::origin::OriginPool;

/// How CloudFront answered, as its `X-Cache` header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XCache {
    /// Served from the cache (fresh, or stale inside a window).
    Hit,
    /// Served from the cache after the origin confirmed it with a `304`.
    RefreshHit,
    /// Fetched from the origin.
    Miss,
    /// An error: the origin's 4xx/5xx (fetched or cached), or CloudFront's own.
    Error,
    /// A viewer-request function generated the answer.
    LambdaGeneratedResponse,
    /// A function threw, trapped or timed out (503).
    LambdaExecutionError,
    /// A function's answer broke CloudFront's rules (502).
    LambdaValidationError,
}

impl XCache {
    /// The header value.
    pub fn header_value(self) -> &'static str {
        match self {
            XCache::Hit => "Hit from cloudfront",
            XCache::RefreshHit => "RefreshHit from cloudfront",
            XCache::Miss => "Miss from cloudfront",
            XCache::Error => "Error from cloudfront",
            XCache::LambdaGeneratedResponse => "LambdaGeneratedResponse from cloudfront",
            XCache::LambdaExecutionError => "LambdaExecutionError from cloudfront",
            XCache::LambdaValidationError => "LambdaValidationError from cloudfront",
        }
    }
}

/// The counters.
#[derive(Debug, Default)]
pub struct Stats {
    /// Viewer requests (admin requests excluded).
    pub requests: AtomicU64,
    /// Answers from the cache.
    pub hits: AtomicU64,
    /// Answers fetched from the origin.
    pub misses: AtomicU64,
    /// Answers confirmed by a `304`.
    pub refresh_hits: AtomicU64,
    /// Stale copies served (inside stale-while-revalidate, or stale-if-error on a failure).
    pub stale_serves: AtomicU64,
    /// Error answers.
    pub errors: AtomicU64,
    /// Requests sent to the origin.
    pub origin_requests: AtomicU64,
    /// Origin failures (5xx, timeout, crash, no environment).
    pub origin_errors: AtomicU64,
    /// Waiters that fetched their own answer because the collapsed one was not shareable.
    pub uncollapsed: AtomicU64,
    /// Misses answered by another request's origin fetch (collapsed): `X-Cache` says `Miss`,
    /// but no origin request of their own.
    pub collapsed_waiters: AtomicU64,
    /// Origin requests made by a stale-while-revalidate background revalidation (not by a
    /// viewer request).
    pub background_fetches: AtomicU64,
    /// Background revalidations running now (a gauge: goes up and down).
    pub revalidations_in_flight: AtomicU64,
    /// Errors stored under the error-caching settings.
    pub errors_cached: AtomicU64,
    /// Requests refused because the behaviour does not allow the method.
    pub methods_refused: AtomicU64,
    /// Function answers CloudFront would reject.
    pub validation_errors: AtomicU64,
    /// Function throws, traps and timeouts.
    pub execution_errors: AtomicU64,
    /// Requests over CloudFront's size limits, refused with 413 before any function ran.
    pub too_large: AtomicU64,
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Stats {
    /// Counts one answered request by how it was answered.
    pub fn count(&self, x_cache: XCache) {
        bump(&self.requests);
        match x_cache {
            XCache::Hit => bump(&self.hits),
            XCache::RefreshHit => bump(&self.refresh_hits),
            XCache::Miss => bump(&self.misses),
            XCache::Error => bump(&self.errors),
            XCache::LambdaGeneratedResponse => {}
            XCache::LambdaExecutionError => bump(&self.execution_errors),
            XCache::LambdaValidationError => bump(&self.validation_errors),
        }
    }

    /// Adds one to `counter`.
    pub fn add(&self, counter: impl Fn(&Stats) -> &AtomicU64) {
        bump(counter(self));
    }

    /// Every counter, the cache's size, the handler's restarts and each origin environment's.
    pub fn to_json(&self, cache_entries: u64, handler_starts: u64, origin: &OriginPool) -> Value {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let environments: Vec<Value> = origin
            .environments()
            .iter()
            .map(|e| {
                json!({"invocations": get(&e.stats.invocations), "cold_starts": get(&e.stats.cold_starts),
                       "crashes": get(&e.stats.crashes), "pid": get(&e.stats.pid),
                       "l1_hits": get(&e.stats.l1_hits), "l2_hits": get(&e.stats.l2_hits)})
            })
            .collect();
        json!({
            "requests": get(&self.requests),
            "hits": get(&self.hits),
            "misses": get(&self.misses),
            "refresh_hits": get(&self.refresh_hits),
            "stale_serves": get(&self.stale_serves),
            "errors": get(&self.errors),
            "origin_requests": get(&self.origin_requests),
            "origin_errors": get(&self.origin_errors),
            "uncollapsed": get(&self.uncollapsed),
            "collapsed_waiters": get(&self.collapsed_waiters),
            "background_fetches": get(&self.background_fetches),
            "revalidations_in_flight": get(&self.revalidations_in_flight),
            "errors_cached": get(&self.errors_cached),
            "methods_refused": get(&self.methods_refused),
            "validation_errors": get(&self.validation_errors),
            "execution_errors": get(&self.execution_errors),
            "too_large": get(&self.too_large),
            "environment_waits_exceeded": get(&origin.throttled),
            "handler_starts": handler_starts,
            "cache_entries": cache_entries,
            "environments": environments,
        })
    }
}
