//! Each request of a trace as one arm's edge sees it: its behaviour, whether that behaviour
//! caches it, its cache key and how long the edge keeps the answer. Computed once per
//! distinct request (method, path, headers, status), with the project's own code: the arm's
//! viewer-request (`local_edge::triggers::native_request` for this project's handler), the
//! behaviour's cache policy (`local_edge::cache_key`), the answer's `Cache-Control` as the
//! route and status decide it (`edge_policy::origin_response`, what this project's origin and
//! origin-response write), read by the cache policy and the distribution's error caching
//! (`local_edge::cache::storing`) into the one freshness model's [`Lifetime`].
//!
//! The TTL-aware bound (`bound.rs`) and the tiered simulation (`simulate.rs`) both read this:
//! the keys and lifetimes are the same in both; only the caches in front of them differ.

use std::collections::HashMap;
use std::sync::Arc;

use edge_policy::cache_control::{CacheControl, Lifetime};
use edge_policy::cloudfront::Trigger;
use edge_policy::header_fields;
use edge_policy::{canonical_request, origin_response, RequestView, ResponseView, RuleSet};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use local_edge::cache::{storing, Storing};
use local_edge::cache_key::{cache_key, EdgeKey};
use local_edge::distribution::Behaviour;
use local_edge::message::EdgeRequest;
use local_edge::Distribution;

use crate::trace::TraceRequest;

/// The `Host` every viewer request carries (one distribution: the same for all).
pub const HOST: &str = "replay.cloudfront.net";

/// What `Cache-Control` the answers leave the origin-facing side with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerHeader {
    /// The route's and status's decided header: what this project's origin writes, and what
    /// origin-response writes for any origin.
    Decided,
    /// The seed's origin-response (`bench/naive-handler/index.js`): a header without
    /// `private` or `no-store` is replaced by [`SEED_HEADER`] (the last of its two
    /// `cache-control` keys, the only one a JavaScript object literal keeps).
    SeedHandler,
}

/// What the seed's handler leaves on every shareable answer.
pub const SEED_HEADER: &str = "s-maxage=300, stale-while-revalidate=86400";

/// One viewer request, keyed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyedRequest {
    /// When it arrives, ms after the trace starts.
    pub at_ms: u64,
    /// Its behaviour: the index in the distribution's `behaviours`.
    pub behaviour: u16,
    /// Whether the behaviour looks it up and stores its answer (not CachingDisabled, a
    /// cached method).
    pub cached: bool,
    /// Its cache key, interned: equal keys, equal numbers (within one [`key_trace`]).
    pub key: u32,
    /// How long the edge keeps the answer; `None`: not stored.
    pub lifetime: Option<Lifetime>,
    /// Whether viewer-request is associated with its behaviour.
    pub viewer_request: bool,
    /// Whether origin-response is associated with its behaviour.
    pub origin_response: bool,
    /// The key this project's origin caches the answer under (its own canonical key,
    /// recomputed from what it receives: `edge_policy::canonical_request`), interned; `None`
    /// when the origin keeps no copy (bypass) or when the arm's origin-response rewrites the
    /// header whatever the origin said ([`AnswerHeader::SeedHandler`]: the origin's
    /// remaining freshness never reaches the edge).
    pub origin_key: Option<u32>,
}

impl KeyedRequest {
    /// Whether concurrent misses for this answer share one origin request: a cached
    /// behaviour and a computed TTL above 0 (`lambda-edge-rules.md`).
    pub fn collapses(&self) -> bool {
        self.cached && self.lifetime.is_some_and(|l| l.collapses())
    }
}

/// The viewer request a trace line stands for (its method, the trace's headers plus `Host`).
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
        method: Method::from_bytes(request.method.as_bytes()).unwrap_or(Method::GET),
        uri: uri.to_owned(),
        querystring: querystring.to_owned(),
        headers,
        client_ip: "127.0.0.1".into(),
        body: Default::default(),
    }
}

