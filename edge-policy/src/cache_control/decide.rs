//! Deciding the one `Cache-Control` a response leaves the edge with (cache-control.md,
//! "Deciding": the first rule that applies wins), from the facts [`super::facts`] reads.
//! [`decide_response`] is the whole step for a host: CloudFront's origin-response trigger,
//! the origin and the Worker call it.

use super::cdn::{self, CdnLines, CLOUDFRONT_TARGETS, TARGETED_FIELDS};
use super::facts::ResponseFacts;
use super::CacheControl;
use crate::rules::Route;
use crate::view::HeaderField;

/// Status codes that are heuristically cacheable (RFC 9110 §15.1: "200, 203, 204, 206,
/// 300, 301, 308, 404, 405, 410, 414, and 501"), less 206: CloudFront caches ranges itself.
const HEURISTICALLY_CACHEABLE: &[u16] = &[200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

/// Negative answers (cache-control.md rule 6): "not found" and its kin. The route's
/// freshness never applies to them; a short edge lifetime does.
pub const NEGATIVE: &[u16] = &[404, 405, 410, 414];

/// Which rule decided (for logs and tests; "not shared" is a decision, not an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Rule 0: the route is private by rule.
    BypassRoute,
    /// Rule 1: the origin said `no-store` or `private`.
    OriginForbidsSharing,
    /// Rule 2: `Set-Cookie` on a route that doesn't strip it.
    SetCookie,
    /// Rule 3: `Vary: *` or a `Vary` header outside the cache key.
    VaryOutsideKey,
    /// Rule 4: the request carried the viewer's credential and the origin didn't say
    /// `public` or a valid `s-maxage`.
    Authorization,
    /// Rule 6: a status that is not heuristically cacheable, or any 5xx.
    StatusNotCacheable,
    /// Rule 6: a negative answer (404, 405, 410, 414): the origin's header, or a short edge
    /// lifetime with no `immutable` and no stale window.
    NegativeAnswer,
    /// Rule 7: the route policy filled in what the origin left out (also a `304`, rule 5).
    RoutePolicy,
    /// Rule 7 with `CDN-Cache-Control` (RFC 9213): its directives set the edge's lifetime
    /// where the origin's freshness directives would (cache-control.md, "Reading").
    CdnLifetime,
    /// `CDN-Cache-Control` says `private` or `no-store` (or names either word, even
    /// unparsable): not shared by the edge, as under rule 1.
    CdnForbidsSharing,
}

/// The outcome: the directives to write, the rule that chose them, and whether the
/// `Set-Cookie` headers are to be removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The directives to write as the one `Cache-Control` line.
    pub cache_control: CacheControl,
    /// The rule that decided.
    pub rule: Rule,
    /// Remove every `Set-Cookie` (rule 2 on a `strip_set_cookie` route).
    pub strip_set_cookie: bool,
    /// When `CDN-Cache-Control` set the edge's lifetime: the viewer's line and the edge's,
    /// for an edge that keeps them apart (the Worker). `cache_control` is CloudFront's one
    /// line, the edge's lifetime written as `s-maxage`.
    pub cdn: Option<CdnLines>,
}

/// Whether every header a `Vary` names is part of this route's cache key.
fn vary_within_key(vary: &[&str], route: &Route) -> bool {
    vary.iter()
        .flat_map(|line| line.split(','))
        .map(|name| name.trim_matches([' ', '\t']))
        .filter(|t| !t.is_empty())
        .all(|name| {
            name.eq_ignore_ascii_case("accept-encoding")
                || (name.eq_ignore_ascii_case("cookie") && !route.cookies.is_empty())
                || route.key_headers.iter().any(|h| h.eq_ignore_ascii_case(name))
        })
}

