//! Route rules: which policy applies to a normalized path.
//!
//! The rules come from `rules.toml` at the workspace root, validated and embedded by
//! `build.rs` (Lambda@Edge has no environment variables, so a rule change is a new build
//! and a new function version). Routes match the normalized path; the first match wins.

use std::sync::OnceLock;

use crate::PolicyError;

#[cfg(any(test, feature = "rules-file"))]
mod file;
mod pattern;

use pattern::framework_reading;
pub use pattern::Pattern;

/// Whether a route's responses may be shared by caches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// Shared-cacheable: the edge and the origin's caches may store it.
    Public,
    /// Private: never stored by a shared cache; cookies and `Authorization` pass.
    Bypass,
}

/// What a route does with the query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryPolicy {
    /// Keep every parameter except tracking ones.
    All,
    /// Drop every parameter.
    Drop,
    /// Keep only these names (compared exactly, after normalization).
    Allow(Vec<String>),
}

/// The Cache-Control a route fills in on shared-cacheable responses (cache-control.md rule 6).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Freshness {
    /// `max-age`: browser freshness, seconds.
    pub max_age: Option<u32>,
    /// `s-maxage`: CloudFront freshness, seconds.
    pub s_maxage: Option<u32>,
    /// `stale-while-revalidate` window (RFC 5861 §3), seconds.
    pub stale_while_revalidate: Option<u32>,
    /// `stale-if-error` window (RFC 5861 §4), seconds.
    pub stale_if_error: Option<u32>,
    /// Add `immutable` (RFC 8246).
    pub immutable: bool,
    /// The route's values replace the origin's instead of only filling what it left out.
    pub override_origin: bool,
    /// The edge lifetime of a negative answer (404, 405, 410, 414) the origin sent no
    /// `Cache-Control` for, seconds; `None`: [`Freshness::DEFAULT_NEGATIVE_TTL`]
    /// (cache-control.md rule 6).
    pub negative_ttl: Option<u32>,
}

impl Freshness {
    /// A negative answer's edge lifetime when the route sets none (cache-control.md rule 6).
    pub const DEFAULT_NEGATIVE_TTL: u32 = 10;

    /// How long a negative answer is shared, seconds: the smaller of the route's `s-maxage`
    /// and its `negative_ttl` (cache-control.md rule 6). Also the longest the origin's L1 and
    /// L2 keep one.
    pub fn negative_secs(&self) -> u64 {
        let negative = self.negative_ttl.unwrap_or(Self::DEFAULT_NEGATIVE_TTL);
        u64::from(self.s_maxage.map_or(negative, |s| s.min(negative)))
    }
}

/// One route: how requests on matching paths are keyed and how their responses are cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// A short label for logs.
    pub name: String,
    /// The path patterns (any one matching selects the route).
    pub patterns: Vec<Pattern>,
    /// Public or bypass.
    pub kind: RouteKind,
    /// What happens to the query string.
    pub query: QueryPolicy,
    /// Cookie names kept on a public route (the rest of `cookie` is deleted).
    pub cookies: Vec<String>,
    /// Extra request headers (lower-case names) that are part of the cache key.
    pub key_headers: Vec<String>,
    /// Request headers (lower-case names) a shared fetch forwards to the origin without
    /// keying them (the Worker, and the origin request policy the local edge derives for an
    /// HTTP origin). An answer whose `Vary` names one stays `private, no-store` (rule 3).
    pub forward_headers: Vec<String>,
    /// Whether runs of `/` collapse to one.
    pub merge_slashes: bool,
    /// Remove `Set-Cookie` from responses instead of making them uncacheable.
    pub strip_set_cookie: bool,
    /// Remove `CDN-Cache-Control` (every targeted field) from responses instead of
    /// forwarding it downstream (RFC 9213 §3 lets a CDN remove it).
    pub strip_cdn_cache_control: bool,
    /// The Cache-Control filled in on shared-cacheable responses.
    pub freshness: Freshness,
}

