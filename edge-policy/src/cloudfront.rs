//! What CloudFront accepts from a Lambda@Edge function (lambda-edge-rules.md): the handler
//! checks its own output against these, and the local edge enforces them with a `502`.

use crate::view::HeaderField;

/// "URI plus query string under 8,192 bytes" (the `?` counted).
pub const MAX_URL_BYTES: usize = 8192;

/// Largest generated response (headers + body) from a viewer trigger.
pub const MAX_VIEWER_GENERATED_BYTES: usize = 40 * 1024;

/// Largest generated response (headers + body) from an origin trigger.
pub const MAX_ORIGIN_GENERATED_BYTES: usize = 1024 * 1024;

/// The four Lambda@Edge triggers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Before the cache, on every viewer request.
    ViewerRequest,
    /// On a cache miss, before the origin.
    OriginRequest,
    /// On the origin's answer, before the cache stores it.
    OriginResponse,
    /// Before the answer leaves for the viewer.
    ViewerResponse,
}

impl Trigger {
    /// Parses `config.eventType`.
    pub fn from_event_type(event_type: &str) -> Option<Self> {
        match event_type {
            "viewer-request" => Some(Trigger::ViewerRequest),
            "origin-request" => Some(Trigger::OriginRequest),
            "origin-response" => Some(Trigger::OriginResponse),
            "viewer-response" => Some(Trigger::ViewerResponse),
            _ => None,
        }
    }

    /// `config.eventType`.
    pub fn event_type(self) -> &'static str {
        match self {
            Trigger::ViewerRequest => "viewer-request",
            Trigger::OriginRequest => "origin-request",
            Trigger::OriginResponse => "origin-response",
            Trigger::ViewerResponse => "viewer-response",
        }
    }

    /// Headers a function on this trigger may not change, add or remove.
    pub fn read_only_headers(self) -> &'static [&'static str] {
        match self {
            Trigger::ViewerRequest => &["content-length", "host", "transfer-encoding", "via"],
            Trigger::OriginRequest => &[
                "accept-encoding",
                "content-length",
                "if-modified-since",
                "if-none-match",
                "if-range",
                "if-unmodified-since",
                "transfer-encoding",
                "via",
            ],
            Trigger::OriginResponse => &["transfer-encoding", "via"],
            Trigger::ViewerResponse => &[
                "content-encoding",
                "content-length",
                "transfer-encoding",
                "warning",
                "via",
            ],
        }
    }

    /// The size limit of a generated response.
    pub fn max_generated_bytes(self) -> usize {
        match self {
            Trigger::ViewerRequest | Trigger::ViewerResponse => MAX_VIEWER_GENERATED_BYTES,
            Trigger::OriginRequest | Trigger::OriginResponse => MAX_ORIGIN_GENERATED_BYTES,
        }
    }
}

/// Why CloudFront would reject a function's answer (it answers `502`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// A header from the disallowed list was added.
    DisallowedHeaderAdded(String),
    /// A read-only header was changed, added or removed.
    ReadOnlyHeaderChanged(String),
    /// A viewer-request function added a `CloudFront-Viewer-*`/`CloudFront-Is-*` header.
    CloudFrontHeaderAdded(String),
    /// The `uri` does not start with `/`.
    UriNotAbsolute,
    /// The query string holds a space, a control character or `#`.
    InvalidQueryCharacter,
    /// The `uri` holds a space, a control character, `#` or `?`.
    InvalidUriCharacter,
    /// URI plus query string exceed 8,192 bytes.
    UrlTooLong(usize),
    /// A status outside 200–599.
    StatusOutOfRange(String),
    /// A generated response over the trigger's size limit.
    GeneratedResponseTooLarge(usize),
}

