//! origin-response's promises (cache-control.md, lambda-edge-rules.md).

use super::{ensure, fields, is_aws_signature, Breach};
use crate::cache_control::CacheControl;
use crate::cloudfront::{self, Trigger};
use crate::headers::VIEWER_AUTHORIZATION;
use crate::oracle::request::{apply_edits, owned_edits, OwnedEdit};
use crate::rules::RuleSet;
use crate::{normalize_path, origin_response, ResponseView};

/// An origin response (and the request it answers) the oracle owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedResponse {
    /// The status as CloudFront gives it (a string).
    pub status: String,
    /// The request's method.
    pub request_method: String,
    /// The request's `uri`.
    pub request_uri: String,
    /// The request's headers.
    pub request_headers: Vec<(String, String)>,
    /// The response's headers.
    pub headers: Vec<(String, String)>,
    /// The clock, ms since the Unix epoch.
    pub now_ms: u64,
}

/// Runs origin-response: the one `Cache-Control` value and the edits.
pub fn response_pass(rules: &RuleSet, response: &OwnedResponse) -> (String, Vec<OwnedEdit>) {
    let request_fields = fields(&response.request_headers);
    let response_fields = fields(&response.headers);
    let view = ResponseView {
        status: &response.status,
        request_method: &response.request_method,
        request_uri: &response.request_uri,
        request_headers: &request_fields,
        headers: &response_fields,
        now_ms: response.now_ms,
    };
    let rewrite = origin_response(rules, &view);
    (rewrite.cache_control, owned_edits(&rewrite.headers))
}

/// RFC 9110 §5.6.2 `tchar`, decided here.
fn tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A byte range of a line: start, end.
type Span = (usize, usize);

/// The list elements of one field line as a recipient that follows RFC 9110 §5.6 reads
/// them: split on commas outside quoted strings (a `\` escapes the next byte inside one), an
/// unterminated quoted string running to the end of the line. Each element is its byte
/// range, blanks trimmed, with the range of its well-formed quoted argument when it is
/// exactly `token "=" quoted-string`.
fn elements(line: &[u8]) -> Vec<(Span, Option<Span>)> {
    let mut out = Vec::new();
    let (mut start, mut i) = (0, 0);
    let mut quoted: Vec<Span> = Vec::new();
    let mut close_element = |start: usize, end: usize, quoted: &mut Vec<Span>| {
        let (mut s, mut e) = (start, end);
        while s < e && matches!(line[s], b' ' | b'\t') {
            s += 1;
        }
        while e > s && matches!(line[e - 1], b' ' | b'\t') {
            e -= 1;
        }
        let argument = match quoted.as_slice() {
            [(qs, qe)]
                if *qe == e && *qs >= s + 2 && line[*qs - 1] == b'=' && line[s..*qs - 1].iter().all(|b| tchar(*b)) =>
            {
                Some((*qs, *qe))
            }
            _ => None,
        };
        quoted.clear();
        if e > s {
            out.push(((s, e), argument));
        }
    };
    while i < line.len() {
        match line[i] {
            b',' => {
                close_element(start, i, &mut quoted);
                start = i + 1;
                i += 1;
            }
            b'"' => {
                let mut j = i + 1;
                let mut closed = None;
                while j < line.len() {
                    match line[j] {
                        b'\\' => j += 2,
                        b'"' => {
                            closed = Some(j);
                            break;
                        }
                        _ => j += 1,
                    }
                }
                match closed {
                    Some(j) => {
                        quoted.push((i, j + 1));
                        i = j + 1;
                    }
                    // Unterminated: the rest of the line is one malformed element.
                    None => i = line.len(),
                }
            }
            _ => i += 1,
        }
    }
    close_element(start, line.len(), &mut quoted);
    out
}

/// Whether any line names `private` or `no-store` as a word (a run of ASCII letters, digits,
/// `-`, `_`, ASCII case-insensitive) outside a well-formed quoted string: cache-control.md's
/// "Malformed input fails closed", read as the issue states the property.
pub fn names_private_or_no_store<'a>(lines: impl IntoIterator<Item = &'a str>) -> bool {
    lines.into_iter().any(|line| {
        let mut visible = line.as_bytes().to_vec();
        for (_, argument) in elements(line.as_bytes()) {
            if let Some((s, e)) = argument {
                visible[s..e].fill(b' ');
            }
        }
        visible
            .split(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))
            .any(|w| w.eq_ignore_ascii_case(b"private") || w.eq_ignore_ascii_case(b"no-store"))
    })
}

