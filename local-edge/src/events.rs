//! The events CloudFront and Lambda send, built from the edge's typed request and response,
//! and the answers read back. This is the one place headers take the Lambda@Edge event form
//! (lower-case name → `[{key, value}]`) or the function-URL form.

use bytes::Bytes;
use edge_policy::event::{HeaderValue as EventValue, Headers, Request, Response};
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode};
use serde_json::{json, Map, Value};

/// The local distribution's id (Lambda@Edge events, the invalidation API).
pub const DISTRIBUTION_ID: &str = "ELOCALEDGE0000";

use crate::clock::Utc;
use crate::distribution::CustomHeader;
use crate::message::{EdgeRequest, EdgeResponse};

/// `x-forwarded-host` → `X-Forwarded-Host`: the `key` CloudFront puts beside each header
/// (HTTP/1 parsers here lower-case names, so the viewer's own case is not known).
pub fn title_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut upper = true;
    for c in name.chars() {
        out.push(if upper { c.to_ascii_uppercase() } else { c });
        upper = c == '-';
    }
    out
}

/// A header map in the event form. A value that is not UTF-8 is carried lossily (the event
/// is JSON text).
pub fn event_headers(map: &HeaderMap) -> Headers {
    let mut headers = Headers::new();
    for (name, value) in map {
        headers.entry(name.as_str().to_owned()).or_default().push(EventValue {
            key: Some(title_case(name.as_str())),
            value: String::from_utf8_lossy(value.as_bytes()).into_owned(),
        });
    }
    headers
}

/// An event-form header map back as a `HeaderMap`; a name or value HTTP cannot carry is a
/// function answer CloudFront rejects.
pub fn header_map(headers: Option<&Headers>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    for (name, values) in headers.into_iter().flatten() {
        let header = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))?;
        for v in values {
            let value = HeaderValue::from_str(&v.value).map_err(|_| format!("invalid value for header {name}"))?;
            map.append(header.clone(), value);
        }
    }
    Ok(map)
}

/// The `config` part of a Lambda@Edge event.
pub fn config(distribution_domain: &str, event_type: &str, request_id: &str) -> Value {
    json!({
        "distributionDomainName": distribution_domain,
        "distributionId": DISTRIBUTION_ID,
        "eventType": event_type,
        "requestId": request_id,
    })
}

/// The event form of a request; `origin` is set for origin triggers.
pub fn event_request(request: &EdgeRequest, origin: Option<Value>) -> Request {
    Request {
        client_ip: request.client_ip.clone(),
        method: request.method.as_str().to_owned(),
        uri: request.uri.clone(),
        querystring: request.querystring.clone(),
        headers: Some(event_headers(&request.headers)),
        origin,
        body: None,
        extra: Default::default(),
    }
}

/// The event form of a response (an origin-response function cannot read the body).
pub fn event_response(response: &EdgeResponse) -> Response {
    Response {
        status: response.status.as_u16().to_string(),
        status_description: response.status.canonical_reason().map(str::to_owned),
        headers: Some(event_headers(&response.headers)),
        body: None,
        body_encoding: None,
    }
}

/// A Lambda@Edge event for a request trigger.
pub fn request_event(config: Value, request: &Request) -> Value {
    json!({"Records": [{"cf": {"config": config, "request": request}}]})
}

/// A Lambda@Edge event for a response trigger.
pub fn response_event(config: Value, request: &Request, response: &Response) -> Value {
    json!({"Records": [{"cf": {"config": config, "request": request, "response": response}}]})
}

/// The `origin` object of origin events: a custom origin (the function URL) with its
/// custom headers, as CloudFront shows them to the function.
pub fn custom_origin(domain: &str, read_timeout_secs: u64, custom_headers: &[(CustomHeader, String)]) -> Value {
    let mut headers = Map::new();
    for (header, value) in custom_headers {
        headers.insert(
            header.name.to_ascii_lowercase(),
            json!([{"key": header.name, "value": value}]),
        );
    }
    json!({"custom": {"customHeaders": headers, "domainName": domain, "keepaliveTimeout": 5, "path": "",
        "port": 443, "protocol": "https", "readTimeout": read_timeout_secs, "sslProtocols": ["TLSv1.2"]}})
}

/// A request trigger's answer back as the edge's request.
pub fn request_from_event(request: Request, body: Bytes) -> Result<EdgeRequest, String> {
    let method =
        Method::from_bytes(request.method.as_bytes()).map_err(|_| format!("invalid method {:?}", request.method))?;
    Ok(EdgeRequest {
        method,
        headers: header_map(request.headers.as_ref())?,
        uri: request.uri,
        querystring: request.querystring,
        client_ip: request.client_ip,
        body,
    })
}

