//! One HTTP request in the `http` crate's types ([`HttpRequest`]), and how a request an
//! event received is carried into them.
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

use edge_policy::percent::{self, Component};
use lambda_http::http::header::{HeaderMap, HeaderName, HeaderValue};
use lambda_http::http::{Method, Request, Uri};

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
        Received {
            method: "GET",
            path,
            query,
            headers: vec![(Cow::Borrowed("host"), Cow::Borrowed(host))],
            body: None,
            via: Via::Internal,
            domain_name: host.to_owned(),
        }
        .carry()
    }

    /// The first value of header `name`, when it is text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A request as an event carries it, before it is put into `http` types.
pub(super) struct Received<'a> {
    pub method: &'a str,
    pub path: &'a str,
    pub query: &'a str,
    pub headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
    pub body: Option<String>,
    pub via: Via,
    pub domain_name: String,
}

impl Received<'_> {
    /// The request in `http` types; what cannot be represented marks it malformed.
    pub(super) fn carry(self) -> HttpRequest {
        let (method, mut malformed) = match Method::from_bytes(self.method.as_bytes()) {
            Ok(m) => (m, false),
            Err(_) => (Method::GET, true),
        };
        let (path, query) = (self.path, self.query);
        let uri = match Uri::try_from(path_and_query(path, query)) {
            Ok(uri) => uri,
            Err(_) => {
                // A path that does not start with `/` (or is empty): kept as `/`, and the
                // request answered as malformed.
                malformed = true;
                Uri::from_static("/")
            }
        };
        malformed |= !path.starts_with('/');
        let mut map = HeaderMap::with_capacity(self.headers.len());
        for (name, value) in self.headers {
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
            body: self.body,
            via: self.via,
            domain_name: self.domain_name,
            malformed,
        }
    }
}

/// Percent-encodes a decoded query name or value (everything but unreserved characters).
pub(super) fn encode_component(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use edge_policy::header_fields;
    use edge_policy::http_views::request_view;
    use edge_policy::{canonical_request, RequestView, RuleSet};
    use proptest::prelude::*;

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
            let carried = Received {
                method: "GET",
                path: &path,
                query: &query,
                headers: Vec::new(),
                body: None,
                via: Via::FunctionUrl,
                domain_name: String::new(),
            }
            .carry();
            prop_assert!(!carried.malformed);
            let fields = header_fields(&carried.parts.headers);
            let view = request_view(&carried.parts, &fields);
            prop_assert_eq!(key_of(&view), key_of(&raw));
        }
    }
}
