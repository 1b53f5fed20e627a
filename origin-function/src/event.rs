//! The invocation payloads, read in one pass from their JSON into the `http` crate's types
//! (`lambda_http` re-exports `http`): Lambda function URL events (payload format 2.0), API
//! Gateway REST proxy events (payload format 1.0: the optional stage-cache stack in
//! `deploy/`), and the payloads that are not HTTP — warm-up (`{"warmup": true}`) and
//! EventBridge `Scheduled Event`. Both HTTP payloads take the same response shape
//! (`statusCode`, `headers`, `body`, `isBase64Encoded`).
//!
//! Which service invoked is part of the request ([`Via`]): the event's shape is set by the
//! service that invokes the function, not by the HTTP caller, so a REST proxy event cannot
//! arrive through the function URL.
//!
//! How the event is carried never changes what the request means: a path or query byte the
//! `http` crate refuses raw (a space, `#`, a non-ASCII byte, …) is percent-encoded exactly as
//! the policy's normalization would encode it (cache-key.md, path step 2), and a header the
//! `http` crate cannot represent makes the request malformed (answered 400, no cache
//! touched) rather than silently dropped.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use edge_policy::percent::{self, Component};

use lambda_http::http::header::{HeaderMap, HeaderName, HeaderValue};
use lambda_http::http::{Method, Request, Uri};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

/// Which service delivered an HTTP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A Lambda function URL (payload 2.0): the one door CloudFront (and an attacker) uses,
    /// so the secret header is checked.
    FunctionUrl,
    /// An API Gateway REST proxy integration (payload 1.0): API Gateway invoked the function
    /// with its own IAM permission; it cannot add the secret header.
    ApiGateway,
    /// The origin's own work (warm-up preloads).
    Internal,
}

/// One HTTP request, in the `http` crate's types.
#[derive(Debug)]
pub struct HttpRequest {
    /// Method, URI (path and query as received, bytes `http` refuses percent-encoded) and
    /// headers (lower-case names, every value kept).
    pub parts: lambda_http::http::request::Parts,
    /// The body, if any (never read: the demo API has no write routes).
    pub body: Option<String>,
    /// Which service delivered it.
    pub via: Via,
    /// The invoked domain (`requestContext.domainName`): the `Host` when none is sent.
    pub domain_name: String,
    /// A header name or value, or the method, could not be represented.
    pub malformed: bool,
}

impl HttpRequest {
    /// A request the origin makes itself (warm-up), for `path_and_query` on `host`.
    pub fn internal(host: &str, path_and_query: &str) -> Self {
        let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
        build(Received {
            method: "GET",
            path,
            query,
            headers: vec![(Cow::Borrowed("host"), Cow::Borrowed(host))],
            body: None,
            via: Via::Internal,
            domain_name: host.to_owned(),
        })
    }

    /// The first value of header `name`, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// What an invocation payload is.
#[derive(Debug)]
pub enum Invocation {
    /// An HTTP request.
    Http(Box<HttpRequest>),
    /// `{"warmup": true}` or an EventBridge `Scheduled Event`.
    Warmup,
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
                Invocation::Http(Box::new(build(Received {
                    method: &method,
                    path: &path,
                    query: e.raw_query_string.as_deref().unwrap_or_default(),
                    headers,
                    body: e.body,
                    via: Via::FunctionUrl,
                    domain_name,
                })))
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
                Invocation::Http(Box::new(build(Received {
                    method: &method,
                    path: &path,
                    query: &query,
                    headers,
                    body: e.body,
                    via: Via::ApiGateway,
                    domain_name,
                })))
            }
            (None, None) => Invocation::Invalid("neither an HTTP event nor a warm-up event".into()),
        }
    }
}

/// Percent-encodes a decoded query name or value (everything but unreserved characters).
fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    percent::encode_all_but_unreserved(&mut out, s);
    out
}

/// `path` (and `?query`) with every byte outside what the policy keeps raw percent-encoded
/// (the policy's own encoder: `pchar`, `/` and `%` in the path; those and `?` in the query;
/// cache-key.md, path step 2 and query step 3), so the canonical key is the same either way.
fn path_and_query(path: &str, query: &str) -> String {
    let mut out = String::with_capacity(path.len() + query.len() + 1);
    percent::encode_raw(&mut out, path, Component::Path);
    if !query.is_empty() {
        out.push('?');
        percent::encode_raw(&mut out, query, Component::Query);
    }
    out
}

