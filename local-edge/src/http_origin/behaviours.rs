//! The behaviour table the local edge writes for an HTTP origin when the user gives none:
//! one behaviour per pattern of the route rules in force (the rules the handler was built
//! with), in their order, as `deploy/behaviours.toml` mirrors `rules.toml` for the Lambda
//! origin. It is TOML text, read back by [`crate::Distribution::from_toml`] like any table,
//! and written beside the logs so a user can edit it and pass `--behaviours`.
//!
//! - Public routes: a cache policy keying the query (viewer-request has already cut it to the
//!   route's), the route's `key_headers` and cookies, and the normalized `Accept-Encoding`; an
//!   origin request policy forwarding the route's `forward_headers`, never keyed.
//! - Bypass routes, on the widest pattern CloudFront's syntax allows (`/api/me` → `/api/me*`):
//!   a cache policy keying `Authorization` (without Origin Access Control, CloudFront forwards
//!   it on a `GET` only if the cache policy keys it; origin-response writes `private,
//!   no-store`, so nothing is stored) and every viewer header but `Host` and every cookie.
//! - No Origin Access Control (CloudFront offers it for S3, Lambda function URLs and media
//!   origins only), the origin custom headers given, and the deployed error caching.

use edge_policy::{Route, RuleSet};

/// The origin part of a generated table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginTable {
    /// Origin custom headers (name, value), sent on every origin request.
    pub custom_headers: Vec<(String, String)>,
    /// `OriginReadTimeout`, seconds.
    pub read_timeout_secs: u64,
    /// `OriginKeepaliveTimeout`, seconds.
    pub keepalive_timeout_secs: u64,
}

impl Default for OriginTable {
    /// CloudFront's defaults: 30 s to answer, idle connections kept 5 s.
    fn default() -> Self {
        OriginTable {
            custom_headers: Vec::new(),
            read_timeout_secs: 30,
            keepalive_timeout_secs: 5,
        }
    }
}

/// A TOML basic string.
fn quoted(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

fn list(items: &[String]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| quoted(i)).collect();
    format!("[{}]", quoted.join(", "))
}

fn selection(names: &[String]) -> String {
    if names.is_empty() {
        "{ behavior = \"none\" }".to_owned()
    } else {
        format!("{{ behavior = \"whitelist\", names = {} }}", list(names))
    }
}

/// The CloudFront path patterns a route's behaviours use: public patterns as written; a
/// bypass pattern's literal part followed by `*`, so every spelling the handler treats as
/// private (`/api/me;x`, `/api/users%2F7`) lands on a behaviour that forwards the credential
/// and stores nothing. The catch-all is the default behaviour.
fn patterns(route: &Route) -> Vec<String> {
    route
        .patterns
        .iter()
        .map(|p| p.as_written())
        .filter(|p| p != "/*")
        .map(|p| {
            if route.is_bypass() {
                format!("{}*", p.trim_end_matches('*').trim_end_matches('/'))
            } else {
                p
            }
        })
        .collect()
}

/// The behaviour table for `rules` in front of an HTTP origin.
pub fn table_for(rules: &RuleSet, origin: &OriginTable) -> String {
    let mut out = String::from(
        "# Written by local-edge --http-origin from the route rules in force: one behaviour per\n\
         # route pattern. Edit it and pass --behaviours to use your own.\n\n[origin]\n",
    );
    let headers: Vec<String> = origin
        .custom_headers
        .iter()
        .map(|(n, v)| format!("{{ name = {}, value = {} }}", quoted(n), quoted(v)))
        .collect();
    out.push_str(&format!("custom_headers = [{}]\n", headers.join(", ")));
    out.push_str("access_control = \"never\"\n");
    out.push_str(&format!("read_timeout_secs = {}\n", origin.read_timeout_secs.max(1)));
    out.push_str(&format!(
        "keepalive_timeout_secs = {}\n\n",
        origin.keepalive_timeout_secs
    ));
    out.push_str("[function]\ntimeout_secs = 5\n\n[error_caching]\ndefault_min_ttl_secs = 10\ncustom = [\n");
    for status in [403, 404, 405, 414, 500, 502, 503, 504] {
        out.push_str(&format!("  {{ status = {status}, min_ttl_secs = 0 }},\n"));
    }
    out.push_str("]\n\n");
    out.push_str(
        "[cache_policies.private]\nmin_ttl = 0\ndefault_ttl = 0\nmax_ttl = 1\naccept_encoding_gzip = false\n\
         accept_encoding_brotli = false\nquery_strings = { behavior = \"all\" }\n\
         headers = { behavior = \"whitelist\", names = [\"Authorization\"] }\ncookies = { behavior = \"none\" }\n\n\
         [origin_request_policies.private]\nquery_strings = { behavior = \"all\" }\n\
         headers = { behavior = \"allViewerExceptHost\" }\ncookies = { behavior = \"all\" }\n\n",
    );
    let policy = |route: &Route| {
        if route.is_bypass() {
            "private".to_owned()
        } else {
            format!("route-{}", route.name)
        }
    };
    for route in rules.routes().iter().filter(|r| !r.is_bypass()) {
        let name = quoted(&policy(route));
        out.push_str(&format!(
            "[cache_policies.{name}]\nmin_ttl = 0\ndefault_ttl = 60\nmax_ttl = 31536000\naccept_encoding_gzip = true\n\
             accept_encoding_brotli = true\nquery_strings = {{ behavior = \"all\" }}\nheaders = {}\ncookies = {}\n\n",
            selection(&route.key_headers),
            selection(&route.cookies),
        ));
        out.push_str(&format!(
            "[origin_request_policies.{name}]\nquery_strings = {{ behavior = \"all\" }}\nheaders = {}\n\
             cookies = {{ behavior = \"none\" }}\n\n",
            selection(&route.forward_headers),
        ));
    }
    let behaviour = |pattern: &str, route: &Route| {
        let name = quoted(&policy(route));
        format!(
            "[[behaviours]]\npath_pattern = {}\ncache_policy = {name}\norigin_request_policy = {name}\n\
             allowed_methods = [\"GET\", \"HEAD\", \"OPTIONS\", \"PUT\", \"POST\", \"PATCH\", \"DELETE\"]\n\
             cached_methods = [\"GET\", \"HEAD\"]\ncompress = {}\ntriggers = [\"viewer-request\", \"origin-response\"]\n\n",
            quoted(pattern),
            !route.is_bypass(),
        )
    };
    for route in rules.routes() {
        for pattern in patterns(route) {
            out.push_str(&behaviour(&pattern, route));
        }
    }
    // `RuleSet::new` guarantees a last, public catch-all route.
    if let Some(catch_all) = rules.routes().last() {
        out.push_str(&behaviour("*", catch_all));
    }
    out
}

