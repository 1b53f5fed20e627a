//! How long a shared cache keeps a decided response, and what a stored copy may do at a given
//! moment: the one freshness model of the project. The local edge's cache, the origin's L1
//! and L2 and the Cloudflare Worker ask it; nobody else does window arithmetic.
//!
//! Build a [`Lifetime`] from the one `Cache-Control` a response leaves with (after
//! [`super::decide`]) and the storing cache's [`TtlBounds`], stamp it with the time the copy
//! was stored ([`super::Stamp`]), then ask the stamp with an explicit `now`.
//!
//! # The reading, once
//!
//! - **TTL** (CloudFront, "Managing how long content stays in the cache", minimum TTL 0):
//!   `s-maxage`, else `max-age` (RFC 9111 §4.2.1: "If the cache is shared and the s-maxage
//!   response directive is present, use its value, or ... the max-age response directive"),
//!   bounded by the policy's minimum and maximum TTL; neither present: the policy's default
//!   TTL. `no-cache` (RFC 9111 §5.2.2.4: "MUST NOT be used to satisfy any other request
//!   without forwarding it for validation") is stored with a TTL of 0: every use revalidates.
//! - **Not stored**: `private` (§5.2.2.7) and `no-store` (§5.2.2.5), while the minimum TTL
//!   is 0. With a minimum TTL above 0 CloudFront stores even those for the minimum TTL,
//!   which is why every cache policy of the project keeps it 0; the model says so rather
//!   than hiding it.
//! - **Collapsing** ([`Lifetime::collapses`]): CloudFront collapses concurrent misses only
//!   when the answer's computed TTL is above 0 (`lambda-edge-rules.md`). `private`,
//!   `no-store`, `no-cache`, `s-maxage=0`, or `max-age=0` without `s-maxage` have a TTL of 0:
//!   every waiting viewer then gets its own origin request.
//! - **Stale windows** (RFC 5861): `stale-while-revalidate=N` (§3: "caches MAY serve the
//!   response in which it appears after it becomes stale, up to the indicated number of
//!   seconds") and `stale-if-error=N` (§4: "when an error is encountered, a cached stale
//!   response MAY be used to satisfy the request, regardless of other freshness
//!   information") both start when freshness ends and run independently: the copy is
//!   servable on error until `ttl + max(swr, sie)`.
//!
//! Deliberate departures from RFC 9111, listed together:
//! - `s-maxage` "incorporates the semantics of the proxy-revalidate response directive"
//!   (§5.2.2.10), which would forbid serving it stale. RFC 5861's explicit windows, sent in
//!   the same header, are honoured anyway, as CloudFront does (since May 2023).
//! - An explicit `no-cache`, `must-revalidate` or `proxy-revalidate` turns
//!   `stale-while-revalidate` off (the origin asked for validation before every reuse);
//!   `stale-if-error` still applies, as RFC 5861 §4 says ("regardless of other freshness
//!   information"): serving the last good public copy on an origin error shares nothing new.
//! - `Age` is not read here: a lifetime counts from the stamp. Where a cache reads `Age` (the
//!   Worker, RFC 9111 §4.2.3) it does so once, at receipt, by stamping the copy that much
//!   earlier ([`super::initial_age_ms`], [`super::Stamp::received`]). The local edge follows
//!   CloudFront, whose TTL comes from the directives alone (it documents no use of `Age`),
//!   and the origin sends its *remaining* freshness in `s-maxage` ([`CacheControl::aged`])
//!   with no `Age`, so no layer subtracts an age twice.

use super::{CacheControl, DELTA_SECONDS_MAX};

/// A cache policy's TTL settings, seconds (CloudFront's minimum, default and maximum TTL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TtlBounds {
    /// Minimum TTL. Keep 0: above 0 CloudFront stores even `no-store`/`private` responses.
    pub min: u64,
    /// TTL of a response with neither `s-maxage` nor `max-age`.
    pub default: u64,
    /// Upper bound on any TTL.
    pub max: u64,
}

impl TtlBounds {
    /// CloudFront's defaults for a cache policy with minimum TTL 0: default one day, maximum
    /// one year.
    pub const CLOUDFRONT: TtlBounds = TtlBounds {
        min: 0,
        default: 86_400,
        max: 31_536_000,
    };

    /// The origin's own layers (L1, L2): no floor, nothing stored without an explicit
    /// lifetime (default 0), no cap but RFC 9111's largest delta-seconds.
    pub const ORIGIN: TtlBounds = TtlBounds {
        min: 0,
        default: 0,
        max: DELTA_SECONDS_MAX,
    };
}

impl Default for TtlBounds {
    fn default() -> Self {
        TtlBounds::CLOUDFRONT
    }
}

