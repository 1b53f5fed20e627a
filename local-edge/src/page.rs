//! The live page of the local edge (`/__edge/`), the debug option cache-key.md allows, and
//! the one guard in front of every `/__edge/*` answer.
//!
//! **Loopback only.** Every `/__edge/*` path (the counters, the page, its JSON, the test
//! clock) answers only a loopback peer that names a loopback `Host` (`127.0.0.0/8`, `::1`,
//! `localhost`, with any port); anything else gets 403. The `Host` check is what stops DNS
//! rebinding: a page on another site whose name was re-pointed at 127.0.0.1 still sends its
//! own name as `Host`.
//!
//! **The page** is on by default only when the edge listens on loopback (`--debug-page` turns
//! it on elsewhere; the guard above holds either way). Plain HTML, one small script and one
//! style sheet, all served from here (no build step, nothing from a CDN: it works offline),
//! under a Content-Security-Policy that allows nothing else. The script polls
//! `/__edge/live?after=ID` each second: the counters (exactly `/__edge/stats`), each origin
//! environment's L1/L2 hits and cold starts, the hit ratio per behaviour in 5 s buckets, and
//! the requests since `ID` ([`record`]: received URL, behaviour, status, `X-Cache`, each
//! layer's `Cache-Status`, latency, the canonical key of what viewer-request returned).
//! `/__edge/explain?id=ID` explains one request natively ([`crate::explain`]) from the
//! viewer request as it was recorded, and says when the native policy's canonical form
//! differs from what the handler (the Wasm package in Node) returned.
//!
//! Nothing here shows a credential or the origin's secret ([`Redaction`]).

pub(crate) mod record;

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use edge_policy::{canonical_request, header_fields, RequestView, RuleSet};
use http::header::HeaderValue;
use http::{Method, StatusCode};
use http_body_util::Full;
use serde_json::{json, Value};

pub(crate) use self::record::Recorder;
use self::record::{Record, BUCKETS, BUCKET_SECS, CAPACITY, REWRITTEN};
use crate::answer::Answer;
use crate::explain::{explain, Redaction, Setting};
use crate::flow;
use crate::message::{values, EdgeRequest};
use crate::state::State;

type Response = hyper::Response<Full<Bytes>>;

const INDEX_HTML: &str = include_str!("page/index.html");
const PAGE_JS: &str = include_str!("page/page.js");
const PAGE_CSS: &str = include_str!("page/page.css");
/// Named by the page, so a browser never asks the edge's viewers' paths for `/favicon.ico`
/// (which would show up as a request of its own).
const FAVICON: &str =
    "<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 16 16'><circle cx='8' cy='8' r='7' fill='#0969da'/></svg>";

/// Nothing but this page's own files, and its own JSON.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; \
                   base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Whether `path` is the debug surface.
pub(crate) fn is_debug_path(path: &str) -> bool {
    path == "/__edge" || path.starts_with("/__edge/")
}

/// Whether `host` (a `Host` value, or a URI's authority) names this machine's loopback:
/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
pub(crate) fn loopback_host(host: &str) -> bool {
    let host = host.trim();
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((inner, "")) => (inner, None),
            Some((inner, after)) => match after.strip_prefix(':') {
                Some(port) => (inner, Some(port)),
                None => return false,
            },
            None => return false,
        },
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    if port.is_some_and(|p| p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    name.eq_ignore_ascii_case("localhost") || name.parse::<IpAddr>().is_ok_and(|ip| ip.to_canonical().is_loopback())
}

/// Whether a request from `peer` naming `hosts` (every `Host` value, and the request
/// target's authority if it has one) may read `/__edge/*`.
pub(crate) fn loopback_only<'a>(peer: SocketAddr, hosts: impl IntoIterator<Item = &'a str>) -> bool {
    let mut named = false;
    for host in hosts {
        if !loopback_host(host) {
            return false;
        }
        named = true;
    }
    named && peer.ip().to_canonical().is_loopback()
}