impl Violation {
    /// A stable description for logs and the local edge's error body.
    pub fn describe(&self) -> String {
        match self {
            Violation::DisallowedHeaderAdded(h) => format!("disallowed header added: {h}"),
            Violation::ReadOnlyHeaderChanged(h) => format!("read-only header changed: {h}"),
            Violation::CloudFrontHeaderAdded(h) => format!("CloudFront viewer header added: {h}"),
            Violation::UriNotAbsolute => "uri does not start with '/'".to_owned(),
            Violation::InvalidQueryCharacter => "query string holds a space, control character or '#'".to_owned(),
            Violation::InvalidUriCharacter => "uri holds a space, control character, '#' or '?'".to_owned(),
            Violation::UrlTooLong(n) => format!("uri plus query string is {n} bytes (limit {MAX_URL_BYTES})"),
            Violation::StatusOutOfRange(s) => format!("status {s:?} is outside 200-599"),
            Violation::GeneratedResponseTooLarge(n) => format!("generated response is {n} bytes"),
        }
    }
}

/// Whether a function may never add this (lower-case) header.
pub fn is_disallowed_header(name: &str) -> bool {
    const EXACT: &[&str] = &[
        "connection",
        "expect",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "trailer",
        "upgrade",
        "x-accel-buffering",
        "x-accel-charset",
        "x-accel-limit-rate",
        "x-accel-redirect",
        "x-amzn-auth",
        "x-amzn-cf-billing",
        "x-amzn-cf-id",
        "x-amzn-cf-xff",
        "x-amzn-errortype",
        "x-amzn-fle-profile",
        "x-amzn-header-count",
        "x-amzn-header-order",
        "x-amzn-lambda-integration-tag",
        "x-amzn-requestid",
        "x-cache",
        "x-forwarded-proto",
        "x-real-ip",
    ];
    EXACT.contains(&name) || name.starts_with("x-amz-cf-") || name.starts_with("x-edge-")
}

fn is_control_space_or_hash(b: u8) -> bool {
    b <= b' ' || b == 0x7f || b == b'#'
}

/// The URL rules: `uri` absolute and clean, query clean, total within 8,192 bytes.
// Out of line: a stage, not inlined into its trigger (crate docs, "Stages stay out of line").
#[inline(never)]
pub fn check_url(uri: &str, querystring: &str) -> Result<(), Violation> {
    if !uri.starts_with('/') {
        return Err(Violation::UriNotAbsolute);
    }
    if uri.bytes().any(|b| is_control_space_or_hash(b) || b == b'?') {
        return Err(Violation::InvalidUriCharacter);
    }
    if querystring.bytes().any(is_control_space_or_hash) {
        return Err(Violation::InvalidQueryCharacter);
    }
    let len = uri.len()
        + if querystring.is_empty() {
            0
        } else {
            1 + querystring.len()
        };
    if len > MAX_URL_BYTES {
        return Err(Violation::UrlTooLong(len));
    }
    Ok(())
}

fn sorted_values<'a>(headers: &[HeaderField<'a>], name: &str) -> Vec<&'a str> {
    headers.iter().filter(|(n, _)| *n == name).map(|(_, v)| *v).collect()
}

/// The header rules, comparing a function's answer with what it was given.
pub fn check_headers(trigger: Trigger, before: &[HeaderField<'_>], after: &[HeaderField<'_>]) -> Result<(), Violation> {
    for name in trigger.read_only_headers() {
        if sorted_values(before, name) != sorted_values(after, name) {
            return Err(Violation::ReadOnlyHeaderChanged((*name).to_owned()));
        }
    }
    for (name, _) in after {
        let added = !before.iter().any(|(n, _)| n == name);
        if added && is_disallowed_header(name) {
            return Err(Violation::DisallowedHeaderAdded((*name).to_owned()));
        }
        if added
            && trigger == Trigger::ViewerRequest
            && (name.starts_with("cloudfront-viewer-") || name.starts_with("cloudfront-is-"))
        {
            return Err(Violation::CloudFrontHeaderAdded((*name).to_owned()));
        }
    }
    Ok(())
}

