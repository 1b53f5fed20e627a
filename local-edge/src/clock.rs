//! The edge's clock: read once per request and passed down. Tests move it forward
//! (`POST /__edge/clock?advance=N`) instead of sleeping for a TTL.
//!
//! Ages and windows are measured on a monotonic clock that counts time suspended
//! ([`monotonic_ms`]: Linux `CLOCK_BOOTTIME`), so a step of the wall clock, back or forward,
//! never makes a stale copy fresh nor a fresh one stale. The wall clock is read only where a
//! calendar time is named (an event's `time`, a signature's date: [`Clock::calendar_ms`]).

use std::sync::atomic::{AtomicU64, Ordering};

/// The monotonic clock and the wall clock, plus an offset tests may advance (both move).
#[derive(Debug)]
pub struct Clock {
    offset_ms: AtomicU64,
    monotonic: fn() -> u64,
    wall: fn() -> u64,
}

impl Default for Clock {
    fn default() -> Self {
        Clock::with_sources(monotonic_ms, wall_ms)
    }
}

pub use boot_clock::{monotonic_ms, wall_ms};

impl Clock {
    /// A clock over other sources (tests step a wall clock back).
    pub fn with_sources(monotonic: fn() -> u64, wall: fn() -> u64) -> Self {
        Clock {
            offset_ms: AtomicU64::new(0),
            monotonic,
            wall,
        }
    }

    /// Milliseconds on the monotonic clock, offset included: what every age and window of
    /// the edge is measured on.
    pub fn now_ms(&self) -> u64 {
        (self.monotonic)().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Milliseconds since the Unix epoch, offset included: only for a calendar time (an
    /// event's `time`, `X-Amz-Date`), never for an age.
    pub fn calendar_ms(&self) -> u64 {
        (self.wall)().saturating_add(self.offset_ms.load(Ordering::Relaxed))
    }

    /// Moves the clock forward.
    pub fn advance(&self, seconds: u64) {
        self.offset_ms
            .fetch_add(seconds.saturating_mul(1000), Ordering::Relaxed);
    }
}

/// A UTC calendar time, for the few places that print one in a fixed AWS format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utc {
    /// Year.
    pub year: i64,
    /// Month, 1–12.
    pub month: u32,
    /// Day, 1–31.
    pub day: u32,
    /// Hour.
    pub hour: u32,
    /// Minute.
    pub minute: u32,
    /// Second.
    pub second: u32,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

impl Utc {
    /// The calendar time of `ms` since the epoch (H. Hinnant's `civil_from_days`).
    pub fn from_epoch_ms(ms: u64) -> Utc {
        let secs = ms / 1000;
        let days = (secs / 86_400) as i64;
        let rem = secs % 86_400;
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = yoe + era * 400 + i64::from(month <= 2);
        Utc {
            year,
            month,
            day,
            hour: (rem / 3600) as u32,
            minute: (rem % 3600 / 60) as u32,
            second: (rem % 60) as u32,
        }
    }

    /// `20261129T041500Z` (SigV4's `X-Amz-Date`).
    pub fn amz_date(&self) -> String {
        format!(
            "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `27/Nov/2026:04:15:00 +0000` (a function-URL event's `requestContext.time`).
    pub fn request_time(&self) -> String {
        let month = MONTHS[(self.month.clamp(1, 12) - 1) as usize];
        format!(
            "{:02}/{month}/{:04}:{:02}:{:02}:{:02} +0000",
            self.day, self.year, self.hour, self.minute, self.second
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calendar_times_match_known_instants() {
        let t = Utc::from_epoch_ms(1_795_925_700_000); // 2026-11-29T04:15:00Z
        assert_eq!(t.amz_date(), "20261129T041500Z");
        assert_eq!(t.request_time(), "29/Nov/2026:04:15:00 +0000");
        assert_eq!(Utc::from_epoch_ms(0).amz_date(), "19700101T000000Z");
        assert_eq!(Utc::from_epoch_ms(951_782_400_000).amz_date(), "20000229T000000Z");
    }

    #[test]
    fn the_clock_moves_forward_only_when_told() {
        let clock = Clock::default();
        let (before, calendar) = (clock.now_ms(), clock.calendar_ms());
        clock.advance(100);
        assert!(clock.now_ms() >= before + 100_000);
        assert!(clock.calendar_ms() >= calendar + 100_000);
        let (a, b) = (monotonic_ms(), monotonic_ms());
        assert!(b >= a, "monotonic");
    }

    /// A clock whose sources the test sets: the wall clock jumps, the monotonic one runs.
    static WALL: AtomicU64 = AtomicU64::new(1_800_000_000_000);
    static MONOTONIC: AtomicU64 = AtomicU64::new(5_000);

    fn stepped() -> Clock {
        Clock::with_sources(|| MONOTONIC.load(Ordering::SeqCst), || WALL.load(Ordering::SeqCst))
    }

    #[test]
    fn a_backward_wall_clock_step_never_turns_a_stale_copy_fresh() {
        use crate::cache::{EdgeCache, Entry};
        use crate::cache_key::EdgeKey;
        use crate::message::EdgeResponse;
        use edge_policy::cache_control::{FreshnessState, Lifetime, Stamp};
        use http::StatusCode;

        let clock = stepped();
        let cache = EdgeCache::new(10, 1 << 20);
        let key = EdgeKey {
            head: false,
            host: "d1.cloudfront.net".into(),
            path: "/a".into(),
            query: String::new(),
            headers: vec![],
            cookies: vec![],
            accept_encoding: None,
        };
        let lifetime = Lifetime {
            ttl: 10,
            ..Lifetime::default()
        };
        let entry = Entry {
            response: std::sync::Arc::new(EdgeResponse::json(StatusCode::OK, "{}".into())),
            stamp: Stamp::new(clock.now_ms(), lifetime),
            error: false,
        };
        cache.store(key.clone(), entry);
        // 20 s pass on both clocks: the copy is stale.
        MONOTONIC.fetch_add(20_000, Ordering::SeqCst);
        WALL.fetch_add(20_000, Ordering::SeqCst);
        let (copy, state) = cache.lookup(&key, clock.now_ms()).unwrap();
        assert_eq!(state, FreshnessState::Expired);
        // The wall clock steps back an hour (NTP, a VM restored): still stale, still 20 s old.
        WALL.fetch_sub(3_600_000, Ordering::SeqCst);
        let (_, state) = cache.lookup(&key, clock.now_ms()).unwrap();
        assert_eq!(state, FreshnessState::Expired, "a wall step never makes it fresh");
        assert_eq!(copy.stamp.age_secs(clock.now_ms()), 20, "Age is the monotonic age");
        assert_eq!(
            clock.calendar_ms(),
            1_800_000_000_000 + 20_000 - 3_600_000,
            "dates follow the wall"
        );
    }
}
