//! The policy shows its work: beside its decision, the steps that produced it — the route
//! and pattern matched, each rewrite of the path and query (before → after), each header
//! deleted or rewritten and why, the bypass and what triggered it; for a response, the
//! `Cache-Control` rule that decided (numbered as in cache-control.md), the header written
//! and the lifetime it gives.
//!
//! Built only when asked: the triggers run the same stages with a quiet trace
//! ([`crate::trace::Quiet`]), so the deployed handler neither runs nor carries any of this.
//! The request's path and query steps come from the stages themselves; the route, headers
//! and bypass are read back from the decision they explain.

use std::fmt;

use crate::cache_control::{decide_response, FreshnessState, Lifetime, ResponseDecision, Rule, Stamp, TtlBounds};
use crate::headers::{is_aws_signature, is_unkeyed, VIEWER_AUTHORIZATION};
use crate::key::canonical_of_rewrite;
use crate::path::normalize_path;
use crate::request_headers::unreadable;
use crate::rules::{RouteChoice, RuleSet};
use crate::trace::{Dropped, Note, PathStep, UrlKept};
use crate::trigger::{viewer_request_traced, Passthrough, ViewerOutcome};
use crate::view::{HeaderEdit, RequestView, ResponseView};

/// Why a header was deleted or rewritten (cache-key.md, "Headers").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "events", derive(serde::Serialize), serde(rename_all = "kebab-case"))]
pub enum HeaderWhy {
    /// A value (or the name) holds a NUL or is not UTF-8: deleted whole.
    Unreadable,
    /// Origins build URLs or pick methods from it while caches don't key it.
    Unkeyed,
    /// Reduced to what CloudFront's compression-aware cache policy keys.
    AcceptEncoding,
    /// Public route: only the route's allow-listed cookies are kept (sorted by name).
    CookiesNotAllowed,
    /// Bypass: the viewer's `Authorization` relayed, because Origin Access Control
    /// overwrites `Authorization` on the way to the origin.
    CredentialRelayed,
    /// Not a bypass request: a viewer-sent relay is never the viewer's credential.
    ForgedRelay,
}

impl HeaderWhy {
    fn text(self) -> &'static str {
        match self {
            HeaderWhy::Unreadable => "unreadable (a NUL or not UTF-8): deleted whole",
            HeaderWhy::Unkeyed => "unkeyed: origins build URLs from it, caches don't key it",
            HeaderWhy::AcceptEncoding => "reduced to the codings the cache key holds",
            HeaderWhy::CookiesNotAllowed => "public route: only allow-listed cookies are kept",
            HeaderWhy::CredentialRelayed => "bypass: Authorization relayed (Origin Access Control overwrites it)",
            HeaderWhy::ForgedRelay => "not a bypass request: a viewer-sent relay is deleted",
        }
    }
}

/// One header edit and its reason.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "events", derive(serde::Serialize))]
pub struct HeaderNote {
    /// The lower-case name.
    pub name: String,
    /// The value written, or `None` when the header is deleted.
    pub value: Option<String>,
    /// Why.
    pub why: HeaderWhy,
}

/// Why a request is private.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "events",
    derive(serde::Serialize),
    serde(tag = "because", rename_all = "kebab-case")
)]
pub enum BypassWhy {
    /// The route is private by rule; `spelling` is the path (or its framework reading) the
    /// bypass pattern matched.
    Route {
        /// The pattern.
        pattern: String,
        /// What it matched.
        spelling: String,
    },
    /// The request carries the viewer's credential in this header.
    Credential {
        /// `authorization`.
        header: &'static str,
    },
}

/// The route a request took, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "events", derive(serde::Serialize))]
pub struct RouteNote {
    /// The route's name.
    pub name: String,
    /// `public` or `bypass`.
    pub kind: &'static str,
    /// The pattern that matched, as written.
    pub pattern: String,
    /// The path it was matched on (normalized, slashes merged).
    pub matched_path: String,
    /// Set when only the framework reading of the path matched a bypass route.
    pub framework_reading: Option<String>,
}