/// 403 unless the request comes from a loopback peer with a loopback `Host`.
fn refusal<B>(req: &hyper::Request<B>, peer: SocketAddr) -> Option<Response> {
    let hosts = req
        .headers()
        .get_all("host")
        .iter()
        .map(|v| v.to_str().unwrap_or("\u{0}"))
        .chain(req.uri().authority().map(|a| a.as_str()));
    if loopback_only(peer, hosts) {
        return None;
    }
    Some(answer(
        StatusCode::FORBIDDEN,
        "application/json",
        json!({"message": "/__edge/ answers only a loopback client that names a loopback Host"}).to_string(),
    ))
}

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(content_type));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

fn not_found(message: &str) -> Response {
    answer(
        StatusCode::NOT_FOUND,
        "application/json",
        json!({ "message": message }).to_string(),
    )
}

/// Every `/__edge/*` request: 403 unless [`refusal`] lets it through, then `GET
/// /__edge/stats`, `POST /__edge/clock?advance=N` when the test clock is on, else the page.
pub(crate) fn debug<B>(state: &State, req: &hyper::Request<B>, peer: SocketAddr) -> Response {
    if let Some(refused) = refusal(req, peer) {
        return refused;
    }
    let json = |value: Value| answer(StatusCode::OK, "application/json", value.to_string());
    match req.uri().path() {
        "/__edge/stats" => json(state.stats_json()),
        "/__edge/clock" if req.method() == Method::POST && state.config.test_clock => {
            let seconds: u64 = (req.uri().query().unwrap_or(""))
                .strip_prefix("advance=")
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            state.clock.advance(seconds);
            json(json!({"advanced": seconds}))
        }
        _ => serve(state, req),
    }
}

/// The page, its files and its JSON (after [`refusal`] let the request through).
fn serve<B>(state: &State, req: &hyper::Request<B>) -> Response {
    let Some(recorder) = state.recorder.as_ref() else {
        return not_found("the live page is off: the edge listens beyond loopback; start it with --debug-page");
    };
    if req.method() != Method::GET && req.method() != Method::HEAD {
        return not_found("no such debug endpoint");
    }
    let number = |name: &str| -> Option<u64> {
        req.uri()
            .query()?
            .split('&')
            .find_map(|p| p.strip_prefix(name)?.strip_prefix('='))?
            .parse()
            .ok()
    };
    match req.uri().path() {
        "/__edge" | "/__edge/" => answer(StatusCode::OK, "text/html; charset=utf-8", INDEX_HTML.to_owned()),
        "/__edge/page.js" => answer(StatusCode::OK, "text/javascript; charset=utf-8", PAGE_JS.to_owned()),
        "/__edge/page.css" => answer(StatusCode::OK, "text/css; charset=utf-8", PAGE_CSS.to_owned()),
        "/__edge/favicon.svg" => answer(StatusCode::OK, "image/svg+xml", FAVICON.to_owned()),
        "/__edge/live" => {
            let body = live(state, recorder, number("after").unwrap_or(0));
            answer(
                StatusCode::OK,
                "application/json",
                state.redaction.text(&body.to_string()),
            )
        }
        "/__edge/explain" => match number("id").and_then(|id| recorder.get(id)) {
            Some(record) => {
                let body = explained(state, &record);
                answer(
                    StatusCode::OK,
                    "application/json",
                    state.redaction.text(&body.to_string()),
                )
            }
            None => not_found("no such request: it is not among the last requests kept"),
        },
        _ => not_found("no such debug endpoint"),
    }
}

