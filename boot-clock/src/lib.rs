//! The two clock readings the local edge and the origin share, read in one place: milliseconds
//! on a clock that never goes back ([`monotonic_ms`]) and on the wall clock ([`wall_ms`]).
//! Reading only: what a reading means (ages, windows, a clock that never steps back) is each
//! host's `clock.rs`; `edge-policy` reads no clock at all (time is passed in).

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds on a clock that never goes back and keeps counting while the machine is
/// suspended: `CLOCK_BOOTTIME` on Linux; elsewhere the time since the first reading (the
/// platform's monotonic clock, which may stop during suspend).
pub fn monotonic_ms() -> u64 {
    #[cfg(target_os = "linux")]
    {
        let mut now = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: `now` is a valid, writable timespec; `clock_gettime` writes only into it.
        if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut now) } == 0 {
            let secs = u64::try_from(now.tv_sec).unwrap_or(0);
            return secs.saturating_mul(1000) + u64::try_from(now.tv_nsec).unwrap_or(0) / 1_000_000;
        }
    }
    static FIRST: OnceLock<Instant> = OnceLock::new();
    u64::try_from(FIRST.get_or_init(Instant::now).elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The wall clock in milliseconds since the Unix epoch (what a Lambda's `Date.now()` or a
/// deadline reads; `0` before the epoch, saturating far after it).
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_monotonic_reading_never_goes_back() {
        let mut last = monotonic_ms();
        for _ in 0..1000 {
            let now = monotonic_ms();
            assert!(now >= last);
            last = now;
        }
    }

    #[test]
    fn the_wall_reading_is_after_2026() {
        assert!(wall_ms() > 1_767_225_600_000);
    }
}
