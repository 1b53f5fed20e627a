//! The AWS APIs the purge CLI calls, served on a loopback port of their own (purge.md,
//! "Interfaces"; local-edge.md, "Invalidations"), so `aws-sdk-cloudfront` and
//! `aws-sdk-lambda` work unchanged with an endpoint override and placeholder credentials
//! (any SigV4 signature is accepted; none is checked):
//!
//! - CloudFront, REST/XML, for the one distribution: `POST
//!   /2020-05-31/distribution/{id}/invalidation` (`CreateInvalidation`, 201 with `Location`),
//!   `GET …/invalidation/{id}` (`GetInvalidation`), `GET …/invalidation`
//!   (`ListInvalidations`). An invalidation removes the matching copies from the edge cache
//!   when it completes (at once, or after the configured delay): an invalidated copy is never
//!   served again, not even under `stale-if-error` ([`crate::invalidation`]).
//! - Lambda, `POST /2015-03-31/functions/{name}/invocations` (`Invoke`): the payload goes to
//!   an execution environment of the origin through its Runtime API, as Lambda's `Invoke`
//!   would (the purge's Redis path); a function error comes back with
//!   `X-Amz-Function-Error: Unhandled`.
//! - `POST /__edge/invalidations/refuse?count=N`: the next `N` creates answer
//!   `TooManyInvalidationsInProgress` (tests, and watching the CLI retry).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::invalidation::{error_xml, invalidation_xml, list_xml, matches, read_batch, Invalidation, Refused};
use crate::origin::InvokeError;
use crate::state::State;

const CLOUDFRONT: &str = "/2020-05-31/distribution/";
const LAMBDA: &str = "/2015-03-31/functions/";
/// Lambda's synchronous request payload limit.
const MAX_BODY: usize = 6 * 1024 * 1024;

type Answer = hyper::Response<Full<Bytes>>;

fn answer(status: StatusCode, content_type: &'static str, body: String) -> Answer {
    let mut response = hyper::Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", http::HeaderValue::from_static(content_type));
    response
}

fn xml(status: StatusCode, body: String) -> Answer {
    answer(status, "text/xml", body)
}

fn cloudfront_error(status: StatusCode, code: &str, message: &str, request_id: &str) -> Answer {
    xml(status, error_xml(code, message, request_id))
}

/// Removes the edge copies `invalidation` matches.
pub(crate) fn apply(state: &State, invalidation: &Invalidation) -> u64 {
    state
        .cache
        .invalidate_matching(|key| invalidation.paths.iter().any(|p| matches(p, &key.target())))
}

