//! The canonical cache key (cache-key.md, "The canonical key"), computed from the request
//! in canonical form: the origin recomputes it from what it receives and never trusts a key
//! sent in a header.

use std::fmt;

use crate::headers::{filter_cookies, viewer_credential};
use crate::rules::{Route, RuleSet};
use crate::trigger::{viewer_request, HeaderField, Passthrough, RequestView, ViewerOutcome};

/// `lower(host) + path + ("?" + query)`, then `|name=value` for each keyed header (the kept
/// cookies count as the header `cookie`), in name order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A request in canonical form, with its key: what the origin's caches use.
#[derive(Debug, Clone)]
pub struct CanonicalRequest<'r> {
    /// The normalized path.
    pub uri: String,
    /// The normalized query string.
    pub querystring: String,
    /// The route that applies.
    pub route: &'r Route,
    /// Private by rule or by the viewer's credential ([`crate::headers::viewer_credential`]):
    /// never read from or written to a shared cache.
    pub bypass: bool,
    /// The canonical key.
    pub key: CacheKey,
}

/// Appends a header value to the key with `%` and `|` escaped, so no value can forge a
/// component boundary.
fn push_escaped(key: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '%' => key.push_str("%25"),
            '|' => key.push_str("%7C"),
            c => key.push(c),
        }
    }
}

/// Normalizes `request` as viewer-request does and computes its key. `host` is the
/// `Host` the request arrived with.
pub fn canonical_request<'r>(
    rules: &'r RuleSet,
    host: &str,
    request: &RequestView<'_>,
) -> Result<CanonicalRequest<'r>, Passthrough> {
    if !request.uri.starts_with('/') {
        return Err(Passthrough::UriNotAbsolute);
    }
    let rewrite = match viewer_request(rules, request) {
        ViewerOutcome::Rewrite(r) => r,
        ViewerOutcome::Passthrough(p) => return Err(p),
    };
    let route = rewrite.route;
    // At the origin the viewer's credential may also arrive as `X-Viewer-Authorization`
    // (relayed by viewer-request because Origin Access Control overwrites `Authorization`).
    let bypass = rewrite.bypass || viewer_credential(request.headers.iter().copied()).is_some();
    let mut key = host.to_ascii_lowercase();
    key.push_str(&rewrite.uri);
    if !rewrite.querystring.is_empty() {
        key.push('?');
        key.push_str(&rewrite.querystring);
    }
    let mut keyed: Vec<(&str, String)> = Vec::new();
    if !bypass {
        let cookies = request.headers.iter().filter(|(n, _)| *n == "cookie").map(|(_, v)| *v);
        if let Some(kept) = filter_cookies(cookies, &route.cookies) {
            keyed.push(("cookie", kept));
        }
    }
    for name in &route.key_headers {
        let values: Vec<&str> = request
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .collect::<Vec<_>>();
        if !values.is_empty() {
            keyed.push((name, values.join(",")));
        }
    }
    keyed.sort_by(|a, b| a.0.cmp(b.0));
    for (name, value) in keyed {
        key.push('|');
        key.push_str(name);
        key.push('=');
        push_escaped(&mut key, &value);
    }
    Ok(CanonicalRequest {
        uri: rewrite.uri,
        querystring: rewrite.querystring,
        route,
        bypass,
        key: CacheKey(key),
    })
}

/// Convenience for callers holding owned header pairs.
pub fn header_fields(headers: &[(String, String)]) -> Vec<HeaderField<'_>> {
    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Route;

    fn key(rules: &RuleSet, uri: &str, qs: &str, headers: &[HeaderField<'_>]) -> String {
        let req = RequestView {
            method: "GET",
            uri,
            querystring: qs,
            headers,
        };
        canonical_request(rules, "Example.COM", &req).unwrap().key.to_string()
    }

    #[test]
    fn key_is_lower_host_path_and_query() {
        let rules = RuleSet::embedded();
        assert_eq!(
            key(rules, "/api/products", "sort=price&category=books&utm_source=x", &[]),
            "example.com/api/products?category=books&sort=price"
        );
        assert_eq!(key(rules, "/api/config", "v=2", &[]), "example.com/api/config");
    }

    #[test]
    fn kept_cookies_and_key_headers_are_appended_in_name_order() {
        let mut route = Route::public("prefs", &["/*"]);
        route.cookies = vec!["theme".into()];
        route.key_headers = vec!["accept-language".into()];
        let rules = RuleSet::new(vec![route]).unwrap();
        let headers = [("cookie", "theme=dark|x; session=1"), ("accept-language", "en%")];
        assert_eq!(
            key(&rules, "/p", "", &headers),
            "example.com/p|accept-language=en%25|cookie=theme=dark%7Cx"
        );
    }
}
