//! The TTL-aware bound: what an ideal edge keyed exactly as an arm keys would reach on a
//! trace. Ideal means: one cache of unlimited size, every origin answer instantaneous, a
//! background revalidation done the moment it starts, nothing evicted. What the bound still
//! charges is what no edge can avoid with these keys and these lifetimes: **a key's first
//! request in each freshness window is a miss**. A request inside stale-while-revalidate is a
//! hit (served stale at once) and renews the copy; past every window, a miss.
//!
//! Lifetimes come from the decided `Cache-Control` of each answer — what origin-response (and
//! this project's origin) writes for the route and status — read by the behaviour's cache
//! policy and the distribution's error caching (`local_edge::cache::storing`), and asked
//! through the one freshness model (`edge_policy::cache_control::freshness`): no window
//! arithmetic here.

use std::collections::{HashMap, HashSet};

use edge_policy::cache_control::{FreshnessState, Stamp};
use serde::Serialize;

use crate::analysis::ratio;
use crate::keyed::KeyedRequest;

/// What the ideal edge did with the trace.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Bound {
    /// Requests.
    pub requests: usize,
    /// Served from the cache (fresh or inside stale-while-revalidate).
    pub hits: usize,
    /// Of the hits, served stale while a background request revalidated.
    pub stale_hits: usize,
    /// Requests that had to wait for the origin: a key's first request in a window, and
    /// every request on a behaviour or answer that is not cached.
    pub misses: usize,
    /// `hits / requests`: the TTL-aware bound.
    pub hit_ratio: f64,
    /// Origin requests per viewer request: misses plus background revalidations.
    pub origin_requests_per_request: f64,
    /// The old bound, for comparison: an infinite cache where nothing ever expires (every
    /// repeat of a stored key is a hit).
    pub infinite_hit_ratio: f64,
}

/// The bound on a keyed trace (`keyed::key_trace`: the arm's keys and lifetimes).
pub fn ttl_aware_bound(trace: &[KeyedRequest]) -> Bound {
    let mut stored: HashMap<u32, Stamp> = HashMap::new();
    let mut seen: HashSet<u32> = HashSet::new();
    let (mut hits, mut stale_hits, mut misses, mut infinite_hits) = (0, 0, 0, 0);
    for request in trace {
        if !request.cached {
            misses += 1;
            continue;
        }
        let (key, answer, now) = (request.key, request.lifetime, request.at_ms);
        if answer.is_some() && !seen.insert(key) {
            infinite_hits += 1;
        }
        let state = stored.get(&key).map(|stamp| stamp.state(now));
        match state {
            Some(FreshnessState::Fresh) => hits += 1,
            Some(FreshnessState::StaleWhileRevalidate) => {
                hits += 1;
                stale_hits += 1;
                // The background revalidation renews the copy at once.
                if let Some(l) = answer {
                    stored.insert(key, Stamp::new(now, l));
                }
            }
            _ => {
                misses += 1;
                match answer {
                    Some(l) => stored.insert(key, Stamp::new(now, l)),
                    None => stored.remove(&key),
                };
            }
        }
    }
    Bound {
        requests: trace.len(),
        hits,
        stale_hits,
        misses,
        hit_ratio: ratio(hits, trace.len()),
        origin_requests_per_request: ratio(misses + stale_hits, trace.len()),
        infinite_hit_ratio: ratio(infinite_hits, trace.len()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use local_edge::message::EdgeRequest;
    use local_edge::Distribution;

    use crate::keyed::{key_trace, AnswerHeader};
    use crate::trace::TraceRequest;

    fn deployed() -> Distribution {
        Distribution::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/behaviours.toml")).unwrap()
    }

    fn project(r: EdgeRequest) -> EdgeRequest {
        local_edge::triggers::native_request(edge_policy::cloudfront::Trigger::ViewerRequest, r)
    }

    fn bound(trace: &[TraceRequest], statuses: &[u16], keyed: impl Fn(EdgeRequest) -> EdgeRequest) -> Bound {
        ttl_aware_bound(&key_trace(trace, statuses, &deployed(), keyed, AnswerHeader::Decided))
    }

    fn at(s: u64, path: &str) -> TraceRequest {
        TraceRequest::new(s * 1000, path, &[("accept-encoding", "gzip")])
    }

    #[test]
    fn a_keys_first_request_in_each_window_is_the_only_miss() {
        // /api/config: s-maxage=60, stale-while-revalidate=300.
        let trace = [
            at(0, "/api/config"),   // miss, stored at 0
            at(59, "/api/config"),  // fresh
            at(60, "/api/config"),  // stale inside SWR: hit, renewed at 60
            at(400, "/api/config"), // 60 + 60 + 300 = 420: still SWR, renewed at 400
            at(781, "/api/config"), // 400 + 360 = 760: expired, miss
            at(782, "/api/config"), // fresh again
        ];
        let b = bound(&trace, &[], project);
        assert_eq!((b.hits, b.stale_hits, b.misses), (4, 2, 2));
        assert_eq!(b.hit_ratio, ratio(4, 6));
        assert_eq!(b.origin_requests_per_request, ratio(4, 6));
        // An infinite cache would call everything after the first a hit.
        assert_eq!(b.infinite_hit_ratio, ratio(5, 6));
    }

    #[test]
    fn private_requests_are_always_misses_and_variants_share_the_canonical_key() {
        let me = TraceRequest::new(0, "/api/me", &[("authorization", "Bearer user-1")]);
        let trace = [
            at(0, "/api/products/1?utm_source=a"),
            TraceRequest::new(1000, "/api/products/1", &[("accept-encoding", "gzip, deflate")]),
            TraceRequest::new(2000, "/api/products/1", &[("accept-encoding", "br")]),
            me.clone(),
            me,
        ];
        let b = bound(&trace, &[], project);
        // br is another encoding, so another key; /api/me is never cached.
        assert_eq!((b.hits, b.misses), (1, 4));
        // Without the handler the tracking parameter is its own key under query "all".
        let raw = bound(&trace, &[], |r| r);
        assert_eq!((raw.hits, raw.misses), (0, 5));
    }

    #[test]
    fn an_error_is_kept_as_the_error_caching_settings_say() {
        // A 404 on the default route: the policy's negative lifetime (cache-control.md rule
        // 6: s-maxage=min(60, negative_ttl 10)), no stale windows, the deployed error caching
        // minimum 0 for 404; a 503 is never kept (error caching 0 s for 503, and written
        // no-store).
        let trace = [at(0, "/x"), at(9, "/x"), at(10, "/x"), at(62, "/y"), at(63, "/y")];
        let statuses = [404, 404, 404, 503, 503];
        let b = bound(&trace, &statuses, project);
        assert_eq!((b.hits, b.stale_hits, b.misses), (1, 0, 4));
    }
}
