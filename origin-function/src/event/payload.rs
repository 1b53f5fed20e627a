//! The payloads' JSON shapes, read in one pass into an [`Invocation`]: every field the
//! origin reads, in one flat shape, header names and values borrowed from the payload where
//! they hold no escape; then the shape decides what the payload is (a function URL event, a
//! REST proxy event, a warm-up, or none of them).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::request::{encode_component, HttpRequest, Received, Via};

/// What an invocation payload is.
#[derive(Debug)]
pub enum Invocation {
    /// An HTTP request.
    Http(Box<HttpRequest>),
    /// `{"warmup": true}` or an EventBridge `Scheduled Event`.
    Warmup,
    /// `{"purge": {...}}`: one purge step, sent by an operator's direct invoke (never a
    /// function URL or API Gateway event, whose payloads Lambda builds).
    Purge(crate::purge::command::PurgeCommand),
    /// Neither: what is missing.
    Invalid(String),
}

impl<'de> Deserialize<'de> for Invocation {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RawEvent::deserialize(deserializer).map(Invocation::from)
    }
}

/// Every field of the payloads the origin reads, in one flat shape (one pass over the JSON;
/// header names and values borrowed from the payload where they hold no escape).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvent<'a> {
    warmup: Option<bool>,
    purge: Option<serde_json::Value>,
    source: Option<String>,
    #[serde(rename = "detail-type")]
    detail_type: Option<String>,
    raw_path: Option<String>,
    raw_query_string: Option<String>,
    cookies: Option<Vec<String>>,
    #[serde(borrow)]
    headers: Option<Pairs<'a, Text<'a>>>,
    #[serde(borrow)]
    multi_value_headers: Option<Pairs<'a, Vec<Text<'a>>>>,
    request_context: Option<RawContext>,
    http_method: Option<String>,
    path: Option<String>,
    multi_value_query_string_parameters: Option<BTreeMap<String, Vec<String>>>,
    body: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawContext {
    domain_name: Option<String>,
    http: Option<RawHttp>,
}

#[derive(Debug, Default, Deserialize)]
struct RawHttp {
    method: Option<String>,
}

/// A JSON string, borrowed from the payload when it holds no escape.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(TextVisitor(std::marker::PhantomData))
    }
}

/// A JSON object's members in order, values of type `V` (`null` values skipped).
#[derive(Debug)]
struct Pairs<'a, V>(Vec<(Text<'a>, V)>);

impl<V> Default for Pairs<'_, V> {
    fn default() -> Self {
        Pairs(Vec::new())
    }
}

impl<'de: 'a, 'a, V: Deserialize<'de>> Deserialize<'de> for Pairs<'a, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor<'a, V>(std::marker::PhantomData<(&'a (), V)>);
        impl<'de: 'a, 'a, V: Deserialize<'de>> Visitor<'de> for PairsVisitor<'a, V> {
            type Value = Pairs<'a, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Pairs<'a, V>, A::Error> {
                let mut pairs = Vec::with_capacity(map.size_hint().unwrap_or(8));
                while let Some((name, value)) = map.next_entry::<Text<'a>, Option<V>>()? {
                    if let Some(value) = value {
                        pairs.push((name, value));
                    }
                }
                Ok(Pairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor(std::marker::PhantomData))
    }
}

