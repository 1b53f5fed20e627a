//! Invalidation after an unsafe method (RFC 9111 §4.4): which Cache API URLs a Worker deletes
//! when the origin answers a `POST`, `PUT`, `PATCH`, `DELETE` (or any method not known to be
//! safe) with a non-error status.
//!
//! RFC 9111 §4.4: "A cache MUST invalidate the target URI when it receives a non-error status
//! code in response to an unsafe request method (including methods whose safety is
//! unknown)", and "MAY invalidate other URIs ... In particular, the URI(s) in the Location and
//! Content-Location response header fields (if present) are candidates for invalidation ...
//! However, a cache MUST NOT trigger an invalidation under these conditions if the origin
//! (Section 4.3.1 of [HTTP]) of the URI to be invalidated differs from that of the target
//! URI." A "non-error status code" is a `2xx` or `3xx`.
//!
//! Each URI is invalidated under the rules of the `GET` that would read it: its canonical
//! Cache API URL ([`super::cache_api_request`]), as the unsafe request's own keyed headers
//! and cookies make it, and as a request with none of them makes it. Variants other viewers'
//! keyed headers or cookies produce are not known to the Worker (the Cache API cannot list
//! them) and stay until they expire: a limit of the platform, stated in docs/worker.md.

use super::{cache_api_request, CacheApiRequest};
use crate::headers::VIEWER_AUTHORIZATION;
use crate::rules::RuleSet;
use crate::view::{HeaderField, RequestView};

/// Whether a method is unsafe for a cache (RFC 9110 §9.2.1: GET, HEAD, OPTIONS and TRACE are
/// safe; any other method, a method whose safety is unknown included, is not).
pub fn is_unsafe(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD" | "OPTIONS" | "TRACE")
}

/// A URI's origin (RFC 9110 §4.3.1: scheme, host and port), ASCII case-insensitive.
#[derive(Debug, Clone, Copy)]
struct Origin<'a> {
    scheme: &'a str,
    authority: &'a str,
}

impl<'a> Origin<'a> {
    /// The origin and the rest (path, query; the fragment removed) of an absolute URL.
    fn split(url: &'a str) -> Option<(Origin<'a>, &'a str)> {
        let (scheme, rest) = url.split_once("://")?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return None;
        }
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(end);
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        Some((Origin { scheme, authority }, path))
    }

    fn same(&self, other: &Origin<'_>) -> bool {
        self.scheme.eq_ignore_ascii_case(other.scheme) && self.authority.eq_ignore_ascii_case(other.authority)
    }
}

/// The path and query a `Location`/`Content-Location` value names, resolved against the
/// target (RFC 3986 §5.2, for the forms an origin sends: an absolute URL, a network-path
/// reference, an absolute path, a relative path), when its origin is the target's. Dot
/// segments are left to the canonical path's normalization.
fn same_origin_target(value: &str, target: &Origin<'_>, target_path: &str) -> Option<(String, String)> {
    let value = value.trim_matches([' ', '\t']);
    let value = value.split_once('#').map_or(value, |(before, _)| before);
    let rest = if value.contains("://") {
        let (origin, rest) = Origin::split(value)?;
        origin.same(target).then_some(rest)?.to_owned()
    } else if let Some(network) = value.strip_prefix("//") {
        let end = network.find(['/', '?']).unwrap_or(network.len());
        let (authority, rest) = network.split_at(end);
        authority
            .eq_ignore_ascii_case(target.authority)
            .then_some(rest)?
            .to_owned()
    } else if value.starts_with('/') {
        value.to_owned()
    } else if value.is_empty() || value.starts_with('?') {
        return None;
    } else {
        let directory = target_path.rfind('/').map_or("/", |i| &target_path[..=i]);
        format!("{directory}{value}")
    };
    let (path, query) = rest.split_once('?').unwrap_or((&rest, ""));
    let path = if path.is_empty() { "/" } else { path };
    Some((path.to_owned(), query.to_owned()))
}

