//! Builders shared by the black-box tests: golden cases → AWS-format events.
#![allow(dead_code)]

use edge_policy::event::{Event, HeaderValue, Headers};
use serde_json::{json, Value};

/// The clock the tests decide at: 2026-11-29T12:00:00Z, ms.
pub const NOW_MS: u64 = 1_795_953_600_000;

pub const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures");

pub fn fixture(path: &str) -> String {
    std::fs::read_to_string(format!("{FIXTURES}/{path}")).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `{"name": ["v1", "v2"]}` → a Lambda@Edge header map.
pub fn headers(compact: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for (name, values) in compact.as_object().expect("headers object") {
        let entries: Vec<Value> = values
            .as_array()
            .expect("values array")
            .iter()
            .map(|v| json!({"key": name, "value": v}))
            .collect();
        out.insert(name.clone(), Value::Array(entries));
    }
    Value::Object(out)
}

/// A Lambda@Edge header map → `{"name": ["v1", "v2"]}`.
pub fn compact(headers: &Headers) -> Value {
    let mut out = serde_json::Map::new();
    for (name, values) in headers {
        out.insert(
            name.clone(),
            Value::Array(values.iter().map(|HeaderValue { value, .. }| json!(value)).collect()),
        );
    }
    Value::Object(out)
}

pub fn config(event_type: &str) -> Value {
    json!({
        "distributionDomainName": "d111111abcdef8.cloudfront.net",
        "distributionId": "EDFDVBD6EXAMPLE",
        "eventType": event_type,
        "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ=="
    })
}

pub fn viewer_request_event(request: &Value) -> Event {
    let event = json!({"Records": [{"cf": {"config": config("viewer-request"), "request": {
        "clientIp": "203.0.113.178",
        "method": request["method"],
        "uri": request["uri"],
        "querystring": request["querystring"],
        "headers": headers(&request["headers"]),
    }}}]});
    serde_json::from_value(event).expect("viewer-request event")
}

pub fn origin_response_event(request: &Value, response: &Value) -> Event {
    let event = json!({"Records": [{"cf": {"config": config("origin-response"),
        "request": {
            "clientIp": "203.0.113.178",
            "method": request["method"],
            "uri": request["uri"],
            "querystring": "",
            "headers": headers(&request["headers"]),
        },
        "response": {"status": response["status"], "statusDescription": "OK", "headers": headers(&response["headers"])},
    }}]});
    serde_json::from_value(event).expect("origin-response event")
}