/// A request as an event carries it, before it is put into `http` types.
struct Received<'a> {
    method: &'a str,
    path: &'a str,
    query: &'a str,
    headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    body: Option<String>,
    via: Via,
    domain_name: String,
}

fn build(r: Received<'_>) -> HttpRequest {
    let (method, mut malformed) = match Method::from_bytes(r.method.as_bytes()) {
        Ok(m) => (m, false),
        Err(_) => (Method::GET, true),
    };
    let (path, query) = (r.path, r.query);
    let uri = match Uri::try_from(path_and_query(path, query)) {
        Ok(uri) => uri,
        Err(_) => {
            // A path that does not start with `/` (or is empty): kept as `/`, and the request
            // answered as malformed.
            malformed = true;
            Uri::from_static("/")
        }
    };
    malformed |= !path.starts_with('/');
    let mut map = HeaderMap::with_capacity(r.headers.len());
    for (name, value) in r.headers {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
            (Ok(name), Ok(value)) => {
                map.append(name, value);
            }
            _ => malformed = true,
        }
    }
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.headers = map;
    HttpRequest {
        parts,
        body: r.body,
        via: r.via,
        domain_name: r.domain_name,
        malformed,
    }
}

/// An HTTP response, serialized as the function URL / REST proxy response payload.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    /// The status.
    pub status: u16,
    /// The headers (one value each).
    pub headers: HeaderMap,
    /// The body (text: the demo's bodies are JSON, CSS, JavaScript and text).
    pub body: String,
}

impl Serialize for HttpResponse {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Headers<'a>(&'a HeaderMap);
        impl Serialize for Headers<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.keys_len()))?;
                for name in self.0.keys() {
                    let mut values = self.0.get_all(name).iter().filter_map(|v| v.to_str().ok());
                    match (values.next(), values.next()) {
                        (Some(one), None) => map.serialize_entry(name.as_str(), one)?,
                        (first, second) => {
                            let all: Vec<&str> = first.into_iter().chain(second).chain(values).collect();
                            map.serialize_entry(name.as_str(), &all.join(", "))?;
                        }
                    }
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("statusCode", &self.status)?;
        map.serialize_entry("headers", &Headers(&self.headers))?;
        map.serialize_entry("body", &self.body)?;
        map.serialize_entry("isBase64Encoded", &false)?;
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use edge_policy::header_fields;
    use edge_policy::http_views::request_view;
    use edge_policy::{canonical_request, RequestView, RuleSet};
    use proptest::prelude::*;

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

    #[test]
    fn responses_serialize_as_the_lambda_payload() {
        let mut headers = HeaderMap::new();
        headers.insert("cache-control", HeaderValue::from_static("no-store"));
        let r = HttpResponse {
            status: 404,
            headers,
            body: "{}".into(),
        };
        assert_eq!(
            serde_json::to_value(&r).unwrap(),
            serde_json::json!({"statusCode": 404, "headers": {"cache-control": "no-store"}, "body": "{}",
                "isBase64Encoded": false})
        );
    }

    fn key_of(view: &RequestView<'_>) -> Option<String> {
        canonical_request(RuleSet::embedded(), "h", view)
            .ok()
            .map(|c| c.key.to_string())
    }

    proptest! {
        /// Carrying a path and query in `http::Uri` never changes the canonical key.
        #[test]
        fn the_carried_uri_keys_like_the_raw_one(
            path in "/[ -~\u{80}-\u{10ff}]{0,40}",
            query in "[ -~\u{80}-\u{10ff}]{0,40}",
        ) {
            let raw = RequestView { method: "GET", uri: &path, querystring: &query, headers: &[] };
            let carried = build(Received {
                method: "GET",
                path: &path,
                query: &query,
                headers: Vec::new(),
                body: None,
                via: Via::FunctionUrl,
                domain_name: String::new(),
            });
            prop_assert!(!carried.malformed);
            let fields = header_fields(&carried.parts.headers);
            let view = request_view(&carried.parts, &fields);
            prop_assert_eq!(key_of(&view), key_of(&raw));
        }
    }
}
