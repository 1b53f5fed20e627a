//! Cloudflare's Cache API as a shared cache in front of the origin (workers.md): which
//! requests a Worker looks up and under which URL, what reaches the origin, the one
//! `Cache-Control` a response leaves with, and what a stored copy carries so that the one
//! freshness model ([`crate::cache_control::freshness`]) can read it back.
//!
//! The Cache API keeps a response for its `s-maxage` and ignores RFC 5861's windows, so a
//! copy is stored for its whole usable life (`public, s-maxage=<ttl + max(swr, sie)>`, see
//! [`StoredCopy::storage_headers`]) and carries the policy's own facts in
//! [`PRIVATE_HEADERS`], which are removed before any viewer sees a response. The Worker only
//! moves bytes between `worker` types and these functions; no rule lives in it.

use crate::cache_control::{CacheControl, FreshnessState, Lifetime, TtlBounds};
use crate::headers::is_unkeyed;
use crate::key::{canonical_of_rewrite, CacheKey};
use crate::path::normalize_path;
use crate::rules::{Route, RuleSet};
pub use crate::trigger::{decide_response, ResponseDecision};
use crate::trigger::{viewer_request, HeaderEdit, HeaderField, Passthrough, RequestView, ViewerOutcome};

/// When the copy was stored: milliseconds since the Unix epoch, decimal.
pub const STORED_AT: &str = "x-edge-stored-at";

/// The policy's one `Cache-Control` for the copy: what a viewer gets, and what its
/// [`Lifetime`] is read from. The stored `Cache-Control` is the storage line instead.
pub const POLICY_CACHE_CONTROL: &str = "x-edge-cache-control";

/// The private freshness headers: on stored copies only, never sent to a viewer.
pub const PRIVATE_HEADERS: &[&str] = &[STORED_AT, POLICY_CACHE_CONTROL];

/// Whether a lower-case header name is one of [`PRIVATE_HEADERS`]. Removed from every response
/// before a viewer sees it, including the origin's own (an origin can't plant them either:
/// a stored copy's are always the Worker's).
pub fn is_private_header(name: &str) -> bool {
    PRIVATE_HEADERS.contains(&name)
}

/// How long the Worker keeps a copy: no floor (a floor would store `private`/`no-store`
/// answers), nothing stored without an explicit lifetime (default 0: the Cache API has no
/// cache policy to supply one, and guessing shares more), at most one year (CloudFront's
/// default maximum TTL, so both CDNs keep a copy equally long).
pub const BOUNDS: TtlBounds = TtlBounds {
    min: 0,
    default: 0,
    max: 31_536_000,
};

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
    /// key. Nothing outside the key reaches an answer that many viewers will share, and the
    /// viewer's own conditional headers never reach it (the Worker sends its validator).
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

/// Whether an origin answer is an error that lets a copy inside `stale-if-error` be served
/// instead (as a network error or a timeout does, which the Worker sees itself): any `5xx`
/// (workers.md step 4). RFC 5861 §4 names fewer: "An error is any situation that would result
/// in a 500, 502, 503, or 504 HTTP response status code being returned"; serving the last good
/// shared copy for a `501` or `505` too shares nothing new, and a `5xx` is never stored.
pub fn is_origin_error(status: u16) -> bool {
    (500..=599).contains(&status)
}

/// Why a decided response is not put in the Cache API (workers.md, "Never").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// The decided header says `private` or `no-store`.
    ForbidsSharing,
    /// `Set-Cookie` is still on the response (the policy did not strip it): the Cache API
    /// would refuse it anyway, and a shared copy would hand one viewer's cookie to the next.
    SetCookie,
    /// A server error: never stored, so the last good copy keeps serving `stale-if-error`.
    ServerError,
    /// `206 Partial Content`: the Cache API refuses it (CloudFront caches ranges itself).
    PartialContent,
    /// No lifetime at all: fresh for 0 s and no stale window.
    NothingToKeep,
}

impl NotStored {
    /// A stable label for logs and `Cache-Status` details.
    pub fn label(self) -> &'static str {
        match self {
            NotStored::ForbidsSharing => "forbids-sharing",
            NotStored::SetCookie => "set-cookie",
            NotStored::ServerError => "server-error",
            NotStored::PartialContent => "partial-content",
            NotStored::NothingToKeep => "nothing-to-keep",
        }
    }
}