/// Serves one viewer request through the flow ([`flow::serve`]) and, when the page is on,
/// records it.
pub(crate) async fn observed(state: &Arc<State>, viewer: EdgeRequest, request_id: &str, started: Instant) -> Answer {
    // What the record needs of the request, taken before the flow owns it (page on only).
    let seen = state.recorder.as_ref().map(|recorder| {
        let behaviour = state.distribution().behaviour_for(&viewer.uri).path_pattern.clone();
        let kept = EdgeRequest {
            body: Bytes::new(),
            ..viewer.clone()
        };
        (recorder, crate::clock::wall_ms(), behaviour, kept)
    });
    let (answer, handler) = REWRITTEN
        .scope(seen.is_some().then(|| RefCell::new(None)), async {
            let answer = flow::serve(state, viewer, request_id).await;
            (
                answer,
                REWRITTEN.with(|r| r.as_ref().and_then(|r| r.borrow_mut().take())),
            )
        })
        .await;
    let Some((recorder, at_ms, behaviour, kept)) = seen else {
        return answer;
    };
    let domain = &state.identity.distribution_domain;
    let native = canonical(domain, &kept.method, &kept.uri, &kept.querystring, &kept.headers)
        .map(|(uri, query, _)| (uri, query));
    let key = handler
        .as_ref()
        .and_then(|h| canonical(domain, &kept.method, &h.uri, &h.querystring, &h.headers))
        .map(|(_, _, key)| key);
    recorder.push(Record {
        id: 0,
        at_ms,
        viewer: kept,
        behaviour,
        status: answer.response.status.as_u16(),
        x_cache: answer.x_cache,
        cache_status: values(&answer.response.headers, "cache-status")
            .flat_map(|v| v.split(','))
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect(),
        latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        handler,
        native,
        key,
    });
    answer
}

/// The native policy's canonical path, query and key (from `domain`), when it keys the request.
fn canonical(
    domain: &str,
    method: &Method,
    uri: &str,
    querystring: &str,
    headers: &http::HeaderMap,
) -> Option<(String, String, String)> {
    let fields = header_fields(headers);
    let view = RequestView {
        method: method.as_str(),
        uri,
        querystring,
        headers: &fields,
    };
    canonical_request(RuleSet::embedded(), domain, &view)
        .ok()
        .map(|c| (c.uri, c.querystring, c.key.to_string()))
}

fn url(uri: &str, querystring: &str) -> String {
    match querystring {
        "" => uri.to_owned(),
        query => format!("{uri}?{query}"),
    }
}

/// One record as the page lists it.
fn row(redaction: &Redaction, r: &Record) -> Value {
    json!({
        "id": r.id,
        "at_ms": r.at_ms,
        "method": r.viewer.method.as_str(),
        "url": redaction.text(&url(&r.viewer.uri, &r.viewer.querystring)),
        "behaviour": r.behaviour,
        "status": r.status,
        "x_cache": r.x_cache.header_value(),
        "cache_status": r.cache_status.iter().map(|m| redaction.text(m)).collect::<Vec<_>>(),
        "latency_ms": (r.latency_ms * 10.0).round() / 10.0,
        "key": r.key.as_deref().map(|k| redaction.key(k)),
        "handler": r.handler.as_ref().map(|h| redaction.text(&url(&h.uri, &h.querystring))),
        "native": r.native.as_ref().map(|(u, q)| redaction.text(&url(u, q))),
        "differs": r.differs(),
    })
}

