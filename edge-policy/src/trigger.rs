//! The two CloudFront triggers over the policy's views: what `viewer-request` and
//! `origin-response` change. Both the Wasm handler and the native event handler
//! ([`crate::event`]) call these, so there is one implementation of every rule whatever
//! carries the event. The rules themselves live below: the request's in `request_headers`,
//! `path`, `query`; the response's in [`crate::cache_control`].

use crate::cache_control::{decide_response, Rule, TARGETED_FIELDS};
use crate::cloudfront::{self, MAX_URL_BYTES};
use crate::path::{normalize_path, normalize_path_traced};
use crate::query::normalize_query_traced;
use crate::request_headers::{header_rules, HeaderRules};
use crate::rules::{Route, RuleSet};
use crate::trace::{Note, Quiet, Trace, UrlKept};
use crate::view::{HeaderEdit, RequestView, ResponseView};

/// Why a request or response is left exactly as it came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passthrough {
    /// Only `GET` and `HEAD` are normalized.
    MethodNotNormalized,
    /// The `uri` does not start with `/`: no canonical request (and key) exists.
    /// [`viewer_request`] still applies the header rules to such a request and keeps its URL;
    /// [`crate::canonical_request`] answers this.
    UriNotAbsolute,
}

impl Passthrough {
    /// A stable label for logs.
    pub fn label(self) -> &'static str {
        match self {
            Passthrough::MethodNotNormalized => "method-not-normalized",
            Passthrough::UriNotAbsolute => "uri-not-absolute",
        }
    }
}

/// The canonical form of a request.
#[derive(Debug, Clone)]
pub struct RequestRewrite<'a, 'r> {
    /// The normalized path.
    pub uri: String,
    /// The normalized query string.
    pub querystring: String,
    /// Header changes, in a stable order.
    pub headers: Vec<HeaderEdit<'a>>,
    /// Private by rule or by the viewer's credential: cookies and `Authorization` pass, and
    /// `Authorization` is relayed in `X-Viewer-Authorization`.
    pub bypass: bool,
    /// The route that decided.
    pub route: &'r Route,
    /// The URL could not be rewritten (the `uri` does not start with `/`, or the rewrite
    /// would exceed 8,192 bytes), so `uri` and `querystring` are the received ones; the
    /// header rules still apply, so no unkeyed input reaches the origin.
    pub url_kept: bool,
}

/// What `viewer-request` does with a request.
#[derive(Debug, Clone)]
pub enum ViewerOutcome<'a, 'r> {
    /// The request in canonical form.
    Rewrite(RequestRewrite<'a, 'r>),
    /// The request goes on unchanged.
    Passthrough(Passthrough),
}

/// The request headers [`viewer_request`] reads: a caller may pass only these (the Wasm
/// boundary does, so a browser's long `user-agent` never crosses it).
///
/// A caller that passes only these must also pass every header whose name or a value holds a
/// NUL (or is not UTF-8, handed over as [`crate::headers::UNREADABLE_VALUE`]): viewer-request
/// deletes those, whatever their name.
pub fn viewer_request_reads() -> impl Iterator<Item = &'static str> {
    crate::headers::UNKEYED_HEADERS.iter().copied().chain([
        "accept-encoding",
        "cookie",
        "authorization",
        crate::headers::VIEWER_AUTHORIZATION,
    ])
}

/// The response headers [`origin_response`] reads (the targeted fields: `CDN-Cache-Control`
/// sets the edge's lifetime, and every one of them is removed from an answer the edge does
/// not share).
pub const ORIGIN_RESPONSE_READS: &[&str] = &[
    "cache-control",
    "set-cookie",
    "vary",
    "expires",
    "date",
    SURROGATE_KEY,
    "cdn-cache-control",
    "cloudflare-cdn-cache-control",
];

/// The origin's purge tags (purge.md, "Tags"): deleted on the way out (cache-control.md,
/// "Writing"), so tags never reach a viewer or CloudFront's cache.
pub const SURROGATE_KEY: &str = "surrogate-key";

/// The request headers [`origin_response`] reads.
pub const ORIGIN_RESPONSE_REQUEST_READS: &[&str] = &["authorization", crate::headers::VIEWER_AUTHORIZATION];

