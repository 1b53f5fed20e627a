//! A stored copy's stamp: when it was stored and its [`Lifetime`], after pingora-cache's
//! `CacheMeta` — but `now` is always passed in. Every cache of the project embeds one (the
//! local edge's entry, the origin's L1 and L2 entries, the Worker's Cache API copy, the
//! replay's bound) and asks it, so age, `ttl` and "how long to keep it" are computed here
//! once.
//!
//! The milliseconds are on whatever clock the host passes, as long as `stored_at_ms` and
//! `now_ms` come from the same one: a monotonic clock for a cache only its own process reads
//! (the local edge, L1), the wall clock for a copy other processes read (L2's `storedAt`, the
//! Cache API's copy). A `now` before `stored_at` (a clock step back) reads as age 0: never
//! older than it is, and never fresher than its stored freshness end.

use super::freshness::{FreshnessState, Lifetime};

/// When a copy was stored and how long it lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Stamp {
    /// When the copy was stored (or last validated), ms on the host's clock.
    pub stored_at_ms: u64,
    /// How long it is fresh and servable stale, from `stored_at_ms`.
    pub lifetime: Lifetime,
}

impl Stamp {
    /// A copy stored at `stored_at_ms` for `lifetime`.
    pub fn new(stored_at_ms: u64, lifetime: Lifetime) -> Self {
        Stamp { stored_at_ms, lifetime }
    }

    /// A copy received at `received_at_ms` that was already `initial_age_ms` old then
    /// ([`super::initial_age_ms`]): stored, as far as its age goes, that much earlier.
    pub fn received(received_at_ms: u64, initial_age_ms: u64, lifetime: Lifetime) -> Self {
        Stamp::new(received_at_ms.saturating_sub(initial_age_ms), lifetime)
    }

    /// What the copy may do at `now_ms`.
    pub fn state(&self, now_ms: u64) -> FreshnessState {
        self.lifetime.state_at_age(self.age_ms(now_ms))
    }

    /// How old the copy is at `now_ms`, ms; 0 after a clock step back.
    pub fn age_ms(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.stored_at_ms)
    }

    /// RFC 9111 §5.1 `Age`: "the age value is the time since the response was generated or
    /// validated by the origin server", in whole seconds, rounded down.
    pub fn age_secs(&self, now_ms: u64) -> u64 {
        self.age_ms(now_ms) / 1000
    }

    /// RFC 9211 §2.4 `ttl`: "the response's remaining freshness lifetime as calculated by the
    /// cache, as an integer number of seconds, measured when the response header section is
    /// sent by the cache"; negative once stale (seconds since freshness ended, rounded down).
    pub fn ttl_secs(&self, now_ms: u64) -> i64 {
        let ttl = i64::try_from(self.lifetime.ttl).unwrap_or(i64::MAX);
        let age = i64::try_from(self.age_secs(now_ms)).unwrap_or(i64::MAX);
        ttl.saturating_sub(age)
    }

    /// Seconds of freshness left at `now_ms` (rounded down, never below 0).
    pub fn remaining_secs(&self, now_ms: u64) -> u64 {
        self.lifetime.ttl.saturating_sub(self.age_secs(now_ms))
    }

    /// When freshness ends, ms.
    pub fn fresh_until_ms(&self) -> u64 {
        self.stored_at_ms.saturating_add(secs_to_ms(self.lifetime.ttl))
    }

    /// When the last window ends, ms: from then on the copy is [`FreshnessState::Expired`].
    pub fn usable_until_ms(&self) -> u64 {
        self.stored_at_ms.saturating_add(secs_to_ms(self.lifetime.keep_secs()))
    }

    /// How much longer, from `now_ms`, a store must keep the copy so that every window can
    /// still use it, ms (0 once it is expired).
    pub fn keep_ms(&self, now_ms: u64) -> u64 {
        self.usable_until_ms().saturating_sub(now_ms.max(self.stored_at_ms))
    }

    /// A stamp taken at `now_ms` whose freshness ends no later than this one's and lasts at
    /// most `cap_secs`, with no stale window of its own: a cache in front of this copy (the
    /// origin's L1 over an L2 entry) never calls it fresh past its own freshness.
    pub fn capped(&self, now_ms: u64, cap_secs: u64) -> Stamp {
        // Whole seconds to the end of freshness, rounded down, so the capped stamp's
        // freshness ends no later (`remaining_secs` rounds the age down instead).
        let left = self.fresh_until_ms().saturating_sub(now_ms.max(self.stored_at_ms)) / 1000;
        Stamp::new(
            now_ms,
            Lifetime {
                ttl: cap_secs.min(left),
                ..Lifetime::default()
            },
        )
    }
}