/// The `Cache-Control` the answer to `request` (`status`) reaches the edge's cache with.
fn answer_header(request: &EdgeRequest, status: u16, header: AnswerHeader) -> String {
    let request_fields = header_fields(&request.headers);
    let status_text = status.to_string();
    let view = ResponseView {
        status: &status_text,
        request_method: request.method.as_str(),
        request_uri: &request.uri,
        request_headers: &request_fields,
        headers: &[],
        // Only read for an `Expires` without `Date`; the decided answer has neither.
        now_ms: 0,
    };
    let decided = origin_response(RuleSet::embedded(), &view).cache_control;
    match header {
        AnswerHeader::Decided => decided,
        // The seed's test: `/private|no-store/` on the joined header.
        AnswerHeader::SeedHandler if decided.contains("private") || decided.contains("no-store") => decided,
        AnswerHeader::SeedHandler => SEED_HEADER.to_owned(),
    }
}

/// How long the edge keeps the answer to `request` (`status`); `None`: not stored.
fn lifetime(
    request: &EdgeRequest,
    status: u16,
    behaviour: &Behaviour,
    distribution: &Distribution,
    header: AnswerHeader,
) -> Option<Lifetime> {
    let written = answer_header(request, status, header);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    match storing(
        status,
        &CacheControl::parse([written.as_str()]),
        &behaviour.cache_policy,
        &distribution.error_caching,
    ) {
        Storing::Store { lifetime, .. } => Some(lifetime),
        Storing::Skip(_) => None,
    }
}

/// Every request of `trace` keyed for a distribution whose viewer-request leaves each
/// request as `keyed` makes it, its answers written as `header` says. `statuses[i]` is the
/// status the origin answers request `i` with (a missing or `0` entry reads as `200`).
pub fn key_trace(
    trace: &[TraceRequest],
    statuses: &[u16],
    distribution: &Distribution,
    keyed: impl Fn(EdgeRequest) -> EdgeRequest,
    header: AnswerHeader,
) -> Vec<KeyedRequest> {
    type Distinct<'a> = (&'a str, &'a str, &'a [(String, String)], u16);
    let mut seen: HashMap<Distinct<'_>, KeyedRequest> = HashMap::new();
    let mut keys: HashMap<EdgeKey, u32> = HashMap::new();
    let mut origin_keys: HashMap<String, u32> = HashMap::new();
    let mut out = Vec::with_capacity(trace.len());
    for (i, line) in trace.iter().enumerate() {
        let status = statuses.get(i).copied().filter(|s| *s >= 100).unwrap_or(200);
        let distinct = (
            line.method.as_str(),
            line.path.as_str(),
            line.headers.as_slice(),
            status,
        );
        let found = seen.get(&distinct).copied();
        let request = match found {
            Some(known) => known,
            None => {
                let viewer = edge_request(line);
                let (index, behaviour) = behaviour_of(distribution, &viewer.uri);
                let origin_key = match header {
                    AnswerHeader::Decided => origin_key(&viewer).map(|k| {
                        let next = u32::try_from(origin_keys.len()).unwrap_or(u32::MAX);
                        *origin_keys.entry(k).or_insert(next)
                    }),
                    AnswerHeader::SeedHandler => None,
                };
                let request = keyed(viewer);
                let key = cache_key(&behaviour.cache_policy, &request, local_edge::DISTRIBUTION_DOMAIN);
                let next = u32::try_from(keys.len()).unwrap_or(u32::MAX);
                let known = KeyedRequest {
                    at_ms: 0,
                    behaviour: index,
                    cached: behaviour.caches(&request.method),
                    key: *keys.entry(key).or_insert(next),
                    lifetime: lifetime(&request, status, behaviour, distribution, header),
                    viewer_request: behaviour.runs(Trigger::ViewerRequest),
                    origin_response: behaviour.runs(Trigger::OriginResponse),
                    origin_key,
                };
                seen.insert(distinct, known);
                known
            }
        };
        out.push(KeyedRequest {
            at_ms: line.at_ms,
            ..request
        });
    }
    out
}