/// A response from its event form, with `body` (a generated response's own, decoded, or
/// the origin's).
pub fn response_from_event(response: &Response, body: Bytes) -> Result<EdgeResponse, String> {
    let status = response
        .status
        .trim()
        .parse::<u16>()
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or_else(|| format!("invalid status {:?}", response.status))?;
    Ok(EdgeResponse {
        status,
        headers: header_map(response.headers.as_ref())?,
        body,
    })
}

/// A generated response's body, decoded per `bodyEncoding`.
pub fn generated_body(response: &Response) -> Result<Bytes, String> {
    match (response.body.as_deref(), response.body_encoding.as_deref()) {
        (None, _) => Ok(Bytes::new()),
        (Some(b), Some("base64")) => decode_base64(b)
            .map(Bytes::from)
            .ok_or_else(|| "body is not base64".into()),
        (Some(b), _) => Ok(Bytes::from(b.to_owned())),
    }
}

/// The Lambda function-URL event (payload format 2.0) a request becomes.
///
/// `cookie` travels in `cookies`; several values of a header are joined with `,`; a body is
/// sent base64-encoded.
pub fn function_url_event(request: &EdgeRequest, origin_domain: &str, request_id: &str, time_epoch_ms: u64) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for name in request.headers.keys() {
        let all = request.headers.get_all(name);
        if name == "cookie" {
            cookies.extend(
                all.iter()
                    .flat_map(|v| {
                        String::from_utf8_lossy(v.as_bytes())
                            .split(';')
                            .map(|c| c.trim().to_owned())
                            .collect::<Vec<_>>()
                    })
                    .filter(|c| !c.is_empty())
                    .map(Value::from),
            );
            continue;
        }
        let joined = all
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect::<Vec<_>>()
            .join(",");
        headers.insert(name.as_str().to_owned(), Value::from(joined));
    }
    headers
        .entry("x-forwarded-proto")
        .or_insert_with(|| Value::from("https"));
    headers.entry("x-forwarded-port").or_insert_with(|| Value::from("443"));
    let user_agent = headers.get("user-agent").cloned().unwrap_or(Value::from(""));
    let prefix = origin_domain.split('.').next().unwrap_or("local");
    let mut query: Map<String, Value> = Map::new();
    for pair in request.querystring.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match query.get_mut(k) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(v);
            }
            _ => {
                query.insert(k.to_owned(), Value::from(v));
            }
        }
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.uri,
        "rawQueryString": request.querystring,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": prefix,
            "domainName": origin_domain,
            "domainPrefix": prefix,
            "http": {"method": request.method.as_str(), "path": request.uri, "protocol": "HTTP/1.1",
                     "sourceIp": request.client_ip, "userAgent": user_agent},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": Utc::from_epoch_ms(time_epoch_ms).request_time(),
            "timeEpoch": time_epoch_ms,
        },
        "isBase64Encoded": !request.body.is_empty(),
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(query);
    }
    if !request.body.is_empty() {
        event["body"] = Value::from(encode_base64(&request.body));
    }
    event
}

/// An answer the Lambda function URL service gives itself (never the function's): JSON
/// `{"Message": …}` with `status`.
pub fn function_url_error(status: StatusCode, message: &str) -> EdgeResponse {
    let mut response = EdgeResponse::json(status, json!({ "Message": message }).to_string());
    response.headers.remove("cache-control");
    response
}

/// The function URL's throttle answer when no execution environment is free
/// (lambda-edge-rules.md, "Throttling"): `429` with `{"Message":"Rate Exceeded."}`. Behind
/// CloudFront it is an origin answer like any other: origin-response runs on it, it is never
/// cached (CloudFront caches no 429), and no stale copy stands in for it (stale-if-error is
/// for 5xx and an unreachable origin).
pub fn throttled() -> EdgeResponse {
    function_url_error(StatusCode::TOO_MANY_REQUESTS, "Rate Exceeded.")
}

