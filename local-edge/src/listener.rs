//! The viewer-facing listener: HTTP/1.1 in, the request flow ([`crate::flow`], recorded for
//! the live page by [`crate::page`]), CloudFront's own response headers out, one access-log
//! line per request; `/__edge/*` (stats, the test clock, the live page) handed to
//! [`crate::page::debug`], which answers only loopback.
//!
//! Every connection is accepted by [`accept_loop`] (errors backed off, a connection cap) and
//! held by [`connection::hold`] (header-read and idle timeouts, the head's size counted on
//! the wire). A request over CloudFront's limits ([`crate::request_limits`]) gets its 413
//! here, before any function runs, and the connection is closed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::HeaderValue;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::accept::accept_loop;
use crate::answer::Answer;
use crate::connection::{self, Watch};
use crate::error_page::{error_page, log_failure};
use crate::message::{first, EdgeRequest};
use crate::page;
use crate::request_limits::{over_limit, OverLimit, MAX_REQUEST_BYTES, MAX_URL_BYTES};
use crate::state::State;
use crate::stats::XCache;

/// The largest viewer body read (a Lambda function URL's request payload limit).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// Accepts connections until the task is aborted.
pub(crate) fn serve(listener: TcpListener, state: Arc<State>) -> tokio::task::JoinHandle<()> {
    let limits = state.config.connections;
    accept_loop(listener, limits.cap(), "edge", move |stream, peer| {
        let state = state.clone();
        connection::hold(stream, limits, move |io, watch| {
            let service = hyper::service::service_fn(move |req| {
                let (state, watch) = (state.clone(), watch.clone());
                let in_request = watch.begin();
                async move {
                    let _in_request = in_request;
                    Ok::<_, Infallible>(handle(state, req, peer, &watch).await)
                }
            });
            hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service)
        })
    })
}

/// One viewer request: the debug surface, or the request flow with CloudFront's headers
/// around it and an access-log line.
async fn handle(
    state: Arc<State>,
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
    watch: &Watch,
) -> hyper::Response<Full<Bytes>> {
    let started = Instant::now();
    // CloudFront's limits come first: nothing else, not even an admin path, reads the request.
    let over = if watch.head_too_large() {
        Some(OverLimit::Request)
    } else {
        over_limit(&req)
    };
    if let Some(over) = over {
        let detail = match over {
            OverLimit::Request => format!("request line and headers over {MAX_REQUEST_BYTES} bytes"),
            OverLimit::Url => format!("URL over {MAX_URL_BYTES} bytes"),
        };
        return too_large(&state, &detail);
    }
    if page::is_debug_path(req.uri().path()) {
        return page::debug(&state, &req, peer);
    }
    // The viewer's request as the edge carries it. The body is read whole, even on
    // `GET`/`HEAD` where it is then dropped, so the next bytes on the connection are the next
    // request's head; over [`MAX_BODY_BYTES`] it is refused.
    let (parts, body) = req.into_parts();
    let Ok(body) = Limited::new(body, MAX_BODY_BYTES).collect().await else {
        return too_large(&state, &format!("body over {MAX_BODY_BYTES} bytes"));
    };
    // A body on GET/HEAD is never forwarded: it is part of no cache key ("fat GET").
    let body = match parts.method {
        Method::GET | Method::HEAD => Bytes::new(),
        _ => body.to_bytes(),
    };
    let viewer = EdgeRequest {
        uri: parts.uri.path().to_owned(),
        querystring: parts.uri.query().unwrap_or("").to_owned(),
        method: parts.method,
        headers: parts.headers,
        client_ip: peer.ip().to_string(),
        body,
    };
    let logged = state.config.access_log.then(|| {
        let target = match viewer.querystring.as_str() {
            "" => viewer.uri.clone(),
            query => format!("{}?{query}", viewer.uri),
        };
        (viewer.method.clone(), target)
    });
    let request_id = state.request_id();
    let answer = page::observed(&state, viewer, &request_id, started).await;
    state.stats.count(answer.x_cache);
    if let Some((method, target)) = logged {
        println!(
            "{method} {target} {} {} \"{}\" {:.1}ms",
            answer.response.status.as_u16(),
            answer.x_cache.header_value().trim_end_matches(" from cloudfront"),
            first(&answer.response.headers, "cache-status").unwrap_or(""),
            started.elapsed().as_secs_f64() * 1000.0
        );
    }
    to_viewer(&state, answer, &request_id)
}

/// CloudFront's 413 for a request over its limits (`detail` is logged, not shown), before
/// any function ran; the connection is closed after it.
fn too_large(state: &State, detail: &str) -> hyper::Response<Full<Bytes>> {
    let request_id = state.request_id();
    state.stats.count(XCache::Error);
    state.stats.add(|s| &s.too_large);
    log_failure(
        &request_id,
        StatusCode::PAYLOAD_TOO_LARGE,
        XCache::Error.header_value(),
        detail,
    );
    if state.config.access_log {
        println!("- [{detail}] 413 Error \"\" -");
    }
    let answer = Answer {
        response: Arc::new(error_page(StatusCode::PAYLOAD_TOO_LARGE, &request_id)),
        x_cache: XCache::Error,
        age: None,
    };
    let mut response = to_viewer(state, answer, &request_id);
    response
        .headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The answer with CloudFront's own headers: `X-Cache`, `Age` on hits, `Via`,
/// `X-Amz-Cf-Pop`, `X-Amz-Cf-Id`.
fn to_viewer(state: &State, answer: Answer, request_id: &str) -> hyper::Response<Full<Bytes>> {
    let response = Arc::unwrap_or_clone(answer.response);
    let mut out = hyper::Response::new(Full::new(response.body));
    *out.status_mut() = response.status;
    let headers = out.headers_mut();
    for (name, value) in &response.headers {
        if !matches!(name.as_str(), "content-length" | "transfer-encoding" | "connection") {
            headers.append(name.clone(), value.clone());
        }
    }
    if let Some(age) = answer.age {
        headers.insert("age", HeaderValue::from(age));
    }
    headers.insert("x-cache", HeaderValue::from_static(answer.x_cache.header_value()));
    if let Ok(via) = HeaderValue::from_str(&state.identity.via()) {
        headers.insert("via", via);
    }
    headers.insert("x-amz-cf-pop", HeaderValue::from_static("LOCAL1-P1"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amz-cf-id", id);
    }
    out
}