/// The canonical key this project's origin caches `viewer`'s answer under, or `None` (bypass,
/// or a request the policy passes through).
fn origin_key(viewer: &EdgeRequest) -> Option<String> {
    let fields = header_fields(&viewer.headers);
    let view = RequestView {
        method: viewer.method.as_str(),
        uri: &viewer.uri,
        querystring: &viewer.querystring,
        headers: &fields,
    };
    let canonical = canonical_request(RuleSet::embedded(), HOST, &view).ok()?;
    (!canonical.bypass).then(|| canonical.key.as_str().to_owned())
}

/// The behaviour for a raw viewer path and its index.
fn behaviour_of<'d>(distribution: &'d Distribution, raw_path: &str) -> (u16, &'d Arc<Behaviour>) {
    let behaviour = distribution.behaviour_for(raw_path);
    let index = distribution
        .behaviours
        .iter()
        .position(|b| Arc::ptr_eq(b, behaviour))
        .unwrap_or(distribution.behaviours.len() - 1);
    (u16::try_from(index).unwrap_or(u16::MAX), behaviour)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployed() -> Distribution {
        Distribution::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/behaviours.toml")).unwrap()
    }

    fn project(r: EdgeRequest) -> EdgeRequest {
        local_edge::triggers::native_request(Trigger::ViewerRequest, r)
    }

    #[test]
    fn variants_share_a_key_number_and_each_request_keeps_its_time() {
        let trace = [
            TraceRequest::new(0, "/api/products/1?utm_source=a", &[("accept-encoding", "gzip")]),
            TraceRequest::new(5, "/api/products/1", &[("accept-encoding", "gzip, deflate")]),
            TraceRequest::new(9, "/api/products/1", &[("accept-encoding", "br")]),
            TraceRequest::new(12, "/api/products/1?utm_source=a", &[("accept-encoding", "gzip")]),
        ];
        let k = key_trace(&trace, &[], &deployed(), project, AnswerHeader::Decided);
        assert_eq!(k.iter().map(|r| r.key).collect::<Vec<_>>(), [0, 0, 1, 0]);
        assert_eq!(k.iter().map(|r| r.at_ms).collect::<Vec<_>>(), [0, 5, 9, 12]);
        // products: s-maxage=300, stale-while-revalidate=86400, stale-if-error=86400.
        let l = k[0].lifetime.unwrap();
        assert_eq!((l.ttl, l.stale_while_revalidate), (300, 86_400));
        assert!(k[0].collapses() && k[0].viewer_request && k[0].origin_response);
    }

    #[test]
    fn private_and_unsafe_requests_are_not_cached() {
        let me = TraceRequest::new(0, "/api/me", &[("authorization", "Bearer u")]);
        let post = TraceRequest::new(0, "/api/products", &[]).with_method("POST");
        let k = key_trace(&[me, post], &[], &deployed(), project, AnswerHeader::Decided);
        assert!(!k[0].cached && k[0].lifetime.is_none() && !k[0].collapses());
        assert!(!k[1].cached, "POST is not a cached method");
    }

    #[test]
    fn the_seed_handler_writes_its_one_header_on_everything_shareable() {
        let trace = [
            TraceRequest::new(0, "/static/app.js", &[]),
            TraceRequest::new(0, "/api/me", &[("authorization", "Bearer u")]),
        ];
        let k = key_trace(&trace, &[], &deployed(), |r| r, AnswerHeader::SeedHandler);
        let l = k[0].lifetime.unwrap();
        assert_eq!(
            (l.ttl, l.stale_while_revalidate),
            (300, 86_400),
            "a year shortened to 300 s"
        );
        assert_eq!(k[1].lifetime, None, "private, no-store is left alone");
    }
}
