//! A copy in the Cache API (workers.md, "Stored copies"): whether a decided answer is stored,
//! the headers it is stored with, and reading it back. Its freshness is its [`Stamp`]'s, on
//! the wall clock (the Cache API is shared by every isolate of a data centre).

use crate::cache_control::{CacheControl, Lifetime, ResponseDecision, Stamp, TtlBounds};

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
    /// When it was stored (ms since the Unix epoch) and how long it is fresh and stale
    /// ([`BOUNDS`]).
    pub stamp: Stamp,
    /// The policy's header (what a viewer gets).
    pub cache_control: CacheControl,
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
            stamp: Stamp::new(now_ms, lifetime),
            cache_control: decision.cache_control.clone(),
        })
    }

    /// The headers the stored copy is written with (each replaces every value of its name):
    /// the storage line `Cache-Control: public, s-maxage=<ttl + max(swr, sie)>`, the only
    /// thing the Cache API reads, and the private freshness headers.
    pub fn storage_headers(&self) -> [(&'static str, String); 3] {
        [
            (
                "cache-control",
                format!("public, s-maxage={}", self.stamp.lifetime.keep_secs()),
            ),
            (STORED_AT, self.stamp.stored_at_ms.to_string()),
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
            stamp: Stamp::new(stored_at_ms, lifetime),
            cache_control,
        })
    }

    /// The policy's header, as the viewer gets it (with `Age` beside it).
    pub fn viewer_cache_control(&self) -> String {
        self.cache_control.to_header_value()
    }
}

/// The Worker's own additions to the `304` merge ([`crate::validation::merge_not_modified`]):
/// it keeps the copy's `Cache-Control` (the policy decides it again, from the `304`'s
/// directives when it sends some), `Age` (computed from [`STORED_AT`]) and the private
/// headers (written by the Worker only).
pub fn kept_over_304(name: &str) -> bool {
    matches!(name, "cache-control" | "age") || is_private_header(name)
}

/// Headers a stored copy never carries: `Age` (the Worker computes it from
/// [`STORED_AT`]; the Cache API would also shorten its keep by it) and `Set-Cookie`.
pub fn dropped_from_stored(name: &str) -> bool {
    matches!(name, "age" | "set-cookie")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_control::{decide_response, FreshnessState};
    use crate::rules::{Route, RuleSet};
    use crate::validation::updated_by_304;
    use crate::view::HeaderField;

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
        assert_eq!(read.stamp.state(1_000_000 + 299_999), FreshnessState::Fresh);
        assert_eq!(read.stamp.ttl_secs(1_000_000 + 100_500), 200);
        assert_eq!(read.stamp.age_secs(1_000_000 + 100_500), 100);
        assert_eq!(
            read.stamp.state(1_000_000 + 300_000),
            FreshnessState::StaleWhileRevalidate
        );
        assert_eq!(read.stamp.ttl_secs(1_000_000 + 310_000), -10);
        assert_eq!(read.stamp.state(1_000_000 + 86_700_000), FreshnessState::Expired);
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
    fn a_304_refreshes_only_what_rfc_9111_lets_it() {
        let refreshed = |name: &str| updated_by_304(name) && !kept_over_304(name);
        for name in ["etag", "date", "expires", "content-type", "x-custom"] {
            assert!(refreshed(name), "{name}");
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
            assert!(!refreshed(name), "{name}");
        }
    }
}