impl Route {
    /// A public route with the defaults of the rules file (all parameters, merge slashes,
    /// no freshness), for building rule sets in code.
    pub fn public(name: &str, patterns: &[&str]) -> Self {
        Route {
            name: name.to_owned(),
            patterns: patterns.iter().map(|p| Pattern::new(p)).collect(),
            kind: RouteKind::Public,
            query: QueryPolicy::All,
            cookies: Vec::new(),
            key_headers: Vec::new(),
            forward_headers: Vec::new(),
            merge_slashes: true,
            strip_set_cookie: false,
            strip_cdn_cache_control: false,
            freshness: Freshness::default(),
        }
    }

    /// A bypass route with the defaults of the rules file.
    pub fn bypass(name: &str, patterns: &[&str]) -> Self {
        Route {
            kind: RouteKind::Bypass,
            ..Route::public(name, patterns)
        }
    }

    /// Whether the route is private by rule.
    pub fn is_bypass(&self) -> bool {
        self.kind == RouteKind::Bypass
    }

    fn matches(&self, path: &[u8]) -> bool {
        self.patterns.iter().any(|p| p.matches(path, self.kind))
    }
}

/// Which route a path takes, and why ([`RuleSet::route_choice`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChoice<'r> {
    /// The route.
    pub route: &'r Route,
    /// Its pattern that matched, as written in the rules file.
    pub pattern: String,
    /// Set when the path took a bypass route only as an origin framework may read it
    /// (`%2F` decoded, `;` parameters dropped, dot-segments removed again): that reading.
    pub framework_reading: Option<String>,
}

/// An ordered list of routes ending in a catch-all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSet {
    routes: Vec<Route>,
}

impl RuleSet {
    /// Builds a rule set; the last route must contain the catch-all pattern `/*`.
    pub fn new(routes: Vec<Route>) -> Result<Self, PolicyError> {
        let catch_all = Pattern::new("/*");
        match routes.last() {
            Some(last) if last.patterns.contains(&catch_all) && last.kind == RouteKind::Public => {
                Ok(RuleSet { routes })
            }
            Some(last) if last.patterns.contains(&catch_all) => Err(PolicyError::InvalidRules(
                "a bypass catch-all would make every path private; make the last route public".into(),
            )),
            _ => Err(PolicyError::InvalidRules(
                "the last route must include the catch-all pattern \"/*\"".into(),
            )),
        }
    }

    /// A rules file read at run time (feature `rules-file`): parsed and validated by the
    /// same code `build.rs` embeds `rules.toml` with, so a file the build would refuse is
    /// refused here with the same message. The deployed handler never reads one: Lambda@Edge
    /// has no environment variables, so its rules are always the embedded ones.
    #[cfg(any(test, feature = "rules-file"))]
    pub fn from_toml(text: &str) -> Result<RuleSet, PolicyError> {
        let parsed = file::parse(text).map_err(PolicyError::InvalidRules)?;
        let routes = parsed
            .routes
            .into_iter()
            .map(|r| Route {
                name: r.name,
                patterns: r.patterns.iter().map(|p| Pattern::new(p)).collect(),
                kind: match r.kind {
                    file::KindSpec::Public => RouteKind::Public,
                    file::KindSpec::Bypass => RouteKind::Bypass,
                },
                query: match r.query {
                    file::QuerySpec::All => QueryPolicy::All,
                    file::QuerySpec::Drop => QueryPolicy::Drop,
                    file::QuerySpec::Allow => QueryPolicy::Allow(r.query_allow),
                },
                cookies: r.cookies,
                key_headers: r.key_headers,
                forward_headers: r.forward_headers,
                merge_slashes: r.merge_slashes,
                strip_set_cookie: r.strip_set_cookie,
                strip_cdn_cache_control: r.strip_cdn_cache_control,
                freshness: Freshness {
                    max_age: r.max_age,
                    s_maxage: r.s_maxage,
                    stale_while_revalidate: r.stale_while_revalidate,
                    stale_if_error: r.stale_if_error,
                    immutable: r.immutable,
                    override_origin: r.override_origin,
                    negative_ttl: r.negative_ttl,
                },
            })
            .collect();
        RuleSet::new(routes)
    }