/// Applies cache-control.md's rules 0–7 in order; every one fails closed.
// Out of line: a stage, not inlined into its trigger (crate docs, "Stages stay out of line").
#[inline(never)]
pub fn decide(facts: &ResponseFacts<'_>, route: &Route) -> Decision {
    let origin = &facts.cache_control;
    let decided = |cache_control: CacheControl, rule: Rule| Decision {
        cache_control,
        rule,
        strip_set_cookie: false,
        cdn: None,
    };

    // 0. Bypass routes: never shared, whatever sharing directive the origin added. An
    //    unknown directive with a quoted or comma-holding argument is dropped (reading):
    //    a reader splitting on commas must never find a sharing directive in it.
    if route.is_bypass() {
        let cc = if origin.forbids_sharing() {
            origin.clone().without_sharing().without_quoted_extensions()
        } else {
            CacheControl::private_no_store()
        };
        return decided(cc, Rule::BypassRoute);
    }
    // 1. The origin forbids sharing: pass through, never add sharing directives (nor keep a
    //    quoted unknown directive, as in rule 0).
    if origin.forbids_sharing() {
        return decided(origin.clone().without_quoted_extensions(), Rule::OriginForbidsSharing);
    }
    // 2. Set-Cookie: a shared copy would hand one viewer's cookie to the next.
    let strip_set_cookie = facts.has_set_cookie && route.strip_set_cookie;
    if facts.has_set_cookie && !strip_set_cookie {
        return decided(CacheControl::private_no_store(), Rule::SetCookie);
    }
    let decided = |cache_control: CacheControl, rule: Rule| Decision {
        strip_set_cookie,
        ..decided(cache_control, rule)
    };
    // 3. Vary outside the key: CloudFront keys only what its cache policy names.
    if !vary_within_key(&facts.vary, route) {
        return decided(CacheControl::private_no_store(), Rule::VaryOutsideKey);
    }
    // 4. RFC 9111 §3.5: "A shared cache MUST NOT use a cached response to a request with an
    //    Authorization header field ... unless ... the response contains a Cache-Control
    //    field with a response directive ... that allows it to be stored by a shared cache".
    //    Only `public` or a valid `s-maxage` allows it here.
    if facts.request_had_authorization && !origin.explicitly_shared() {
        return decided(CacheControl::private_no_store(), Rule::Authorization);
    }
    // 5. RFC 9111 §4.3.4: a 304 "updates the stored response"; it is decided as a 200 of the
    //    same request, so a revalidation never strips the stored object's edge TTL.
    let status = facts.status.map(|s| if s == 304 { 200 } else { s });
    // 6. Not heuristically cacheable: no edge TTL, so stale-if-error keeps the last good
    //    copy. A 5xx is `no-store` whatever the origin sent.
    if status.is_some_and(|s| (500..=599).contains(&s)) {
        return decided(CacheControl::no_store(), Rule::StatusNotCacheable);
    }
    // After rules 0–5, `CDN-Cache-Control` may keep the answer out of the edge, and under
    // rule 7 set its lifetime (cdn.rs).
    let targeted = |cache_control: CacheControl, rule: Rule| {
        let by_route_policy = rule == Rule::RoutePolicy;
        match cdn::apply(cache_control, by_route_policy, &facts.cdn, &facts.cache_control, route) {
            (cc, true, _) => decided(cc, Rule::CdnForbidsSharing),
            (cc, false, Some(lines)) => Decision {
                cdn: Some(lines),
                ..decided(cc, Rule::CdnLifetime)
            },
            (cc, false, None) => decided(cc, rule),
        }
    };
    if !status.is_some_and(|s| HEURISTICALLY_CACHEABLE.contains(&s)) {
        let cc = if origin.is_empty() {
            CacheControl::no_store()
        } else {
            origin.clone()
        };
        return targeted(cc, Rule::StatusNotCacheable);
    }
    //    Negative answers: never the route's freshness. A "not found" that lived a year (with
    //    `immutable`, or served stale) would hide the thing once it exists.
    if status.is_some_and(|s| NEGATIVE.contains(&s)) {
        let cc = if origin.is_empty() {
            CacheControl::negative(route.freshness.negative_secs())
        } else {
            origin.clone()
        };
        return targeted(cc, Rule::NegativeAnswer);
    }
    // 7. The route fills in what the origin left out (or replaces it with `override`).
    let policy = &route.freshness;
    let mut cc = origin.clone();
    cc.public = true;
    let fill = |origin_value: Option<u64>, route_value: Option<u32>| match route_value {
        Some(v) if policy.override_origin || origin_value.is_none() => Some(u64::from(v)),
        _ => origin_value,
    };
    cc.max_age = fill(cc.max_age, policy.max_age);
    let s_maxage = fill(cc.s_maxage, policy.s_maxage);
    cc.s_maxage_malformed &= s_maxage == cc.s_maxage;
    cc.s_maxage = s_maxage;
    // RFC 9111 §4.2.4: "A cache MUST NOT generate a stale response if it is prohibited by an
    // explicit in-protocol directive (e.g., by a no-cache response directive, a
    // must-revalidate response directive, or an applicable s-maxage or proxy-revalidate
    // response directive...)". The route adds no stale window over them (nor over a
    // `CDN-Cache-Control` saying `no-cache` or `must-revalidate`); windows the origin sent
    // itself pass as sent, even with `override`.
    if !(origin.must_revalidate || origin.proxy_revalidate || origin.no_cache || facts.cdn.revalidates()) {
        cc.stale_while_revalidate = fill(cc.stale_while_revalidate, policy.stale_while_revalidate);
        cc.stale_if_error = fill(cc.stale_if_error, policy.stale_if_error);
    }
    cc.immutable |= policy.immutable;
    targeted(cc, Rule::RoutePolicy)
}

