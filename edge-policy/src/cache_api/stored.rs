//! A copy in the Cache API (workers.md, "Stored copies"): whether a decided answer is stored,
//! the headers it is stored with, and reading it back. Its freshness is its [`Stamp`]'s, on
//! the wall clock (the Cache API is shared by every isolate of a data centre), and counts
//! the age the answer already had when it arrived (RFC 9111 §4.2.3, computed once, at
//! receipt: [`crate::cache_control::initial_age_ms`]).

use crate::cache_control::{initial_age_ms, CacheControl, Lifetime, ResponseDecision, Stamp, TtlBounds};
use crate::validation::Validators;
use crate::view::HeaderField;

/// When the copy was stored: milliseconds since the Unix epoch, decimal.
pub const STORED_AT: &str = "x-edge-stored-at";

/// The policy's one `Cache-Control` for the copy: what a viewer gets, and what its
/// [`Lifetime`] is read from. The stored `Cache-Control` is the storage line instead.
pub const POLICY_CACHE_CONTROL: &str = "x-edge-cache-control";

/// The viewer's `Cache-Control` for the copy, when it differs from [`POLICY_CACHE_CONTROL`]:
/// `CDN-Cache-Control` set the edge's lifetime, which the viewer never sees.
pub const VIEWER_CACHE_CONTROL: &str = "x-edge-viewer-cache-control";

/// The private freshness headers: on stored copies only, never sent to a viewer.
pub const PRIVATE_HEADERS: &[&str] = &[STORED_AT, POLICY_CACHE_CONTROL, VIEWER_CACHE_CONTROL];

/// How long past its last window a copy with a validator (`ETag` or `Last-Modified`) stays
/// in the Cache API, seconds: long enough to revalidate it (RFC 9111 §4.3.1) instead of
/// fetching it whole, as the local edge keeps its entries (`local_edge::cache::VALIDATOR_GRACE`).
/// The policy still decides freshness: past its windows the copy is only a validator.
pub const VALIDATOR_GRACE_SECS: u64 = 3600;

/// When the origin was asked and when its answer came, ms on the wall clock: the times
/// RFC 9111 §4.2.3 calls `request_time` and `response_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Received {
    /// When the request was sent.
    pub request_ms: u64,
    /// When the answer was received.
    pub response_ms: u64,
}

impl Received {
    /// An answer received at `at_ms` with no time in flight (tests, or a refresh whose
    /// request time is not known).
    pub fn at(at_ms: u64) -> Self {
        Received {
            request_ms: at_ms,
            response_ms: at_ms,
        }
    }
}

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
    /// No lifetime left (fresh for 0 s, no stale window, or older than that at receipt) and
    /// no validator to revalidate it with.
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
    /// When it was stored (ms since the Unix epoch, less the age it arrived with) and how
    /// long it is fresh and stale ([`BOUNDS`]).
    pub stamp: Stamp,
    /// The policy's header the copy's lifetime is read from (the edge's own line when
    /// `CDN-Cache-Control` set it: [`ResponseDecision::edge_cache_control`]).
    pub cache_control: CacheControl,
    /// What a viewer gets when that differs ([`ResponseDecision::viewer_cache_control`]).
    pub viewer: Option<CacheControl>,
    /// The copy has a validator: it is kept [`VALIDATOR_GRACE_SECS`] past its last window.
    pub validated: bool,
}