/// Reads a function-URL response (`statusCode`, `headers`, `multiValueHeaders`, `cookies`,
/// `body`, `isBase64Encoded`).
pub fn read_function_url_response(payload: &[u8]) -> Result<EdgeResponse, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    let status = value["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .ok_or("no valid statusCode")?;
    let mut headers = HeaderMap::new();
    let mut append = |name: &str, value: &str| -> Result<(), String> {
        let n = HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes())
            .map_err(|_| format!("bad header name {name:?}"))?;
        let v = HeaderValue::from_str(value).map_err(|_| format!("bad value for header {name}"))?;
        headers.append(n, v);
        Ok(())
    };
    if let Some(multi) = value["multiValueHeaders"].as_object() {
        for (name, values) in multi {
            for v in values.as_array().into_iter().flatten() {
                append(name, v.as_str().unwrap_or_default())?;
            }
        }
    }
    let multi_names: Vec<String> = value["multiValueHeaders"]
        .as_object()
        .map(|m| m.keys().map(|k| k.to_ascii_lowercase()).collect())
        .unwrap_or_default();
    if let Some(single) = value["headers"].as_object() {
        for (name, v) in single {
            if !multi_names.contains(&name.to_ascii_lowercase()) {
                append(name, v.as_str().unwrap_or_default())?;
            }
        }
    }
    for cookie in value["cookies"].as_array().into_iter().flatten() {
        append("set-cookie", cookie.as_str().unwrap_or_default())?;
    }
    let body = match value["body"].as_str() {
        None => Bytes::new(),
        Some(b) if value["isBase64Encoded"] == Value::Bool(true) => {
            Bytes::from(decode_base64(b).ok_or("body is not base64")?)
        }
        Some(b) => Bytes::from(b.to_owned()),
    };
    Ok(EdgeResponse { status, headers, body })
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// RFC 4648 base64 (standard alphabet, padded).
fn encode_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// RFC 4648 base64 (standard alphabet, padding optional).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = ALPHABET.iter().position(|a| *a == c)? as u32;
        acc = (acc << 6 | v) & 0x00FF_FFFF;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for input in [&b""[..], b"h", b"he", b"hel", b"hello", &[0xff, 0x00, 0x7f]] {
            assert_eq!(decode_base64(&encode_base64(input)).unwrap(), input);
        }
        assert_eq!(encode_base64(b"hello"), "aGVsbG8=");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert!(decode_base64("a$").is_none());
    }

    #[test]
    fn title_case_keys() {
        assert_eq!(title_case("x-forwarded-host"), "X-Forwarded-Host");
    }

    #[test]
    fn function_url_responses_are_read() {
        let payload = br#"{"statusCode":200,"headers":{"content-type":"application/json","ETag":"\"x\""},"cookies":["a=1"],"body":"{}","isBase64Encoded":false}"#;
        let answer = read_function_url_response(payload).unwrap();
        assert_eq!(answer.status, 200);
        assert_eq!(answer.headers["etag"], "\"x\"");
        assert_eq!(answer.headers["set-cookie"], "a=1");
        assert_eq!(answer.body, "{}");
        assert!(read_function_url_response(br#"{"statusCode":200,"headers":{"x":"a\nb"}}"#).is_err());
    }

    #[test]
    fn function_url_events_carry_cookies_query_and_body() {
        let mut headers = HeaderMap::new();
        headers.append("cookie", HeaderValue::from_static("a=1; b=2"));
        headers.append("x-multi", HeaderValue::from_static("1"));
        headers.append("x-multi", HeaderValue::from_static("2"));
        let request = EdgeRequest {
            method: Method::POST,
            uri: "/p".into(),
            querystring: "x=1&x=2&y".into(),
            headers,
            client_ip: "1.2.3.4".into(),
            body: Bytes::from_static(b"hi"),
        };
        let event = function_url_event(&request, "fn.example", "id", 0);
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(event["headers"]["x-multi"], "1,2");
        assert_eq!(event["queryStringParameters"], json!({"x": "1,2", "y": ""}));
        assert_eq!(
            (event["body"].as_str(), event["isBase64Encoded"].as_bool()),
            (Some("aGk="), Some(true))
        );
    }

    #[test]
    fn event_headers_round_trip_and_refuse_control_bytes() {
        let mut map = HeaderMap::new();
        map.append("x-a", HeaderValue::from_static("1"));
        map.append("x-a", HeaderValue::from_static("2"));
        let event = event_headers(&map);
        assert_eq!(event["x-a"][0].key.as_deref(), Some("X-A"));
        assert_eq!(header_map(Some(&event)).unwrap(), map);
        let mut bad = event.clone();
        bad.get_mut("x-a").unwrap()[0].value = "a\r\nb".into();
        assert!(header_map(Some(&bad)).is_err());
    }
}