/// What viewer-request does with a request, step by step.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "events", derive(serde::Serialize))]
pub struct RequestExplanation {
    /// The method; only `GET` and `HEAD` are normalized.
    pub method: String,
    /// `None` for a method the policy leaves alone.
    pub route: Option<RouteNote>,
    /// The path and query steps, in order, and a kept URL.
    pub steps: Vec<Note>,
    /// Each header edit and why.
    pub headers: Vec<HeaderNote>,
    /// Why the request is private, if it is.
    pub bypass: Option<BypassWhy>,
    /// The rewritten path (the received one for a method left alone).
    pub uri: String,
    /// The rewritten query string.
    pub querystring: String,
    /// The canonical key (the origin's L1/L2 key) for the host given; `None` when the
    /// request has none (a method left alone, a `uri` not starting with `/`).
    pub key: Option<String>,
}

/// Explains what viewer-request does with `request`, arriving at `host` (the host the
/// canonical key starts from).
pub fn explain_viewer_request(rules: &RuleSet, host: &str, request: &RequestView<'_>) -> RequestExplanation {
    let mut steps = Vec::new();
    let outcome = viewer_request_traced(rules, request, &mut steps);
    let rewrite = match outcome {
        ViewerOutcome::Rewrite(rewrite) => rewrite,
        ViewerOutcome::Passthrough(Passthrough::MethodNotNormalized | Passthrough::UriNotAbsolute) => {
            return RequestExplanation {
                method: request.method.to_owned(),
                route: None,
                steps,
                headers: Vec::new(),
                bypass: None,
                uri: request.uri.to_owned(),
                querystring: request.querystring.to_owned(),
                key: None,
            }
        }
    };
    let matched_path = normalize_path(request.uri, true);
    let RouteChoice {
        route,
        pattern,
        framework_reading,
    } = rules.route_choice(&matched_path);
    let headers = rewrite.headers.iter().map(|edit| header_note(edit, request)).collect();
    let bypass = if route.is_bypass() {
        Some(BypassWhy::Route {
            pattern: pattern.clone(),
            spelling: framework_reading.clone().unwrap_or_else(|| matched_path.clone()),
        })
    } else {
        credential_header(request).map(|header| BypassWhy::Credential { header })
    };
    let route_note = RouteNote {
        name: route.name.clone(),
        kind: if route.is_bypass() { "bypass" } else { "public" },
        pattern,
        matched_path,
        framework_reading,
    };
    let url_kept = rewrite.url_kept;
    let (canonical, _) = canonical_of_rewrite(host, request, rewrite);
    RequestExplanation {
        method: request.method.to_owned(),
        route: Some(route_note),
        steps,
        headers,
        bypass,
        key: (!url_kept || request.uri.starts_with('/')).then(|| canonical.key.to_string()),
        uri: canonical.uri,
        querystring: canonical.querystring,
    }
}

