//! The rules file (`rules.toml` at the workspace root): its schema and its validation.
//!
//! This file is compiled twice: by `build.rs`, which validates the file and embeds it
//! (Lambda@Edge has no environment variables, so the rules travel inside the build), and
//! by the library's tests. It therefore uses nothing from the crate but `crate::headers`,
//! which `build.rs` includes too.

use serde::Deserialize;

/// The whole file: an ordered list of `[[route]]` tables; the first match wins.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    /// The routes, in matching order.
    #[serde(rename = "route", default)]
    pub routes: Vec<RouteSpec>,
}

/// Whether a route's responses may be shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KindSpec {
    /// Shared-cacheable; cookies deleted unless allow-listed.
    Public,
    /// Never shared; cookies and `Authorization` pass.
    Bypass,
}

/// What happens to the query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QuerySpec {
    /// Every parameter but tracking ones is kept.
    All,
    /// Every parameter is dropped.
    Drop,
    /// Only the names in `query_allow` are kept.
    Allow,
}

fn default_true() -> bool {
    true
}

fn default_query() -> QuerySpec {
    QuerySpec::All
}

/// One `[[route]]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// A short label used in logs and errors.
    pub name: String,
    /// Path patterns: exact (`/api/me`) or a prefix ending in `*` (`/static/*`).
    pub patterns: Vec<String>,
    /// `public` or `bypass`.
    pub kind: KindSpec,
    /// `all` (default), `drop` or `allow`.
    #[serde(default = "default_query")]
    pub query: QuerySpec,
    /// The parameter names kept when `query = "allow"`.
    #[serde(default)]
    pub query_allow: Vec<String>,
    /// Cookie names kept on a public route (default: none).
    #[serde(default)]
    pub cookies: Vec<String>,
    /// Extra request headers that are part of the cache key (lower-case names).
    #[serde(default)]
    pub key_headers: Vec<String>,
    /// Request headers a shared fetch forwards without keying them (lower-case names).
    #[serde(default)]
    pub forward_headers: Vec<String>,
    /// Whether runs of `/` collapse to one (default true).
    #[serde(default = "default_true")]
    pub merge_slashes: bool,
    /// Remove `Set-Cookie` from responses instead of making them uncacheable.
    #[serde(default)]
    pub strip_set_cookie: bool,
    /// Remove `CDN-Cache-Control` from responses instead of forwarding it downstream.
    #[serde(default)]
    pub strip_cdn_cache_control: bool,
    /// Browser freshness, seconds.
    pub max_age: Option<u32>,
    /// CloudFront freshness, seconds.
    pub s_maxage: Option<u32>,
    /// RFC 5861 stale-while-revalidate window, seconds.
    pub stale_while_revalidate: Option<u32>,
    /// RFC 5861 stale-if-error window, seconds.
    pub stale_if_error: Option<u32>,
    /// Add `immutable` (RFC 8246).
    #[serde(default)]
    pub immutable: bool,
    /// The route's freshness replaces the origin's instead of filling gaps.
    #[serde(default, rename = "override")]
    pub override_origin: bool,
    /// The edge lifetime of a negative answer without `Cache-Control`, seconds (default 10).
    pub negative_ttl: Option<u32>,
}

/// Headers with their own rule or owned by CloudFront: never key material (besides the
/// unkeyed headers viewer-request deletes, `crate::headers::UNKEYED_HEADERS`).
const NOT_KEYABLE: &[&str] = &[
    "host",
    "cookie",
    "authorization",
    "accept-encoding",
    "content-length",
    "transfer-encoding",
    "via",
];

/// Request headers never forwarded to the origin without being keyed: inputs an origin builds
/// URLs, methods or a viewer's identity from (the poisoning classics), the credential and
/// cookies (their own rules), the origin's secret header (`x-origin-verify`, the deployed
/// name), what CloudFront owns or reads itself, hop-by-hop and framing fields, and the
/// viewer's conditionals and ranges (a shared fetch carries only the edge's own validator).
/// `x-forwarded-*` and `proxy-*` are refused by prefix.
const NOT_FORWARDABLE: &[&str] = &[
    "host",
    "forwarded",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "authorization",
    "x-viewer-authorization",
    "cookie",
    "x-origin-verify",
    "accept-encoding",
    "via",
    "connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "expect",
    "if-none-match",
    "if-modified-since",
    "if-match",
    "if-unmodified-since",
    "if-range",
    "range",
];

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// Parses and validates the rules file; the error names the route and the problem.
pub fn parse(text: &str) -> Result<RulesFile, String> {
    let file: RulesFile = toml::from_str(text).map_err(|e| format!("not a valid rules file: {e}"))?;
    validate(&file)?;
    Ok(file)
}

