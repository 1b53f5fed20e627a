//! One origin fetch: the forwarded request (`forward.rs`), origin-request, CloudFront's
//! custom headers and signature, the origin (a function-URL invocation, or an HTTP request to
//! `--http-origin`), origin-response. The origin's answer comes back as the origin sent it (an
//! error's body included) less its hop-by-hop fields, which CloudFront never shows to a
//! function nor stores; only what CloudFront itself fails at becomes an [`EdgeFailure`].

use bytes::Bytes;
use edge_policy::cloudfront::Trigger;
use http::StatusCode;

use crate::answer::EdgeFailure;
use crate::distribution::Behaviour;
use crate::events::{custom_origin, function_url_event, read_function_url_response, throttled};
use crate::forward::{finish_origin_request, origin_request};
use crate::message::{strip_hop_by_hop, EdgeRequest, EdgeResponse};
use crate::origin::InvokeError;
use crate::state::State;
use crate::triggers::RequestOutcome;

/// What a fetch brought back.
#[derive(Debug, Clone)]
pub enum Fetched {
    /// The origin's answer, after origin-response.
    Origin(EdgeResponse),
    /// A response the origin-request function generated (origin-response does not run).
    Generated(EdgeResponse),
}

impl Fetched {
    /// The response, however it came.
    pub fn into_response(self) -> EdgeResponse {
        match self {
            Fetched::Origin(r) | Fetched::Generated(r) => r,
        }
    }
}

/// Fetches `viewer` (the request after viewer-request) from the origin under `behaviour`;
/// `validators` are the edge's own conditional headers (RFC 9111 §4.3.1).
pub(crate) async fn fetch(
    state: &State,
    behaviour: &Behaviour,
    viewer: &EdgeRequest,
    validators: &[(&'static str, &str)],
    request_id: &str,
) -> Result<Fetched, EdgeFailure> {
    let distribution = state.distribution();
    let read_timeout = distribution.origin.read_timeout_secs;
    let origin_object = match &state.http_origin {
        Some(http) => http.settings().custom_origin(
            (read_timeout, distribution.origin.keepalive_timeout_secs),
            &state.custom_headers,
        ),
        None => custom_origin(&state.identity.origin_domain, read_timeout, &state.custom_headers),
    };
    let mut request = origin_request(behaviour, viewer, validators, &state.identity);
    if behaviour.runs(Trigger::OriginRequest) {
        match state
            .triggers
            .request(Trigger::OriginRequest, request_id, request, Some(origin_object.clone()))
            .await?
        {
            RequestOutcome::Continue(r) => request = r,
            RequestOutcome::Generated(g) => return Ok(Fetched::Generated(g)),
        }
    }
    // The request origin-response sees: as origin-request left it (the custom headers are
    // in its `origin` object, not its headers).
    let seen = request.clone();
    // A calendar time (the signature's date, the event's `time`), never an age.
    let now = state.clock.calendar_ms();
    finish_origin_request(
        &mut request,
        &distribution.origin,
        &state.config.origin_secret,
        request_id,
        now,
    );
    state.stats.add(|s| &s.origin_requests);
    let read_timeout = std::time::Duration::from_secs(read_timeout);
    let answer = match &state.http_origin {
        Some(http) => http.send(&request, read_timeout).await,
        None => invoke(state, &request, request_id, now, read_timeout).await,
    };
    let mut response = match answer {
        Ok(r) => r,
        Err(failure) => {
            state.stats.add(|s| &s.origin_errors);
            return Err(failure);
        }
    };
    strip_hop_by_hop(&mut response.headers);
    if response.status.is_server_error() {
        state.stats.add(|s| &s.origin_errors);
    }
    if !behaviour.runs(Trigger::OriginResponse) {
        return Ok(Fetched::Origin(response));
    }
    let response = state
        .triggers
        .response(
            Trigger::OriginResponse,
            request_id,
            &seen,
            Some(origin_object),
            response,
        )
        .await?;
    Ok(Fetched::Origin(response))
}

/// The origin function, invoked as its function URL would be (payload 2.0), within the
/// origin's read timeout.
async fn invoke(
    state: &State,
    request: &EdgeRequest,
    request_id: &str,
    now: u64,
    read_timeout: std::time::Duration,
) -> Result<EdgeResponse, EdgeFailure> {
    let payload = function_url_event(request, &state.identity.origin_domain, request_id, now);
    let invocation = state.origin.invoke(Bytes::from(payload.to_string()));
    match tokio::time::timeout(read_timeout, invocation).await {
        Ok(Ok(bytes)) => read_function_url_response(&bytes)
            .map_err(|e| EdgeFailure::origin(StatusCode::BAD_GATEWAY, format!("origin answer unreadable: {e}"))),
        Ok(Err(InvokeError::Timeout)) | Err(_) => Err(EdgeFailure::origin(
            StatusCode::GATEWAY_TIMEOUT,
            "origin timed out".into(),
        )),
        // local-edge.md: no free environment within the wait is the function URL's own 429.
        Ok(Err(InvokeError::NoEnvironment)) => Ok(throttled()),
        Ok(Err(other)) => Err(EdgeFailure::origin(
            StatusCode::BAD_GATEWAY,
            format!("origin failed: {other:?}"),
        )),
    }
}
