//! The cache key exactly as a behaviour's cache policy makes it, from the request after
//! viewer-request: the distribution's domain name (CloudFront's default cache key; the
//! viewer's `Host` enters only where a policy names it as a header, and none of ours does),
//! the path as it is (CloudFront neither decodes nor normalizes it), the query parameters the policy names in the order received (CloudFront does not
//! sort them), the headers and cookies it names, and `Accept-Encoding` normalized as the
//! policy's compression settings do. Components are kept apart in a struct, so no value can
//! forge another component.

use edge_policy::headers::normalize_accept_encoding;
use http::{HeaderMap, Method};

use crate::distribution::CachePolicy;
use crate::message::{values, EdgeRequest};

/// One entry of the edge cache.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct EdgeKey {
    /// `HEAD` answers are kept apart: a bodiless answer never serves a `GET`.
    pub head: bool,
    /// The distribution's domain name, lower-case (never the viewer's `Host`).
    pub host: String,
    /// The path.
    pub path: String,
    /// The keyed query parameters, in the order received, joined with `&`.
    pub query: String,
    /// The keyed headers: lower-case name and every value joined with `,`, in the policy's order.
    pub headers: Vec<(String, String)>,
    /// The keyed cookies (`name=value`), in the order received.
    pub cookies: Vec<String>,
    /// The normalized `Accept-Encoding`, when the policy keys it.
    pub accept_encoding: Option<&'static str>,
}

impl EdgeKey {
    /// What an invalidation path is matched against: the path, then `?` and the query when
    /// there is one (CloudFront: a copy stored under a query string needs it, or a `*`).
    pub fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

/// The query parameters of `querystring` whose name `selects` accepts, in the order
/// received, each as often as received. A parameter's name is the text before its first
/// `=`, compared as written.
pub fn select_query(querystring: &str, selects: impl Fn(&str) -> bool) -> Vec<&str> {
    querystring
        .split('&')
        .filter(|p| !p.is_empty())
        .filter(|p| selects(p.split_once('=').map_or(p, |(n, _)| n)))
        .collect()
}

/// The cookies of every `Cookie` line whose name `selects` accepts, `name=value`, in the
/// order received.
pub fn select_cookies(headers: &HeaderMap, selects: impl Fn(&str) -> bool) -> Vec<&str> {
    values(headers, "cookie")
        .flat_map(|line| line.split(';'))
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .filter(|c| selects(c.split_once('=').map_or(*c, |(n, _)| n).trim()))
        .collect()
}

/// What `Accept-Encoding` becomes under `policy`: CloudFront keys and forwards `br,gzip`,
/// `gzip` or `br` (only the codings the policy enables), or nothing.
pub fn normalized_accept_encoding(policy: &CachePolicy, headers: &HeaderMap) -> Option<&'static str> {
    let accepted = normalize_accept_encoding(values(headers, "accept-encoding"))?;
    let br = policy.accept_encoding_brotli && accepted.contains("br");
    let gzip = policy.accept_encoding_gzip && accepted.contains("gzip");
    match (br, gzip) {
        (true, true) => Some("br,gzip"),
        (true, false) => Some("br"),
        (false, true) => Some("gzip"),
        (false, false) => None,
    }
}

/// Whether the policy keys (and so forwards) `Accept-Encoding` at all.
pub fn keys_accept_encoding(policy: &CachePolicy) -> bool {
    policy.accept_encoding_gzip || policy.accept_encoding_brotli
}