fn validate(file: &RulesFile) -> Result<(), String> {
    if file.routes.is_empty() {
        return Err("no [[route]] tables: add at least the catch-all route with patterns = [\"/*\"]".into());
    }
    let mut names: Vec<&str> = Vec::new();
    for (index, route) in file.routes.iter().enumerate() {
        let at = format!("route {} (\"{}\")", index + 1, route.name);
        if route.name.is_empty() {
            return Err(format!("route {}: `name` is empty", index + 1));
        }
        if names.contains(&route.name.as_str()) {
            return Err(format!("{at}: the name is used twice"));
        }
        names.push(&route.name);
        if route.patterns.is_empty() {
            return Err(format!("{at}: `patterns` is empty"));
        }
        for pattern in &route.patterns {
            if !pattern.starts_with('/') {
                return Err(format!("{at}: pattern {pattern:?} must start with '/'"));
            }
            if pattern.find('*').is_some_and(|i| i != pattern.len() - 1) {
                return Err(format!("{at}: pattern {pattern:?}: '*' may only end a pattern"));
            }
            if pattern
                .bytes()
                .any(|b| !(0x21..0x7f).contains(&b) || matches!(b, b'?' | b'#' | b'%'))
            {
                return Err(format!(
                    "{at}: pattern {pattern:?} must be a plain normalized path (no space, '?', '#', '%' or non-ASCII)"
                ));
            }
        }
        match (route.query, route.query_allow.is_empty()) {
            (QuerySpec::Allow, true) => return Err(format!("{at}: query = \"allow\" needs a non-empty `query_allow`")),
            (QuerySpec::All | QuerySpec::Drop, false) => {
                return Err(format!("{at}: `query_allow` is only read with query = \"allow\""))
            }
            _ => {}
        }
        for name in &route.query_allow {
            if name.is_empty()
                || !name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
            {
                return Err(format!("{at}: query_allow name {name:?} must be unreserved characters only (A-Z a-z 0-9 - . _ ~), as it is compared after normalization"));
            }
        }
        for cookie in &route.cookies {
            if !is_token(cookie) {
                return Err(format!("{at}: cookie name {cookie:?} is not an RFC 6265 token"));
            }
        }
        for header in &route.key_headers {
            if !is_token(header) || header.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "{at}: key_headers entry {header:?} must be a lower-case header name"
                ));
            }
            if NOT_KEYABLE.contains(&header.as_str())
                || crate::headers::UNKEYED_HEADERS.contains(&header.as_str())
                || header.starts_with("cloudfront-")
                || header.starts_with("x-amz")
            {
                return Err(format!("{at}: key_headers entry {header:?} cannot be keyed (deleted, read-only or handled by its own rule)"));
            }
        }
        for header in &route.forward_headers {
            if !is_token(header) || header.bytes().any(|b| b.is_ascii_uppercase()) {
                return Err(format!(
                    "{at}: forward_headers entry {header:?} must be a lower-case header name"
                ));
            }
            if NOT_FORWARDABLE.contains(&header.as_str())
                || crate::headers::UNKEYED_HEADERS.contains(&header.as_str())
                || header.starts_with("x-forwarded-")
                || header.starts_with("proxy-")
                || header.starts_with("cloudfront-")
                || header.starts_with("x-amz")
            {
                return Err(format!("{at}: forward_headers entry {header:?} cannot be forwarded unkeyed (an origin builds URLs, methods or identities from it, or it is the credential, the secret, a conditional or CloudFront's own)"));
            }
            if route.key_headers.contains(header) {
                return Err(format!(
                    "{at}: forward_headers entry {header:?} is keyed by the route: keyed headers are forwarded already"
                ));
            }
        }
        let sets_freshness = route.max_age.is_some()
            || route.s_maxage.is_some()
            || route.stale_while_revalidate.is_some()
            || route.stale_if_error.is_some()
            || route.immutable
            || route.override_origin
            || route.negative_ttl.is_some();
        if route.kind == KindSpec::Bypass {
            if sets_freshness {
                return Err(format!(
                    "{at}: a bypass route is never shared, so it takes no freshness settings"
                ));
            }
            if !route.cookies.is_empty()
                || route.strip_set_cookie
                || !route.key_headers.is_empty()
                || !route.forward_headers.is_empty()
            {
                return Err(format!(
                    "{at}: cookies, key_headers, forward_headers and strip_set_cookie apply to public routes only"
                ));
            }
        }
        if route.patterns.iter().any(|p| p == "/*") && index + 1 != file.routes.len() {
            return Err(format!(
                "{at}: the catch-all \"/*\" must be the last route; the routes after it could never match"
            ));
        }
    }
    let last = &file.routes[file.routes.len() - 1];
    if !last.patterns.iter().any(|p| p == "/*") {
        return Err(format!(
            "the last route (\"{}\") must include the catch-all pattern \"/*\", so every path has a route",
            last.name
        ));
    }
    Ok(())
}