/// The directives of a response to a method other than `GET`/`HEAD`, which no cache of the
/// project stores: the origin's, on one line, or `no-store` where it sent none.
fn unnormalized_method_cache_control(origin: CacheControl) -> CacheControl {
    if origin.is_empty() {
        CacheControl::no_store()
    } else {
        origin
    }
}

/// The one `Cache-Control` a response leaves with, on CloudFront (origin-response) and on
/// the Worker alike.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseDecision {
    /// The directives.
    pub cache_control: CacheControl,
    /// The rule that decided (`None` for a method the policy doesn't normalize).
    pub rule: Option<Rule>,
    /// Remove every `Set-Cookie` before the response goes on (a `strip_set_cookie` route).
    pub strip_set_cookie: bool,
    /// When `CDN-Cache-Control` set the edge's lifetime, the lines an edge that keeps it to
    /// itself uses ([`ResponseDecision::viewer_cache_control`],
    /// [`ResponseDecision::edge_cache_control`]).
    pub cdn: Option<CdnLines>,
    /// Remove every targeted field ([`TARGETED_FIELDS`]) before the response goes on: the
    /// answer is not shared (no downstream CDN may read a looser instruction than ours), or
    /// the route sets `strip_cdn_cache_control`.
    pub strip_targeted: bool,
}

impl ResponseDecision {
    /// The one header line (CloudFront's: the edge's lifetime in `s-maxage`).
    pub fn header_value(&self) -> String {
        self.cache_control.to_header_value()
    }

    /// What a viewer gets from an edge that keeps the `CDN-Cache-Control` lifetime to itself.
    pub fn viewer_cache_control(&self) -> &CacheControl {
        self.cdn.as_ref().map_or(&self.cache_control, |lines| &lines.viewer)
    }

    /// What such an edge reads its own lifetime from.
    pub fn edge_cache_control(&self) -> &CacheControl {
        self.cdn.as_ref().map_or(&self.cache_control, |lines| &lines.edge)
    }

    /// Whether a header (lower-case name) is one of the targeted fields this decision removes.
    pub fn strips(&self, name: &str) -> bool {
        self.strip_targeted && TARGETED_FIELDS.contains(&name)
    }
}

