//! Request-header rules (cache-key.md, "Headers").

use crate::text;

/// Headers deleted from `GET`/`HEAD` requests: origins use them to build URLs or pick
/// methods while caches don't key them (the classic unkeyed inputs of cache poisoning).
pub const UNKEYED_HEADERS: &[&str] = &[
    "x-forwarded-host",
    "x-host",
    "x-forwarded-server",
    "x-forwarded-scheme",
    "x-forwarded-port",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "forwarded",
];

/// Whether a lower-case header name is one of [`UNKEYED_HEADERS`].
pub fn is_unkeyed(name: &str) -> bool {
    UNKEYED_HEADERS.contains(&name)
}

/// What a header value that cannot be read (not UTF-8, or not well-formed UTF-16 in the Wasm
/// glue) is handed to the policy as: a single NUL. viewer-request deletes a header holding a
/// NUL (cache-key.md, "Limits and bad input"), and a `Cache-Control` line holding one reads
/// `no-store`, so an unreadable value never reaches a cache key, an origin or a decision
/// unexamined.
pub const UNREADABLE_VALUE: &str = "\0";

/// The header the viewer's credential travels in from the edge to the origin
/// (origin-cache.md): Origin Access Control overwrites `Authorization` with CloudFront's own
/// SigV4 signature on every origin request, so viewer-request copies the viewer's
/// `Authorization` here on bypass requests.
pub const VIEWER_AUTHORIZATION: &str = "x-viewer-authorization";

/// Whether an `Authorization` value is an AWS Signature Version 4 (`AWS4-HMAC-SHA256 …`),
/// as CloudFront's Origin Access Control sends: CloudFront's, never a viewer's credential.
/// The scheme is compared ASCII case-insensitively (RFC 9110 §11.1: "It uses a
/// case-insensitive token to identify the authentication scheme").
pub fn is_aws_signature(authorization: &str) -> bool {
    const SCHEME: &str = "AWS4-HMAC-SHA256";
    let value = authorization.trim_start_matches([' ', '\t']);
    value.len() >= SCHEME.len()
        && value.as_bytes()[..SCHEME.len()].eq_ignore_ascii_case(SCHEME.as_bytes())
        && value
            .as_bytes()
            .get(SCHEME.len())
            .is_none_or(|b| *b == b' ' || *b == b'\t')
}

/// The viewer's credential as the origin sees it (origin-cache.md, "The viewer's
/// credential"): the first `X-Viewer-Authorization` value when present, else the first
/// `Authorization` value unless it is an AWS signature. `headers` are lower-case name and
/// value pairs. A present but empty value still counts: its presence alone makes a request
/// private (fail closed).
pub fn viewer_credential<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<&'a str> {
    let mut authorization = None;
    for (name, value) in headers {
        if name == VIEWER_AUTHORIZATION {
            return Some(value);
        }
        if name == "authorization" && authorization.is_none() && !is_aws_signature(value) {
            authorization = Some(value);
        }
    }
    authorization
}

/// What CloudFront's compression-aware cache policy makes of `Accept-Encoding`:
/// `Some("br,gzip")`, `Some("gzip")`, `Some("br")`, or `None` (the header is deleted).
///
/// RFC 9110 §12.5.3: codings are case-insensitive; "a qvalue of 0 means not acceptable";
/// "*" matches "any available content-coding not explicitly listed in the header field".
/// A malformed qvalue is read as "not acceptable": the edge must never claim a coding the
/// viewer may not decode.
// Out of line: a stage, not inlined into its trigger (crate docs, "Stages stay out of line").
#[inline(never)]
pub fn normalize_accept_encoding<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    let (mut br, mut gzip, mut star) = (None::<bool>, None::<bool>, None::<bool>);
    for value in values {
        for element in text::split(value, b',') {
            let mut parts = text::split(element, b';');
            let coding = text::trim(parts.next().unwrap_or(""));
            if coding.is_empty() {
                continue;
            }
            let mut accepted = true;
            for param in parts {
                let (name, q) = text::split_once(param, b'=').unwrap_or((param, ""));
                if text::trim(name).eq_ignore_ascii_case("q") {
                    // `gzip;q` and `gzip;q=` carry no valid qvalue: not acceptable.
                    accepted = qvalue_is_positive(text::trim(q));
                }
            }
            // A coding listed twice: its first occurrence counts, as for Cache-Control directives.
            let slot = if coding.eq_ignore_ascii_case("br") {
                &mut br
            } else if coding.eq_ignore_ascii_case("gzip") {
                &mut gzip
            } else if coding == "*" {
                &mut star
            } else {
                continue;
            };
            slot.get_or_insert(accepted);
        }
    }
    let star = star.unwrap_or(false);
    match (br.unwrap_or(star), gzip.unwrap_or(star)) {
        (true, true) => Some("br,gzip"),
        (true, false) => Some("br"),
        (false, true) => Some("gzip"),
        (false, false) => None,
    }
}

