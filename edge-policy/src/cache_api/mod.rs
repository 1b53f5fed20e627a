//! Cloudflare's Cache API as a shared cache in front of the origin (workers.md): which
//! requests a Worker looks up and under which URL, and what reaches the origin
//! ([`cache_api_request`]); what a stored copy carries so that the one freshness model can
//! read it back ([`stored`]). The one `Cache-Control` a response leaves with is
//! [`crate::cache_control::decide_response`], as on CloudFront.
//!
//! The Cache API keeps a response for its `s-maxage` and ignores RFC 5861's windows, so a
//! copy is stored for its whole usable life (`public, s-maxage=<ttl + max(swr, sie)>`, see
//! [`StoredCopy::storage_headers`]) and carries the policy's own facts in
//! [`PRIVATE_HEADERS`], which are removed before any viewer sees a response. The Worker only
//! moves bytes between `worker` types and these functions; no rule lives in it.

mod invalidate;
mod stored;

pub use invalidate::{invalidated_urls, is_unsafe};
pub use stored::{
    dropped_from_stored, is_origin_error, is_private_header, kept_over_304, NotStored, Received, StoredCopy, BOUNDS,
    POLICY_CACHE_CONTROL, PRIVATE_HEADERS, STORED_AT, VALIDATOR_GRACE_SECS, VIEWER_CACHE_CONTROL,
};

use crate::headers::is_unkeyed;
use crate::key::{canonical_of_rewrite, CacheKey};
use crate::path::normalize_path;
use crate::rules::{Route, RuleSet};
use crate::trigger::{viewer_request, Passthrough, ViewerOutcome};
use crate::view::{HeaderEdit, RequestView};

/// Why a request is never looked up nor stored (workers.md step 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BypassReason {
    /// The route is private by rule.
    PrivateRoute,
    /// The request carries the viewer's credential ([`crate::headers::viewer_credential`]).
    Credential,
    /// A method other than `GET`/`HEAD`.
    Method,
    /// The path does not start with `/`: the policy won't rewrite it.
    UriNotAbsolute,
    /// The rewritten URL would exceed 8,192 bytes, so it was kept as received: the policy
    /// didn't rewrite it, and no URL built from it is safe to share.
    UrlKept,
}

impl BypassReason {
    /// A stable label for logs and `Cache-Status` details.
    pub fn label(self) -> &'static str {
        match self {
            BypassReason::PrivateRoute => "private-route",
            BypassReason::Credential => "credential",
            BypassReason::Method => "method",
            BypassReason::UriNotAbsolute => "uri-not-absolute",
            BypassReason::UrlKept => "url-kept",
        }
    }
}

/// Which of the viewer's headers travel to the origin (after [`OriginRequest::edits`]).
#[derive(Debug, Clone, Copy)]
enum Forwarded<'r> {
    /// A shared fetch: only what the key holds (`accept-encoding`, the kept `cookie`, the
    /// route's key headers), as CloudFront's public origin request policy forwards only the
    /// key, plus the route's `forward_headers` (forwarded, never keyed: an answer whose `Vary`
    /// names one is not shared, rule 3). Nothing else reaches an answer that many viewers
    /// will share, and the viewer's own conditional headers never reach it (the Worker sends
    /// its validators).
    Keyed(&'r Route),
    /// A private fetch: every header the viewer sent (less the unkeyed ones, by the edits).
    All,
}

/// The request the Worker sends to the origin.
#[derive(Debug, Clone)]
pub struct OriginRequest<'a, 'r> {
    /// `GET` for a lookup, `HEAD` included (the Cache API stores `GET` answers only, and a
    /// `HEAD` is answered from the `GET` entry, workers.md step 7); the viewer's otherwise.
    pub method: &'a str,
    /// The path: normalized, or as received when the policy didn't rewrite it.
    pub uri: String,
    /// The query string without `?`.
    pub querystring: String,
    /// Edits to the viewer's headers before the filter of [`OriginRequest::forwards`].
    pub edits: Vec<HeaderEdit<'a>>,
    /// The route, for deciding the response; `None` for a method the policy doesn't
    /// normalize (its answer keeps the origin's directives, or gets `no-store`).
    pub route: Option<&'r Route>,
    forwarded: Forwarded<'r>,
}