impl StoredCopy {
    /// A copy of a `GET` answer with `status` and `headers` (as they leave, after the
    /// decision's edits), decided with `decision` and `received` when `received` says. Its age
    /// at receipt is read from the answer's `Age` and `Date` (RFC 9111 §4.2.3), once.
    pub fn new(
        decision: &ResponseDecision,
        status: u16,
        headers: &[HeaderField<'_>],
        received: Received,
    ) -> Result<Self, NotStored> {
        if status >= 500 {
            return Err(NotStored::ServerError);
        }
        if status == 206 {
            return Err(NotStored::PartialContent);
        }
        let edge = decision.edge_cache_control();
        let lifetime = Lifetime::from_cache_control(edge, BOUNDS).ok_or(NotStored::ForbidsSharing)?;
        let first = |name: &str| headers.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        if first("set-cookie").is_some() {
            return Err(NotStored::SetCookie);
        }
        let initial_age = initial_age_ms(first("age"), first("date"), received.request_ms, received.response_ms);
        let copy = StoredCopy {
            stamp: Stamp::received(received.response_ms, initial_age, lifetime),
            cache_control: edge.clone(),
            viewer: decision.cdn.as_ref().map(|lines| lines.viewer.clone()),
            validated: !Validators::of(headers).is_empty(),
        };
        if copy.keep_secs(received.response_ms) == 0 {
            return Err(NotStored::NothingToKeep);
        }
        Ok(copy)
    }

    /// How long, from `now_ms`, the Cache API keeps the copy: to the end of its last window
    /// (rounded up), plus [`VALIDATOR_GRACE_SECS`] when it has a validator.
    pub fn keep_secs(&self, now_ms: u64) -> u64 {
        let windows = self.stamp.keep_ms(now_ms).div_ceil(1000);
        windows + if self.validated { VALIDATOR_GRACE_SECS } else { 0 }
    }

    /// The headers the stored copy is written with at `now_ms` (each replaces every value of
    /// its name, the last is set only when there is a viewer line): the storage line
    /// `Cache-Control: public, s-maxage=<`[`StoredCopy::keep_secs`]`>`, the only thing the
    /// Cache API reads, and the private freshness headers.
    pub fn storage_headers(&self, now_ms: u64) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("cache-control", format!("public, s-maxage={}", self.keep_secs(now_ms))),
            (STORED_AT, self.stamp.stored_at_ms.to_string()),
            (POLICY_CACHE_CONTROL, self.cache_control.to_header_value()),
        ];
        if let Some(viewer) = &self.viewer {
            headers.push((VIEWER_CACHE_CONTROL, viewer.to_header_value()));
        }
        headers
    }

    /// Reads a copy back from the headers the Cache API returned. `None` (a miss: fail
    /// closed) when a private header is missing, repeated or malformed, or when the policy
    /// header (or the viewer's) does not allow sharing.
    pub fn read<'h>(headers: impl IntoIterator<Item = (&'h str, &'h str)>) -> Option<Self> {
        let (mut stored_at, mut policy, mut viewer) = (None, None, None);
        let (mut etag, mut last_modified) = (false, false);
        for (name, value) in headers {
            let slot = match name {
                STORED_AT => &mut stored_at,
                POLICY_CACHE_CONTROL => &mut policy,
                VIEWER_CACHE_CONTROL => &mut viewer,
                "etag" => {
                    etag = true;
                    continue;
                }
                "last-modified" => {
                    last_modified = true;
                    continue;
                }
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
        let viewer = viewer.map(|v| CacheControl::parse([v]));
        if viewer.as_ref().is_some_and(CacheControl::forbids_sharing) {
            return None;
        }
        Some(StoredCopy {
            stamp: Stamp::new(stored_at_ms, lifetime),
            cache_control,
            viewer,
            validated: etag || last_modified,
        })
    }

    /// The policy's header, as the viewer gets it (with `Age` beside it).
    pub fn viewer_cache_control(&self) -> String {
        self.viewer.as_ref().unwrap_or(&self.cache_control).to_header_value()
    }
}

