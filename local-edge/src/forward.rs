//! The request CloudFront sends to the origin: only what the behaviour's cache policy and
//! origin request policy name, plus CloudFront's own headers, then (after origin-request)
//! the origin custom headers and the Origin Access Control signature
//! (`lambda-edge-rules.md`, "Only the headers a behaviour's cache policy and origin request
//! policy name reach the origin").

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::Method;
use sha2::{Digest, Sha256};

use crate::cache_key::{keys_accept_encoding, normalized_accept_encoding, select_cookies, select_query};
use crate::clock::Utc;
use crate::distribution::{AccessControl, Behaviour, OriginSettings, SECRET_PLACEHOLDER};
use crate::message::{first, set, values, EdgeRequest};

/// Hop-by-hop and framing headers: never forwarded as the viewer sent them.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "expect",
    "content-length",
];

/// Headers CloudFront writes itself on the way to the origin.
const CLOUDFRONT_OWN: &[&str] = &[
    "via",
    "x-amz-cf-id",
    "x-forwarded-for",
    "accept-encoding",
    "cookie",
    "user-agent",
];

/// A viewer's conditional headers: on a caching behaviour they never reach a shared fetch
/// (the edge sends only its own validator and answers the viewer's from the cache).
pub const CONDITIONALS: &[&str] = &[
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "if-range",
];

/// The names the edge presents itself with.
#[derive(Debug, Clone)]
pub struct EdgeIdentity {
    /// The distribution's domain (`d111111abcdef8.cloudfront.net`).
    pub distribution_domain: String,
    /// The origin's (function URL's) domain.
    pub origin_domain: String,
}

impl EdgeIdentity {
    /// `1.1 d111111abcdef8.cloudfront.net (CloudFront)`.
    pub fn via(&self) -> String {
        format!("1.1 {} (CloudFront)", self.distribution_domain)
    }
}

