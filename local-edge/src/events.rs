//! Building the events CloudFront and Lambda send, and reading the origin's answer.

use std::collections::BTreeMap;

use edge_policy::event::{HeaderValue, Headers, Request, Response};
use serde_json::{json, Map, Value};

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

/// Adds one header value under its lower-case name.
pub fn push_header(headers: &mut Headers, name: &str, value: &str) {
    let name = name.to_ascii_lowercase();
    let key = title_case(&name);
    headers.entry(name).or_default().push(HeaderValue {
        key: Some(key),
        value: value.to_owned(),
    });
}

/// The `config` part of a Lambda@Edge event.
pub fn config(distribution_domain: &str, event_type: &str, request_id: &str) -> Value {
    json!({
        "distributionDomainName": distribution_domain,
        "distributionId": "ELOCALEDGE0000",
        "eventType": event_type,
        "requestId": request_id,
    })
}

/// A Lambda@Edge event for a request trigger.
pub fn request_event(config: Value, request: &Request) -> Value {
    json!({"Records": [{"cf": {"config": config, "request": request}}]})
}

/// A Lambda@Edge event for a response trigger.
pub fn response_event(config: Value, request: &Request, response: &Response) -> Value {
    json!({"Records": [{"cf": {"config": config, "request": request, "response": response}}]})
}

/// The `origin` object of origin events (a custom origin: the function URL).
pub fn custom_origin(domain: &str) -> Value {
    json!({"custom": {"customHeaders": {}, "domainName": domain, "keepaliveTimeout": 5, "path": "", "port": 443,
        "protocol": "https", "readTimeout": 30, "sslProtocols": ["TLSv1.2"]}})
}

/// The Lambda function-URL event (payload format 2.0) CloudFront's request turns into.
///
/// `Host` is the function URL's domain, as CloudFront sends it to a function-URL origin;
/// `cookie` travels in `cookies`; multiple values of a header are joined with `,`.
pub fn function_url_event(request: &Request, origin_domain: &str, request_id: &str, time_epoch_ms: u64) -> Value {
    let mut headers = Map::new();
    let mut cookies = Vec::new();
    for (name, values) in request.headers.iter().flatten() {
        match name.as_str() {
            "host" => {}
            "cookie" => cookies.extend(
                values
                    .iter()
                    .flat_map(|v| v.value.split(';'))
                    .map(|c| Value::from(c.trim())),
            ),
            _ => {
                let joined = values.iter().map(|v| v.value.as_str()).collect::<Vec<_>>().join(",");
                headers.insert(name.clone(), Value::from(joined));
            }
        }
    }
    headers.insert("host".into(), Value::from(origin_domain));
    headers.insert("x-forwarded-for".into(), Value::from(request.client_ip.clone()));
    headers.insert("x-forwarded-proto".into(), Value::from("https"));
    let mut params: BTreeMap<String, String> = BTreeMap::new();
    for pair in request.querystring.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params
            .entry(k.to_owned())
            .and_modify(|e| {
                e.push(',');
                e.push_str(v);
            })
            .or_insert_with(|| v.to_owned());
    }
    let user_agent = request
        .headers
        .as_ref()
        .and_then(|h| h.get("user-agent"))
        .and_then(|v| v.first())
        .map(|v| v.value.clone());
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": request.uri,
        "rawQueryString": request.querystring,
        "headers": headers,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": origin_domain.split('.').next().unwrap_or("local"),
            "domainName": origin_domain,
            "domainPrefix": origin_domain.split('.').next().unwrap_or("local"),
            "http": {"method": request.method, "path": request.uri, "protocol": "HTTP/1.1",
                     "sourceIp": request.client_ip, "userAgent": user_agent.unwrap_or_default()},
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:00:00:00 +0000",
            "timeEpoch": time_epoch_ms,
        },
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = Value::Array(cookies);
    }
    if !params.is_empty() {
        event["queryStringParameters"] = json!(params);
    }
    event
}

/// The origin's answer, as CloudFront sees it.
#[derive(Debug, Clone)]
pub struct OriginAnswer {
    /// The status.
    pub status: u16,
    /// The headers, lower-case names, `set-cookie` from `cookies` included.
    pub headers: Headers,
    /// The body, decoded when it was base64.
    pub body: Vec<u8>,
}

/// Reads a function-URL response (`statusCode`, `headers`, `multiValueHeaders`, `cookies`,
/// `body`, `isBase64Encoded`).
pub fn read_function_url_response(payload: &[u8]) -> Result<OriginAnswer, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    let status = value["statusCode"]
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .ok_or("no statusCode")?;
    let mut headers = Headers::new();
    if let Some(multi) = value["multiValueHeaders"].as_object() {
        for (name, values) in multi {
            for v in values.as_array().into_iter().flatten() {
                push_header(&mut headers, name, v.as_str().unwrap_or_default());
            }
        }
    }
    if let Some(single) = value["headers"].as_object() {
        for (name, v) in single {
            if !headers.contains_key(&name.to_ascii_lowercase()) {
                push_header(&mut headers, name, v.as_str().unwrap_or_default());
            }
        }
    }
    for cookie in value["cookies"].as_array().into_iter().flatten() {
        push_header(&mut headers, "set-cookie", cookie.as_str().unwrap_or_default());
    }
    let body = match value["body"].as_str() {
        None => Vec::new(),
        Some(b) if value["isBase64Encoded"] == Value::Bool(true) => decode_base64(b).ok_or("body is not base64")?,
        Some(b) => b.as_bytes().to_vec(),
    };
    Ok(OriginAnswer { status, headers, body })
}

/// RFC 4648 base64 (standard alphabet, padding optional).
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| !c.is_ascii_whitespace() && *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = acc << 6 | u32::from(v);
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
    fn base64_decodes() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
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
        assert_eq!(answer.headers["etag"][0].value, "\"x\"");
        assert_eq!(answer.headers["set-cookie"][0].value, "a=1");
        assert_eq!(answer.body, b"{}");
    }
}
