//! The handler's clocks, read once per invocation (`main.rs`) and handed down as one
//! [`Now`]:
//!
//! - **monotonic** (`CLOCK_BOOTTIME` on Linux: it never goes back and counts time
//!   suspended) for what only this environment reads: how long an entry has been fresh in
//!   L1, and the breaker's cool-down;
//! - **wall** (epoch ms) for what other environments read — L2's `storedAt`, `freshUntil`
//!   and lease expiry — and for `Date`. Read through [`Clock`], it never goes back within
//!   the process: after a backward step it keeps counting from the last reading on the
//!   monotonic clock, so an entry this environment has seen go stale never turns fresh
//!   again, and a copy is never fresher than its stored `freshUntil` (a `now` before its
//!   `storedAt` reads as age 0: `edge_policy::cache_control::Stamp`).

use std::sync::Mutex;

/// One reading of both clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Now {
    /// Epoch milliseconds (never behind an earlier reading of the same [`Clock`]).
    pub wall_ms: u64,
    /// Milliseconds on the monotonic clock.
    pub monotonic_ms: u64,
}

impl From<u64> for Now {
    /// Both clocks at one value (tests that move a single clock; the clocks only need to
    /// agree with themselves).
    fn from(ms: u64) -> Now {
        Now {
            wall_ms: ms,
            monotonic_ms: ms,
        }
    }
}

pub use boot_clock::monotonic_ms;
use boot_clock::wall_ms as system_wall_ms;

/// The handler's clocks; its wall reading never goes back.
#[derive(Debug, Default)]
pub struct Clock {
    last: Mutex<Option<Now>>,
}

impl Clock {
    /// Both clocks, now.
    pub fn now(&self) -> Now {
        self.read(system_wall_ms(), monotonic_ms())
    }

    /// The reading for a system wall clock at `wall_ms` and a monotonic one at
    /// `monotonic_ms`: the wall clock, or the last reading moved on by the monotonic time
    /// since, whichever is later.
    fn read(&self, wall_ms: u64, monotonic_ms: u64) -> Now {
        // A poisoned lock only means a panic elsewhere while it was held; the value is valid.
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        let floor = last.map_or(0, |l| {
            l.wall_ms.saturating_add(monotonic_ms.saturating_sub(l.monotonic_ms))
        });
        let now = Now {
            wall_ms: wall_ms.max(floor),
            monotonic_ms,
        };
        *last = Some(now);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backward_step_of_the_wall_clock_never_takes_the_reading_back() {
        const T: u64 = 1_800_000_000_000;
        const HOUR: u64 = 3_600_000;
        let clock = Clock::default();
        assert_eq!(clock.read(T, 50).wall_ms, T);
        // The system clock steps back an hour while 2 s pass: the reading goes on from T.
        assert_eq!(clock.read(T - HOUR, 2_050).wall_ms, T + 2_000);
        assert_eq!(clock.read(T - HOUR + 2_000, 4_050).wall_ms, T + 4_000);
        // A forward step is followed.
        assert_eq!(clock.read(T + HOUR, 5_050).wall_ms, T + HOUR);
        assert_eq!(clock.read(T + HOUR, 5_050).monotonic_ms, 5_050);
        let (a, b) = (clock.now(), clock.now());
        assert!(b.wall_ms >= a.wall_ms && b.monotonic_ms >= a.monotonic_ms);
    }
}
