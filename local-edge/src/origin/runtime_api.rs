//! The Lambda Runtime API one execution environment's process talks to
//! (`AWS_LAMBDA_RUNTIME_API`): `GET /invocation/next`, `POST /invocation/{id}/response`,
//! `POST /invocation/{id}/error`, `POST /init/error`. Each process gets its own endpoint,
//! so a dead process's pending `/next` can never take an invocation meant for its
//! replacement.
//!
//! **Only that process may talk to it.** Its invocations carry the origin secret and its
//! answers become viewers' responses, so on Linux a connection is served only when the
//! socket at its other end belongs to the environment's own process (looked up in `/proc`:
//! [`crate::procfs::holds_tcp_socket`]); any other local process is disconnected unanswered.
//! Elsewhere the port is open to every local process (the README says so).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch, Mutex};

use super::InvokeError;
use crate::accept::accept_loop;
use crate::error::EdgeError;

const RUNTIME: &str = "/2018-06-01/runtime";

/// One invocation handed to the process on `/next`.
pub(super) struct Invocation {
    pub(super) request_id: String,
    pub(super) body: Bytes,
    pub(super) deadline_ms: u64,
}

#[derive(Default)]
pub(super) struct InFlight {
    pub(super) request_id: String,
    pub(super) reply: Option<oneshot::Sender<Result<Bytes, InvokeError>>>,
}

/// What the Runtime API server and the invoker share.
pub(super) struct Slot {
    pub(super) next_tx: mpsc::Sender<Invocation>,
    next_rx: Mutex<mpsc::Receiver<Invocation>>,
    pub(super) in_flight: std::sync::Mutex<InFlight>,
}

impl Slot {
    pub(super) fn new() -> Arc<Slot> {
        let (next_tx, next_rx) = mpsc::channel(1);
        Arc::new(Slot {
            next_tx,
            next_rx: Mutex::new(next_rx),
            in_flight: Default::default(),
        })
    }

    /// Expects the answer to `request_id`.
    pub(super) fn expect(&self, request_id: String, reply: oneshot::Sender<Result<Bytes, InvokeError>>) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            *in_flight = InFlight {
                request_id,
                reply: Some(reply),
            };
        }
    }

    /// Stops waiting for an answer (the invocation timed out).
    pub(super) fn abandon(&self) {
        if let Ok(mut in_flight) = self.in_flight.lock() {
            in_flight.reply = None;
        }
    }

    /// Delivers the answer to `request_id` (`None`: to whatever is in flight).
    pub(super) fn finish(&self, request_id: Option<&str>, result: Result<Bytes, InvokeError>) {
        let Ok(mut in_flight) = self.in_flight.lock() else {
            return;
        };
        if request_id.is_none_or(|id| id == in_flight.request_id) {
            if let Some(reply) = in_flight.reply.take() {
                let _ = reply.send(result);
            }
        }
    }
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

/// One Runtime API request.
async fn runtime_api(slot: Arc<Slot>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let Some(rest) = path.strip_prefix(RUNTIME) else {
        return Ok(reply(StatusCode::NOT_FOUND, "{}"));
    };
    if method == Method::GET && rest == "/invocation/next" {
        let invocation = slot.next_rx.lock().await.recv().await;
        let Some(invocation) = invocation else {
            return Ok(reply(StatusCode::INTERNAL_SERVER_ERROR, "{}"));
        };
        let response = Response::builder()
            .status(StatusCode::OK)
            .header("Lambda-Runtime-Aws-Request-Id", &invocation.request_id)
            .header("Lambda-Runtime-Deadline-Ms", invocation.deadline_ms.to_string())
            .header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:000000000000:function:origin-function",
            )
            .header(
                "Lambda-Runtime-Trace-Id",
                format!("Root=1-00000000-{};Sampled=0", invocation.request_id),
            )
            .header("Content-Type", "application/json")
            .body(Full::new(invocation.body))
            .unwrap_or_else(|_| reply(StatusCode::INTERNAL_SERVER_ERROR, "{}"));
        return Ok(response);
    }
    if method != Method::POST {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, "{}"));
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if rest == "/init/error" {
        slot.finish(
            None,
            Err(InvokeError::Init(String::from_utf8_lossy(&body).into_owned())),
        );
        return Ok(reply(StatusCode::ACCEPTED, "{\"status\":\"OK\"}"));
    }
    if let Some(rest) = rest.strip_prefix("/invocation/") {
        if let Some(id) = rest.strip_suffix("/response") {
            slot.finish(Some(id), Ok(body));
            return Ok(reply(StatusCode::ACCEPTED, "{\"status\":\"OK\"}"));
        }
        if let Some(id) = rest.strip_suffix("/error") {
            slot.finish(
                Some(id),
                Err(InvokeError::Function(String::from_utf8_lossy(&body).into_owned())),
            );
            return Ok(reply(StatusCode::ACCEPTED, "{\"status\":\"OK\"}"));
        }
    }
    Ok(reply(StatusCode::NOT_FOUND, "{}"))
}

/// How long a connection waits to learn the environment's pid (set once its process is
/// spawned, moments after the endpoint is bound).
const OWNER_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Whether the connection from `peer` to `local` comes from the process `owner` names.
async fn from_owner(owner: &mut watch::Receiver<u32>, peer: SocketAddr, local: SocketAddr) -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    let Ok(Ok(pid)) = tokio::time::timeout(OWNER_WAIT, owner.wait_for(|pid| *pid != 0)).await else {
        return false;
    };
    crate::procfs::holds_tcp_socket(*pid, peer, local)
}

/// Serves the Runtime API for `slot` on a loopback port chosen by the OS, to the process
/// whose pid `owner` will say.
pub(super) async fn serve(
    slot: Arc<Slot>,
    owner: watch::Receiver<u32>,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), EdgeError> {
    let bind_error = |source| EdgeError::Bind {
        addr: "127.0.0.1:0".into(),
        source,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(bind_error)?;
    let addr = listener.local_addr().map_err(bind_error)?;
    let server = accept_loop(listener, usize::MAX, "Runtime API", move |stream, peer| {
        let (slot, mut owner) = (slot.clone(), owner.clone());
        async move {
            if !from_owner(&mut owner, peer, addr).await {
                let line = serde_json::json!({
                    "level": "warn",
                    "message": "Runtime API: a connection from a process that is not the environment's, closed unanswered",
                    "peer": peer.to_string(),
                });
                eprintln!("{line}");
                return;
            }
            let service = hyper::service::service_fn(move |req| runtime_api(slot.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        }
    });
    Ok((addr, server))
}