/// A copy in the Cache API: when it was stored and the policy's header it was decided with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCopy {
    /// When it was stored, ms since the Unix epoch.
    pub stored_at_ms: u64,
    /// The policy's header (what a viewer gets).
    pub cache_control: CacheControl,
    /// How long it is fresh and stale ([`BOUNDS`]).
    pub lifetime: Lifetime,
}

impl StoredCopy {
    /// A copy of a `GET` answer with `status`, decided with `decision`, to be stored at
    /// `now_ms`. `set_cookie_left`: the response still carries `Set-Cookie` after the
    /// decision's edits.
    pub fn new(
        decision: &ResponseDecision,
        status: u16,
        set_cookie_left: bool,
        now_ms: u64,
    ) -> Result<Self, NotStored> {
        if status >= 500 {
            return Err(NotStored::ServerError);
        }
        if status == 206 {
            return Err(NotStored::PartialContent);
        }
        let lifetime =
            Lifetime::from_cache_control(&decision.cache_control, BOUNDS).ok_or(NotStored::ForbidsSharing)?;
        if set_cookie_left {
            return Err(NotStored::SetCookie);
        }
        if lifetime.keep_secs() == 0 {
            return Err(NotStored::NothingToKeep);
        }
        Ok(StoredCopy {
            stored_at_ms: now_ms,
            cache_control: decision.cache_control.clone(),
            lifetime,
        })
    }

    /// The headers the stored copy is written with (each replaces every value of its name):
    /// the storage line `Cache-Control: public, s-maxage=<ttl + max(swr, sie)>`, the only
    /// thing the Cache API reads, and the private freshness headers.
    pub fn storage_headers(&self) -> [(&'static str, String); 3] {
        [
            (
                "cache-control",
                format!("public, s-maxage={}", self.lifetime.keep_secs()),
            ),
            (STORED_AT, self.stored_at_ms.to_string()),
            (POLICY_CACHE_CONTROL, self.cache_control.to_header_value()),
        ]
    }

    /// Reads a copy back from the headers the Cache API returned. `None` (a miss: fail
    /// closed) when a private header is missing, repeated or malformed, or when the policy
    /// header does not allow sharing.
    pub fn read<'h>(headers: impl IntoIterator<Item = (&'h str, &'h str)>) -> Option<Self> {
        let (mut stored_at, mut policy) = (None, None);
        for (name, value) in headers {
            let slot = match name {
                STORED_AT => &mut stored_at,
                POLICY_CACHE_CONTROL => &mut policy,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return None;
            }
        }
        let stored_at = stored_at?;
        if stored_at.is_empty() || stored_at.len() > 20 || !stored_at.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let stored_at_ms = stored_at.parse().ok()?;
        let cache_control = CacheControl::parse([policy?]);
        let lifetime = Lifetime::from_cache_control(&cache_control, BOUNDS)?;
        Some(StoredCopy {
            stored_at_ms,
            cache_control,
            lifetime,
        })
    }

    /// What the copy may do at `now_ms`.
    pub fn state(&self, now_ms: u64) -> FreshnessState {
        self.lifetime.state(self.stored_at_ms, now_ms)
    }

    /// `Age` at `now_ms`, seconds (RFC 9111 §5.1), rounded down; 0 after a clock step back.
    pub fn age_secs(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.stored_at_ms) / 1000
    }

    /// RFC 9211 §2.4 `ttl`: "the response's remaining freshness lifetime as calculated by the
    /// cache, as an integer number of seconds"; negative once stale.
    pub fn ttl_secs(&self, now_ms: u64) -> i64 {
        let ttl = i64::try_from(self.lifetime.ttl).unwrap_or(i64::MAX);
        let age = i64::try_from(self.age_secs(now_ms)).unwrap_or(i64::MAX);
        ttl.saturating_sub(age)
    }

    /// The policy's header, as the viewer gets it (with `Age` beside it).
    pub fn viewer_cache_control(&self) -> String {
        self.cache_control.to_header_value()
    }
}

