//! The origin alone, as a Lambda function URL on loopback: HTTP in → function-URL event
//! (payload 2.0) to the same execution environments → HTTP out. No edge function, no edge
//! cache: what a Cloudflare Worker (or any CDN) in front of the function URL talks to.
//!
//! What Lambda's function URL does that this does too: `Host` is the function URL's domain,
//! `X-Forwarded-For` the caller's address, `X-Forwarded-Proto`/`-Port` are set; a throttled
//! invocation is `429`, a function error, crash or timeout `502`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use http::header::HeaderValue;
use http::StatusCode;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::accept::accept_loop;
use crate::clock::Clock;
use crate::connection::{self, ConnectionLimits};
use crate::error::EdgeError;
use crate::events::{function_url_error, function_url_event, read_function_url_response, throttled};
use crate::listener::MAX_BODY_BYTES;
use crate::message::{set, EdgeRequest};
use crate::origin::{InvokeError, OriginPool};

struct Front {
    pool: Arc<OriginPool>,
    domain: String,
    clock: Clock,
    ids: AtomicU64,
}

/// A running function URL.
pub struct FunctionUrl {
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl FunctionUrl {
    /// Binds `listen` (port 0: the OS picks; [`FunctionUrl::addr`] reports it) and serves
    /// the function in `pool` under the domain `domain`, holding connections to `limits`
    /// (the timeouts and the cap; a function URL has no CloudFront request limit).
    pub async fn start(
        listen: SocketAddr,
        domain: String,
        pool: Arc<OriginPool>,
        limits: ConnectionLimits,
    ) -> Result<FunctionUrl, EdgeError> {
        let bind_error = |source| EdgeError::Bind {
            addr: listen.to_string(),
            source,
        };
        let listener = TcpListener::bind(listen).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let front = Arc::new(Front {
            pool,
            domain,
            clock: Clock::default(),
            ids: AtomicU64::new(1),
        });
        let limits = ConnectionLimits {
            max_head_bytes: None,
            ..limits
        };
        let server = accept_loop(listener, limits.cap(), "function URL", move |stream, peer| {
            let front = front.clone();
            connection::hold(stream, limits, move |io, watch| {
                let service = hyper::service::service_fn(move |req| {
                    let front = front.clone();
                    let in_request = watch.begin();
                    async move {
                        let _in_request = in_request;
                        Ok::<_, Infallible>(handle(&front, req, peer).await)
                    }
                });
                hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(io), service)
            })
        });
        Ok(FunctionUrl { addr, server })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving (the pool is its owner's).
    pub fn stop(self) {
        self.server.abort();
    }
}

async fn handle(front: &Front, req: hyper::Request<Incoming>, peer: SocketAddr) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = req.into_parts();
    let response = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Err(_) => function_url_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request must be smaller than 6291456 bytes",
        ),
        Ok(body) => {
            let mut request = EdgeRequest {
                method: parts.method,
                uri: parts.uri.path().to_owned(),
                querystring: parts.uri.query().unwrap_or("").to_owned(),
                headers: parts.headers,
                client_ip: peer.ip().to_string(),
                body: body.to_bytes(),
            };
            set(&mut request.headers, "host", &front.domain);
            set(&mut request.headers, "x-forwarded-for", &request.client_ip.clone());
            let id = format!("fnurl-{:012}", front.ids.fetch_add(1, Ordering::Relaxed));
            let event = function_url_event(&request, &front.domain, &id, front.clock.calendar_ms());
            match front.pool.invoke(Bytes::from(event.to_string())).await {
                Ok(payload) => read_function_url_response(&payload)
                    .unwrap_or_else(|_| function_url_error(StatusCode::BAD_GATEWAY, "Internal Server Error")),
                Err(InvokeError::NoEnvironment) => throttled(),
                Err(_) => function_url_error(StatusCode::BAD_GATEWAY, "Internal Server Error"),
            }
        }
    };
    let mut out = hyper::Response::new(Full::new(response.body));
    *out.status_mut() = response.status;
    for (name, value) in &response.headers {
        if !matches!(name.as_str(), "content-length" | "transfer-encoding" | "connection") {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    if !out.headers().contains_key("content-type") {
        out.headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
    }
    out
}