impl From<RawEvent<'_>> for Invocation {
    fn from(e: RawEvent<'_>) -> Self {
        let scheduled =
            e.detail_type.as_deref() == Some("Scheduled Event") && e.source.as_deref() == Some("aws.events");
        if e.warmup == Some(true) || scheduled {
            return Invocation::Warmup;
        }
        let http = e.request_context.as_ref().is_some_and(|c| c.http.is_some()) || e.http_method.is_some();
        if let (Some(purge), false) = (e.purge, http) {
            return match serde_json::from_value(purge) {
                Ok(command) => Invocation::Purge(command),
                Err(why) => Invocation::Invalid(format!("purge: {why}")),
            };
        }
        let context = e.request_context.unwrap_or_default();
        let domain_name = context.domain_name.unwrap_or_default();
        match (context.http.and_then(|h| h.method), e.http_method) {
            // Payload 2.0: a function URL.
            (Some(method), _) => {
                let Some(path) = e.raw_path else {
                    return Invocation::Invalid("rawPath missing".into());
                };
                let mut headers: Vec<(Cow<'_, str>, Cow<'_, str>)> = e
                    .headers
                    .unwrap_or_default()
                    .0
                    .into_iter()
                    .map(|(name, value)| (name.0, value.0))
                    .collect();
                // Payload 2.0 takes cookies out of the headers: one `cookie` line again.
                if let Some(cookies) = e.cookies.filter(|c| !c.is_empty()) {
                    headers.push((Cow::Borrowed("cookie"), Cow::Owned(cookies.join("; "))));
                }
                Invocation::Http(Box::new(
                    Received {
                        method: &method,
                        path: &path,
                        query: e.raw_query_string.as_deref().unwrap_or_default(),
                        headers,
                        body: e.body,
                        via: Via::FunctionUrl,
                        domain_name,
                    }
                    .carry(),
                ))
            }
            // Payload 1.0: an API Gateway REST proxy integration.
            (None, Some(method)) => {
                let Some(path) = e.path else {
                    return Invocation::Invalid("path missing".into());
                };
                let headers: Vec<(Cow<'_, str>, Cow<'_, str>)> = match (e.multi_value_headers, e.headers) {
                    (Some(multi), _) => multi
                        .0
                        .into_iter()
                        .flat_map(|(name, values)| values.into_iter().map(move |v| (name.0.clone(), v.0)))
                        .collect(),
                    (None, Some(single)) => single.0.into_iter().map(|(name, value)| (name.0, value.0)).collect(),
                    (None, None) => Vec::new(),
                };
                // REST events carry the query decoded: encode it again (the policy
                // re-normalizes what this writes).
                let query = e
                    .multi_value_query_string_parameters
                    .unwrap_or_default()
                    .iter()
                    .flat_map(|(name, values)| {
                        values
                            .iter()
                            .map(move |v| format!("{}={}", encode_component(name), encode_component(v)))
                    })
                    .collect::<Vec<_>>()
                    .join("&");
                Invocation::Http(Box::new(
                    Received {
                        method: &method,
                        path: &path,
                        query: &query,
                        headers,
                        body: e.body,
                        via: Via::ApiGateway,
                        domain_name,
                    }
                    .carry(),
                ))
            }
            (None, None) => Invocation::Invalid("neither an HTTP event nor a warm-up event".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use lambda_http::http::Method;

    use super::*;

    fn http(payload: serde_json::Value) -> HttpRequest {
        match serde_json::from_value::<Invocation>(payload).unwrap() {
            Invocation::Http(r) => *r,
            other => panic!("not HTTP: {other:?}"),
        }
    }

    #[test]
    fn rest_proxy_events_read_as_requests() {
        let request = http(serde_json::json!({
            "resource": "/api/products",
            "path": "/api/products",
            "httpMethod": "GET",
            "headers": {"Host": "abc.execute-api.us-east-1.amazonaws.com", "Cookie": "a=1; b=2"},
            "multiValueHeaders": {"Host": ["abc.execute-api.us-east-1.amazonaws.com"], "Cookie": ["a=1; b=2"],
                "Accept": ["a", "b"]},
            "queryStringParameters": {"category": "books & more"},
            "multiValueQueryStringParameters": {"category": ["books & more"], "page": ["2"]},
            "requestContext": {"domainName": "abc.execute-api.us-east-1.amazonaws.com", "requestId": "r-1",
                "identity": {"sourceIp": "203.0.113.1", "userAgent": "curl"}, "protocol": "HTTP/1.1",
                "resourcePath": "/api/products", "requestTimeEpoch": 1700000000000u64},
            "body": null,
            "isBase64Encoded": false
        }));
        assert_eq!(request.via, Via::ApiGateway);
        assert_eq!(request.parts.uri.path(), "/api/products");
        assert_eq!(request.parts.uri.query(), Some("category=books%20%26%20more&page=2"));
        assert_eq!(request.header("cookie"), Some("a=1; b=2"));
        assert_eq!(request.header("host"), Some("abc.execute-api.us-east-1.amazonaws.com"));
        assert_eq!(request.parts.headers.get_all("accept").iter().count(), 2);
        assert_eq!(request.parts.method, Method::GET);
        assert!(!request.malformed);
    }

    #[test]
    fn function_url_events_keep_their_cookies_and_headers() {
        let request = http(serde_json::json!({
            "version": "2.0", "rawPath": "/a b#c", "rawQueryString": "x=1 2",
            "cookies": ["a=1", "b=2"], "headers": {"host": "h", "x-one": "1"},
            "requestContext": {"domainName": "d", "http": {"method": "HEAD"}}
        }));
        assert_eq!(request.via, Via::FunctionUrl);
        assert_eq!(request.parts.uri.path(), "/a%20b%23c");
        assert_eq!(request.parts.uri.query(), Some("x=1%202"));
        assert_eq!(request.header("cookie"), Some("a=1; b=2"));
        assert_eq!(request.parts.method, Method::HEAD);
        assert_eq!(request.domain_name, "d");
    }

    #[test]
    fn unrepresentable_input_is_malformed_never_dropped() {
        let request = http(serde_json::json!({
            "rawPath": "/a", "headers": {"authorization": "Bearer x\u{0}y"},
            "requestContext": {"http": {"method": "GET"}}
        }));
        assert!(request.malformed, "a credential that cannot be carried must not vanish");
        let request = http(serde_json::json!({
            "rawPath": "a", "requestContext": {"http": {"method": "GET"}}
        }));
        assert!(request.malformed);
        let request = http(serde_json::json!({
            "rawPath": "/a", "requestContext": {"http": {"method": "G E T"}}
        }));
        assert!(request.malformed);
    }

    #[test]
    fn other_payloads() {
        let read = |v| serde_json::from_value::<Invocation>(v).unwrap();
        assert!(matches!(read(serde_json::json!({"warmup": true})), Invocation::Warmup));
        assert!(matches!(
            read(serde_json::json!({"detail-type": "Scheduled Event", "source": "aws.events"})),
            Invocation::Warmup
        ));
        assert!(matches!(read(serde_json::json!({"hello": 1})), Invocation::Invalid(_)));
        assert!(matches!(
            read(serde_json::json!({"warmup": false})),
            Invocation::Invalid(_)
        ));
    }
}