/// The routes in force, one line each, and how long paths no other route names are shared:
/// what a user trying the handler against their own API needs to know first.
pub fn routes_summary(rules: &RuleSet) -> String {
    let mut out = String::new();
    for route in rules.routes() {
        let patterns: Vec<String> = route.patterns.iter().map(|p| p.as_written()).collect();
        let freshness = &route.freshness;
        let sharing = if route.is_bypass() {
            "never shared".to_owned()
        } else {
            let mut parts = vec![match freshness.s_maxage {
                Some(s) => format!("shared {s} s"),
                None => "shared as the origin says".to_owned(),
            }];
            if let Some(swr) = freshness.stale_while_revalidate {
                parts.push(format!("stale-while-revalidate {swr} s"));
            }
            if let Some(sie) = freshness.stale_if_error {
                parts.push(format!("stale-if-error {sie} s"));
            }
            parts.join(", ")
        };
        out.push_str(&format!(
            "  {:<12} {:<7} {:<40} {sharing}\n",
            route.name,
            if route.is_bypass() { "bypass" } else { "public" },
            patterns.join(", "),
        ));
    }
    if let Some(catch_all) = rules.routes().last() {
        match catch_all.freshness.s_maxage {
            Some(s) => out.push_str(&format!(
                "paths no other route names are shared for {s} s (route {:?}), unless the answer says private or no-store\n",
                catch_all.name
            )),
            None => out.push_str(&format!(
                "paths no other route names are shared as the origin's Cache-Control says (route {:?})\n",
                catch_all.name
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Distribution;
    use edge_policy::rules::Pattern;
    use http::Method;

    #[test]
    fn the_embedded_rules_make_a_valid_table_without_oac() {
        let origin = OriginTable {
            custom_headers: vec![("X-Api-Key".into(), "k\"1".into())],
            ..OriginTable::default()
        };
        let table = Distribution::from_toml(&table_for(RuleSet::embedded(), &origin)).unwrap();
        assert_eq!(table.origin.access_control, crate::distribution::AccessControl::Never);
        assert_eq!(table.origin.custom_headers[0].value, "k\"1");
        let pick = |p: &str| table.behaviour_for(p).clone();
        assert_eq!(pick("/api/products/7").path_pattern, "/api/products/*");
        let me = pick("/api/me;x.css");
        assert_eq!(me.path_pattern, "/api/me*");
        assert_eq!(me.cache_policy.headers.names(), ["authorization"]);
        assert!(me.origin_request_policy.headers.forwards("x-viewer-authorization"));
        assert_eq!(pick("/api/users%2F7").path_pattern, "/api/users*");
        assert_eq!(pick("/anything").path_pattern, "*");
        assert!(pick("/anything").allows(&Method::POST));
        assert!(!pick("/api/products/7")
            .origin_request_policy
            .headers
            .forwards("x-anything"));
    }

    #[test]
    fn forward_headers_are_forwarded_never_keyed() {
        let mut route = Route::public("ctx", &["/*"]);
        route.forward_headers = vec!["x-request-context".into()];
        route.key_headers = vec!["x-tenant".into()];
        let rules = RuleSet::new(vec![route]).unwrap();
        let table = Distribution::from_toml(&table_for(&rules, &OriginTable::default())).unwrap();
        let b = table.behaviour_for("/p");
        assert!(b.origin_request_policy.headers.forwards("x-request-context"));
        assert_eq!(b.cache_policy.headers.names(), ["x-tenant"]);
    }

    #[test]
    fn the_summary_names_every_route_and_the_catch_all() {
        let summary = routes_summary(RuleSet::embedded());
        assert!(summary.contains("/api/users/*, /api/me"), "{summary}");
        assert!(summary.contains("never shared"));
        assert!(summary.contains("paths no other route names are shared for 60 s (route \"default\")"));
        let odd = RuleSet::new(vec![Route {
            patterns: vec![Pattern::new("/*")],
            ..Route::public("all", &["/*"])
        }])
        .unwrap();
        assert!(routes_summary(&odd).contains("as the origin's Cache-Control says"));
    }
}
