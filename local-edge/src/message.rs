//! A request and a response as the edge carries them between steps: hyper's
//! `http::HeaderMap` for headers, the path and query as strings (a Lambda@Edge function may
//! write a `uri` that `http::Uri` would refuse; CloudFront's own checks decide instead).

use bytes::Bytes;
use edge_policy::headers::{connection_options, is_hop_by_hop};
use edge_policy::http_views::apply_edits;
use edge_policy::HeaderEdit;
use http::header::{HeaderMap, HeaderValue};
use http::{Method, StatusCode};

/// A request on its way through the edge.
#[derive(Debug, Clone)]
pub struct EdgeRequest {
    /// The method.
    pub method: Method,
    /// The path, as received or as a trigger rewrote it.
    pub uri: String,
    /// The query string without `?` (`""` when none).
    pub querystring: String,
    /// The headers (lower-case names).
    pub headers: HeaderMap,
    /// The viewer's address.
    pub client_ip: String,
    /// The body (never forwarded on `GET`/`HEAD`).
    pub body: Bytes,
}

/// A response on its way through the edge.
#[derive(Debug, Clone)]
pub struct EdgeResponse {
    /// The status.
    pub status: StatusCode,
    /// The headers (lower-case names).
    pub headers: HeaderMap,
    /// The body.
    pub body: Bytes,
}

impl EdgeResponse {
    /// A response with a JSON body and `Cache-Control: no-store`.
    pub fn json(status: StatusCode, body: String) -> EdgeResponse {
        let mut headers = HeaderMap::new();
        headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        headers.insert(http::header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        EdgeResponse {
            status,
            headers,
            body: Bytes::from(body),
        }
    }
}

/// Every value of `name`, as text (a value that is not UTF-8 is skipped).
pub fn values<'a>(headers: &'a HeaderMap, name: &str) -> impl Iterator<Item = &'a str> {
    headers.get_all(name).into_iter().filter_map(|v| v.to_str().ok())
}

/// The first value of `name`, as text.
pub fn first<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    values(headers, name).next()
}

/// Replaces every value of `name` (lower-case) with `value`; a value `http` refuses removes
/// the header (never shares more than the write would have), exactly as the policy's own
/// edits are applied.
pub fn set(headers: &mut HeaderMap, name: &'static str, value: &str) {
    apply_edits(
        headers,
        &[HeaderEdit::Set {
            name,
            key: name,
            value: value.to_owned(),
        }],
    );
}

/// Removes the hop-by-hop fields: `Connection`, every field it names, and the fixed ones
/// (RFC 9110 §7.6.1). The proxy layer does this before any Lambda@Edge event is built, both
/// ways: CloudFront shows no `Connection` to a function, replaces it toward the origin, and
/// never stores or forwards what it names.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let options = connection_options(values(headers, "connection").map(|v| ("connection", v)));
    let names: Vec<http::header::HeaderName> = headers
        .keys()
        .filter(|n| is_hop_by_hop(n.as_str(), &options))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
}

/// Builders for unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// A `GET uri?querystring` from 203.0.113.9 with `headers`, carrying a body ("fat GET").
    pub(crate) fn get(uri: &str, querystring: &str, headers: &[(&'static str, &'static str)]) -> EdgeRequest {
        let mut map = HeaderMap::new();
        for (n, v) in headers {
            map.append(*n, HeaderValue::from_static(v));
        }
        EdgeRequest {
            method: Method::GET,
            uri: uri.into(),
            querystring: querystring.into(),
            headers: map,
            client_ip: "203.0.113.9".into(),
            body: Bytes::from_static(b"fat get"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_and_what_it_names_are_dropped() {
        let mut headers = HeaderMap::new();
        headers.append("connection", HeaderValue::from_static("X-Foo, close"));
        headers.append("x-foo", HeaderValue::from_static("1"));
        headers.append("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.append("x-kept", HeaderValue::from_static("2"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.keys().map(|n| n.as_str()).collect::<Vec<_>>(), ["x-kept"]);
    }

    #[test]
    fn set_replaces_every_value_and_refuses_control_bytes() {
        let mut headers = HeaderMap::new();
        headers.append("via", HeaderValue::from_static("a"));
        headers.append("via", HeaderValue::from_static("b"));
        set(&mut headers, "via", "c");
        assert_eq!(values(&headers, "via").collect::<Vec<_>>(), ["c"]);
        set(&mut headers, "via", "bad\r\nvalue");
        assert!(first(&headers, "via").is_none());
    }
}
