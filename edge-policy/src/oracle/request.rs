//! viewer-request's promises (cache-key.md, lambda-edge-rules.md).

use super::{ensure, fields, is_aws_signature, Breach};
use crate::cloudfront::{self, Trigger, MAX_URL_BYTES};
use crate::headers::{UNKEYED_HEADERS, VIEWER_AUTHORIZATION};
use crate::query::is_tracking_parameter;
use crate::rules::RuleSet;
use crate::{canonical_request, normalize_path, viewer_request, HeaderEdit, RequestView, ViewerOutcome};

/// A viewer request the oracle owns, so a rewrite can be applied and run again on its output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRequest {
    /// The method.
    pub method: String,
    /// The `uri`.
    pub uri: String,
    /// The query string without `?`.
    pub querystring: String,
    /// Lower-case name and value, one pair per value, in order.
    pub headers: Vec<(String, String)>,
}

/// A header edit without borrows: `(name, Some(value))` sets, `(name, None)` removes.
pub type OwnedEdit = (String, Option<String>);

/// What one viewer-request pass did.
#[derive(Debug, Clone)]
pub struct ViewerPass {
    /// The request with the rewrite applied.
    pub after: OwnedRequest,
    /// The header edits.
    pub edits: Vec<OwnedEdit>,
    /// The URL was kept as received.
    pub url_kept: bool,
    /// The policy's bypass decision.
    pub bypass: bool,
}