/// The conditional header a revalidation sends for a stored copy (RFC 9111 §4.3.1): its
/// `ETag` as `If-None-Match`, else its `Last-Modified` as `If-Modified-Since`.
pub fn validator<'h>(stored: &[HeaderField<'h>]) -> Option<(&'static str, &'h str)> {
    let first = |name: &str| stored.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    first("etag")
        .map(|v| ("if-none-match", v))
        .or_else(|| first("last-modified").map(|v| ("if-modified-since", v)))
}

/// Whether a header of a `304` replaces the stored copy's. RFC 9111 §4.3.4: the cache "MUST
/// use other header fields provided in the 304 (Not Modified) response to replace all
/// instances of the corresponding header fields in the stored response", with §3.2's
/// exceptions: `Content-Length`, the fields §3.1 excludes from storage (`Connection` and
/// hop-by-hop fields, `Proxy-*`), and fields the stored body depends on (`Content-Encoding`,
/// `Content-Range`). `Cache-Control`, `Age`, `Set-Cookie` and the private headers are never
/// taken from it either: the policy writes the first and the last, the Worker computes
/// `Age`, and a copy never holds `Set-Cookie`.
pub fn refreshed_by_304(name: &str) -> bool {
    !matches!(
        name,
        "content-length"
            | "content-encoding"
            | "content-range"
            | "transfer-encoding"
            | "connection"
            | "keep-alive"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-authenticate"
            | "proxy-authentication-info"
            | "proxy-authorization"
            | "proxy-connection"
            | "cache-control"
            | "age"
            | "set-cookie"
    ) && !is_private_header(name)
}

