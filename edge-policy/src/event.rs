//! Lambda@Edge events and results as serde types (AWS's Rust runtime has none), and a
//! native handler over them that calls the same policy as the Wasm handler.
//!
//! Field names follow AWS's "Lambda@Edge event structure" page. Fields this crate doesn't
//! model are kept in `extra` maps so a round trip loses nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::cloudfront::Trigger;
use crate::rules::RuleSet;
use crate::trigger::{origin_response, viewer_request, ViewerOutcome};
use crate::view::{HeaderEdit, HeaderField, RequestView, ResponseView};
use crate::PolicyError;

/// One header value: `key` is the name as written (CloudFront fills it in when missing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderValue {
    /// The name as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// The value.
    pub value: String,
}

/// A header map: lower-case name → values.
pub type Headers = BTreeMap<String, Vec<HeaderValue>>;

/// The whole event: `{"Records": [{"cf": …}]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Always one record.
    #[serde(rename = "Records")]
    pub records: Vec<Record>,
}

/// One record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The CloudFront part.
    pub cf: Cf,
}

/// `config`, and the request and (for response triggers) the response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cf {
    /// The distribution and trigger.
    pub config: Config,
    /// The request (every trigger).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<Request>,
    /// The response (response triggers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Response>,
}

/// `cf.config`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Config {
    /// e.g. `d111111abcdef8.cloudfront.net`.
    pub distribution_domain_name: String,
    /// e.g. `EDFDVBD6EXAMPLE`.
    pub distribution_id: String,
    /// `viewer-request`, `origin-request`, `origin-response` or `viewer-response`.
    pub event_type: String,
    /// The request's id.
    pub request_id: String,
}

/// `cf.request`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Request {
    /// The viewer's address.
    pub client_ip: String,
    /// The method.
    pub method: String,
    /// The path, starting with `/`.
    pub uri: String,
    /// The query string without `?` (`""` when none).
    #[serde(default)]
    pub querystring: String,
    /// The headers (`None` only in a malformed event).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
    /// The origin (origin triggers): `{"custom": …}` or `{"s3": …}`, kept as JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<Value>,
    /// The body, when "include body" is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Body>,
    /// Fields not modelled here.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `cf.request.body`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Body {
    /// `read-only` or `replace`.
    pub action: String,
    /// The body, encoded as `encoding` says.
    pub data: String,
    /// `base64` or `text`.
    pub encoding: String,
    /// Whether CloudFront truncated it.
    #[serde(default)]
    pub input_truncated: bool,
}

/// `cf.response`, and a response a request trigger generates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Response {
    /// The status, as a string (`"200"`).
    pub status: String,
    /// The reason phrase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
    /// The headers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<Headers>,
    /// A generated response's body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// `text` or `base64`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_encoding: Option<String>,
}

/// What a handler returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HandlerResult {
    /// A request (request triggers: CloudFront goes on with it).
    Request(Request),
    /// A response (a response trigger's answer, or a request trigger's generated response).
    Response(Response),
}

impl Event {
    /// The record's CloudFront part, if the event has the Lambda@Edge shape.
    pub fn cf(&self) -> Result<&Cf, PolicyError> {
        self.records
            .first()
            .map(|r| &r.cf)
            .ok_or_else(|| PolicyError::UnusableEvent("no Records[0]".into()))
    }

    /// The trigger named by `config.eventType`.
    pub fn trigger(&self) -> Result<Trigger, PolicyError> {
        let event_type = &self.cf()?.config.event_type;
        Trigger::from_event_type(event_type)
            .ok_or_else(|| PolicyError::UnusableEvent(format!("unknown eventType {event_type:?}")))
    }
}

/// Flattens a header map into the policy's `(name, value)` view.
pub fn fields(headers: &Headers) -> Vec<HeaderField<'_>> {
    headers
        .iter()
        .flat_map(|(name, values)| values.iter().map(move |v| (name.as_str(), v.value.as_str())))
        .collect()
}

/// Applies header edits to a map.
pub fn apply_edits(headers: &mut Headers, edits: &[HeaderEdit<'_>]) {
    for edit in edits {
        match edit {
            HeaderEdit::Remove(name) => {
                headers.remove(*name);
            }
            HeaderEdit::Set { name, key, value } => {
                headers.insert(
                    (*name).to_owned(),
                    vec![HeaderValue {
                        key: Some((*key).to_owned()),
                        value: value.clone(),
                    }],
                );
            }
        }
    }
}

/// What the native handler did, for the caller's log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The policy changed the request or response.
    Rewritten,
    /// The policy left it as it came (the label says why).
    Unchanged(&'static str),
}

/// Runs the policy for one event, natively, exactly as the Wasm handler does, at `now_ms`
/// (ms since the Unix epoch, read once by the caller: origin-response reads `Expires`
/// against it when the response has no `Date`).
///
/// Request triggers return the request, response triggers the response. An event without
/// the part its trigger needs is an error (CloudFront never sends one); the caller decides
/// what to answer.
pub fn handle(rules: &RuleSet, event: &Event, now_ms: u64) -> Result<(HandlerResult, Outcome), PolicyError> {
    let trigger = event.trigger()?;
    let cf = event.cf()?;
    let request = cf
        .request
        .as_ref()
        .ok_or_else(|| PolicyError::UnusableEvent("no cf.request".into()))?;
    match trigger {
        Trigger::ViewerRequest => {
            let Some(headers) = &request.headers else {
                return Ok((
                    HandlerResult::Request(request.clone()),
                    Outcome::Unchanged("no-headers"),
                ));
            };
            let view_fields = fields(headers);
            let view = RequestView {
                method: &request.method,
                uri: &request.uri,
                querystring: &request.querystring,
                headers: &view_fields,
            };
            match viewer_request(rules, &view) {
                ViewerOutcome::Passthrough(p) => {
                    Ok((HandlerResult::Request(request.clone()), Outcome::Unchanged(p.label())))
                }
                ViewerOutcome::Rewrite(rewrite) => {
                    let mut out = request.clone();
                    out.uri = rewrite.uri;
                    out.querystring = rewrite.querystring;
                    let mut new_headers = headers.clone();
                    apply_edits(&mut new_headers, &rewrite.headers);
                    out.headers = Some(new_headers);
                    Ok((HandlerResult::Request(out), Outcome::Rewritten))
                }
            }
        }
        Trigger::OriginResponse => {
            let response = cf
                .response
                .as_ref()
                .ok_or_else(|| PolicyError::UnusableEvent("no cf.response".into()))?;
            let empty = Headers::new();
            let request_fields = fields(request.headers.as_ref().unwrap_or(&empty));
            let response_fields = fields(response.headers.as_ref().unwrap_or(&empty));
            let view = ResponseView {
                status: &response.status,
                request_method: &request.method,
                request_uri: &request.uri,
                request_headers: &request_fields,
                headers: &response_fields,
                now_ms,
            };
            let rewrite = origin_response(rules, &view);
            let mut out = response.clone();
            apply_edits(out.headers.get_or_insert_with(Headers::new), &rewrite.headers);
            Ok((HandlerResult::Response(out), Outcome::Rewritten))
        }
        Trigger::OriginRequest => Ok((HandlerResult::Request(request.clone()), Outcome::Unchanged("hook"))),
        Trigger::ViewerResponse => {
            let response = cf
                .response
                .as_ref()
                .ok_or_else(|| PolicyError::UnusableEvent("no cf.response".into()))?;
            Ok((HandlerResult::Response(response.clone()), Outcome::Unchanged("hook")))
        }
    }
}
