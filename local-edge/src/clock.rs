//! The edge's clock: read once per request and passed down. Tests move it forward
//! (`POST /__edge/clock?advance=N`) instead of sleeping for a TTL.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Wall time plus an offset tests may advance.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicU64,
}

/// The wall clock in milliseconds since the Unix epoch (what a Lambda's `Date.now()` or a
/// deadline reads; `0` before the epoch, saturating far after it).
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl Clock {
    /// Milliseconds since the Unix epoch, offset included.
    pub fn now_ms(&self) -> u64 {
        wall_ms().saturating_add(self.offset_ms.load(Ordering::Relaxed))
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
        let before = clock.now_ms();
        clock.advance(100);
        assert!(clock.now_ms() >= before + 100_000);
    }
}