/// Serves the APIs until the task is aborted.
pub(crate) fn serve(listener: TcpListener, state: Arc<State>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let state = state.clone();
                    async move { Ok::<_, Infallible>(handle(state, req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

async fn handle(state: Arc<State>, req: hyper::Request<Incoming>) -> Answer {
    let request_id = state.request_id();
    let (method, path, query) = (
        req.method().clone(),
        req.uri().path().to_owned(),
        req.uri().query().unwrap_or("").to_owned(),
    );
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return answer(StatusCode::PAYLOAD_TOO_LARGE, "application/json", "{}".into()),
    };
    if path == "/__edge/invalidations/refuse" && method == Method::POST {
        let count = query.strip_prefix("count=").and_then(|c| c.parse().ok()).unwrap_or(1);
        state.invalidations.refuse_next(count);
        return answer(StatusCode::OK, "application/json", format!("{{\"refuse\":{count}}}"));
    }
    if let Some(rest) = path.strip_prefix(CLOUDFRONT) {
        return cloudfront(&state, &method, rest, &body, &request_id);
    }
    if let Some(name) = path.strip_prefix(LAMBDA).and_then(|r| r.strip_suffix("/invocations")) {
        if method == Method::POST && !name.is_empty() {
            return invoke(&state, body).await;
        }
    }
    answer(
        StatusCode::NOT_FOUND,
        "application/json",
        r#"{"message":"not an API the local edge serves"}"#.into(),
    )
}

fn cloudfront(state: &Arc<State>, method: &Method, rest: &str, body: &[u8], request_id: &str) -> Answer {
    let invalidations = &state.invalidations;
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if id != invalidations.distribution_id {
        return cloudfront_error(
            StatusCode::NOT_FOUND,
            "NoSuchDistribution",
            "The specified distribution does not exist.",
            request_id,
        );
    }
    let now = Instant::now();
    match (method, tail.strip_prefix("invalidation")) {
        (&Method::POST, Some("")) => {
            let Some((reference, paths)) = std::str::from_utf8(body).ok().and_then(read_batch) else {
                return cloudfront_error(
                    StatusCode::BAD_REQUEST,
                    "MalformedInput",
                    "The XML document is malformed.",
                    request_id,
                );
            };
            match invalidations.create(&reference, paths, now) {
                Ok(accepted) => {
                    let invalidation = accepted.invalidation;
                    if accepted.new {
                        let delay = invalidations.delay();
                        if delay.is_zero() {
                            apply(state, &invalidation);
                        } else {
                            let (state, invalidation) = (state.clone(), invalidation.clone());
                            tokio::spawn(async move {
                                tokio::time::sleep(delay).await;
                                apply(&state, &invalidation);
                            });
                        }
                    }
                    let mut response = xml(StatusCode::CREATED, invalidation_xml(&invalidation, now));
                    let location = format!(
                        "https://cloudfront.amazonaws.com{CLOUDFRONT}{id}/invalidation/{}",
                        invalidation.id
                    );
                    if let Ok(value) = http::HeaderValue::from_str(&location) {
                        response.headers_mut().insert("location", value);
                    }
                    response
                }
                Err(Refused::TooMany) => cloudfront_error(
                    StatusCode::BAD_REQUEST,
                    "TooManyInvalidationsInProgress",
                    "You have exceeded the maximum number of allowable InProgress invalidation batch requests, or invalidation objects.",
                    request_id,
                ),
                Err(Refused::AlreadyExists) => cloudfront_error(
                    StatusCode::CONFLICT,
                    "InvalidationBatchAlreadyExists",
                    "The CallerReference was used with another invalidation batch.",
                    request_id,
                ),
                Err(Refused::InvalidArgument(why)) => {
                    cloudfront_error(StatusCode::BAD_REQUEST, "InvalidArgument", &why, request_id)
                }
            }
        }
        (&Method::GET, Some("")) => xml(StatusCode::OK, list_xml(&invalidations.list(), now)),
        (&Method::GET, Some(one)) if one.starts_with('/') => match invalidations.get(&one[1..]) {
            Some(invalidation) => xml(StatusCode::OK, invalidation_xml(&invalidation, now)),
            None => cloudfront_error(
                StatusCode::NOT_FOUND,
                "NoSuchInvalidation",
                "The specified invalidation does not exist.",
                request_id,
            ),
        },
        _ => cloudfront_error(
            StatusCode::NOT_FOUND,
            "NoSuchResource",
            "Not an invalidation resource.",
            request_id,
        ),
    }
}

async fn invoke(state: &State, payload: Bytes) -> Answer {
    match state.origin.invoke(payload).await {
        Ok(body) => {
            let mut response = hyper::Response::new(Full::new(body));
            response
                .headers_mut()
                .insert("content-type", http::HeaderValue::from_static("application/json"));
            response
        }
        Err(InvokeError::Function(message) | InvokeError::Init(message)) => {
            let mut response = answer(StatusCode::OK, "application/json", message);
            response
                .headers_mut()
                .insert("x-amz-function-error", http::HeaderValue::from_static("Unhandled"));
            response
        }
        Err(e) => {
            let mut response = answer(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                serde_json::json!({"Type": "Service", "message": format!("{e:?}")}).to_string(),
            );
            response
                .headers_mut()
                .insert("x-amzn-errortype", http::HeaderValue::from_static("ServiceException"));
            response
        }
    }
}