impl OriginRequest<'_, '_> {
    /// Whether a viewer header (lower-case name; its value after [`OriginRequest::edits`])
    /// travels to the origin. `host` never does: the origin URL sets it.
    pub fn forwards(&self, name: &str) -> bool {
        if name == "host" {
            return false;
        }
        match self.forwarded {
            Forwarded::All => true,
            Forwarded::Keyed(route) => {
                name == "accept-encoding"
                    || (name == "cookie" && !route.cookies.is_empty())
                    || route.key_headers.iter().any(|h| h == name)
                    || route.forward_headers.iter().any(|h| h == name)
            }
        }
    }
}

/// What the Worker does with a request: looked up under a URL, or bypassed.
#[derive(Debug, Clone)]
pub enum CacheApiRequest<'a, 'r> {
    /// Looked up in the Cache API under `url`; on a miss the origin is asked with `origin`
    /// and a shareable answer is stored under `url`.
    Lookup {
        /// The request for the origin.
        origin: OriginRequest<'a, 'r>,
        /// The canonical key (for logs: the URL is what the Cache API keys on).
        key: CacheKey,
        /// The Cache API URL ([`crate::CanonicalRequest::url`]).
        url: String,
    },
    /// Never looked up, never stored: forwarded with `origin`.
    Bypass {
        /// The request for the origin.
        origin: OriginRequest<'a, 'r>,
        /// Why.
        reason: BypassReason,
    },
}