/// What CloudFront forwards of `viewer` (the request after viewer-request) under
/// `behaviour`, with CloudFront's own headers; `validators` are the edge's own conditional
/// headers when it revalidates a stored copy ("one or both" of `If-None-Match` and
/// `If-Modified-Since`, "Request and response behavior for custom origins", Conditional
/// requests).
pub fn origin_request(
    behaviour: &Behaviour,
    viewer: &EdgeRequest,
    validators: &[(&'static str, &str)],
    edge: &EdgeIdentity,
) -> EdgeRequest {
    let cache = &behaviour.cache_policy;
    let origin = &behaviour.origin_request_policy;
    let keyed_headers = cache.headers.names();
    let get_or_head = viewer.method == Method::GET || viewer.method == Method::HEAD;
    let caching = behaviour.caches(&viewer.method);
    let forwarded = |name: &str| keyed_headers.iter().any(|k| k == name) || origin.headers.forwards(name);

    let mut headers = HeaderMap::new();
    for (name, value) in &viewer.headers {
        let n = name.as_str();
        let skip = HOP_BY_HOP.contains(&n)
            || CLOUDFRONT_OWN.contains(&n)
            || (n == "host" && !forwarded("host"))
            // On GET/HEAD, `Authorization` reaches the origin only where the cache policy
            // keys it (an origin request policy cannot forward it).
            || (n == "authorization" && get_or_head && !keyed_headers.iter().any(|k| k == "authorization"))
            || (caching && CONDITIONALS.contains(&n))
            || !forwarded(n);
        if !skip {
            headers.append(name.clone(), value.clone());
        }
    }
    if !headers.contains_key("host") {
        set(&mut headers, "host", &edge.origin_domain);
    }
    if keys_accept_encoding(cache) {
        if let Some(encoding) = normalized_accept_encoding(cache, &viewer.headers) {
            set(&mut headers, "accept-encoding", encoding);
        }
    } else if forwarded("accept-encoding") {
        for value in viewer.headers.get_all("accept-encoding") {
            headers.append("accept-encoding", value.clone());
        }
    }
    let cookies = select_cookies(&viewer.headers, |n| {
        cache.cookies.selects(n) || origin.cookies.selects(n)
    });
    if !cookies.is_empty() {
        set(&mut headers, "cookie", &cookies.join("; "));
    }
    match first(&viewer.headers, "user-agent").filter(|_| forwarded("user-agent")) {
        Some(agent) => set(&mut headers, "user-agent", agent),
        None => set(&mut headers, "user-agent", "Amazon CloudFront"),
    }
    let via = match values(&viewer.headers, "via").collect::<Vec<_>>().join(", ") {
        v if v.is_empty() || !forwarded("via") => edge.via(),
        v => format!("{v}, {}", edge.via()),
    };
    set(&mut headers, "via", &via);
    let xff = match values(&viewer.headers, "x-forwarded-for")
        .collect::<Vec<_>>()
        .join(", ")
    {
        v if v.is_empty() || !forwarded("x-forwarded-for") => viewer.client_ip.clone(),
        v => format!("{v}, {}", viewer.client_ip),
    };
    set(&mut headers, "x-forwarded-for", &xff);
    for (name, value) in validators {
        set(&mut headers, name, value);
    }

    let query = select_query(&viewer.querystring, |n| {
        cache.query_strings.selects(n) || origin.query_strings.selects(n)
    });
    EdgeRequest {
        method: viewer.method.clone(),
        uri: viewer.uri.clone(),
        querystring: query.join("&"),
        headers,
        client_ip: viewer.client_ip.clone(),
        body: if get_or_head { Bytes::new() } else { viewer.body.clone() },
    }
}

/// What CloudFront adds after origin-request, just before sending: `X-Amz-Cf-Id`, the origin
/// custom headers (overwriting a viewer's header of the same name) and, with Origin Access
/// Control, a SigV4-shaped `Authorization` (overwriting the viewer's) with its
/// `X-Amz-Date` and `X-Amz-Content-Sha256`.
pub fn finish_origin_request(
    request: &mut EdgeRequest,
    origin: &OriginSettings,
    secret: &str,
    request_id: &str,
    now_ms: u64,
) {
    set(&mut request.headers, "x-amz-cf-id", request_id);
    for custom in &origin.custom_headers {
        let value = custom.value.replace(SECRET_PLACEHOLDER, secret);
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(custom.name.to_ascii_lowercase().as_bytes()),
            HeaderValue::from_str(&value),
        ) {
            request.headers.insert(name, value);
        }
    }
    if origin.access_control == AccessControl::Always {
        let utc = Utc::from_epoch_ms(now_ms);
        let amz_date = utc.amz_date();
        let payload_hash = hex::encode(Sha256::digest(&request.body));
        set(&mut request.headers, "x-amz-date", &amz_date);
        set(&mut request.headers, "x-amz-content-sha256", &payload_hash);
        let authorization = oac_signature(request, &amz_date, &payload_hash, secret);
        set(&mut request.headers, "authorization", &authorization);
    }
}

/// An `Authorization` shaped like CloudFront's Origin Access Control signature for a Lambda
/// function URL: `AWS4-HMAC-SHA256 Credential=<key>/<date>/us-east-1/lambda/aws4_request,
/// SignedHeaders=…, Signature=<64 hex>`. The signature is a digest of the request, not a
/// real SigV4 (no AWS credentials exist locally); what matters is that the origin sees what
/// it sees on AWS: never the viewer's `Authorization`.
fn oac_signature(request: &EdgeRequest, amz_date: &str, payload_hash: &str, secret: &str) -> String {
    let host = first(&request.headers, "host").unwrap_or("");
    let mut digest = Sha256::new();
    for part in [
        secret,
        request.method.as_str(),
        &request.uri,
        &request.querystring,
        host,
        amz_date,
        payload_hash,
    ] {
        digest.update(part.as_bytes());
        digest.update(b"\n");
    }
    format!(
        "AWS4-HMAC-SHA256 Credential=ASIALOCALEDGEEXAMPLE/{}/us-east-1/lambda/aws4_request, \
         SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature={}",
        &amz_date[..8],
        hex::encode(digest.finalize())
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::fixtures::deployed;
    use crate::message::fixtures::get;
    use edge_policy::headers::is_aws_signature;

    fn edge() -> EdgeIdentity {
        EdgeIdentity {
            distribution_domain: "d1.cloudfront.net".into(),
            origin_domain: "fn.lambda-url.us-east-1.on.aws".into(),
        }
    }

    fn viewer(uri: &str, headers: &[(&'static str, &'static str)]) -> EdgeRequest {
        get(uri, "b=1&a=2", headers)
    }

    const HOSTILE: &[(&str, &str)] = &[
        ("host", "edge.example"),
        ("authorization", "Bearer user-7"),
        ("x-viewer-authorization", "Bearer user-7"),
        ("cookie", "session=s"),
        ("if-none-match", "\"abc\""),
        ("x-forwarded-host", "evil.example"),
        ("x-origin-verify", "guess"),
        ("accept-encoding", "gzip, br"),
        ("user-agent", "curl"),
        ("connection", "keep-alive"),
    ];

    #[test]
    fn a_public_behaviour_forwards_the_query_and_the_normalized_encoding_only() {
        let d = deployed();
        let b = d.behaviour_for("/api/products/1");
        let out = origin_request(b, &viewer("/api/products/1", HOSTILE), &[], &edge());
        let names: Vec<&str> = out.headers.keys().map(|n| n.as_str()).collect();
        assert_eq!(
            names,
            ["host", "accept-encoding", "user-agent", "via", "x-forwarded-for"],
            "{:?}",
            out.headers
        );
        assert_eq!(first(&out.headers, "host"), Some("fn.lambda-url.us-east-1.on.aws"));
        assert_eq!(first(&out.headers, "accept-encoding"), Some("br,gzip"));
        assert_eq!(first(&out.headers, "user-agent"), Some("Amazon CloudFront"));
        assert_eq!(first(&out.headers, "x-forwarded-for"), Some("203.0.113.9"));
        assert_eq!(out.querystring, "b=1&a=2");
        assert!(out.body.is_empty(), "a body on GET is never forwarded");
    }

    #[test]
    fn a_caching_disabled_behaviour_forwards_the_viewers_headers_but_not_authorization_on_get() {
        let d = deployed();
        let b = d.behaviour_for("/api/me");
        let out = origin_request(b, &viewer("/api/me", HOSTILE), &[], &edge());
        assert_eq!(first(&out.headers, "host"), Some("fn.lambda-url.us-east-1.on.aws"));
        assert_eq!(first(&out.headers, "authorization"), None);
        assert_eq!(first(&out.headers, "x-viewer-authorization"), Some("Bearer user-7"));
        assert_eq!(first(&out.headers, "cookie"), Some("session=s"));
        assert_eq!(
            first(&out.headers, "if-none-match"),
            Some("\"abc\""),
            "not shared: passed on"
        );
        assert_eq!(
            first(&out.headers, "accept-encoding"),
            Some("gzip, br"),
            "forwarded as sent"
        );
        assert_eq!(first(&out.headers, "user-agent"), Some("curl"));
        assert_eq!(first(&out.headers, "connection"), None);
    }

    #[test]
    fn the_edges_validator_replaces_the_viewers() {
        let d = deployed();
        let b = d.behaviour_for("/api/products/1");
        let validators = [
            ("if-none-match", "\"stored\""),
            ("if-modified-since", "Mon, 30 Nov 2026 08:00:00 GMT"),
        ];
        let out = origin_request(b, &viewer("/api/products/1", HOSTILE), &validators, &edge());
        assert_eq!(
            values(&out.headers, "if-none-match").collect::<Vec<_>>(),
            ["\"stored\""]
        );
        assert_eq!(
            values(&out.headers, "if-modified-since").collect::<Vec<_>>(),
            ["Mon, 30 Nov 2026 08:00:00 GMT"]
        );
    }

    #[test]
    fn the_secret_and_the_signature_overwrite_the_viewers_values() {
        let d = deployed();
        let b = d.behaviour_for("/api/me");
        let mut out = origin_request(b, &viewer("/api/me", HOSTILE), &[], &edge());
        out.headers.insert("x-origin-verify", HeaderValue::from_static("guess"));
        out.headers
            .insert("authorization", HeaderValue::from_static("Bearer user-7"));
        finish_origin_request(&mut out, &d.origin, "s3cret", "ID==", 1_795_925_700_000);
        assert_eq!(values(&out.headers, "x-origin-verify").collect::<Vec<_>>(), ["s3cret"]);
        let auth = first(&out.headers, "authorization").unwrap();
        assert!(is_aws_signature(auth), "{auth}");
        assert!(auth.contains("/20261129/us-east-1/lambda/aws4_request"), "{auth}");
        assert_eq!(first(&out.headers, "x-amz-date"), Some("20261129T041500Z"));
        assert_eq!(first(&out.headers, "x-amz-cf-id"), Some("ID=="));
    }
}
