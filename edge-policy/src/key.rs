//! The canonical cache key (cache-key.md, "The canonical key"), computed from the request
//! in canonical form: the origin recomputes it from what it receives and never trusts a key
//! sent in a header.

use std::fmt;

use crate::headers::{filter_cookies, viewer_credential};
use crate::rules::{Route, RuleSet};
use crate::trigger::{viewer_request, Passthrough, RequestRewrite, ViewerOutcome};
use crate::view::{HeaderEdit, RequestView};

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
    /// The lower-case host and the keyed header values, in name order: what [`Self::url`]
    /// is written from.
    host: String,
    keyed: Vec<(&'r str, String)>,
}

impl CanonicalRequest<'_> {
    /// The key as a URL, for a store that keys on URLs (Cloudflare's Cache API, workers.md
    /// step 3): `https://{host}{path}`, then `?{query}`, then `|{name}={value}` for each keyed
    /// header (the kept cookies count as `cookie`), in name order.
    ///
    /// Two requests that may see different answers never share a URL: a normalized path or
    /// query never holds a raw `|`, `#` or (in the path) `?` (they are outside RFC 3986's
    /// `pchar`), so `|` only ever starts a keyed component, and a keyed value has every byte
    /// outside the unreserved set percent-encoded, so it holds no `|`, `&`, `#` or `%` of its
    /// own. When anything is keyed, `?` is written even before an empty query, so the keyed
    /// part never lands in the path. A WHATWG URL parser keeps every byte of it as it is, but
    /// for one: it writes a raw `'` in the query as `%27`, which Cloudflare has already done
    /// to the viewer's URL before a Worker sees it, so this merges nothing new there.
    ///
    /// `None` when the path or query holds one of those separators, which only a URL kept as
    /// received (over 8,192 bytes, see [`crate::RequestRewrite::url_kept`]) can: such a
    /// request has no URL that is safe to share (fail closed: it is not stored).
    pub fn url(&self) -> Option<String> {
        let separators = |s: &str, extra: &[u8]| s.bytes().any(|b| b == b'|' || b == b'#' || extra.contains(&b));
        if separators(&self.uri, b"?") || separators(&self.querystring, b"") {
            return None;
        }
        let mut url = String::with_capacity(8 + self.host.len() + self.uri.len() + self.querystring.len());
        url.push_str("https://");
        url.push_str(&self.host);
        url.push_str(&self.uri);
        if !self.querystring.is_empty() || !self.keyed.is_empty() {
            url.push('?');
            url.push_str(&self.querystring);
        }
        for (name, value) in &self.keyed {
            url.push('|');
            url.push_str(name);
            url.push('=');
            crate::percent::encode_all_but_unreserved(&mut url, value);
        }
        Some(url)
    }
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
    match viewer_request(rules, request) {
        ViewerOutcome::Rewrite(rewrite) => Ok(canonical_of_rewrite(host, request, rewrite).0),
        ViewerOutcome::Passthrough(p) => Err(p),
    }
}

/// The canonical request of a viewer-request `rewrite` of `request`, and the rewrite's
/// header edits for a caller that also needs them, so the request is normalized once (the
/// rewrite's URL moves into the canonical request).
pub(crate) fn canonical_of_rewrite<'a, 'r>(
    host: &str,
    request: &RequestView<'_>,
    rewrite: RequestRewrite<'a, 'r>,
) -> (CanonicalRequest<'r>, Vec<HeaderEdit<'a>>) {
    let route = rewrite.route;
    // At the origin the viewer's credential may also arrive as `X-Viewer-Authorization`
    // (relayed by viewer-request because Origin Access Control overwrites `Authorization`).
    let bypass = rewrite.bypass || viewer_credential(request.headers.iter().copied()).is_some();
    let host = host.to_ascii_lowercase();
    let mut key = host.clone();
    key.push_str(&rewrite.uri);
    if !rewrite.querystring.is_empty() {
        key.push('?');
        key.push_str(&rewrite.querystring);
    }
    let mut keyed: Vec<(&'r str, String)> = Vec::new();
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
    for (name, value) in &keyed {
        key.push('|');
        key.push_str(name);
        key.push('=');
        push_escaped(&mut key, value);
    }
    let canonical = CanonicalRequest {
        uri: rewrite.uri,
        querystring: rewrite.querystring,
        route,
        bypass,
        key: CacheKey(key),
        host,
        keyed,
    };
    (canonical, rewrite.headers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Route;
    use crate::view::HeaderField;

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

    fn url(rules: &RuleSet, uri: &str, qs: &str, headers: &[HeaderField<'_>]) -> Option<String> {
        let req = RequestView {
            method: "GET",
            uri,
            querystring: qs,
            headers,
        };
        canonical_request(rules, "Example.COM:8787", &req).unwrap().url()
    }

    fn keyed_rules() -> RuleSet {
        let mut route = Route::public("prefs", &["/*"]);
        route.cookies = vec!["theme".into()];
        route.key_headers = vec!["accept-language".into()];
        RuleSet::new(vec![route]).unwrap()
    }

    #[test]
    fn the_url_is_https_host_path_and_query() {
        let rules = RuleSet::embedded();
        assert_eq!(
            url(rules, "/api/products", "sort=price&category=books&fbclid=1", &[]).as_deref(),
            Some("https://example.com:8787/api/products?category=books&sort=price")
        );
        assert_eq!(
            url(rules, "/api/config", "v=2", &[]).as_deref(),
            Some("https://example.com:8787/api/config")
        );
    }

    #[test]
    fn keyed_values_follow_the_query_fully_encoded() {
        let rules = keyed_rules();
        let headers = [("cookie", "theme=da rk#|x&y=1; session=1"), ("accept-language", "en%")];
        assert_eq!(
            url(&rules, "/p", "", &headers).as_deref(),
            Some("https://example.com:8787/p?|accept-language=en%25|cookie=theme%3Dda%20rk%23%7Cx%26y%3D1")
        );
        assert_eq!(
            url(&rules, "/p", "a=1", &[("cookie", "theme=dark")]).as_deref(),
            Some("https://example.com:8787/p?a=1|cookie=theme%3Ddark")
        );
        // A query can't forge a keyed component: its `|` is encoded by normalization.
        assert_eq!(
            url(&rules, "/p", "|cookie=theme%3Ddark", &[]).as_deref(),
            Some("https://example.com:8787/p?%7Ccookie=theme%3Ddark")
        );
    }

    #[test]
    fn a_url_kept_as_received_with_a_separator_has_no_cache_url() {
        let long = format!("/{}|cookie=theme%3Ddark", "a".repeat(9000));
        let rules = keyed_rules();
        let req = RequestView {
            method: "GET",
            uri: &long,
            querystring: "",
            headers: &[],
        };
        // Over 8,192 bytes once normalized (`|` → `%7C`), so the URL is kept as received.
        assert_eq!(canonical_request(&rules, "h", &req).unwrap().url(), None);
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
