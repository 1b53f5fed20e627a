//! Runs one Lambda@Edge trigger the way CloudFront does: the event built from the edge's
//! request (and response), the handler called within the function's timeout, its answer
//! validated (`validate.rs`) and read back. A throw, a trap or a timeout is a
//! [`TriggerFailure::Execution`] (CloudFront's 503); an answer CloudFront would reject is a
//! [`TriggerFailure::Validation`] (502).
//!
//! The native handler (`--native`) links the policy instead: it reads the typed request
//! through `edge_policy::http_views` and applies the policy's edits to the `HeaderMap`
//! directly, with no event in between.

use std::time::Duration;

use edge_policy::cloudfront::Trigger;
use edge_policy::header_fields;
use edge_policy::http_views::apply_edits;
use edge_policy::{origin_response, viewer_request, RequestView, ResponseView, RuleSet, ViewerOutcome};
use serde_json::Value;

use crate::events::{
    config, event_request, event_response, generated_body, request_event, request_from_event, response_event,
    response_from_event,
};
use crate::handler_host::NodeHost;
use crate::message::{EdgeRequest, EdgeResponse};
use crate::validate::{self, RequestAnswer};

/// The Lambda@Edge handler, however it runs.
pub enum Handler {
    /// The built package in a Node process (the default, as Lambda@Edge runs it).
    Node(NodeHost),
    /// `edge_policy` linked in.
    Native,
}

/// Why a trigger gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TriggerFailure {
    /// The handler threw, trapped or timed out: `503 LambdaExecutionError`.
    Execution(String),
    /// The answer breaks CloudFront's rules: `502 LambdaValidationError`.
    Validation(String),
}

/// What a request trigger answered.
#[derive(Debug, Clone)]
pub enum RequestOutcome {
    /// CloudFront goes on with this request.
    Continue(EdgeRequest),
    /// The function generated a response.
    Generated(EdgeResponse),
}

/// The triggers of one distribution.
pub struct Triggers {
    handler: Handler,
    distribution_domain: String,
    limit: Duration,
}

impl Triggers {
    /// Triggers run by `handler`, each within `limit` (the function's timeout).
    pub fn new(handler: Handler, distribution_domain: String, limit: Duration) -> Self {
        Triggers {
            handler,
            distribution_domain,
            limit,
        }
    }

    /// The Node host, when the package runs in Node.
    pub fn node(&self) -> Option<&NodeHost> {
        match &self.handler {
            Handler::Node(host) => Some(host),
            Handler::Native => None,
        }
    }

    async fn invoke(&self, event: &Value) -> Result<Value, TriggerFailure> {
        match &self.handler {
            Handler::Node(host) => host
                .invoke(event, self.limit)
                .await
                .map_err(|e| TriggerFailure::Execution(e.0)),
            Handler::Native => Err(TriggerFailure::Execution("no event handler".into())),
        }
    }

    /// `viewer-request` or `origin-request` (`origin`: the event's `origin` object).
    pub async fn request(
        &self,
        trigger: Trigger,
        request_id: &str,
        request: EdgeRequest,
        origin: Option<Value>,
    ) -> Result<RequestOutcome, TriggerFailure> {
        if matches!(self.handler, Handler::Native) {
            return Ok(RequestOutcome::Continue(native_request(trigger, request)));
        }
        let before = event_request(&request, origin);
        let event = request_event(
            config(&self.distribution_domain, trigger.event_type(), request_id),
            &before,
        );
        let answer = self.invoke(&event).await?;
        match validate::request_answer(trigger, &before, answer).map_err(TriggerFailure::Validation)? {
            // "Include body" is off: the function never sees or replaces the body.
            RequestAnswer::Request(after) => request_from_event(after, request.body)
                .map(RequestOutcome::Continue)
                .map_err(TriggerFailure::Validation),
            RequestAnswer::Generated(generated) => {
                let body = generated_body(&generated).map_err(TriggerFailure::Validation)?;
                response_from_event(&generated, body)
                    .map(RequestOutcome::Generated)
                    .map_err(TriggerFailure::Validation)
            }
        }
    }

    /// `origin-response` or `viewer-response`; `request` is the request it answers (with
    /// `origin` for origin-response). The body is not shown to the function and kept.
    pub async fn response(
        &self,
        trigger: Trigger,
        request_id: &str,
        request: &EdgeRequest,
        origin: Option<Value>,
        response: EdgeResponse,
    ) -> Result<EdgeResponse, TriggerFailure> {
        if matches!(self.handler, Handler::Native) {
            return Ok(native_response(trigger, request, response));
        }
        let before = event_response(&response);
        let event = response_event(
            config(&self.distribution_domain, trigger.event_type(), request_id),
            &event_request(request, origin),
            &before,
        );
        let answer = self.invoke(&event).await?;
        let after = validate::response_answer(trigger, &before, answer).map_err(TriggerFailure::Validation)?;
        response_from_event(&after, response.body).map_err(TriggerFailure::Validation)
    }

    /// Ends the handler's process, if any.
    pub async fn shutdown(&self) {
        if let Handler::Node(host) = &self.handler {
            host.shutdown().await;
        }
    }
}

/// The policy's viewer-request, linked in (what `--native` runs, and what `replay` keys its
/// bound with); the other request trigger is a pass-through.
pub fn native_request(trigger: Trigger, request: EdgeRequest) -> EdgeRequest {
    if trigger != Trigger::ViewerRequest {
        return request;
    }
    apply_viewer_request(RuleSet::embedded(), request)
}

/// `request` as the policy's viewer-request under `rules` leaves it (a method or URI the
/// policy leaves alone comes back as it was).
pub fn apply_viewer_request(rules: &RuleSet, mut request: EdgeRequest) -> EdgeRequest {
    let original = request.headers.clone();
    let fields = header_fields(&original);
    let (method, uri, querystring) = (request.method.clone(), request.uri.clone(), request.querystring.clone());
    let view = RequestView {
        method: method.as_str(),
        uri: &uri,
        querystring: &querystring,
        headers: &fields,
    };
    if let ViewerOutcome::Rewrite(rewrite) = viewer_request(rules, &view) {
        apply_edits(&mut request.headers, &rewrite.headers);
        request.uri = rewrite.uri;
        request.querystring = rewrite.querystring;
    }
    request
}

/// The policy's origin-response, linked in; viewer-response is a pass-through.
fn native_response(trigger: Trigger, request: &EdgeRequest, mut response: EdgeResponse) -> EdgeResponse {
    if trigger != Trigger::OriginResponse {
        return response;
    }
    let request_fields = header_fields(&request.headers);
    let original = response.headers.clone();
    let fields = header_fields(&original);
    let status = response.status.as_u16().to_string();
    let view = ResponseView {
        status: &status,
        request_method: request.method.as_str(),
        request_uri: &request.uri,
        request_headers: &request_fields,
        headers: &fields,
        // The wall clock, as the Node handler's `Date.now()` reads it (Lambda@Edge has no
        // other clock): `Expires` without `Date` is read against it.
        now_ms: crate::clock::wall_ms(),
    };
    let rewrite = origin_response(RuleSet::embedded(), &view);
    apply_edits(&mut response.headers, &rewrite.headers);
    response
}