/// The key of `request` under `policy` on the distribution `domain`.
pub fn cache_key(policy: &CachePolicy, request: &EdgeRequest, domain: &str) -> EdgeKey {
    let host = domain.to_ascii_lowercase();
    let headers = policy
        .headers
        .names()
        .into_iter()
        .filter(|name| name != "accept-encoding")
        .map(|name| {
            let joined = values(&request.headers, &name).collect::<Vec<_>>().join(",");
            (name, joined)
        })
        .collect();
    EdgeKey {
        head: request.method == Method::HEAD,
        host,
        path: request.uri.clone(),
        query: select_query(&request.querystring, |n| policy.query_strings.selects(n)).join("&"),
        headers,
        cookies: select_cookies(&request.headers, |n| policy.cookies.selects(n))
            .into_iter()
            .map(str::to_owned)
            .collect(),
        accept_encoding: normalized_accept_encoding(policy, &request.headers),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::fixtures::caching_policy;
    use crate::distribution::{KeyedHeaders, Selection};
    use crate::message::fixtures::get;

    fn policy(query: Selection, headers: KeyedHeaders, cookies: Selection) -> CachePolicy {
        CachePolicy {
            accept_encoding_brotli: false,
            query_strings: query,
            headers,
            cookies,
            ..caching_policy()
        }
    }

    fn request(query: &str, headers: &[(&'static str, &'static str)]) -> EdgeRequest {
        get("/a//b/../c", query, headers)
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn query_selection_keeps_the_order_received() {
        let by = |s: Selection, q: &'static str| -> Vec<&'static str> { select_query(q, |n| s.selects(n)) };
        assert_eq!(
            by(Selection::All, "b=1&a=2&utm_source=x&b=1"),
            ["b=1", "a=2", "utm_source=x", "b=1"]
        );
        assert!(by(Selection::None, "b=1&a=2").is_empty());
        let white = Selection::Whitelist {
            names: names(&["a", "c"]),
        };
        assert_eq!(by(white, "c=3&b=1&a=2&A=9"), ["c=3", "a=2"]);
        let except = Selection::AllExcept {
            names: names(&["utm_source"]),
        };
        assert_eq!(by(except, "utm_source=x&b&a=%31"), ["b", "a=%31"]);
    }

    #[test]
    fn the_path_and_query_are_keyed_as_received() {
        let p = policy(Selection::All, KeyedHeaders::None, Selection::None);
        let a = cache_key(&p, &request("b=1&a=2", &[("host", "Example.COM")]), "D1.cloudfront.net");
        let b = cache_key(&p, &request("a=2&b=1", &[("host", "example.com")]), "d1.cloudfront.net");
        assert_eq!(a.path, "/a//b/../c");
        assert_eq!(a.host, "d1.cloudfront.net");
        assert_ne!(a, b, "CloudFront does not sort the query");
    }

    #[test]
    fn the_viewers_host_is_not_in_the_key_unless_the_policy_names_it() {
        let p = policy(Selection::None, KeyedHeaders::None, Selection::None);
        let key = |host: &'static str| cache_key(&p, &request("", &[("host", host)]), "d1.cloudfront.net");
        assert_eq!(key("a.example"), key("b.example"));
        let named = policy(
            Selection::None,
            KeyedHeaders::Whitelist {
                names: names(&["Host"]),
            },
            Selection::None,
        );
        let key = |host: &'static str| cache_key(&named, &request("", &[("host", host)]), "d1.cloudfront.net");
        assert_ne!(key("a.example"), key("b.example"), "a policy naming Host keys it");
    }

    #[test]
    fn headers_cookies_and_encoding_as_the_policy_names_them() {
        let p = policy(
            Selection::None,
            KeyedHeaders::Whitelist {
                names: names(&["X-Tenant"]),
            },
            Selection::Whitelist {
                names: names(&["theme"]),
            },
        );
        let r = request(
            "x=1",
            &[
                ("x-tenant", "a"),
                ("x-other", "z"),
                ("cookie", "session=s; theme=dark"),
                ("accept-encoding", "br, gzip, deflate"),
            ],
        );
        let key = cache_key(&p, &r, "d1.cloudfront.net");
        assert_eq!(key.query, "");
        assert_eq!(key.headers, [("x-tenant".to_owned(), "a".to_owned())]);
        assert_eq!(key.cookies, ["theme=dark"]);
        assert_eq!(key.accept_encoding, Some("gzip"), "brotli is off in this policy");
        let identity = cache_key(&p, &request("", &[("accept-encoding", "identity")]), "d");
        assert_eq!(identity.accept_encoding, None);
        let off = CachePolicy {
            accept_encoding_gzip: false,
            ..p
        };
        assert_eq!(cache_key(&off, &r, "d").accept_encoding, None);
    }
}
