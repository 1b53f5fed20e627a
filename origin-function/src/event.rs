//! Lambda Function URL events (payload format 2.0) and the invocation payloads that are not
//! HTTP: warm-up (`{"warmup": true}`) and EventBridge `Scheduled Event`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The parts of a Function URL request event (payload 2.0) the origin reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUrlRequest {
    /// `2.0`.
    #[serde(default)]
    pub version: String,
    /// `$default`.
    #[serde(default)]
    pub route_key: String,
    /// The path as received.
    pub raw_path: String,
    /// The query string as received, without `?`.
    #[serde(default)]
    pub raw_query_string: String,
    /// Cookies, one per element (payload 2.0 takes them out of `headers`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
    /// Headers, lower-case names, repeated values joined with `,`.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request context.
    pub request_context: RequestContext,
    /// The body, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// Whether `body` is base64.
    #[serde(default)]
    pub is_base64_encoded: bool,
}

/// `requestContext`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestContext {
    /// The Function URL's domain.
    #[serde(default)]
    pub domain_name: String,
    /// `requestContext.http`.
    pub http: HttpContext,
    /// The request id.
    #[serde(default)]
    pub request_id: String,
    /// Epoch ms of the request.
    #[serde(default)]
    pub time_epoch: u64,
}

/// `requestContext.http`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HttpContext {
    /// The method.
    pub method: String,
    /// The path.
    #[serde(default)]
    pub path: String,
    /// The protocol.
    #[serde(default)]
    pub protocol: String,
    /// The caller's address.
    #[serde(default)]
    pub source_ip: String,
    /// The caller's `User-Agent`.
    #[serde(default)]
    pub user_agent: String,
}

/// A Function URL response (payload 2.0).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionUrlResponse {
    /// The status.
    pub status_code: u16,
    /// The headers.
    pub headers: BTreeMap<String, String>,
    /// The body.
    pub body: String,
    /// Whether `body` is base64 (never: the demo's bodies are text).
    pub is_base64_encoded: bool,
}

/// What an invocation payload is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// A Function URL request.
    Http(Box<FunctionUrlRequest>),
    /// `{"warmup": true}` or an EventBridge `Scheduled Event`.
    Warmup,
}

impl Invocation {
    /// Tells the payloads apart; `Err` names what is wrong with an unknown one.
    pub fn from_payload(payload: Value) -> Result<Self, serde_json::Error> {
        let warm = payload.get("warmup").and_then(Value::as_bool) == Some(true)
            || (payload.get("detail-type").and_then(Value::as_str) == Some("Scheduled Event")
                && payload.get("source").and_then(Value::as_str) == Some("aws.events"));
        if warm {
            return Ok(Invocation::Warmup);
        }
        serde_json::from_value(payload).map(|r| Invocation::Http(Box::new(r)))
    }
}