/// The viewer-request rewrite (cache-key.md): path, query and header rules.
///
/// `GET` and `HEAD` only; any other method passes through untouched. The header rules apply
/// to every `GET`/`HEAD` ([`crate::request_headers`]); the URL is kept as received when it
/// cannot be rewritten (a `uri` not starting with `/`, or a rewrite over 8,192 bytes), and
/// the route is still read from it, so no unkeyed header or cookie on a public route passes.
// Out of line: a stage, not inlined into its trigger (crate docs, "Stages stay out of line").
#[inline(never)]
pub fn viewer_request<'a, 'r>(rules: &'r RuleSet, request: &RequestView<'a>) -> ViewerOutcome<'a, 'r> {
    viewer_request_traced(rules, request, &mut Quiet)
}

/// [`viewer_request`], noting the path and query steps and a kept URL on `trace`
/// ([`crate::explain`]; the route, headers and bypass are read from the outcome).
pub(crate) fn viewer_request_traced<'a, 'r, T: Trace>(
    rules: &'r RuleSet,
    request: &RequestView<'a>,
    trace: &mut T,
) -> ViewerOutcome<'a, 'r> {
    if request.method != "GET" && request.method != "HEAD" {
        return ViewerOutcome::Passthrough(Passthrough::MethodNotNormalized);
    }
    let merged = normalize_path(request.uri, true);
    let route = rules.route_for(&merged);
    let HeaderRules { edits, bypass } = header_rules(route, request.headers);

    let rewritten = request.uri.starts_with('/').then(|| {
        let path = if route.merge_slashes && !T::ON {
            merged
        } else {
            // Traced: the path is normalized again with the route's setting, noting each step.
            normalize_path_traced(request.uri, route.merge_slashes, trace)
        };
        (path, normalize_query_traced(request.querystring, &route.query, trace))
    });
    let (uri, querystring, url_kept) = match rewritten {
        Some((path, query))
            if path.len() + if query.is_empty() { 0 } else { 1 + query.len() } <= MAX_URL_BYTES
                && cloudfront::check_url(&path, &query).is_ok() =>
        {
            (path, query, false)
        }
        rewritten => {
            trace.note(|| {
                Some(Note::UrlKept {
                    why: match rewritten {
                        None => UrlKept::NotAbsolute,
                        Some(_) => UrlKept::RefusedByCloudFront,
                    },
                })
            });
            (request.uri.to_owned(), request.querystring.to_owned(), true)
        }
    };
    ViewerOutcome::Rewrite(RequestRewrite {
        uri,
        querystring,
        headers: edits,
        bypass,
        route,
        url_kept,
    })
}

/// What `origin-response` does: the header edits and the rule that decided.
#[derive(Debug, Clone)]
pub struct ResponseRewrite<'a> {
    /// Header changes: `cache-control` set, maybe `set-cookie`, `surrogate-key` and the
    /// targeted fields (`cdn-cache-control`, …) removed.
    pub headers: Vec<HeaderEdit<'a>>,
    /// The one `Cache-Control` line the response leaves with.
    pub cache_control: String,
    /// The rule that decided (`None` for a method CloudFront does not cache).
    pub rule: Option<Rule>,
}