/// The header that made a viewer request private: viewer-request reads only `Authorization`
/// that is not an AWS signature (a viewer-sent `X-Viewer-Authorization` is deleted, never a
/// credential at the edge; cache-key.md, "Which requests").
fn credential_header(request: &RequestView<'_>) -> Option<&'static str> {
    // An unreadable header is deleted whole before any rule reads it: no credential then.
    let deleted = |name: &str| request.headers.iter().any(|(n, v)| *n == name && unreadable(n, v));
    (!deleted("authorization")
        && request
            .headers
            .iter()
            .any(|(n, v)| *n == "authorization" && !is_aws_signature(v)))
    .then_some("authorization")
}

fn header_note(edit: &HeaderEdit<'_>, request: &RequestView<'_>) -> HeaderNote {
    let (name, value) = match edit {
        HeaderEdit::Remove(name) => (*name, None),
        HeaderEdit::Set { name, value, .. } => (*name, Some(value.clone())),
    };
    let why = if request.headers.iter().any(|(n, v)| *n == name && unreadable(n, v)) {
        HeaderWhy::Unreadable
    } else {
        match name {
            "accept-encoding" => HeaderWhy::AcceptEncoding,
            "cookie" => HeaderWhy::CookiesNotAllowed,
            VIEWER_AUTHORIZATION if value.is_some() => HeaderWhy::CredentialRelayed,
            VIEWER_AUTHORIZATION => HeaderWhy::ForgedRelay,
            name if is_unkeyed(name) => HeaderWhy::Unkeyed,
            _ => HeaderWhy::Unreadable,
        }
    };
    HeaderNote {
        name: name.to_owned(),
        value,
        why,
    }
}

/// A rule of cache-control.md, "Deciding", by its number.
pub fn rule_number(rule: Rule) -> u8 {
    match rule {
        Rule::BypassRoute => 0,
        Rule::OriginForbidsSharing => 1,
        Rule::SetCookie => 2,
        Rule::VaryOutsideKey => 3,
        Rule::Authorization => 4,
        Rule::StatusNotCacheable | Rule::NegativeAnswer => 6,
        Rule::RoutePolicy | Rule::CdnLifetime => 7,
        Rule::CdnForbidsSharing => 1,
    }
}

fn rule_text(rule: Rule) -> &'static str {
    match rule {
        Rule::BypassRoute => "a bypass route: never shared",
        Rule::OriginForbidsSharing => "the origin said private or no-store: passed through",
        Rule::SetCookie => "Set-Cookie on a route that keeps it: private",
        Rule::VaryOutsideKey => "Vary names a header outside the cache key: private",
        Rule::Authorization => "the viewer's credential without public or s-maxage: private",
        Rule::StatusNotCacheable => "a status that is not heuristically cacheable (or a 5xx)",
        Rule::NegativeAnswer => "a negative answer: a short edge lifetime, no stale window",
        Rule::RoutePolicy => "the route's policy filled in what the origin left out",
        Rule::CdnLifetime => "the route's policy, the edge's lifetime from CDN-Cache-Control (written as s-maxage)",
        Rule::CdnForbidsSharing => "CDN-Cache-Control names private or no-store: not shared by the edge",
    }
}

/// What origin-response does with a response, and what the written header gives a cache.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "events", derive(serde::Serialize))]
pub struct ResponseExplanation {
    /// The rule's number in cache-control.md (`None`: a method CloudFront does not cache).
    pub rule: Option<u8>,
    /// What the rule says.
    pub reason: &'static str,
    /// A `304` decided as a `200` of its route (rule 5).
    pub as_200: bool,
    /// The one `Cache-Control` written.
    pub cache_control: String,
    /// `Set-Cookie` removed (a `strip_set_cookie` route).
    pub strip_set_cookie: bool,
    /// How CloudFront's default cache policy keeps it (`None`: not stored).
    pub lifetime: Option<LifetimeNote>,
}

/// A lifetime in seconds, as a cache reads the written header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "events", derive(serde::Serialize))]
pub struct LifetimeNote {
    /// Fresh for.
    pub fresh: u64,
    /// Then served at once while revalidating, for.
    pub stale_while_revalidate: u64,
    /// Then served on an origin error, for (from when freshness ends).
    pub stale_if_error: u64,
    /// Concurrent misses collapse into one origin request.
    pub collapses: bool,
}

/// Explains what origin-response writes on `response`.
pub fn explain_origin_response(rules: &RuleSet, response: &ResponseView<'_>) -> ResponseExplanation {
    let route = (response.request_method == "GET" || response.request_method == "HEAD")
        .then(|| rules.route_for(&normalize_path(response.request_uri, true)));
    let status = response.status.trim().parse::<u16>().ok();
    let ResponseDecision {
        cache_control,
        rule,
        strip_set_cookie,
        ..
    } = decide_response(
        route,
        status,
        response.headers,
        response.request_headers,
        response.now_ms,
    );
    let lifetime = Lifetime::from_cache_control(&cache_control, TtlBounds::CLOUDFRONT)
        .filter(|l| Stamp::new(0, *l).state(0) != FreshnessState::Expired)
        .map(|l| LifetimeNote {
            fresh: l.ttl,
            stale_while_revalidate: l.stale_while_revalidate,
            stale_if_error: l.stale_if_error,
            collapses: l.collapses(),
        });
    ResponseExplanation {
        rule: rule.map(rule_number),
        reason: rule.map_or(
            "a method CloudFront does not cache: the origin's directives, or no-store",
            rule_text,
        ),
        as_200: status == Some(304) && rule.is_some(),
        cache_control: cache_control.to_header_value(),
        strip_set_cookie,
        lifetime,
    }
}

