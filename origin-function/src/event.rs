//! Lambda Function URL events (payload format 2.0), API Gateway REST proxy events (payload
//! format 1.0, read into the same request type: the optional stage-cache stack in `deploy/`
//! sends them), and the invocation payloads that are not HTTP: warm-up (`{"warmup": true}`)
//! and EventBridge `Scheduled Event`. Both HTTP payloads take the same response shape
//! (`statusCode`, `headers`, `body`, `isBase64Encoded`).

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
        if payload.get("httpMethod").is_some() && payload.pointer("/requestContext/http").is_none() {
            return serde_json::from_value::<RestProxyRequest>(payload).map(|r| Invocation::Http(Box::new(r.into())));
        }
        serde_json::from_value(payload).map(|r| Invocation::Http(Box::new(r)))
    }
}

/// An API Gateway REST proxy event (payload format 1.0): the parts the origin reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RestProxyRequest {
    http_method: String,
    path: String,
    #[serde(default)]
    multi_value_headers: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    headers: Option<BTreeMap<String, String>>,
    #[serde(default)]
    multi_value_query_string_parameters: Option<BTreeMap<String, Vec<String>>>,
    #[serde(default)]
    request_context: Value,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    is_base64_encoded: bool,
}

/// Percent-encodes a decoded query name or value (everything but unreserved characters):
/// REST events carry the query decoded; the policy re-normalizes what this writes.
fn encode_query_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl From<RestProxyRequest> for FunctionUrlRequest {
    fn from(r: RestProxyRequest) -> Self {
        let mut headers: BTreeMap<String, String> = BTreeMap::new();
        match (r.multi_value_headers, r.headers) {
            (Some(multi), _) => {
                for (name, values) in multi {
                    headers.insert(name.to_ascii_lowercase(), values.join(","));
                }
            }
            (None, Some(single)) => {
                for (name, value) in single {
                    headers.insert(name.to_ascii_lowercase(), value);
                }
            }
            (None, None) => {}
        }
        // Payload 2.0 carries cookies apart from the headers: do the same.
        let cookies = headers
            .remove("cookie")
            .map(|c| {
                c.split(';')
                    .map(|p| p.trim().to_owned())
                    .filter(|p| !p.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let raw_query_string = r
            .multi_value_query_string_parameters
            .unwrap_or_default()
            .iter()
            .flat_map(|(name, values)| {
                values
                    .iter()
                    .map(move |v| format!("{}={}", encode_query_component(name), encode_query_component(v)))
            })
            .collect::<Vec<_>>()
            .join("&");
        let context = &r.request_context;
        let text = |pointer: &str| {
            context
                .pointer(pointer)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        FunctionUrlRequest {
            version: "1.0".into(),
            route_key: text("/resourcePath"),
            raw_path: r.path.clone(),
            raw_query_string,
            cookies,
            headers,
            request_context: RequestContext {
                domain_name: text("/domainName"),
                http: HttpContext {
                    method: r.http_method,
                    path: r.path,
                    protocol: text("/protocol"),
                    source_ip: text("/identity/sourceIp"),
                    user_agent: text("/identity/userAgent"),
                },
                request_id: text("/requestId"),
                time_epoch: context
                    .pointer("/requestTimeEpoch")
                    .and_then(Value::as_u64)
                    .unwrap_or(0),
            },
            body: r.body,
            is_base64_encoded: r.is_base64_encoded,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_proxy_events_read_as_requests() {
        let payload = serde_json::json!({
            "resource": "/api/products",
            "path": "/api/products",
            "httpMethod": "GET",
            "headers": {"Host": "abc.execute-api.us-east-1.amazonaws.com", "Cookie": "a=1; b=2"},
            "multiValueHeaders": {"Host": ["abc.execute-api.us-east-1.amazonaws.com"], "Cookie": ["a=1; b=2"]},
            "queryStringParameters": {"category": "books & more"},
            "multiValueQueryStringParameters": {"category": ["books & more"], "page": ["2"]},
            "requestContext": {"domainName": "abc.execute-api.us-east-1.amazonaws.com", "requestId": "r-1",
                "identity": {"sourceIp": "203.0.113.1", "userAgent": "curl"}, "protocol": "HTTP/1.1",
                "resourcePath": "/api/products", "requestTimeEpoch": 1700000000000u64},
            "body": null,
            "isBase64Encoded": false
        });
        let Ok(Invocation::Http(request)) = Invocation::from_payload(payload) else {
            panic!("not read as HTTP")
        };
        assert_eq!(request.raw_path, "/api/products");
        assert_eq!(request.raw_query_string, "category=books%20%26%20more&page=2");
        assert_eq!(request.cookies, ["a=1", "b=2"]);
        assert_eq!(request.headers["host"], "abc.execute-api.us-east-1.amazonaws.com");
        assert!(!request.headers.contains_key("cookie"));
        assert_eq!(request.request_context.http.method, "GET");
        assert_eq!(request.request_context.http.source_ip, "203.0.113.1");
    }
}