/// How long a shared cache keeps a stored response: fresh for `ttl`, then servable stale
/// inside the two RFC 5861 windows, which both start when freshness ends. All seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Lifetime {
    /// Fresh for this many seconds after it was stored (the computed TTL).
    pub ttl: u64,
    /// Served stale at once, while one background request revalidates, for this many seconds
    /// after `ttl` (RFC 5861 §3).
    pub stale_while_revalidate: u64,
    /// Served stale when the origin fails, for this many seconds after `ttl` (RFC 5861 §4).
    pub stale_if_error: u64,
}

/// What a stored copy may do at a given moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FreshnessState {
    /// Fresh: serve it without asking the origin.
    Fresh,
    /// Stale, inside `stale-while-revalidate`: serve it at once and revalidate in the
    /// background (which also makes it usable on error).
    StaleWhileRevalidate,
    /// Stale, inside `stale-if-error` only: ask the origin; serve it only if the origin fails.
    StaleIfError,
    /// Past every window: a miss (a store may still lend its validator to a conditional
    /// request).
    Expired,
}

impl FreshnessState {
    /// Whether the copy may answer a request whose origin fetch failed.
    pub fn usable_on_error(self) -> bool {
        !matches!(self, FreshnessState::Expired)
    }
}

impl Lifetime {
    /// How a cache with `bounds` keeps a response that leaves with `cache_control` (the
    /// decided one). `None`: a shared cache must not store it (`private`/`no-store` with a
    /// minimum TTL of 0).
    pub fn from_cache_control(cache_control: &CacheControl, bounds: TtlBounds) -> Option<Lifetime> {
        let forbidden = cache_control.forbids_sharing();
        if forbidden && bounds.min == 0 {
            return None;
        }
        let ceiling = bounds.max.max(bounds.min);
        let ttl = if forbidden || cache_control.no_cache {
            bounds.min
        } else {
            cache_control
                .s_maxage
                .or(cache_control.max_age)
                .unwrap_or(bounds.default)
                .clamp(bounds.min, ceiling)
        };
        let revalidate_first =
            cache_control.no_cache || cache_control.must_revalidate || cache_control.proxy_revalidate;
        Some(Lifetime {
            ttl,
            stale_while_revalidate: if revalidate_first {
                0
            } else {
                cache_control.stale_while_revalidate.unwrap_or(0)
            },
            stale_if_error: cache_control.stale_if_error.unwrap_or(0),
        })
    }

    /// Whether concurrent misses for this answer may share one origin request: only when
    /// the computed TTL is above 0 (CloudFront's rule; `lambda-edge-rules.md`).
    pub fn collapses(&self) -> bool {
        self.ttl > 0
    }

    /// The state of a copy `age_ms` old.
    pub fn state_at_age(&self, age_ms: u64) -> FreshnessState {
        let ttl_ms = secs_to_ms(self.ttl);
        if age_ms < ttl_ms {
            return FreshnessState::Fresh;
        }
        let stale_ms = age_ms - ttl_ms;
        if stale_ms < secs_to_ms(self.stale_while_revalidate) {
            FreshnessState::StaleWhileRevalidate
        } else if stale_ms < secs_to_ms(self.stale_if_error) {
            FreshnessState::StaleIfError
        } else {
            FreshnessState::Expired
        }
    }

    /// How long a store must keep the copy so that every window can still use it:
    /// `ttl + max(stale-while-revalidate, stale-if-error)` seconds.
    pub fn keep_secs(&self) -> u64 {
        self.ttl
            .saturating_add(self.stale_while_revalidate.max(self.stale_if_error))
    }
}

fn secs_to_ms(secs: u64) -> u64 {
    secs.saturating_mul(1000)
}

