//! Deciding the one `Cache-Control` a response leaves the edge with (cache-control.md,
//! "Deciding": the first rule that applies wins).

use super::CacheControl;
use crate::headers::viewer_credential;
use crate::rules::Route;
use crate::trigger::HeaderField;

/// Status codes that are heuristically cacheable (RFC 9110 §15.1: "200, 203, 204, 206,
/// 300, 301, 308, 404, 405, 410, 414, and 501"), less 206: CloudFront caches ranges itself.
const HEURISTICALLY_CACHEABLE: &[u16] = &[200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501];

/// What the decision reads from a response and the request it answers.
#[derive(Debug, Clone, Default)]
pub struct ResponseFacts<'a> {
    /// The status, `None` when it is not a number.
    pub status: Option<u16>,
    /// The origin's `Cache-Control`, every line read as one list.
    pub cache_control: CacheControl,
    /// Whether the response carries `Set-Cookie`.
    pub has_set_cookie: bool,
    /// The `Vary` field lines.
    pub vary: Vec<&'a str>,
    /// Whether the request carried the viewer's credential
    /// ([`crate::headers::viewer_credential`]: never an AWS signature).
    pub request_had_authorization: bool,
    /// When the response is decided, ms since the Unix epoch (the clock a missing `Date`
    /// stands in for).
    pub now_ms: u64,
}

impl<'a> ResponseFacts<'a> {
    /// Reads the facts from a response's and its request's header fields (lower-case names,
    /// one entry per value). `status` is `None` when it is not a number.
    pub fn read(
        status: Option<u16>,
        response_headers: &[HeaderField<'a>],
        request_headers: &[HeaderField<'_>],
        now_ms: u64,
    ) -> Self {
        let values = |name: &'static str| {
            response_headers
                .iter()
                .filter(move |(n, _)| *n == name)
                .map(|(_, v)| *v)
        };
        ResponseFacts {
            status,
            cache_control: CacheControl::parse(values("cache-control")),
            has_set_cookie: values("set-cookie").next().is_some(),
            vary: values("vary").collect(),
            request_had_authorization: viewer_credential(request_headers.iter().copied()).is_some(),
            now_ms,
        }
    }
}

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
    /// `public`/`s-maxage`.
    Authorization,
    /// Rule 5: a status that is not heuristically cacheable.
    StatusNotCacheable,
    /// Rule 6: the route policy filled in what the origin left out.
    RoutePolicy,
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
}

/// Whether every header a `Vary` names is part of this route's cache key.
fn vary_within_key(vary: &[&str], route: &Route) -> bool {
    vary.iter()
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .all(|name| {
            name.eq_ignore_ascii_case("accept-encoding")
                || (name.eq_ignore_ascii_case("cookie") && !route.cookies.is_empty())
                || route.key_headers.iter().any(|h| h.eq_ignore_ascii_case(name))
        })
}

/// Applies cache-control.md's rules 0–6 in order.
pub fn decide(facts: &ResponseFacts<'_>, route: &Route) -> Decision {
    let origin = &facts.cache_control;
    let decided = |cache_control: CacheControl, rule: Rule| Decision {
        cache_control,
        rule,
        strip_set_cookie: false,
    };

    // 0. Bypass routes: never shared.
    if route.is_bypass() {
        let cc = if origin.forbids_sharing() {
            origin.clone()
        } else {
            CacheControl::private_no_store()
        };
        return decided(cc, Rule::BypassRoute);
    }
    // 1. The origin forbids sharing: pass through, never add sharing directives.
    if origin.forbids_sharing() {
        return decided(origin.clone(), Rule::OriginForbidsSharing);
    }
    // 2. Set-Cookie: a shared copy would hand one viewer's cookie to the next.
    let strip_set_cookie = facts.has_set_cookie && route.strip_set_cookie;
    if facts.has_set_cookie && !strip_set_cookie {
        return decided(CacheControl::private_no_store(), Rule::SetCookie);
    }
    // 3. Vary outside the key: CloudFront keys only what its cache policy names.
    if !vary_within_key(&facts.vary, route) {
        return Decision {
            strip_set_cookie,
            ..decided(CacheControl::private_no_store(), Rule::VaryOutsideKey)
        };
    }
    // 4. RFC 9111 §3.5: "A shared cache MUST NOT use a cached response to a request with an
    //    Authorization header field ... unless ... the response contains a Cache-Control
    //    field with a response directive ... that allows it to be stored by a shared cache".
    if facts.request_had_authorization && !origin.explicitly_shared() {
        return Decision {
            strip_set_cookie,
            ..decided(CacheControl::private_no_store(), Rule::Authorization)
        };
    }
    // 5. Not heuristically cacheable: no edge TTL, so stale-if-error keeps the last good copy.
    if !facts.status.is_some_and(|s| HEURISTICALLY_CACHEABLE.contains(&s)) {
        let cc = if origin.is_empty() {
            CacheControl {
                no_store: true,
                ..CacheControl::default()
            }
        } else {
            origin.clone()
        };
        return Decision {
            strip_set_cookie,
            ..decided(cc, Rule::StatusNotCacheable)
        };
    }
    // 6. The route fills in what the origin left out (or replaces it with `override`).
    let policy = &route.freshness;
    let mut cc = origin.clone();
    cc.public = true;
    let fill = |origin_value: Option<u64>, route_value: Option<u32>| match route_value {
        Some(v) if policy.override_origin || origin_value.is_none() => Some(u64::from(v)),
        _ => origin_value,
    };
    cc.max_age = fill(cc.max_age, policy.max_age);
    cc.s_maxage = fill(cc.s_maxage, policy.s_maxage);
    cc.stale_while_revalidate = fill(cc.stale_while_revalidate, policy.stale_while_revalidate);
    cc.stale_if_error = fill(cc.stale_if_error, policy.stale_if_error);
    cc.immutable |= policy.immutable;
    Decision {
        cache_control: cc,
        rule: Rule::RoutePolicy,
        strip_set_cookie,
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
}