impl fmt::Display for RequestExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Some(route) = &self.route else {
            if self.method == "GET" || self.method == "HEAD" {
                return writeln!(f, "uri does not start with '/': kept as received, no key");
            }
            return writeln!(
                f,
                "method {}: only GET and HEAD are normalized; passed through",
                self.method
            );
        };
        match &route.framework_reading {
            None => writeln!(
                f,
                "route      {} ({}): pattern {} matched {}",
                route.name, route.kind, route.pattern, route.matched_path
            )?,
            Some(reading) => writeln!(
                f,
                "route      {} ({}): pattern {} matched {} as a framework reads it ({})",
                route.name, route.kind, route.pattern, reading, route.matched_path
            )?,
        }
        for step in &self.steps {
            writeln!(f, "{}", NoteText(step))?;
        }
        for header in &self.headers {
            match &header.value {
                Some(value) => writeln!(f, "header     {}: {} ({})", header.name, value, header.why.text())?,
                None => writeln!(f, "header     {} deleted ({})", header.name, header.why.text())?,
            }
        }
        match &self.bypass {
            Some(BypassWhy::Route { pattern, spelling }) => {
                writeln!(f, "bypass     private route: {pattern} covers {spelling}")?
            }
            Some(BypassWhy::Credential { header }) => writeln!(f, "bypass     the viewer's credential in {header}")?,
            None => writeln!(f, "shared     public route, no credential")?,
        }
        let query = if self.querystring.is_empty() {
            String::new()
        } else {
            format!("?{}", self.querystring)
        };
        writeln!(f, "request    {} {}{}", self.method, self.uri, query)?;
        if let Some(key) = &self.key {
            writeln!(f, "key        {key}")?;
        }
        Ok(())
    }
}

struct NoteText<'a>(&'a Note);

impl fmt::Display for NoteText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Note::Path { rule, before, after } => {
                let what = match rule {
                    PathStep::PercentEncoding => "percent-encoding normalized",
                    PathStep::MergeSlashes => "slashes merged",
                    PathStep::DotSegments => "dot-segments removed",
                };
                write!(f, "path       {what}: {before} -> {after}")
            }
            Note::QueryDropped { item, name, why } => {
                let what = match why {
                    Dropped::EmptyItem => "an empty item".to_owned(),
                    Dropped::EmptyName => "an empty name".to_owned(),
                    Dropped::Tracking => format!("tracking parameter {name}"),
                    Dropped::NotAllowed => format!("{name} is not on the route's allow-list"),
                    Dropped::RouteDropsQuery => "the route drops every parameter".to_owned(),
                };
                write!(f, "query      dropped {item:?}: {what}")
            }
            Note::QueryEncoded { before, after } => {
                write!(f, "query      percent-encoding normalized: {before} -> {after}")
            }
            Note::QuerySorted { before, after } => write!(f, "query      sorted by name: {before} -> {after}"),
            Note::UrlKept { why } => {
                let what = match why {
                    UrlKept::NotAbsolute => "the uri does not start with '/'",
                    UrlKept::RefusedByCloudFront => "the rewrite would exceed 8,192 bytes or be refused by CloudFront",
                };
                write!(f, "url        kept as received: {what}; the header rules still apply")
            }
        }
    }
}