impl CacheControl {
    /// The directives a copy `age_secs` old is sent on with: `max-age` and `s-maxage` lowered
    /// by its age, never below 0 (origin-cache.md, "What it says about itself": answers from
    /// a cache carry their remaining freshness, so freshness never stacks across layers).
    /// The stale windows are not shortened: they start when the lowered freshness ends.
    pub fn aged(&self, age_secs: u64) -> CacheControl {
        CacheControl {
            max_age: self.max_age.map(|v| v.saturating_sub(age_secs)),
            s_maxage: self.s_maxage.map(|v| v.saturating_sub(age_secs)),
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_control::Stamp;

    fn lifetime(header: &str, bounds: TtlBounds) -> Option<Lifetime> {
        Lifetime::from_cache_control(&CacheControl::parse([header]), bounds)
    }

    const B: TtlBounds = TtlBounds {
        min: 0,
        default: 100,
        max: 1000,
    };

    #[test]
    fn s_maxage_wins_over_max_age_and_is_bounded() {
        assert_eq!(lifetime("max-age=10, s-maxage=20", B).unwrap().ttl, 20);
        assert_eq!(lifetime("max-age=10", B).unwrap().ttl, 10);
        assert_eq!(lifetime("s-maxage=5000", B).unwrap().ttl, 1000);
        assert_eq!(lifetime("public", B).unwrap().ttl, 100);
        assert_eq!(lifetime("public", TtlBounds::ORIGIN).unwrap().ttl, 0);
    }

    #[test]
    fn private_and_no_store_are_not_stored_while_min_ttl_is_zero() {
        assert_eq!(lifetime("private, max-age=60", B), None);
        assert_eq!(lifetime("no-store", B), None);
        let min = TtlBounds { min: 30, ..B };
        assert_eq!(lifetime("no-store", min).unwrap().ttl, 30);
        assert_eq!(lifetime("s-maxage=5", min).unwrap().ttl, 30);
    }

    #[test]
    fn a_zero_ttl_is_stored_but_never_collapsed() {
        for header in ["no-cache, s-maxage=60", "s-maxage=0", "max-age=0"] {
            let l = lifetime(header, B).unwrap();
            assert_eq!(l.ttl, 0, "{header}");
            assert!(!l.collapses(), "{header}");
        }
        assert!(lifetime("max-age=0, s-maxage=60", B).unwrap().collapses());
    }

    #[test]
    fn windows_start_when_freshness_ends_and_run_independently() {
        let l = lifetime("s-maxage=10, stale-while-revalidate=5, stale-if-error=20", B).unwrap();
        assert_eq!(Stamp::new(1_000, l).state(10_999), FreshnessState::Fresh);
        assert_eq!(Stamp::new(1_000, l).state(11_000), FreshnessState::StaleWhileRevalidate);
        assert_eq!(Stamp::new(1_000, l).state(15_999), FreshnessState::StaleWhileRevalidate);
        assert_eq!(Stamp::new(1_000, l).state(16_000), FreshnessState::StaleIfError);
        assert_eq!(Stamp::new(1_000, l).state(30_999), FreshnessState::StaleIfError);
        assert_eq!(Stamp::new(1_000, l).state(31_000), FreshnessState::Expired);
        assert_eq!(l.keep_secs(), 30);
        assert_eq!(Stamp::new(1_000, l).usable_until_ms(), 31_000);
        // A longer stale-while-revalidate than stale-if-error: on error it still serves.
        let l = lifetime("s-maxage=10, stale-while-revalidate=50, stale-if-error=5", B).unwrap();
        assert_eq!(Stamp::new(0, l).state(40_000), FreshnessState::StaleWhileRevalidate);
        assert!(Stamp::new(0, l).state(40_000).usable_on_error());
        assert_eq!(l.keep_secs(), 60);
    }

    #[test]
    fn explicit_revalidation_turns_stale_while_revalidate_off_but_not_stale_if_error() {
        for header in [
            "no-cache, stale-while-revalidate=60, stale-if-error=60",
            "s-maxage=1, must-revalidate, stale-while-revalidate=60, stale-if-error=60",
            "s-maxage=1, proxy-revalidate, stale-while-revalidate=60, stale-if-error=60",
        ] {
            let l = lifetime(header, B).unwrap();
            assert_eq!((l.stale_while_revalidate, l.stale_if_error), (0, 60), "{header}");
        }
    }

    #[test]
    fn a_clock_step_back_reads_as_age_zero_and_remaining_never_goes_negative() {
        let l = lifetime("s-maxage=10", B).unwrap();
        assert_eq!(Stamp::new(5_000, l).state(1_000), FreshnessState::Fresh);
        assert_eq!(Stamp::new(0, l).remaining_secs(3_500), 7);
        assert_eq!(Stamp::new(0, l).remaining_secs(99_000), 0);
        assert_eq!(Stamp::new(1_000, l).fresh_until_ms(), 11_000);
    }

    #[test]
    fn huge_values_saturate() {
        let l = Lifetime {
            ttl: u64::MAX,
            stale_while_revalidate: u64::MAX,
            stale_if_error: 0,
        };
        assert_eq!(Stamp::new(u64::MAX, l).state(u64::MAX), FreshnessState::Fresh);
        assert_eq!(l.keep_secs(), u64::MAX);
    }

    #[test]
    fn aged_lowers_both_freshness_directives_but_never_below_zero() {
        let cc = CacheControl::parse(["public, max-age=60, s-maxage=300, stale-while-revalidate=30"]);
        assert_eq!(
            cc.aged(100).to_header_value(),
            "public, max-age=0, s-maxage=200, stale-while-revalidate=30"
        );
        assert_eq!(cc.aged(0), cc);
    }
}