/// The rules for a response a request trigger generates, or a changed response status.
pub fn check_response(trigger: Trigger, status: &str, generated_bytes: Option<usize>) -> Result<(), Violation> {
    match status.trim().parse::<u16>() {
        Ok(s) if (200..=599).contains(&s) => {}
        _ => return Err(Violation::StatusOutOfRange(status.to_owned())),
    }
    match generated_bytes {
        Some(n) if n > trigger.max_generated_bytes() => Err(Violation::GeneratedResponseTooLarge(n)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_rules() {
        assert_eq!(check_url("/a", "b=1"), Ok(()));
        assert_eq!(check_url("a", ""), Err(Violation::UriNotAbsolute));
        assert_eq!(check_url("/a", "b=1 2"), Err(Violation::InvalidQueryCharacter));
        assert_eq!(check_url("/a", "b=1#"), Err(Violation::InvalidQueryCharacter));
        assert_eq!(check_url("/a", "b=\u{1}"), Err(Violation::InvalidQueryCharacter));
        let long = format!("/{}", "a".repeat(8190));
        assert_eq!(check_url(&long, "b"), Err(Violation::UrlTooLong(8193)));
        assert_eq!(check_url(&long, ""), Ok(()));
    }

    #[test]
    fn disallowed_headers() {
        for h in ["x-cache", "x-amz-cf-id", "x-edge-location", "connection", "x-real-ip"] {
            assert!(is_disallowed_header(h), "{h}");
        }
        assert!(!is_disallowed_header("cache-control"));
    }

    #[test]
    fn header_rules() {
        let before = [("host", "a"), ("x-cache", "1")];
        assert_eq!(
            check_headers(Trigger::ViewerRequest, &before, &[("host", "a"), ("x-cache", "2")]),
            Ok(())
        );
        assert_eq!(
            check_headers(Trigger::ViewerRequest, &before, &[("host", "b")]),
            Err(Violation::ReadOnlyHeaderChanged("host".into()))
        );
        assert_eq!(
            check_headers(Trigger::OriginResponse, &[], &[("x-amz-cf-pop", "x")]),
            Err(Violation::DisallowedHeaderAdded("x-amz-cf-pop".into()))
        );
        assert_eq!(
            check_headers(Trigger::ViewerRequest, &[], &[("cloudfront-viewer-country", "x")]),
            Err(Violation::CloudFrontHeaderAdded("cloudfront-viewer-country".into()))
        );
    }

    /// lambda-edge-rules.md, "Read-only headers": a viewer-response function that touches
    /// the body's framing (`Content-Encoding`, `Content-Length`, `Transfer-Encoding`) gets a
    /// 502, as do `Warning` and `Via`; other headers are free to change.
    #[test]
    fn viewer_response_may_not_touch_the_body_framing() {
        let before = [
            ("content-encoding", "gzip"),
            ("content-length", "10"),
            ("transfer-encoding", "chunked"),
            ("cache-control", "public"),
        ];
        for name in [
            "content-encoding",
            "content-length",
            "transfer-encoding",
            "warning",
            "via",
        ] {
            let removed: Vec<_> = before.iter().copied().filter(|(n, _)| *n != name).collect();
            let mut added = before.to_vec();
            added.push((name, "x"));
            let present = removed.len() < before.len();
            for after in [added].into_iter().chain(present.then_some(removed)) {
                assert_eq!(
                    check_headers(Trigger::ViewerResponse, &before, &after),
                    Err(Violation::ReadOnlyHeaderChanged(name.into())),
                    "{name}: {after:?}"
                );
            }
        }
        let mut changed = before.to_vec();
        changed[3] = ("cache-control", "private");
        assert_eq!(check_headers(Trigger::ViewerResponse, &before, &changed), Ok(()));
    }

    #[test]
    fn response_rules() {
        assert_eq!(check_response(Trigger::OriginResponse, "200", None), Ok(()));
        assert!(check_response(Trigger::ViewerRequest, "199", None).is_err());
        assert!(check_response(Trigger::ViewerRequest, "200", Some(41 * 1024)).is_err());
    }
}