/// Headers a stored copy never carries: `Age` (the Worker computes it from
/// [`STORED_AT`]; the Cache API would also shorten its keep by it) and `Set-Cookie`.
pub fn dropped_from_stored(name: &str) -> bool {
    matches!(name, "age" | "set-cookie")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

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

    fn decided(route: &Route, status: u16, response: &[HeaderField<'_>]) -> ResponseDecision {
        decide_response(Some(route), Some(status), response, &[], 0)
    }

    #[test]
    fn a_304_is_decided_as_a_200_of_its_route() {
        let route = RuleSet::embedded().route_for("/api/products/1");
        assert_eq!(
            decided(route, 304, &[]).header_value(),
            decided(route, 200, &[]).header_value()
        );
        assert_eq!(
            decided(route, 304, &[]).header_value(),
            "public, max-age=60, s-maxage=300, stale-while-revalidate=86400, stale-if-error=86400"
        );
    }

    #[test]
    fn an_unnormalized_method_keeps_the_origins_directives_or_gets_no_store() {
        assert_eq!(decide_response(None, Some(200), &[], &[], 0).header_value(), "no-store");
        assert_eq!(
            decide_response(None, Some(200), &[("cache-control", "max-age=5")], &[], 0).header_value(),
            "max-age=5"
        );
    }

    #[test]
    fn every_5xx_counts_as_an_origin_error() {
        for s in [500, 501, 502, 503, 504, 505, 599] {
            assert!(is_origin_error(s), "{s}");
        }
        for s in [200, 304, 404, 499, 600] {
            assert!(!is_origin_error(s), "{s}");
        }
    }

    fn copy(route: &Route, status: u16, response: &[HeaderField<'_>]) -> Result<StoredCopy, NotStored> {
        let decision = decided(route, status, response);
        let set_cookie_left = !decision.strip_set_cookie && response.iter().any(|(n, _)| *n == "set-cookie");
        StoredCopy::new(&decision, status, set_cookie_left, 1_000_000)
    }

    #[test]
    fn what_is_never_stored() {
        let rules = RuleSet::embedded();
        let products = rules.route_for("/api/products/1");
        let private = rules.route_for("/api/me");
        let statics = rules.route_for("/static/app.js");
        assert_eq!(copy(private, 200, &[]), Err(NotStored::ForbidsSharing));
        assert_eq!(
            copy(products, 200, &[("cache-control", "private, max-age=60")]),
            Err(NotStored::ForbidsSharing)
        );
        assert_eq!(
            copy(products, 200, &[("set-cookie", "s=1")]),
            Err(NotStored::ForbidsSharing)
        );
        assert_eq!(copy(products, 503, &[]), Err(NotStored::ServerError));
        assert_eq!(
            copy(products, 503, &[("cache-control", "public, s-maxage=60")]),
            Err(NotStored::ServerError)
        );
        assert_eq!(
            copy(products, 206, &[("cache-control", "public, s-maxage=60")]),
            Err(NotStored::PartialContent)
        );
        assert_eq!(
            copy(
                products,
                200,
                &[(
                    "cache-control",
                    "s-maxage=0, stale-while-revalidate=0, stale-if-error=0"
                )]
            ),
            Err(NotStored::NothingToKeep)
        );
        // A stripped Set-Cookie is stored; one that is still there never is.
        assert!(copy(statics, 200, &[("set-cookie", "s=1")]).is_ok());
        let decision = decided(products, 200, &[]);
        assert_eq!(StoredCopy::new(&decision, 200, true, 0), Err(NotStored::SetCookie));
    }

    #[test]
    fn the_stored_copy_keeps_its_whole_usable_life_and_reads_back() {
        let products = RuleSet::embedded().route_for("/api/products/1");
        let stored = copy(products, 200, &[]).unwrap();
        let headers = stored.storage_headers();
        assert_eq!(headers[0], ("cache-control", "public, s-maxage=86700".to_owned()));
        assert_eq!(headers[1], (STORED_AT, "1000000".to_owned()));
        let fields: Vec<HeaderField<'_>> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let read = StoredCopy::read(fields.iter().copied()).unwrap();
        assert_eq!(read, stored);
        assert_eq!(read.viewer_cache_control(), decided(products, 200, &[]).header_value());
        assert_eq!(read.state(1_000_000 + 299_999), FreshnessState::Fresh);
        assert_eq!(read.ttl_secs(1_000_000 + 100_500), 200);
        assert_eq!(read.age_secs(1_000_000 + 100_500), 100);
        assert_eq!(read.state(1_000_000 + 300_000), FreshnessState::StaleWhileRevalidate);
        assert_eq!(read.ttl_secs(1_000_000 + 310_000), -10);
        assert_eq!(read.state(1_000_000 + 86_700_000), FreshnessState::Expired);
    }

    #[test]
    fn an_unreadable_stored_copy_is_a_miss() {
        let policy = (POLICY_CACHE_CONTROL, "public, s-maxage=60");
        assert!(StoredCopy::read([(STORED_AT, "5"), policy]).is_some());
        for broken in [
            vec![policy],
            vec![(STORED_AT, "5")],
            vec![(STORED_AT, ""), policy],
            vec![(STORED_AT, "-5"), policy],
            vec![(STORED_AT, "5.0"), policy],
            vec![(STORED_AT, "999999999999999999999"), policy],
            vec![(STORED_AT, "5"), (STORED_AT, "6"), policy],
            vec![(STORED_AT, "5"), policy, (POLICY_CACHE_CONTROL, "no-store")],
            vec![(STORED_AT, "5"), (POLICY_CACHE_CONTROL, "private, max-age=60")],
        ] {
            assert_eq!(StoredCopy::read(broken.iter().copied()), None, "{broken:?}");
        }
    }

    #[test]
    fn the_validator_prefers_the_etag() {
        assert_eq!(
            validator(&[("last-modified", "x"), ("etag", "\"e\"")]),
            Some(("if-none-match", "\"e\""))
        );
        assert_eq!(validator(&[("last-modified", "x")]), Some(("if-modified-since", "x")));
        assert_eq!(validator(&[]), None);
    }

    #[test]
    fn a_304_refreshes_only_what_rfc_9111_lets_it() {
        for name in ["etag", "date", "expires", "content-type", "x-custom"] {
            assert!(refreshed_by_304(name), "{name}");
        }
        for name in [
            "content-length",
            "content-encoding",
            "connection",
            "cache-control",
            "age",
            "set-cookie",
            STORED_AT,
        ] {
            assert!(!refreshed_by_304(name), "{name}");
        }
    }
}