/// The hop-by-hop fields of HTTP/1.1 (RFC 9110 §7.6.1: `Connection` and the fields it names,
/// and "Proxy-Connection, Keep-Alive, TE, Transfer-Encoding, and Upgrade" that a proxy must
/// not forward unless named; `Trailer` frames the body): meaningful on one connection only.
pub const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The fields a message's `Connection` names (lower-case), from its header fields. RFC 9110
/// §7.6.1: "Intermediaries MUST parse a received Connection header field before a message is
/// forwarded and, for each connection-option in this field, remove any header or trailer
/// field(s) from the message with the same name as the connection-option, and then remove
/// the Connection header field itself".
pub fn connection_options<'a>(fields: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut options = Vec::new();
    for (name, value) in fields {
        if name.eq_ignore_ascii_case("connection") {
            for option in text::split(value, b',') {
                let option = text::trim(option);
                if !option.is_empty() {
                    options.push(option.to_ascii_lowercase());
                }
            }
        }
    }
    options
}

/// Whether a lower-case field name is hop-by-hop on a message whose `Connection` names
/// `options` ([`connection_options`]): never stored, never forwarded, never shown to an edge
/// function.
pub fn is_hop_by_hop(name: &str, options: &[String]) -> bool {
    HOP_BY_HOP.contains(&name) || options.iter().any(|o| o == name)
}