/// Whether a `CDN-Cache-Control` line (a Structured Fields Dictionary, RFC 8941) names
/// `private` or `no-store` as a word outside a well-formed string (`"…"`, `\` escaping the
/// next byte), anywhere — a member, a token, a parameter — or holds a NUL: cache-control.md's
/// "a private/no-store word in it still keeps the answer out of the edge", read fail closed.
pub fn names_private_or_no_store_outside_strings(line: &str) -> bool {
    if line.contains('\0') {
        return true;
    }
    let bytes = line.as_bytes();
    let mut visible = bytes.to_vec();
    let mut i = 0;
    while let Some(open) = bytes[i..].iter().position(|b| *b == b'"').map(|p| p + i) {
        let mut j = open + 1;
        let mut close = None;
        while j < bytes.len() {
            if bytes[j] == b'\\' {
                j += 2;
            } else if bytes[j] == b'"' {
                close = Some(j);
                break;
            } else {
                j += 1;
            }
        }
        let Some(close) = close else { break };
        visible[open..=close].fill(b' ');
        i = close + 1;
    }
    visible
        .split(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))
        .any(|w| w.eq_ignore_ascii_case(b"private") || w.eq_ignore_ascii_case(b"no-store"))
}

/// Whether a written `Cache-Control` lets a shared cache (CloudFront, minimum TTL 0) keep the
/// response: it is shareable unless an element is exactly `private` or `no-store`.
pub fn is_shareable(cache_control: &str) -> bool {
    !elements(cache_control.as_bytes()).into_iter().any(|((s, e), _)| {
        let element = &cache_control.as_bytes()[s..e];
        element.eq_ignore_ascii_case(b"private") || element.eq_ignore_ascii_case(b"no-store")
    })
}