/// Decides a response from the origin (cache-control.md) for the route of a `GET`/`HEAD`
/// request (`None` for any other method, which no cache of the project stores: the origin's
/// directives on one line, or `no-store` where it sent none). A `304` is decided as a `200`
/// of the same request (rule 5, in [`decide`]). `now_ms` stands in for a missing `Date`.
/// CloudFront's target list: `CDN-Cache-Control`.
pub fn decide_response(
    route: Option<&Route>,
    status: Option<u16>,
    response_headers: &[HeaderField<'_>],
    request_headers: &[HeaderField<'_>],
    now_ms: u64,
) -> ResponseDecision {
    decide_response_targeted(
        route,
        status,
        response_headers,
        request_headers,
        now_ms,
        CLOUDFRONT_TARGETS,
    )
}

/// [`decide_response`] with the edge's own target list of targeted fields (RFC 9213 §2.2).
// Out of line: a stage, not inlined into its trigger (crate docs, "Stages stay out of line").
#[inline(never)]
pub fn decide_response_targeted(
    route: Option<&Route>,
    status: Option<u16>,
    response_headers: &[HeaderField<'_>],
    request_headers: &[HeaderField<'_>],
    now_ms: u64,
    targets: &[&str],
) -> ResponseDecision {
    let facts = ResponseFacts::read_targeted(status, response_headers, request_headers, now_ms, targets);
    let Some(route) = route else {
        let cache_control = unnormalized_method_cache_control(facts.cache_control);
        return ResponseDecision {
            strip_targeted: cache_control.forbids_sharing(),
            cache_control,
            rule: None,
            strip_set_cookie: false,
            cdn: None,
        };
    };
    let decision = decide(&facts, route);
    ResponseDecision {
        strip_targeted: route.strip_cdn_cache_control || decision.cache_control.forbids_sharing(),
        cache_control: decision.cache_control,
        rule: Some(decision.rule),
        strip_set_cookie: decision.strip_set_cookie,
        cdn: decision.cdn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Freshness, Route};

    fn facts(lines: &[&'static str]) -> ResponseFacts<'static> {
        ResponseFacts {
            status: Some(200),
            cache_control: CacheControl::parse(lines.iter().copied()),
            ..Default::default()
        }
    }

    fn route_with(freshness: Freshness) -> Route {
        Route {
            freshness,
            ..Route::public("r", &["/*"])
        }
    }

    #[test]
    fn override_replaces_the_origins_freshness() {
        let route = route_with(Freshness {
            max_age: Some(5),
            s_maxage: Some(50),
            override_origin: true,
            ..Default::default()
        });
        let d = decide(&facts(&["max-age=1000, s-maxage=2000, stale-if-error=7"]), &route);
        assert_eq!(
            d.cache_control.to_header_value(),
            "public, max-age=5, s-maxage=50, stale-if-error=7"
        );
        assert_eq!(d.rule, Rule::RoutePolicy);
    }

    #[test]
    fn without_override_the_origin_wins() {
        let route = route_with(Freshness {
            max_age: Some(5),
            s_maxage: Some(50),
            ..Default::default()
        });
        let d = decide(&facts(&["max-age=1000"]), &route);
        assert_eq!(d.cache_control.to_header_value(), "public, max-age=1000, s-maxage=50");
    }

    #[test]
    fn vary_on_keyed_headers_and_kept_cookies_is_within_the_key() {
        let mut route = route_with(Freshness {
            s_maxage: Some(50),
            ..Default::default()
        });
        route.cookies = vec!["theme".into()];
        route.key_headers = vec!["accept-language".into()];
        let mut f = facts(&[]);
        f.vary = vec!["Accept-Language, Cookie", "accept-encoding"];
        assert_eq!(decide(&f, &route).rule, Rule::RoutePolicy);
        f.vary = vec!["Cookie"];
        assert_eq!(decide(&f, &route_with(Freshness::default())).rule, Rule::VaryOutsideKey);
    }

    #[test]
    fn strip_set_cookie_goes_on_to_later_rules() {
        let route = Route {
            strip_set_cookie: true,
            ..route_with(Freshness::default())
        };
        let mut f = facts(&[]);
        f.has_set_cookie = true;
        f.status = Some(500);
        let d = decide(&f, &route);
        assert_eq!((d.rule, d.strip_set_cookie), (Rule::StatusNotCacheable, true));
        assert_eq!(d.cache_control.to_header_value(), "no-store");
    }

    #[test]
    fn an_unparseable_status_is_not_cacheable() {
        let mut f = facts(&[]);
        f.status = None;
        assert_eq!(
            decide(&f, &route_with(Freshness::default())).rule,
            Rule::StatusNotCacheable
        );
    }

    fn written(status: u16, response: &[HeaderField<'_>], request: &[HeaderField<'_>], route: &Route) -> String {
        let f = ResponseFacts::read(Some(status), response, request, NOW_MS);
        decide(&f, route).cache_control.to_header_value()
    }

    /// 2026-11-29T12:00:00Z.
    const NOW_MS: u64 = 1_795_953_600_000;

    fn default_route() -> Route {
        route_with(Freshness {
            max_age: Some(0),
            s_maxage: Some(60),
            stale_while_revalidate: Some(300),
            ..Default::default()
        })
    }

    #[test]
    fn bypass_routes_strip_every_sharing_directive_the_origin_added() {
        let private = Route::bypass("p", &["/p"]);
        let cc = [(
            "cache-control",
            "no-store, public, s-maxage=600, stale-while-revalidate=5, stale-if-error=9",
        )];
        assert_eq!(written(200, &cc, &[], &private), "no-store");
        let cc = [("cache-control", "private, max-age=30, s-maxage=600")];
        assert_eq!(written(200, &cc, &[], &private), "private, max-age=30");
        assert_eq!(
            written(200, &[("cache-control", "public, s-maxage=600")], &[], &private),
            "private, no-store"
        );
    }

    #[test]
    fn only_a_valid_s_maxage_lets_a_credentialed_request_be_shared() {
        let auth = [("authorization", "Bearer user-7")];
        for cc in ["s-maxage=abc", "s-maxage", "s-maxage=", "max-age=60"] {
            assert_eq!(
                written(200, &[("cache-control", cc)], &auth, &default_route()),
                "private, no-store",
                "{cc}"
            );
        }
        assert_eq!(
            written(200, &[("cache-control", "s-maxage=30")], &auth, &default_route()),
            "public, max-age=0, s-maxage=30, stale-while-revalidate=300"
        );
        // An AWS signature is CloudFront's, not the viewer's.
        let signed = [("authorization", "AWS4-HMAC-SHA256 Credential=x, Signature=y")];
        assert_eq!(
            written(200, &[], &signed, &default_route()),
            "public, max-age=0, s-maxage=60, stale-while-revalidate=300"
        );
    }

    #[test]
    fn a_304_is_decided_as_a_200_of_its_route() {
        assert_eq!(
            written(304, &[], &[], &default_route()),
            "public, max-age=0, s-maxage=60, stale-while-revalidate=300"
        );
        assert_eq!(
            written(304, &[], &[("authorization", "Bearer a")], &default_route()),
            "private, no-store"
        );
    }

    #[test]
    fn every_5xx_is_no_store_whatever_the_origin_sent() {
        for status in [500, 501, 502, 503, 504, 599] {
            let cc = [("cache-control", "public, max-age=600, s-maxage=600")];
            assert_eq!(written(status, &cc, &[], &default_route()), "no-store", "{status}");
        }
        // 4xx and 3xx outside the list keep the origin's directives.
        assert_eq!(
            written(302, &[("cache-control", "max-age=5")], &[], &default_route()),
            "max-age=5"
        );
    }

    #[test]
    fn expires_counts_as_max_age_when_the_origin_sent_none() {
        let route = default_route();
        let dated = |expires: &'static str| [("expires", expires), ("date", "Sun, 29 Nov 2026 12:00:00 GMT")];
        assert_eq!(
            written(200, &dated("Sun, 29 Nov 2026 12:10:00 GMT"), &[], &route),
            "public, max-age=600, s-maxage=60, stale-while-revalidate=300"
        );
        // Without Date, the clock passed in stands for it.
        assert_eq!(
            written(200, &[("expires", "Sun, 29 Nov 2026 12:01:40 GMT")], &[], &route),
            "public, max-age=100, s-maxage=60, stale-while-revalidate=300"
        );
        // The past, and invalid dates, are 0.
        for expires in ["Sun, 29 Nov 2026 11:00:00 GMT", "0", "-1", "garbage", ""] {
            assert_eq!(
                written(200, &[("expires", expires)], &[], &route),
                "public, max-age=0, s-maxage=60, stale-while-revalidate=300",
                "{expires:?}"
            );
        }
        // RFC 850 and asctime formats are HTTP-dates too.
        assert_eq!(
            written(200, &[("expires", "Sunday, 29-Nov-26 12:00:30 GMT")], &[], &route),
            "public, max-age=30, s-maxage=60, stale-while-revalidate=300"
        );
        // Under private or no-store, Expires is the browser's to read.
        let private = [
            ("cache-control", "private"),
            ("expires", "Sun, 29 Nov 2026 12:10:00 GMT"),
        ];
        assert_eq!(written(200, &private, &[], &route), "private");
        // A max-age wins over Expires (RFC 9111 §5.3).
        let both = [("cache-control", "max-age=7"), ("expires", "0")];
        assert_eq!(
            written(200, &both, &[], &route),
            "public, max-age=7, s-maxage=60, stale-while-revalidate=300"
        );
    }
}