    /// The rules embedded at build time from `rules.toml`.
    pub fn embedded() -> &'static RuleSet {
        static EMBEDDED: OnceLock<RuleSet> = OnceLock::new();
        EMBEDDED.get_or_init(|| RuleSet {
            routes: embedded_routes(),
        })
    }

    /// The route for a normalized path: the first that matches — unless the path, read as
    /// an origin framework may read it (`%2F` decoded, `;` parameters dropped, dot-segments
    /// removed again), is private: then the first route of that reading, which is a bypass
    /// route. Bypass matching fails closed whatever the order of the routes:
    /// `/static/..%2Fapi/me` is private, though `/static/*` comes first.
    pub fn route_for(&self, path: &str) -> &Route {
        let route = self.first_match(path.as_bytes());
        if route.is_bypass() {
            return route;
        }
        match framework_reading(path) {
            Some(reading) => Some(self.first_match(&reading))
                .filter(|r| r.is_bypass())
                .unwrap_or(route),
            None => route,
        }
    }

    /// [`RuleSet::route_for`] with its reason, for an explanation: the route, the pattern
    /// that matched and, when the path is private only as a framework reads it, that reading.
    pub fn route_choice(&self, path: &str) -> RouteChoice<'_> {
        let route = self.route_for(path);
        let pattern_for = |p: &[u8]| route.patterns.iter().find(|pattern| pattern.matches(p, route.kind));
        if let Some(pattern) = pattern_for(path.as_bytes()) {
            return RouteChoice {
                route,
                pattern: pattern.as_written(),
                framework_reading: None,
            };
        }
        // Not the path itself: the route was chosen by the path's framework reading.
        let reading = framework_reading(path).unwrap_or_default();
        RouteChoice {
            route,
            pattern: pattern_for(&reading).map(Pattern::as_written).unwrap_or_default(),
            framework_reading: Some(String::from_utf8_lossy(&reading).into_owned()),
        }
    }

    fn first_match(&self, path: &[u8]) -> &Route {
        // `new` guarantees a last route matching every path (a public `/*`).
        let fallback = &self.routes[self.routes.len() - 1];
        self.routes.iter().find(|r| r.matches(path)).unwrap_or(fallback)
    }

    /// The routes in matching order.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }
}

include!(concat!(env!("OUT_DIR"), "/embedded_rules.rs"));

#[cfg(test)]
mod tests {
    use super::*;

    fn from_file(text: &str) -> Result<RuleSet, String> {
        RuleSet::from_toml(text).map_err(|e| e.to_string())
    }

    #[test]
    fn embedded_rules_equal_the_rules_file() {
        let text = include_str!("../../../rules.toml");
        assert_eq!(&from_file(text).unwrap(), RuleSet::embedded());
    }

    #[test]
    fn reference_routes_match_as_the_table_says() {
        let rules = RuleSet::embedded();
        let name = |p: &str| rules.route_for(p).name.clone();
        assert_eq!(name("/static/app.js"), "static");
        assert_eq!(name("/api/products"), "products");
        assert_eq!(name("/api/products/42"), "products");
        assert_eq!(name("/api/productsx"), "default");
        assert_eq!(name("/api/config"), "config");
        assert_eq!(name("/api/config/x"), "default");
        assert_eq!(name("/api/users/7"), "private");
        assert_eq!(name("/api/me"), "private");
        assert_eq!(name("/"), "default");
    }

    #[test]
    fn bypass_patterns_fail_closed_under_suffixes_and_case() {
        let rules = RuleSet::embedded();
        for path in [
            "/api/me/x.css",
            "/api/me;x.css",
            "/api/me%2Fx.css",
            "/api/me%3Bx.css",
            "/api/me%5Cx.css",
            "/api/me.",
            "/api/me.json",
            "/API/Me",
            "/api/me%00",
            "/api/me:x",
            "/api/users",
            "/api/users/1/x.css",
            "/api/users%2F7",
            "/api/users;/7",
            "/API/Users/7",
        ] {
            assert!(rules.route_for(path).is_bypass(), "{path} must stay private");
        }
        for path in ["/api/meow", "/api/user", "/api/users-list", "/api/m", "/static/me"] {
            assert!(!rules.route_for(path).is_bypass(), "{path} is another route");
        }
    }

    #[test]
    fn a_path_a_framework_reads_as_private_is_private_whatever_the_order() {
        let rules = RuleSet::embedded();
        for path in [
            "/static/..%2Fapi/me",
            "/static/..%5Capi/me",
            "/api%2Fme",
            "/api;x/me",
            "/api/x%2F..%2Fme",
            "/api%2Fusers%2F7",
            "/api/%2e%2e/api/me",
        ] {
            assert!(rules.route_for(path).is_bypass(), "{path} must stay private");
        }
        assert_eq!(rules.route_for("/static/a%2Fb.js").name, "static");
        assert_eq!(rules.route_for("/static/a;v=1.js").name, "static");
    }