/// Every property of origin-response on one response:
///
/// - exactly one `Cache-Control` leaves, non-empty, without control bytes, and CloudFront
///   accepts the headers; running the trigger on its own output changes nothing;
/// - fail closed, for `GET`/`HEAD`: never shareable when a `Cache-Control` line names
///   `private`/`no-store` outside a well-formed quoted string or holds a NUL, on a bypass
///   route (which also never carries `public`, `s-maxage` or a stale window), for any 5xx,
///   for a `Set-Cookie` the route does not strip, or for a credentialed request whose
///   origin sent neither `public` nor an `s-maxage=` with digits;
/// - a `4xx` takes no `immutable` and no stale window from the route (cache-control.md
///   rule 6): what it carries of them the origin sent;
/// - a `304` is written as a `200` of the same request would be;
/// - `CDN-Cache-Control` never makes an answer shareable that is not without it, and one that
///   names `private`/`no-store` outside a string (or holds a NUL) is never shared.
pub fn check_origin_response(rules: &RuleSet, response: &OwnedResponse) -> Result<(), Breach> {
    let (written, edits) = response_pass(rules, response);
    let headers = apply_edits(&response.headers, &edits);
    let lines: Vec<&str> = headers
        .iter()
        .filter(|(n, _)| n == "cache-control")
        .map(|(_, v)| v.as_str())
        .collect();
    ensure(
        lines == [written.as_str()],
        "exactly one Cache-Control leaves the edge",
        || format!("{lines:?}"),
    )?;
    ensure(
        // RFC 9110 §5.5: field-content is VCHAR, obs-text, SP and HTAB.
        !written.is_empty() && !written.bytes().any(|b| (b < b' ' && b != b'\t') || b == 0x7f),
        "the written Cache-Control is a valid field value",
        || format!("{written:?}"),
    )?;
    let verdict = cloudfront::check_headers(Trigger::OriginResponse, &fields(&response.headers), &fields(&headers));
    ensure(verdict.is_ok(), "origin-response output is CloudFront-valid", || {
        format!("{verdict:?}")
    })?;
    let again = OwnedResponse {
        headers: headers.clone(),
        ..response.clone()
    };
    let (second, second_edits) = response_pass(rules, &again);
    ensure(
        second == written && second_edits == [("cache-control".to_owned(), Some(written.clone()))],
        "running origin-response on its own output changes nothing",
        || format!("{written:?} then {second:?}, edits {second_edits:?}"),
    )?;

    if !matches!(response.request_method.as_str(), "GET" | "HEAD") {
        return Ok(());
    }
    let origin_lines = response
        .headers
        .iter()
        .filter(|(n, _)| n == "cache-control")
        .map(|(_, v)| v.as_str());
    let route = rules.route_for(&normalize_path(&response.request_uri, true));
    let status: Option<u16> = response.status.trim().parse().ok();
    let credential = response
        .request_headers
        .iter()
        .any(|(n, v)| n == VIEWER_AUTHORIZATION || (n == "authorization" && !is_aws_signature(v)));
    let explicit = origin_lines.clone().any(|line| {
        let line = line.to_ascii_lowercase();
        line.contains("public")
            || line.match_indices("s-maxage=").any(|(at, m)| {
                line[at + m.len()..]
                    .trim_start_matches('"')
                    .starts_with(|c: char| c.is_ascii_digit())
            })
    });
    let set_cookie = response.headers.iter().any(|(n, _)| n == "set-cookie");
    for (holds, reason) in [
        (
            names_private_or_no_store(origin_lines.clone()),
            "the origin names private or no-store",
        ),
        (
            origin_lines.clone().any(|l| l.contains('\0')),
            "an unreadable Cache-Control",
        ),
        (route.is_bypass(), "a bypass route"),
        (status.is_some_and(|s| (500..=599).contains(&s)), "a 5xx"),
        (set_cookie && !route.strip_set_cookie, "a Set-Cookie the route keeps"),
        (
            credential && !explicit,
            "the viewer's credential without public or s-maxage",
        ),
    ] {
        ensure(!holds || !is_shareable(&written), "never shareable", || {
            format!("{reason}: wrote {written:?} for {response:?}")
        })?;
    }
    if route.is_bypass() {
        let lowered = written.to_ascii_lowercase();
        ensure(
            ["public", "s-maxage", "stale-while-revalidate", "stale-if-error"]
                .iter()
                .all(|d| !lowered.split(", ").any(|e| e.split('=').next() == Some(d))),
            "a bypass response carries no sharing directive",
            || format!("{written:?}"),
        )?;
    }
    // cache-control.md rule 6: a 4xx never takes `immutable` or a stale window from the
    // route (negative answers get a short lifetime; other 4xx keep the origin's header).
    if status.is_some_and(|s| (400..=499).contains(&s)) {
        let origin = CacheControl::parse(origin_lines.clone());
        let out = CacheControl::parse([written.as_str()]);
        ensure(
            (!out.immutable || origin.immutable)
                && (out.stale_while_revalidate.is_none()
                    || out.stale_while_revalidate == origin.stale_while_revalidate)
                && (out.stale_if_error.is_none() || out.stale_if_error == origin.stale_if_error),
            "a 4xx takes no immutable or stale window from the route",
            || format!("wrote {written:?} for {response:?}"),
        )?;
    }
    let cdn_lines: Vec<&str> = response
        .headers
        .iter()
        .filter(|(n, _)| n == "cdn-cache-control")
        .map(|(_, v)| v.as_str())
        .collect();
    if !cdn_lines.is_empty() {
        ensure(
            !cdn_lines.iter().any(|l| names_private_or_no_store_outside_strings(l)) || !is_shareable(&written),
            "never shareable",
            || format!("CDN-Cache-Control names private or no-store: wrote {written:?} for {response:?}"),
        )?;
        let without = OwnedResponse {
            headers: response
                .headers
                .iter()
                .filter(|(n, _)| n != "cdn-cache-control")
                .cloned()
                .collect(),
            ..response.clone()
        };
        let (written_without, _) = response_pass(rules, &without);
        ensure(
            !is_shareable(&written) || is_shareable(&written_without),
            "CDN-Cache-Control makes the edge stricter, never looser",
            || format!("wrote {written:?}, without it {written_without:?}, for {response:?}"),
        )?;
    }
    if status == Some(304) {
        let as_200 = OwnedResponse {
            status: "200".into(),
            ..response.clone()
        };
        let (written_200, _) = response_pass(rules, &as_200);
        ensure(written == written_200, "a 304 is decided as a 200 of its route", || {
            format!("304 wrote {written:?}, 200 writes {written_200:?}")
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oracle_reads_words_outside_well_formed_quoted_strings() {
        for line in [
            "private; max-age=0",
            "no-cache no-store",
            "no-store=",
            "community=\"x, private",
            "x=\"a\"private",
            "x = \"private\"",
            "x=private",
        ] {
            assert!(names_private_or_no_store([line]), "{line}");
        }
        for line in [
            "x=\"private\"",
            "no-cache=\"no-store, private\"",
            "x-private",
            "privately",
            "public",
        ] {
            assert!(!names_private_or_no_store([line]), "{line}");
        }
    }

    #[test]
    fn a_cdn_line_names_its_words_outside_strings() {
        for line in [
            "no-store",
            "max-age=5;private",
            "x=(a private)",
            "x=\"unterminated private",
            "a\0",
        ] {
            assert!(names_private_or_no_store_outside_strings(line), "{line}");
        }
        for line in ["x=\"private\"", "max-age=5", "x-private", "x=\"a\\\"private\""] {
            assert!(!names_private_or_no_store_outside_strings(line), "{line}");
        }
    }

    #[test]
    fn shareable_means_no_private_or_no_store_element() {
        assert!(is_shareable("public, max-age=60"));
        assert!(is_shareable("x=\"a, private\""));
        assert!(!is_shareable("private, no-store"));
        assert!(!is_shareable("public, no-store, s-maxage=600"));
    }
}