/// Decides once what happens to a viewer request (workers.md steps 1–3): normalized by
/// [`viewer_request`], keyed by the canonical request, bypassed where cache-key.md says so
/// and also where the policy did not rewrite the URL. `host` is the request URL's host
/// (with its port, if any).
pub fn cache_api_request<'a, 'r>(rules: &'r RuleSet, host: &str, request: &RequestView<'a>) -> CacheApiRequest<'a, 'r> {
    let rewrite = match viewer_request(rules, request) {
        ViewerOutcome::Rewrite(rewrite) => rewrite,
        ViewerOutcome::Passthrough(passthrough) => {
            let (reason, route) = match passthrough {
                Passthrough::MethodNotNormalized => (BypassReason::Method, None),
                Passthrough::UriNotAbsolute => (
                    BypassReason::UriNotAbsolute,
                    Some(rules.route_for(&normalize_path(request.uri, true))),
                ),
            };
            // cache-key.md: the header rules apply on every passthrough too.
            let mut edits: Vec<HeaderEdit<'a>> = Vec::new();
            for (name, _) in request.headers {
                if is_unkeyed(name) && !edits.contains(&HeaderEdit::Remove(name)) {
                    edits.push(HeaderEdit::Remove(name));
                }
            }
            let origin = OriginRequest {
                method: request.method,
                uri: request.uri.to_owned(),
                querystring: request.querystring.to_owned(),
                edits,
                route,
                forwarded: Forwarded::All,
            };
            return CacheApiRequest::Bypass { origin, reason };
        }
    };
    let (route, url_kept) = (rewrite.route, rewrite.url_kept);
    let (canonical, edits) = canonical_of_rewrite(host, request, rewrite);
    let reason = if route.is_bypass() {
        Some(BypassReason::PrivateRoute)
    } else if canonical.bypass {
        Some(BypassReason::Credential)
    } else if url_kept {
        Some(BypassReason::UrlKept)
    } else {
        None
    };
    // `url()` declines only a URL kept as received, which is already a bypass reason.
    let lookup = match reason {
        None => canonical.url().ok_or(BypassReason::UrlKept),
        Some(reason) => Err(reason),
    };
    let (method, forwarded) = match lookup {
        Ok(_) => ("GET", Forwarded::Keyed(route)),
        Err(_) => (request.method, Forwarded::All),
    };
    let origin = OriginRequest {
        method,
        uri: canonical.uri,
        querystring: canonical.querystring,
        edits,
        route: Some(route),
        forwarded,
    };
    match lookup {
        Ok(url) => CacheApiRequest::Lookup {
            origin,
            key: canonical.key,
            url,
        },
        Err(reason) => CacheApiRequest::Bypass { origin, reason },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;
    use crate::view::HeaderField;

    fn request<'a>(method: &'a str, uri: &'a str, qs: &'a str, headers: &'a [HeaderField<'a>]) -> RequestView<'a> {
        RequestView {
            method,
            uri,
            querystring: qs,
            headers,
        }
    }

    fn lookup_url(req: &RequestView<'_>) -> Option<String> {
        match cache_api_request(RuleSet::embedded(), "api.example.com", req) {
            CacheApiRequest::Lookup { url, .. } => Some(url),
            CacheApiRequest::Bypass { .. } => None,
        }
    }

    fn bypass_reason(req: &RequestView<'_>) -> Option<BypassReason> {
        match cache_api_request(RuleSet::embedded(), "api.example.com", req) {
            CacheApiRequest::Lookup { .. } => None,
            CacheApiRequest::Bypass { reason, .. } => Some(reason),
        }
    }

    #[test]
    fn tracking_and_reordered_variants_share_one_url() {
        let a = lookup_url(&request(
            "GET",
            "/api/products",
            "utm_source=x&sort=price&category=books",
            &[],
        ));
        let b = lookup_url(&request(
            "GET",
            "/api/products",
            "category=books&sort=price&fbclid=1",
            &[],
        ));
        assert_eq!(
            a.as_deref(),
            Some("https://api.example.com/api/products?category=books&sort=price")
        );
        assert_eq!(a, b);
    }

    #[test]
    fn head_is_looked_up_and_fetched_as_get() {
        let req = request("HEAD", "/api/products/1", "", &[]);
        match cache_api_request(RuleSet::embedded(), "h", &req) {
            CacheApiRequest::Lookup { origin, url, .. } => {
                assert_eq!(origin.method, "GET");
                assert_eq!(url, "https://h/api/products/1");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn private_routes_credentials_methods_and_kept_urls_bypass() {
        assert_eq!(
            bypass_reason(&request("GET", "/api/me", "", &[])),
            Some(BypassReason::PrivateRoute)
        );
        assert_eq!(
            bypass_reason(&request("GET", "/API/Me;x.css", "", &[])),
            Some(BypassReason::PrivateRoute)
        );
        assert_eq!(
            bypass_reason(&request("GET", "/api/products", "", &[("authorization", "Bearer u")])),
            Some(BypassReason::Credential)
        );
        assert_eq!(
            bypass_reason(&request(
                "GET",
                "/api/products",
                "",
                &[("x-viewer-authorization", "Bearer u")]
            )),
            Some(BypassReason::Credential)
        );
        assert_eq!(
            bypass_reason(&request("POST", "/api/products", "", &[])),
            Some(BypassReason::Method)
        );
        let long = format!("/{}", "a".repeat(9000));
        assert_eq!(
            bypass_reason(&request("GET", &long, "", &[])),
            Some(BypassReason::UrlKept)
        );
    }

    #[test]
    fn a_bypassed_head_keeps_its_method() {
        let req = request("HEAD", "/api/me", "", &[]);
        match cache_api_request(RuleSet::embedded(), "h", &req) {
            CacheApiRequest::Bypass { origin, .. } => assert_eq!(origin.method, "HEAD"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_shared_fetch_forwards_only_what_the_key_holds() {
        let headers = [
            ("x-forwarded-host", "evil"),
            ("accept-encoding", "gzip, br"),
            ("cookie", "session=1"),
            ("if-none-match", "\"viewer\""),
            ("user-agent", "ua"),
            ("host", "api.example.com"),
        ];
        let req = request("GET", "/api/products/1", "", &headers);
        let CacheApiRequest::Lookup { origin, .. } = cache_api_request(RuleSet::embedded(), "h", &req) else {
            panic!("lookup expected");
        };
        let kept: Vec<&str> = headers.iter().map(|(n, _)| *n).filter(|n| origin.forwards(n)).collect();
        assert_eq!(kept, ["accept-encoding"]);
        assert!(origin.edits.contains(&HeaderEdit::Remove("x-forwarded-host")));
        assert!(origin.edits.contains(&HeaderEdit::Remove("cookie")));
    }

    #[test]
    fn a_bypass_forwards_every_header_but_host_and_the_unkeyed_ones() {
        let headers = [
            ("x-forwarded-host", "evil"),
            ("authorization", "Bearer u"),
            ("cookie", "session=1"),
            ("host", "h"),
        ];
        for method in ["GET", "POST"] {
            let req = request(method, "/api/me", "", &headers);
            let CacheApiRequest::Bypass { origin, .. } = cache_api_request(RuleSet::embedded(), "h", &req) else {
                panic!("bypass expected");
            };
            assert!(
                origin.forwards("authorization") && origin.forwards("cookie"),
                "{method}"
            );
            assert!(!origin.forwards("host"), "{method}");
            assert!(
                origin.edits.contains(&HeaderEdit::Remove("x-forwarded-host")),
                "{method}"
            );
        }
    }

    #[test]
    fn a_routes_forward_headers_reach_the_origin_unkeyed() {
        let mut route = Route::public("ctx", &["/*"]);
        route.forward_headers = vec!["x-request-context".into()];
        let rules = RuleSet::new(vec![route]).unwrap();
        let with = [("x-request-context", "a")];
        let CacheApiRequest::Lookup { origin, url, .. } =
            cache_api_request(&rules, "h", &request("GET", "/p", "", &with))
        else {
            panic!("lookup expected");
        };
        assert!(origin.forwards("x-request-context") && !origin.forwards("x-other"));
        let CacheApiRequest::Lookup { url: without, .. } =
            cache_api_request(&rules, "h", &request("GET", "/p", "", &[]))
        else {
            panic!("lookup expected");
        };
        assert_eq!(url, without, "forwarded, never keyed");
        // Rule 3: an answer varying on it is not shared.
        let decision = crate::cache_control::decide_response(
            Some(&rules.routes()[0]),
            Some(200),
            &[("vary", "X-Request-Context")],
            &[],
            0,
        );
        assert_eq!(decision.header_value(), "private, no-store");
    }

    #[test]
    fn keyed_cookies_and_headers_fold_into_the_url() {
        let mut route = Route::public("prefs", &["/*"]);
        route.cookies = vec!["theme".into()];
        route.key_headers = vec!["accept-language".into()];
        let rules = RuleSet::new(vec![route]).unwrap();
        let url_of =
            |headers: &[HeaderField<'_>]| match cache_api_request(&rules, "h", &request("GET", "/p", "", headers)) {
                CacheApiRequest::Lookup { url, origin, .. } => {
                    assert!(origin.forwards("cookie") && origin.forwards("accept-language"));
                    url
                }
                other => panic!("{other:?}"),
            };
        let dark = url_of(&[("cookie", "theme=dark; session=1")]);
        let light = url_of(&[("cookie", "theme=light")]);
        let none = url_of(&[("cookie", "session=2")]);
        assert_eq!(dark, "https://h/p?|cookie=theme%3Ddark");
        assert_ne!(dark, light);
        assert_eq!(none, "https://h/p");
        assert_ne!(url_of(&[("accept-language", "fr")]), none);
    }
}
