//! The viewer-facing listener: HTTP/1.1 in, the request flow ([`crate::flow`], recorded for
//! the live page by [`crate::page`]), CloudFront's own response headers out, one access-log
//! line per request; `/__edge/*` (stats, the test clock, the live page) handed to
//! [`crate::page::debug`], which answers only loopback.

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
use serde_json::{json, Value};
use tokio::net::TcpListener;

use crate::answer::Answer;
use crate::message::{first, EdgeRequest};
use crate::page;
use crate::state::State;

/// The largest viewer body read (a Lambda function URL's request payload limit).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// Accepts connections until the task is aborted.
pub(crate) fn serve(listener: TcpListener, state: Arc<State>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((stream, peer)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(state, req, peer).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

fn json_response(status: StatusCode, value: Value) -> hyper::Response<Full<Bytes>> {
    let mut response = hyper::Response::new(Full::new(Bytes::from(value.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

/// One viewer request: the debug surface, or the request flow with CloudFront's headers
/// around it and an access-log line.
async fn handle(state: Arc<State>, req: hyper::Request<Incoming>, peer: SocketAddr) -> hyper::Response<Full<Bytes>> {
    let started = Instant::now();
    if page::is_debug_path(req.uri().path()) {
        return page::debug(&state, &req, peer);
    }
    let viewer = match read_viewer(req, peer).await {
        Ok(viewer) => viewer,
        Err(refused) => return refused,
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

/// The viewer's request as the edge carries it; a body over [`MAX_BODY_BYTES`] is refused.
async fn read_viewer(
    req: hyper::Request<Incoming>,
    peer: SocketAddr,
) -> Result<EdgeRequest, hyper::Response<Full<Bytes>>> {
    let (parts, body) = req.into_parts();
    // A body on GET/HEAD is never forwarded: it is part of no cache key ("fat GET").
    let body = if parts.method == Method::GET || parts.method == Method::HEAD {
        Bytes::new()
    } else {
        match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => {
                return Err(json_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    json!({"message": "body too large"}),
                ))
            }
        }
    };
    Ok(EdgeRequest {
        uri: parts.uri.path().to_owned(),
        querystring: parts.uri.query().unwrap_or("").to_owned(),
        method: parts.method,
        headers: parts.headers,
        client_ip: peer.ip().to_string(),
        body,
    })
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