/// The Cache API URLs a Worker deletes after the origin answered `status` to `request` (an
/// unsafe method) received at `request_url` (the serialized absolute URL), with the
/// answer's `Location` and `Content-Location`: none unless the method is unsafe and the
/// status `2xx`/`3xx`. Deduplicated; a URI the `GET` rules would bypass gives none.
pub fn invalidated_urls(
    rules: &RuleSet,
    request_url: &str,
    request: &RequestView<'_>,
    status: u16,
    location: Option<&str>,
    content_location: Option<&str>,
) -> Vec<String> {
    if !is_unsafe(request.method) || !(200..=399).contains(&status) {
        return Vec::new();
    }
    let Some((target, _)) = Origin::split(request_url) else {
        return Vec::new();
    };
    let mut targets = vec![(request.uri.to_owned(), request.querystring.to_owned())];
    for value in [location, content_location].into_iter().flatten() {
        targets.extend(same_origin_target(value, &target, request.uri));
    }
    // The credential would make the `GET` a bypass; the URI's shared copy is what goes.
    let own: Vec<HeaderField<'_>> = request
        .headers
        .iter()
        .copied()
        .filter(|(n, _)| *n != "authorization" && *n != VIEWER_AUTHORIZATION)
        .collect();
    let mut urls: Vec<String> = Vec::new();
    for (uri, querystring) in &targets {
        for headers in [&own[..], &[]] {
            let get = RequestView {
                method: "GET",
                uri,
                querystring,
                headers,
            };
            if let CacheApiRequest::Lookup { url, .. } = cache_api_request(rules, target.authority, &get) {
                if !urls.contains(&url) {
                    urls.push(url);
                }
            }
        }
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Route;

    const AT: &str = "https://api.example.com/api/products/1?utm_source=x";

    fn post<'a>(uri: &'a str, headers: &'a [HeaderField<'a>]) -> RequestView<'a> {
        RequestView {
            method: "POST",
            uri,
            querystring: "utm_source=x",
            headers,
        }
    }

    #[test]
    fn a_successful_unsafe_method_invalidates_its_target_as_a_get_keys_it() {
        let rules = RuleSet::embedded();
        for method in ["POST", "PUT", "PATCH", "DELETE", "PURGE"] {
            let request = RequestView {
                method,
                ..post("/api/products/1", &[])
            };
            assert_eq!(
                invalidated_urls(rules, AT, &request, 204, None, None),
                ["https://api.example.com/api/products/1"],
                "{method}"
            );
        }
        // Not on an error, nor on a safe method.
        let request = post("/api/products/1", &[]);
        assert!(invalidated_urls(rules, AT, &request, 404, None, None).is_empty());
        assert!(invalidated_urls(rules, AT, &request, 500, None, None).is_empty());
        let get = RequestView {
            method: "GET",
            ..request
        };
        assert!(invalidated_urls(rules, AT, &get, 200, None, None).is_empty());
        // A credentialed request still invalidates the shared copy; a private route has none.
        let credentialed = [("authorization", "Bearer user-7")];
        assert_eq!(
            invalidated_urls(rules, AT, &post("/api/products/1", &credentialed), 200, None, None).len(),
            1
        );
        assert!(invalidated_urls(rules, AT, &post("/api/me", &[]), 200, None, None).is_empty());
    }

    #[test]
    fn location_and_content_location_are_invalidated_only_on_the_same_origin() {
        let rules = RuleSet::embedded();
        let request = post("/api/products/1", &[]);
        let urls = |location: &str| invalidated_urls(rules, AT, &request, 201, Some(location), None);
        let own = "https://api.example.com/api/products/1";
        assert_eq!(urls("/api/products/2"), [own, "https://api.example.com/api/products/2"]);
        assert_eq!(
            urls("https://API.example.com/api/products/3?sort=price&fbclid=1#x"),
            [own, "https://api.example.com/api/products/3?sort=price"]
        );
        assert_eq!(
            urls("//api.example.com/api/products/4"),
            [own, "https://api.example.com/api/products/4"]
        );
        assert_eq!(urls("5"), [own, "https://api.example.com/api/products/5"]);
        assert_eq!(urls("../config"), [own, "https://api.example.com/api/config"]);
        for elsewhere in [
            "https://evil.example/api/products/2",
            "http://api.example.com/api/products/2",
            "https://api.example.com:8443/api/products/2",
            "//evil.example/x",
            "ftp://api.example.com/x",
        ] {
            assert_eq!(urls(elsewhere), [own], "{elsewhere}");
        }
        let both = invalidated_urls(rules, AT, &request, 200, Some("/a"), Some("/b"));
        assert_eq!(both.len(), 3);
    }

    #[test]
    fn the_requests_own_variant_and_the_plain_one_are_invalidated() {
        let mut route = Route::public("prefs", &["/*"]);
        route.cookies = vec!["theme".into()];
        let rules = RuleSet::new(vec![route]).unwrap();
        let cookie = [("cookie", "theme=dark; session=1")];
        assert_eq!(
            invalidated_urls(&rules, "https://h/p", &post("/p", &cookie), 200, None, None),
            ["https://h/p?|cookie=theme%3Ddark", "https://h/p"]
        );
    }
}