/// The origin-response rewrite (cache-control.md): exactly one `Cache-Control`.
///
/// Responses to methods other than `GET` and `HEAD` are never cached by CloudFront; they keep
/// the origin's directives (on one line), or get `no-store` where it sent none.
// Out of line: a stage, not inlined into its trigger (crate docs, "Stages stay out of line").
#[inline(never)]
pub fn origin_response<'a>(rules: &RuleSet, response: &ResponseView<'a>) -> ResponseRewrite<'a> {
    let route = (response.request_method == "GET" || response.request_method == "HEAD")
        .then(|| rules.route_for(&normalize_path(response.request_uri, true)));
    let decision = decide_response(
        route,
        response.status.trim().parse().ok(),
        response.headers,
        response.request_headers,
        response.now_ms,
    );
    let (rule, strip_set_cookie) = (decision.rule, decision.strip_set_cookie);
    let value = decision.header_value();
    // Always written, so the entry's `key` is `Cache-Control` whatever the origin sent.
    let mut edits = vec![HeaderEdit::Set {
        name: "cache-control",
        key: "Cache-Control",
        value: value.clone(),
    }];
    if strip_set_cookie {
        edits.push(HeaderEdit::Remove("set-cookie"));
    }
    if response.headers.iter().any(|(n, _)| *n == SURROGATE_KEY) {
        edits.push(HeaderEdit::Remove(SURROGATE_KEY));
    }
    for name in TARGETED_FIELDS {
        if decision.strips(name) && response.headers.iter().any(|(n, _)| n == name) {
            edits.push(HeaderEdit::Remove(name));
        }
    }
    ResponseRewrite {
        headers: edits,
        cache_control: value,
        rule,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Route;
    use crate::view::HeaderField;

    fn rewrite_of<'a>(headers: &'a [HeaderField<'a>]) -> (String, String, Vec<HeaderEdit<'a>>, bool) {
        let view = RequestView {
            method: "GET",
            uri: "/api//me",
            querystring: "b=1&a=2",
            headers,
        };
        match viewer_request(RuleSet::embedded(), &view) {
            ViewerOutcome::Rewrite(r) => (r.uri, r.querystring, r.headers, r.bypass),
            ViewerOutcome::Passthrough(p) => panic!("{p:?}"),
        }
    }

    #[test]
    fn passing_only_the_headers_read_changes_nothing() {
        let all = [
            ("host", "h"),
            ("user-agent", "ua"),
            ("x-forwarded-host", "evil"),
            ("accept-encoding", "gzip"),
            ("cookie", "a=1"),
            ("authorization", "Bearer user-1"),
            ("accept", "*/*"),
        ];
        let read: Vec<&str> = viewer_request_reads().collect();
        let filtered: Vec<HeaderField<'_>> = all.iter().copied().filter(|(n, _)| read.contains(n)).collect();
        assert_eq!(rewrite_of(&all), rewrite_of(&filtered));

        let response = [
            ("cache-control", "max-age=5"),
            ("set-cookie", "a=1"),
            ("vary", "accept"),
            ("etag", "x"),
        ];
        let request = [("authorization", "x"), ("host", "h")];
        let view = |headers, request_headers| ResponseView {
            status: "200",
            request_method: "GET",
            request_uri: "/api/products/1",
            request_headers,
            headers,
            now_ms: 0,
        };
        let kept: Vec<HeaderField<'_>> = response
            .iter()
            .copied()
            .filter(|(n, _)| ORIGIN_RESPONSE_READS.contains(n))
            .collect();
        let kept_request: Vec<HeaderField<'_>> = request
            .iter()
            .copied()
            .filter(|(n, _)| ORIGIN_RESPONSE_REQUEST_READS.contains(n))
            .collect();
        let full = origin_response(RuleSet::embedded(), &view(&response, &request));
        let part = origin_response(RuleSet::embedded(), &view(&kept, &kept_request));
        assert_eq!(full.headers, part.headers);
    }

    fn rewrite(rules: &RuleSet, uri: &str, headers: &[HeaderField<'_>]) -> (String, Vec<String>) {
        let view = RequestView {
            method: "GET",
            uri,
            querystring: "",
            headers,
        };
        match viewer_request(rules, &view) {
            ViewerOutcome::Rewrite(r) => (r.uri, r.headers.iter().map(|e| format!("{e:?}")).collect()),
            ViewerOutcome::Passthrough(p) => panic!("{p:?}"),
        }
    }

    #[test]
    fn merge_slashes_off_keeps_slash_runs() {
        let route = Route {
            merge_slashes: false,
            ..Route::public("raw", &["/*"])
        };
        let rules = RuleSet::new(vec![route]).unwrap();
        assert_eq!(rewrite(&rules, "//a//b", &[]).0, "//a//b");
    }

    #[test]
    fn allow_listed_cookies_are_kept_on_a_public_route() {
        let route = Route {
            cookies: vec!["theme".into()],
            ..Route::public("prefs", &["/*"])
        };
        let rules = RuleSet::new(vec![route]).unwrap();
        let (_, edits) = rewrite(&rules, "/", &[("cookie", "session=1; theme=dark")]);
        assert_eq!(edits, [r#"Set { name: "cookie", key: "Cookie", value: "theme=dark" }"#]);
    }

    #[test]
    fn a_rule_set_must_end_in_a_public_catch_all() {
        assert!(RuleSet::new(vec![Route::public("a", &["/a"])]).is_err());
        assert!(RuleSet::new(vec![Route::bypass("a", &["/*"])]).is_err());
    }
}