/// RFC 9110 §12.4.2: `qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )`.
fn qvalue_is_positive(q: &str) -> bool {
    let (int, frac) = text::split_once(q, b'.').unwrap_or((q, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    match int {
        "1" => frac.bytes().all(|b| b == b'0'),
        "0" => frac.bytes().any(|b| b != b'0'),
        _ => false,
    }
}

/// Keeps the allow-listed cookies of all `cookie` header values, sorted by name (stable),
/// joined with `; `. `None` when nothing is kept (the header is then deleted).
// Out of line: a stage, not inlined into its trigger (crate docs, "Stages stay out of line").
#[inline(never)]
pub fn filter_cookies<'a>(values: impl IntoIterator<Item = &'a str>, allowed: &[String]) -> Option<String> {
    if allowed.is_empty() {
        return None;
    }
    let mut kept: Vec<(&str, &str)> = Vec::new();
    for value in values {
        for pair in text::split(value, b';') {
            let pair = text::trim(pair);
            let (name, _) = text::split_once(pair, b'=').unwrap_or((pair, ""));
            let name = text::trim(name);
            if !name.is_empty() && allowed.iter().any(|a| a == name) {
                kept.push((name, pair));
            }
        }
    }
    if kept.is_empty() {
        return None;
    }
    let names: Vec<&[u8]> = kept.iter().map(|(name, _)| name.as_bytes()).collect();
    let mut out = String::new();
    for i in text::stable_order(&names) {
        if !out.is_empty() {
            out.push_str("; ");
        }
        out.push_str(kept[i].1);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_names_its_hop_by_hop_fields() {
        let fields = [
            ("connection", "X-Foo, keep-alive"),
            ("Connection", " close ,,"),
            ("x-foo", "1"),
        ];
        let options = connection_options(fields);
        assert_eq!(options, ["x-foo", "keep-alive", "close"]);
        for name in [
            "x-foo",
            "connection",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
            "te",
            "close",
        ] {
            assert!(is_hop_by_hop(name, &options), "{name}");
        }
        assert!(!is_hop_by_hop("x-bar", &options) && !is_hop_by_hop("cache-control", &[]));
    }

    fn ae(v: &str) -> Option<&'static str> {
        normalize_accept_encoding([v])
    }

    #[test]
    fn both_codings_accepted() {
        assert_eq!(ae("gzip, deflate, br"), Some("br,gzip"));
        assert_eq!(ae("BR;q=0.5, GZip"), Some("br,gzip"));
        assert_eq!(ae("br,gzip"), Some("br,gzip"));
    }

    #[test]
    fn one_coding_accepted() {
        assert_eq!(ae("gzip"), Some("gzip"));
        assert_eq!(ae("br"), Some("br"));
        assert_eq!(ae("gzip;q=0, br"), Some("br"));
        assert_eq!(ae("gzip, br;q=0.000"), Some("gzip"));
    }

    #[test]
    fn nothing_accepted_deletes() {
        assert_eq!(ae("identity"), None);
        assert_eq!(ae("deflate"), None);
        assert_eq!(ae(""), None);
        assert_eq!(ae("gzip;q=0, br;q=0"), None);
    }

    #[test]
    fn star_accepts_both_unless_listed() {
        assert_eq!(ae("*"), Some("br,gzip"));
        assert_eq!(ae("*;q=0.1, br;q=0"), Some("gzip"));
        assert_eq!(ae("*;q=0"), None);
    }

    #[test]
    fn malformed_qvalue_is_not_acceptable() {
        assert_eq!(ae("gzip;q=2, br;q=abc"), None);
        assert_eq!(ae("gzip;q=1.000"), Some("gzip"));
        assert_eq!(ae("gzip;q=1.5"), None);
        assert_eq!(ae("gzip;q"), None);
        assert_eq!(ae("gzip;q="), None);
        assert_eq!(ae("gzip;Q, br"), Some("br"));
        assert_eq!(ae("gzip;level=1"), Some("gzip"));
    }

    #[test]
    fn several_header_lines_are_one_list() {
        assert_eq!(normalize_accept_encoding(["gzip", "br"]), Some("br,gzip"));
    }

    #[test]
    fn cookies_keep_only_the_allow_list_sorted() {
        let allowed = vec!["theme".to_owned(), "lang".to_owned()];
        assert_eq!(
            filter_cookies(["session=s; theme=dark", "lang=en"], &allowed),
            Some("lang=en; theme=dark".into())
        );
        assert_eq!(filter_cookies(["session=s"], &allowed), None);
        assert_eq!(filter_cookies(["theme=dark"], &[]), None);
    }

    #[test]
    fn an_aws_signature_is_never_the_viewers_credential() {
        let sig = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261129/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=abc";
        assert!(is_aws_signature(sig));
        assert!(is_aws_signature("aws4-hmac-sha256 Credential=x"));
        assert!(!is_aws_signature("Bearer user-7"));
        assert!(!is_aws_signature("AWS4-HMAC-SHA256x"));
        assert_eq!(viewer_credential([("authorization", sig)]), None);
        assert_eq!(
            viewer_credential([("authorization", "Bearer user-7")]),
            Some("Bearer user-7")
        );
        assert_eq!(
            viewer_credential([("authorization", sig), (VIEWER_AUTHORIZATION, "Bearer user-8")]),
            Some("Bearer user-8")
        );
        assert_eq!(
            viewer_credential([("authorization", "Bearer a"), (VIEWER_AUTHORIZATION, "Bearer b")]),
            Some("Bearer b")
        );
        assert_eq!(viewer_credential([(VIEWER_AUTHORIZATION, "")]), Some(""));
        assert_eq!(viewer_credential([("host", "h")]), None);
    }

    #[test]
    fn unkeyed_headers_are_known() {
        assert!(is_unkeyed("x-forwarded-host"));
        assert!(is_unkeyed("forwarded"));
        assert!(!is_unkeyed("accept"));
    }
}