/// The policy's edits, owned.
pub(super) fn owned_edits(edits: &[HeaderEdit<'_>]) -> Vec<OwnedEdit> {
    edits
        .iter()
        .map(|e| match e {
            HeaderEdit::Remove(name) => ((*name).to_owned(), None),
            HeaderEdit::Set { name, value, .. } => ((*name).to_owned(), Some(value.clone())),
        })
        .collect()
}

/// Applies edits as a Lambda@Edge header map does: `Remove` deletes every value; `Set` puts
/// one value where the first one was (or at the end) and deletes the others.
pub fn apply_edits(headers: &[(String, String)], edits: &[OwnedEdit]) -> Vec<(String, String)> {
    let mut out = headers.to_vec();
    for (name, value) in edits {
        match value {
            None => out.retain(|(n, _)| n != name),
            Some(value) => {
                let first = out.iter().position(|(n, _)| n == name);
                out.retain(|(n, _)| n != name);
                let at = first.unwrap_or(out.len()).min(out.len());
                out.insert(at, (name.clone(), value.clone()));
            }
        }
    }
    out
}

/// Runs viewer-request and applies its rewrite; `None` for a passthrough.
pub fn viewer_pass(rules: &RuleSet, request: &OwnedRequest) -> Option<ViewerPass> {
    let header_fields = fields(&request.headers);
    let view = RequestView {
        method: &request.method,
        uri: &request.uri,
        querystring: &request.querystring,
        headers: &header_fields,
    };
    match viewer_request(rules, &view) {
        ViewerOutcome::Passthrough(_) => None,
        ViewerOutcome::Rewrite(rewrite) => {
            let edits = owned_edits(&rewrite.headers);
            Some(ViewerPass {
                after: OwnedRequest {
                    method: request.method.clone(),
                    uri: rewrite.uri,
                    querystring: rewrite.querystring,
                    headers: apply_edits(&request.headers, &edits),
                },
                edits,
                url_kept: rewrite.url_kept,
                bypass: rewrite.bypass,
            })
        }
    }
}

const READ_ONLY: &[&str] = &["host", "content-length", "transfer-encoding", "via"];

/// Every property of viewer-request on one request: `GET`/`HEAD` are rewritten and every
/// other method passes through; the rewrite passes [`check_rewritten`]; a URL is kept only
/// when it cannot be rewritten (a `uri` not starting with `/`, or one so long that its
/// rewrite, at most three bytes per byte, may exceed 8,192 bytes); a second pass changes
/// nothing (`normalize(normalize(r)) == normalize(r)`).
pub fn check_viewer_request(rules: &RuleSet, request: &OwnedRequest) -> Result<(), Breach> {
    let normalized = matches!(request.method.as_str(), "GET" | "HEAD");
    let Some(first) = viewer_pass(rules, request) else {
        return ensure(!normalized, "GET and HEAD are normalized", || format!("{request:?}"));
    };
    ensure(normalized, "any other method passes through untouched", || {
        format!("{request:?}")
    })?;
    check_rewritten(rules, request, &first.after, first.url_kept)?;
    let may_overflow = 3 * (request.uri.len() + request.querystring.len()) + 1 > MAX_URL_BYTES;
    ensure(
        !first.url_kept || !request.uri.starts_with('/') || may_overflow,
        "a URL is kept only when it cannot be rewritten",
        || format!("{request:?}"),
    )?;
    ensure(
        first.bypass == is_bypass(rules, &first.after),
        "bypass is the route's or the viewer's credential",
        || format!("policy said {} for {:?}", first.bypass, first.after),
    )?;
    let second = viewer_pass(rules, &first.after).ok_or_else(|| Breach {
        property: "the rewritten request is rewritten",
        detail: format!("{:?}", first.after),
    })?;
    ensure(
        second.after == first.after && second.edits.is_empty() && second.url_kept == first.url_kept,
        "normalize(normalize(r)) == normalize(r)",
        || {
            format!(
                "first {:?}\nsecond {:?} edits {:?}",
                first.after, second.after, second.edits
            )
        },
    )
}

/// The route's kind or the viewer's credential (an `Authorization` that is not an AWS
/// signature), read from the request the origin gets.
fn is_bypass(rules: &RuleSet, after: &OwnedRequest) -> bool {
    rules.route_for(&normalize_path(&after.uri, true)).is_bypass()
        || after
            .headers
            .iter()
            .any(|(n, v)| n == "authorization" && !is_aws_signature(v))
}

/// What must hold of any request that leaves viewer-request (`before` → `after`), however
/// it was produced (the policy, the native event handler, the Wasm glue):
///
/// - CloudFront accepts it: the URL (unless kept as received), and no read-only header
///   changed, nothing disallowed added (lambda-edge-rules.md);
/// - a kept URL is the one received;
/// - no unkeyed header, no header holding a NUL (but the read-only ones), no tracking
///   parameter (unless the URL was kept), no cookie on a public route but the route's
///   allow-list, an `Accept-Encoding` only as CloudFront normalizes it;
/// - `X-Viewer-Authorization` is exactly the viewer's credential on bypass requests and
///   absent otherwise.
pub fn check_rewritten(
    rules: &RuleSet,
    before: &OwnedRequest,
    after: &OwnedRequest,
    url_kept: bool,
) -> Result<(), Breach> {
    if url_kept {
        ensure(
            after.uri == before.uri && after.querystring == before.querystring,
            "a kept URL is the one received",
            || format!("{before:?} -> {after:?}"),
        )?;
    } else {
        ensure(
            cloudfront::check_url(&after.uri, &after.querystring).is_ok(),
            "the rewritten URL is CloudFront-valid",
            || format!("{:?} ? {:?}", after.uri, after.querystring),
        )?;
        for item in after.querystring.split('&') {
            let name = item.split_once('=').map_or(item, |(name, _)| name);
            ensure(!is_tracking_parameter(name), "no tracking parameter survives", || {
                format!("{name:?} in {:?}", after.querystring)
            })?;
        }
    }
    let verdict = cloudfront::check_headers(
        Trigger::ViewerRequest,
        &fields(&before.headers),
        &fields(&after.headers),
    );
    ensure(verdict.is_ok(), "the rewritten headers are CloudFront-valid", || {
        format!("{verdict:?}")
    })?;
    for (name, value) in &after.headers {
        ensure(
            !UNKEYED_HEADERS.contains(&name.as_str()),
            "no unkeyed header reaches the origin",
            || name.clone(),
        )?;
        ensure(
            READ_ONLY.contains(&name.as_str()) || !(name.contains('\0') || value.contains('\0')),
            "a header holding a NUL is deleted",
            || format!("{name:?}: {value:?}"),
        )?;
    }
    for (name, value) in after.headers.iter().filter(|(n, _)| n == "accept-encoding") {
        ensure(
            matches!(value.as_str(), "br,gzip" | "br" | "gzip"),
            "Accept-Encoding is what CloudFront's compression-aware policy makes of it",
            || format!("{name}: {value:?}"),
        )?;
    }
    let route = rules.route_for(&normalize_path(&after.uri, true));
    let credential = after
        .headers
        .iter()
        .find(|(n, v)| n == "authorization" && !is_aws_signature(v))
        .map(|(_, v)| v.as_str());
    let bypass = route.is_bypass() || credential.is_some();
    if !bypass {
        for (_, value) in after.headers.iter().filter(|(n, _)| n == "cookie") {
            for pair in value.split(';') {
                let name = pair.split_once('=').map_or(pair, |(n, _)| n).trim();
                ensure(
                    route.cookies.iter().any(|c| c == name),
                    "no cookie but the allow-list reaches the origin on a public route",
                    || format!("{name:?} on route {:?}", route.name),
                )?;
            }
        }
    }
    let relayed: Vec<&str> = after
        .headers
        .iter()
        .filter(|(n, _)| n == VIEWER_AUTHORIZATION)
        .map(|(_, v)| v.as_str())
        .collect();
    let wanted: Vec<&str> = if bypass {
        credential.into_iter().collect()
    } else {
        Vec::new()
    };
    ensure(
        relayed == wanted,
        "X-Viewer-Authorization is the viewer's credential on bypass, absent otherwise",
        || format!("relayed {relayed:?}, credential {credential:?}, bypass {bypass}"),
    )
}

/// cache-key.md, "Bypass matching fails closed": what may follow a bypass pattern's literal
/// part (besides the end of the path).
pub const BYPASS_SEPARATORS: &[&str] = &["/", ";", ".", "%2F", "%3B", "%5C", "%2E", "%2f", "%3b", "%5c", "%2e"];

/// Every spelling the spec lists for a literal part, followed by `rest` after a separator:
/// the literal alone, then each separator, in four letter cases (as written, upper, lower,
/// alternating).
pub fn bypass_spellings(literal: &str, rest: &str) -> Vec<String> {
    let alternating = |s: &str| -> String {
        s.chars()
            .enumerate()
            .map(|(i, c)| {
                if i % 2 == 0 {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            })
            .collect()
    };
    let cases = [
        literal.to_owned(),
        literal.to_ascii_uppercase(),
        literal.to_ascii_lowercase(),
        alternating(literal),
    ];
    let mut out = Vec::new();
    for literal in cases {
        out.push(literal.clone());
        for separator in BYPASS_SEPARATORS {
            out.push(format!("{literal}{separator}{rest}"));
        }
    }
    out
}

/// Every spelling of every bypass pattern of `rules` ([`bypass_spellings`]) is private: to
/// the route matcher, to viewer-request, and to the origin's key.
pub fn check_bypass_spellings(rules: &RuleSet, rest: &str) -> Result<(), Breach> {
    for route in rules.routes().iter().filter(|r| r.is_bypass()) {
        for pattern in &route.patterns {
            for spelling in bypass_spellings(pattern.literal(), rest) {
                let path = normalize_path(&spelling, true);
                ensure(
                    rules.route_for(&path).is_bypass(),
                    "the bypass matcher covers every spelling of the spec's list",
                    || format!("{spelling:?} (normalized {path:?}) of route {:?}", route.name),
                )?;
                let view = RequestView {
                    method: "GET",
                    uri: &spelling,
                    querystring: "",
                    headers: &[],
                };
                let bypass = matches!(viewer_request(rules, &view), ViewerOutcome::Rewrite(r) if r.bypass);
                let keyed_private = canonical_request(rules, "h", &view).is_ok_and(|c| c.bypass);
                ensure(
                    bypass && keyed_private,
                    "a bypass spelling is private at the edge and at the origin",
                    || format!("{spelling:?}: viewer-request {bypass}, origin key {keyed_private}"),
                )?;
            }
        }
    }
    Ok(())
}
