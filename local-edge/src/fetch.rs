//! One origin fetch: the forwarded request (`forward.rs`), origin-request, CloudFront's
//! custom headers and signature, the origin as a function-URL invocation, origin-response.
//! The origin's answer comes back as the origin sent it (an error's body included); only
//! what CloudFront itself fails at becomes an [`EdgeFailure`].

use bytes::Bytes;
use edge_policy::cloudfront::Trigger;
use http::StatusCode;

use crate::answer::EdgeFailure;
use crate::distribution::Behaviour;
use crate::events::{custom_origin, function_url_event, read_function_url_response};
use crate::forward::{finish_origin_request, origin_request};
use crate::message::{EdgeRequest, EdgeResponse};
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
/// `validator` is the edge's own `If-None-Match`.
pub(crate) async fn fetch(
    state: &State,
    behaviour: &Behaviour,
    viewer: &EdgeRequest,
    validator: Option<&str>,
    request_id: &str,
) -> Result<Fetched, EdgeFailure> {
    let distribution = state.distribution();
    let read_timeout = distribution.origin.read_timeout_secs;
    let origin_object = custom_origin(&state.identity.origin_domain, read_timeout, &state.custom_headers);
    let mut request = origin_request(behaviour, viewer, validator, &state.identity);
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
    let payload = function_url_event(&request, &state.identity.origin_domain, request_id, now);
    let invocation = state.origin.invoke(Bytes::from(payload.to_string()));
    let answer = match tokio::time::timeout(std::time::Duration::from_secs(read_timeout), invocation).await {
        Ok(Ok(bytes)) => read_function_url_response(&bytes)
            .map_err(|e| EdgeFailure::origin(StatusCode::BAD_GATEWAY, format!("origin answer unreadable: {e}"))),
        Ok(Err(InvokeError::Timeout)) | Err(_) => Err(EdgeFailure::origin(
            StatusCode::GATEWAY_TIMEOUT,
            "origin timed out".into(),
        )),
        Ok(Err(InvokeError::NoEnvironment)) => Err(EdgeFailure::origin(
            StatusCode::SERVICE_UNAVAILABLE,
            "no origin execution environment became free in time".into(),
        )),
        Ok(Err(other)) => Err(EdgeFailure::origin(
            StatusCode::BAD_GATEWAY,
            format!("origin failed: {other:?}"),
        )),
    };
    let response = match answer {
        Ok(r) => r,
        Err(failure) => {
            state.stats.add(|s| &s.origin_errors);
            return Err(failure);
        }
    };
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