/// `/__edge/live`: the counters, the chart's buckets and the requests after `after`.
fn live(state: &State, recorder: &Recorder, after: u64) -> Value {
    let (records, latest) = recorder.since(after);
    let series: Vec<Value> = recorder
        .series()
        .into_iter()
        .map(|(behaviour, buckets)| {
            json!({
                "behaviour": behaviour,
                "buckets": buckets.iter().map(|b| [b.index, b.hits, b.requests]).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "capacity": CAPACITY,
        "latest": latest,
        "stats": state.stats_json(),
        "series": {"bucket_secs": BUCKET_SECS, "buckets": BUCKETS, "now": recorder.bucket_now(), "behaviours": series},
        "requests": records.iter().map(|r| row(&state.redaction, r)).collect::<Vec<_>>(),
    })
}

/// `/__edge/explain?id=ID`: the record explained natively, from the viewer request as
/// received.
fn explained(state: &State, record: &Record) -> Value {
    let setting = Setting {
        distribution: state.distribution(),
        rules: RuleSet::embedded(),
        domain: &state.identity.distribution_domain,
        origin_domain: &state.identity.origin_domain,
    };
    let explanation = state.redaction.explanation(explain(setting, &record.viewer, None));
    let headers: Vec<[String; 2]> = record
        .viewer
        .headers
        .iter()
        .map(|(name, value)| {
            let text = value.to_str().unwrap_or("(not UTF-8)");
            [name.as_str().to_owned(), state.redaction.header(name.as_str(), text)]
        })
        .collect();
    json!({
        "id": record.id,
        "computed_by": "the native edge-policy (the local edge's own build of the policy), from the viewer request as it was recorded",
        "request": {
            "method": record.viewer.method.as_str(),
            "url": state.redaction.text(&url(&record.viewer.uri, &record.viewer.querystring)),
            "headers": headers,
        },
        "x_cache": record.x_cache.header_value(),
        "handler": record.handler.as_ref().map(|h| state.redaction.text(&url(&h.uri, &h.querystring))),
        "native": record.native.as_ref().map(|(u, q)| state.redaction.text(&url(u, q))),
        "differs": record.differs(),
        "text": state.redaction.text(&explanation.to_string()),
        "explanation": explanation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(peer: &str, host: Option<&'static str>) -> bool {
        loopback_only(peer.parse().unwrap(), host)
    }

    #[test]
    fn the_admin_paths_answer_a_loopback_peer_naming_a_loopback_host_only() {
        for host in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "127.1.2.3:9",
        ] {
            assert!(allowed("127.0.0.1:5000", Some(host)), "{host}");
        }
        assert!(allowed("[::1]:5000", Some("[::1]:8080")));
        for host in [
            "evil.example",
            "evil.example:8080",
            "192.168.1.2:8080",
            "localhost.evil.example",
            "[::2]:80",
            "",
        ] {
            assert!(!allowed("127.0.0.1:5000", Some(host)), "{host}");
        }
        assert!(!allowed("127.0.0.1:5000", None), "no Host");
        assert!(
            !allowed("192.168.1.9:5000", Some("127.0.0.1:8080")),
            "a peer from another machine"
        );
    }

    fn peer(ip: &str) -> SocketAddr {
        SocketAddr::new(ip.parse().unwrap(), 50000)
    }

    #[test]
    fn only_a_loopback_peer_naming_a_loopback_host_passes() {
        for host in [
            "127.0.0.1:8080",
            "127.0.0.1",
            "127.9.9.9:1",
            "localhost:8080",
            "LOCALHOST",
            "[::1]:8080",
            "[::1]",
        ] {
            assert!(loopback_only(peer("127.0.0.1"), [host]), "{host}");
        }
        assert!(loopback_only(peer("::1"), ["[::1]:8080"]));
        assert!(loopback_only(peer("::ffff:127.0.0.1"), ["127.0.0.1:8080"]));
        for host in [
            "evil.example",
            "evil.example:8080",
            "127.0.0.1.evil.example",
            "localhost.evil.example:8080",
            "10.0.0.1:8080",
            "[::2]:8080",
            "127.0.0.1:80:80",
            "127.0.0.1:x",
            "[::1]x",
            "",
            "\u{0}",
        ] {
            assert!(!loopback_only(peer("127.0.0.1"), [host]), "{host:?}");
        }
        assert!(!loopback_only(peer("192.0.2.7"), ["127.0.0.1:8080"]), "a remote peer");
        assert!(!loopback_only(peer("127.0.0.1"), std::iter::empty()), "no Host at all");
        assert!(
            !loopback_only(peer("127.0.0.1"), ["127.0.0.1:8080", "evil.example"]),
            "one Host that is not loopback"
        );
    }

    #[test]
    fn the_debug_surface_is_every_path_under_edge() {
        assert!(is_debug_path("/__edge") && is_debug_path("/__edge/") && is_debug_path("/__edge/x"));
        assert!(!is_debug_path("/__edgex") && !is_debug_path("/api/__edge/"));
    }
}