impl fmt::Display for ResponseExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rule {
            Some(n) if self.as_200 => writeln!(f, "rule       5 then {n}: a 304 is decided as a 200; {}", self.reason)?,
            Some(n) => writeln!(f, "rule       {n}: {}", self.reason)?,
            None => writeln!(f, "rule       none: {}", self.reason)?,
        }
        writeln!(f, "written    Cache-Control: {}", self.cache_control)?;
        if self.strip_set_cookie {
            writeln!(f, "written    Set-Cookie removed (strip_set_cookie)")?;
        }
        match self.lifetime {
            Some(l) => writeln!(
                f,
                "lifetime   fresh {} s, then stale-while-revalidate {} s, stale-if-error {} s{}",
                l.fresh,
                l.stale_while_revalidate,
                l.stale_if_error,
                if l.collapses { "" } else { " (misses not collapsed)" }
            ),
            None => writeln!(f, "lifetime   not stored by a shared cache"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::viewer_request;
    use crate::view::HeaderField;

    fn request<'a>(uri: &'a str, qs: &'a str, headers: &'a [HeaderField<'a>]) -> RequestView<'a> {
        RequestView {
            method: "GET",
            uri,
            querystring: qs,
            headers,
        }
    }

    #[test]
    fn a_tracking_parameter_is_named_and_the_key_is_given() {
        let e = explain_viewer_request(
            RuleSet::embedded(),
            "d111.cloudfront.net",
            &request("/api/products/42", "utm_source=x&page=2", &[("cookie", "a=1")]),
        );
        assert_eq!(e.route.as_ref().unwrap().name, "products");
        assert!(e.steps.contains(&Note::QueryDropped {
            item: "utm_source=x".into(),
            name: "utm_source".into(),
            why: Dropped::Tracking
        }));
        assert_eq!(e.headers[0].why, HeaderWhy::CookiesNotAllowed);
        assert_eq!(e.key.as_deref(), Some("d111.cloudfront.net/api/products/42?page=2"));
        let text = e.to_string();
        assert!(text.contains("tracking parameter utm_source"), "{text}");
    }

    #[test]
    fn a_framework_reading_names_the_spelling_that_made_it_private() {
        let e = explain_viewer_request(RuleSet::embedded(), "h", &request("/static/..%2Fapi/me", "", &[]));
        assert_eq!(e.route.as_ref().unwrap().name, "private");
        assert_eq!(
            e.bypass,
            Some(BypassWhy::Route {
                pattern: "/api/me".into(),
                spelling: "/api/me".into()
            })
        );
    }

    #[test]
    fn path_steps_show_before_and_after() {
        let e = explain_viewer_request(RuleSet::embedded(), "h", &request("/a//b/%7e/../c", "", &[]));
        let rules: Vec<PathStep> = e
            .steps
            .iter()
            .filter_map(|s| match s {
                Note::Path { rule, .. } => Some(*rule),
                _ => None,
            })
            .collect();
        assert_eq!(
            rules,
            [PathStep::PercentEncoding, PathStep::MergeSlashes, PathStep::DotSegments]
        );
        assert_eq!(e.uri, "/a/b/c");
    }

    #[test]
    fn the_explained_request_is_what_viewer_request_returns() {
        let headers = [("authorization", "Bearer u"), ("x-forwarded-host", "evil")];
        let req = request("/api/products", "sort=price&category=books&fbclid=3", &headers);
        let e = explain_viewer_request(RuleSet::embedded(), "h", &req);
        let ViewerOutcome::Rewrite(r) = viewer_request(RuleSet::embedded(), &req) else {
            panic!()
        };
        assert_eq!(
            (e.uri.as_str(), e.querystring.as_str()),
            (r.uri.as_str(), r.querystring.as_str())
        );
        assert_eq!(
            e.bypass,
            Some(BypassWhy::Credential {
                header: "authorization"
            })
        );
        assert!(e.steps.iter().any(|s| matches!(s, Note::QuerySorted { .. })));
    }

    #[test]
    fn a_response_names_its_rule_and_lifetime() {
        let view = |status, headers| ResponseView {
            status,
            request_method: "GET",
            request_uri: "/api/products/1",
            request_headers: &[],
            headers,
            now_ms: 0,
        };
        let e = explain_origin_response(RuleSet::embedded(), &view("404", &[("cache-control", "")]));
        assert_eq!(
            (e.rule, e.cache_control.as_str()),
            (Some(6), "public, max-age=0, s-maxage=10")
        );
        assert_eq!(e.lifetime.map(|l| l.fresh), Some(10));
        let e = explain_origin_response(RuleSet::embedded(), &view("304", &[]));
        assert!(e.as_200 && e.rule == Some(7));
        let e = explain_origin_response(RuleSet::embedded(), &view("200", &[("cache-control", "private")]));
        assert_eq!((e.rule, e.lifetime), (Some(1), None));
        assert!(e.to_string().contains("rule       1: the origin said private"));
    }
}