/// The Worker's own additions to the `304` merge ([`crate::validation::merge_not_modified`]):
/// it keeps the copy's `Cache-Control` (the policy decides it again, from the `304`'s
/// directives when it sends some) and the private headers (written by the Worker only). A
/// `304`'s `Age` is merged: it counts toward the refreshed copy's age at receipt, and is
/// then dropped from what is stored ([`dropped_from_stored`]).
pub fn kept_over_304(name: &str) -> bool {
    name == "cache-control" || is_private_header(name)
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
        let left: Vec<HeaderField<'_>> = response
            .iter()
            .copied()
            .filter(|(n, _)| !(decision.strip_set_cookie && *n == "set-cookie"))
            .collect();
        StoredCopy::new(&decision, status, &left, Received::at(1_000_000))
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
        assert_eq!(
            StoredCopy::new(&decision, 200, &[("set-cookie", "s=1")], Received::at(0)),
            Err(NotStored::SetCookie)
        );
        // Nothing left to keep, but a validator: kept for its grace, to be revalidated.
        let grace = copy(
            products,
            200,
            &[
                (
                    "cache-control",
                    "s-maxage=0, stale-while-revalidate=0, stale-if-error=0",
                ),
                ("etag", "\"v\""),
            ],
        )
        .unwrap();
        assert_eq!(grace.storage_headers(1_000_000)[0].1, "public, s-maxage=3600");
        assert_eq!(grace.stamp.state(1_000_000), FreshnessState::Expired);
    }

    #[test]
    fn a_copy_that_arrives_old_is_kept_for_what_is_left() {
        // A 250-s-old copy from a shared cache upstream, on a 300-s lifetime: 50 s left.
        let products = RuleSet::embedded().route_for("/api/products/1");
        let aged = [
            (
                "cache-control",
                "public, s-maxage=300, stale-while-revalidate=0, stale-if-error=0",
            ),
            ("age", "250"),
        ];
        let received = Received {
            request_ms: 1_000_000,
            response_ms: 1_000_000,
        };
        let decision = decided(products, 200, &aged);
        let copy = StoredCopy::new(&decision, 200, &aged, received).unwrap();
        assert_eq!(copy.stamp.ttl_secs(1_000_000), 50);
        assert_eq!(copy.stamp.age_secs(1_000_000), 250);
        assert_eq!(copy.storage_headers(1_000_000)[0].1, "public, s-maxage=50");
        // The origin's own L2 answer says what is left and sends no Age: 50 s too, never 0.
        let l2 = [(
            "cache-control",
            "public, max-age=0, s-maxage=50, stale-while-revalidate=0, stale-if-error=0",
        )];
        let copy = StoredCopy::new(&decided(products, 200, &l2), 200, &l2, received).unwrap();
        assert_eq!(copy.stamp.ttl_secs(1_000_000), 50);
        // Older than its whole life at receipt, and no validator: nothing to keep.
        let older = [
            (
                "cache-control",
                "public, s-maxage=300, stale-while-revalidate=0, stale-if-error=0",
            ),
            ("age", "400"),
        ];
        assert_eq!(
            StoredCopy::new(&decided(products, 200, &older), 200, &older, received),
            Err(NotStored::NothingToKeep)
        );
    }

    #[test]
    fn a_cdn_lifetime_is_stored_apart_from_the_viewers_line() {
        let default = RuleSet::embedded().route_for("/anything");
        let response = [("cache-control", "max-age=0"), ("cdn-cache-control", "max-age=300")];
        let stored = copy(default, 200, &response).unwrap();
        assert_eq!(stored.stamp.lifetime.ttl, 300);
        let headers = stored.storage_headers(1_000_000);
        let fields: Vec<HeaderField<'_>> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let read = StoredCopy::read(fields.iter().copied()).unwrap();
        assert_eq!(read, stored);
        assert_eq!(
            read.viewer_cache_control(),
            "public, max-age=0, stale-while-revalidate=300, stale-if-error=86400"
        );
    }

    #[test]
    fn the_stored_copy_keeps_its_whole_usable_life_and_reads_back() {
        let products = RuleSet::embedded().route_for("/api/products/1");
        let stored = copy(products, 200, &[]).unwrap();
        let headers = stored.storage_headers(1_000_000);
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
            vec![(STORED_AT, "5"), policy, (VIEWER_CACHE_CONTROL, "no-store")],
            vec![
                (STORED_AT, "5"),
                policy,
                (VIEWER_CACHE_CONTROL, "a"),
                (VIEWER_CACHE_CONTROL, "b"),
            ],
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
            "set-cookie",
            STORED_AT,
            VIEWER_CACHE_CONTROL,
        ] {
            assert!(!refreshed(name), "{name}");
        }
    }
}
