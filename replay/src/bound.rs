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

use edge_policy::cache_control::{CacheControl, FreshnessState, Lifetime, Stamp};
use edge_policy::header_fields;
use edge_policy::{origin_response, ResponseView, RuleSet};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use local_edge::cache::{storing, Storing};
use local_edge::cache_key::{cache_key, EdgeKey};
use local_edge::distribution::Behaviour;
use local_edge::message::EdgeRequest;
use local_edge::Distribution;
use serde::Serialize;

use crate::analysis::ratio;
use crate::trace::TraceRequest;

/// The `Host` every viewer request carries (one distribution: the same for all).
const HOST: &str = "replay.cloudfront.net";

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

/// The viewer request a trace line stands for (`GET`, the trace's headers plus `Host`).
pub fn edge_request(request: &TraceRequest) -> EdgeRequest {
    let (uri, querystring) = request.path_and_query();
    let mut headers = HeaderMap::new();
    headers.insert(http::header::HOST, HeaderValue::from_static(HOST));
    for (name, value) in &request.headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            headers.append(n, v);
        }
    }
    EdgeRequest {
        method: Method::GET,
        uri: uri.to_owned(),
        querystring: querystring.to_owned(),
        headers,
        client_ip: "127.0.0.1".into(),
        body: Default::default(),
    }
}

/// How long the edge keeps the answer to `request` (`status`, with the route's decided
/// `Cache-Control`); `None`: not stored.
fn lifetime(
    request: &EdgeRequest,
    status: u16,
    behaviour: &Behaviour,
    distribution: &Distribution,
) -> Option<Lifetime> {
    let request_fields = header_fields(&request.headers);
    let status_text = status.to_string();
    let view = ResponseView {
        status: &status_text,
        request_method: "GET",
        request_uri: &request.uri,
        request_headers: &request_fields,
        headers: &[],
        // Only read for an `Expires` without `Date`; the decided answer has neither.
        now_ms: 0,
    };
    let decided = origin_response(RuleSet::embedded(), &view).cache_control;
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    match storing(
        status,
        &CacheControl::parse([decided.as_str()]),
        &behaviour.cache_policy,
        &distribution.error_caching,
    ) {
        Storing::Store { lifetime, .. } => Some(lifetime),
        Storing::Skip(_) => None,
    }
}

/// The bound on `trace` for a distribution whose viewer-request leaves each request as
/// `keyed` makes it. `statuses[i]` is the status the origin answers request `i` with (a
/// missing or `0` entry reads as `200`).
pub fn ttl_aware_bound(
    trace: &[TraceRequest],
    statuses: &[u16],
    distribution: &Distribution,
    keyed: impl Fn(EdgeRequest) -> EdgeRequest,
) -> Bound {
    let mut stored: HashMap<EdgeKey, Stamp> = HashMap::new();
    let mut seen: HashSet<EdgeKey> = HashSet::new();
    let (mut hits, mut stale_hits, mut misses, mut infinite_hits) = (0, 0, 0, 0);
    for (i, line) in trace.iter().enumerate() {
        let viewer = edge_request(line);
        let behaviour = distribution.behaviour_for(&viewer.uri).clone();
        let request = keyed(viewer);
        if !behaviour.caches(&request.method) {
            misses += 1;
            continue;
        }
        let status = statuses.get(i).copied().filter(|s| *s >= 100).unwrap_or(200);
        let answer = lifetime(&request, status, &behaviour, distribution);
        let key = cache_key(&behaviour.cache_policy, &request, local_edge::DISTRIBUTION_DOMAIN);
        if answer.is_some() && !seen.insert(key.clone()) {
            infinite_hits += 1;
        }
        let now = line.at_ms;
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

    fn deployed() -> Distribution {
        Distribution::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/behaviours.toml")).unwrap()
    }

    fn project(r: EdgeRequest) -> EdgeRequest {
        local_edge::triggers::native_request(edge_policy::cloudfront::Trigger::ViewerRequest, r)
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
        let b = ttl_aware_bound(&trace, &[], &deployed(), project);
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
        let b = ttl_aware_bound(&trace, &[], &deployed(), project);
        // br is another encoding, so another key; /api/me is never cached.
        assert_eq!((b.hits, b.misses), (1, 4));
        // Without the handler the tracking parameter is its own key under query "all".
        let raw = ttl_aware_bound(&trace, &[], &deployed(), |r| r);
        assert_eq!((raw.hits, raw.misses), (0, 5));
    }

    #[test]
    fn an_error_is_kept_as_the_error_caching_settings_say() {
        // A 404 on the default route: s-maxage=60 raises the 10 s error minimum, no stale
        // windows; a 503 is never kept (error caching 0 s for 503, and written no-store).
        let trace = [at(0, "/x"), at(30, "/x"), at(61, "/x"), at(62, "/y"), at(63, "/y")];
        let statuses = [404, 404, 404, 503, 503];
        let b = ttl_aware_bound(&trace, &statuses, &deployed(), project);
        assert_eq!((b.hits, b.stale_hits, b.misses), (1, 0, 4));
    }
}