fn secs_to_ms(secs: u64) -> u64 {
    secs.saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(at: u64, ttl: u64, swr: u64, sie: u64) -> Stamp {
        Stamp::new(
            at,
            Lifetime {
                ttl,
                stale_while_revalidate: swr,
                stale_if_error: sie,
            },
        )
    }

    #[test]
    fn age_ttl_and_remaining_come_from_one_age() {
        let s = stamp(1_000_000, 300, 86_400, 0);
        assert_eq!(s.age_secs(1_100_500), 100);
        assert_eq!(s.ttl_secs(1_100_500), 200);
        assert_eq!(s.remaining_secs(1_100_500), 200);
        assert_eq!(s.ttl_secs(1_310_000), -10);
        assert_eq!(s.remaining_secs(1_310_000), 0);
        assert_eq!(s.fresh_until_ms(), 1_300_000);
        assert_eq!(s.usable_until_ms(), 1_000_000 + 86_700_000);
    }

    #[test]
    fn a_clock_step_back_never_makes_a_copy_younger_than_new() {
        let s = stamp(5_000, 10, 0, 0);
        assert_eq!(s.age_secs(1_000), 0);
        assert_eq!(s.state(1_000), FreshnessState::Fresh);
        assert_eq!(s.ttl_secs(1_000), 10);
        assert_eq!(s.keep_ms(1_000), 10_000, "never kept past its stored end");
    }

    #[test]
    fn keep_counts_down_to_the_last_window() {
        let s = stamp(0, 10, 5, 20);
        assert_eq!(s.keep_ms(0), 30_000);
        assert_eq!(s.keep_ms(29_000), 1_000);
        assert_eq!(s.keep_ms(31_000), 0);
        assert_eq!(s.state(29_999), FreshnessState::StaleIfError);
        assert_eq!(s.state(30_000), FreshnessState::Expired);
    }

    #[test]
    fn a_capped_stamp_never_outlives_the_copy_it_fronts() {
        let s = stamp(0, 10, 60, 60);
        assert_eq!(s.capped(3_500, 60).lifetime.ttl, 6, "ends at 9.5 s, not past 10 s");
        assert_eq!(s.capped(3_500, 2).lifetime.ttl, 2);
        assert_eq!(s.capped(3_500, 2).stored_at_ms, 3_500);
        assert_eq!(s.capped(20_000, 60).lifetime.ttl, 0);
        assert_eq!(s.capped(0, 5).lifetime.keep_secs(), 5, "no stale window of its own");
    }

    #[test]
    fn a_copy_received_old_has_aged_already() {
        let s = Stamp::received(
            1_000_000,
            250_000,
            Lifetime {
                ttl: 300,
                ..Lifetime::default()
            },
        );
        assert_eq!(s.age_secs(1_000_000), 250);
        assert_eq!(s.remaining_secs(1_000_000), 50);
        assert_eq!(s.state(1_049_999), FreshnessState::Fresh);
        assert_eq!(s.state(1_050_000), FreshnessState::Expired);
    }

    #[test]
    fn huge_values_saturate() {
        let s = stamp(u64::MAX, u64::MAX, u64::MAX, 0);
        assert_eq!(s.state(u64::MAX), FreshnessState::Fresh);
        assert_eq!(s.usable_until_ms(), u64::MAX);
        assert_eq!(s.ttl_secs(u64::MAX), i64::MAX);
    }
}