    fn rejects(text: &str, needle: &str) {
        let err = from_file(text).unwrap_err();
        assert!(err.contains(needle), "error {err:?} should mention {needle:?}");
    }

    const CATCH_ALL: &str = "\n[[route]]\nname = \"default\"\npatterns = [\"/*\"]\nkind = \"public\"\n";

    #[test]
    fn invalid_files_name_the_problem() {
        rejects("", "no [[route]]");
        rejects(
            "[[route]]\nname = \"a\"\npatterns = [\"/a\"]\nkind = \"public\"\n",
            "catch-all",
        );
        rejects(
            &format!("[[route]]\nname = \"a\"\npatterns = [\"a\"]\nkind = \"public\"\n{CATCH_ALL}"),
            "must start with '/'",
        );
        rejects(
            &format!("[[route]]\nname = \"a\"\npatterns = [\"/a*b\"]\nkind = \"public\"\n{CATCH_ALL}"),
            "'*' may only end",
        );
        rejects(
            &format!("[[route]]\nname = \"a\"\npatterns = [\"/a\"]\nkind = \"secret\"\n{CATCH_ALL}"),
            "unknown variant `secret`",
        );
        rejects(
            &format!("[[route]]\nname = \"a\"\npatterns = [\"/a\"]\nkind = \"public\"\nmaxage = 3\n{CATCH_ALL}"),
            "unknown field `maxage`",
        );
        rejects(
            &format!("[[route]]\nname = \"a\"\npatterns = [\"/a\"]\nkind = \"public\"\nquery = \"allow\"\n{CATCH_ALL}"),
            "needs a non-empty `query_allow`",
        );
        rejects(
            &format!("[[route]]\nname = \"a\"\npatterns = [\"/a\"]\nkind = \"bypass\"\ns_maxage = 60\n{CATCH_ALL}"),
            "bypass route is never shared",
        );
        rejects(&format!("[[route]]\nname = \"a\"\npatterns = [\"/a\"]\nkind = \"public\"\nkey_headers = [\"x-forwarded-host\"]\n{CATCH_ALL}"), "cannot be keyed");
        for header in [
            "x-forwarded-host",
            "x-forwarded-anything",
            "forwarded",
            "host",
            "authorization",
            "x-viewer-authorization",
            "cookie",
            "x-origin-verify",
            "x-original-url",
            "x-rewrite-url",
            "x-http-method-override",
            "if-none-match",
            "connection",
            "range",
        ] {
            rejects(
                &format!("[[route]]\nname = \"a\"\npatterns = [\"/a\"]\nkind = \"public\"\nforward_headers = [\"{header}\"]\n{CATCH_ALL}"),
                &format!("forward_headers entry \"{header}\" cannot be forwarded"),
            );
        }
        rejects(
            &format!("[[route]]\nname = \"a\"\npatterns = [\"/a\"]\nkind = \"public\"\nkey_headers = [\"x-tenant\"]\nforward_headers = [\"x-tenant\"]\n{CATCH_ALL}"),
            "is keyed by the route",
        );
        rejects(
            &format!("[[route]]\nname = \"a\"\npatterns = [\"/a\"]\nkind = \"bypass\"\nforward_headers = [\"x-trace\"]\n{CATCH_ALL}"),
            "apply to public routes only",
        );
        assert!(from_file(&format!(
            "[[route]]\nname = \"a\"\npatterns = [\"/a\"]\nkind = \"public\"\nforward_headers = [\"x-request-context\"]\nstrip_cdn_cache_control = true\n{CATCH_ALL}"
        ))
        .is_ok());
        rejects(
            &format!("[[route]]\nname = \"default\"\npatterns = [\"/a\"]\nkind = \"public\"\n{CATCH_ALL}"),
            "used twice",
        );
        rejects(
            &format!("[[route]]\nname = \"a\"\npatterns = [\"/a\"]\nkind = \"public\"\ns_maxage = -1\n{CATCH_ALL}"),
            "s_maxage",
        );
    }
}
