//! A circuit breaker in front of L2: after `threshold` consecutive failures it opens and L2
//! is skipped; after `cooldown_ms` one probe is let through (half-open); its success closes
//! the breaker, its failure opens it again. Time is passed in: milliseconds on the
//! handler's monotonic clock (`clock.rs`), so a wall-clock step neither holds it open nor
//! cuts its cool-down short.

use std::sync::Mutex;

/// The breaker's state, as reported in the metrics (`0` closed, `1` open, `2` half-open).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// L2 is used.
    Closed,
    /// L2 is skipped.
    Open,
    /// One probe is in flight or allowed.
    HalfOpen,
}

impl BreakerState {
    /// The number the EMF line carries.
    pub fn as_metric(self) -> u8 {
        match self {
            BreakerState::Closed => 0,
            BreakerState::Open => 1,
            BreakerState::HalfOpen => 2,
        }
    }
}

/// What the breaker allows for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permit {
    /// Call L2.
    Call,
    /// Call L2 as the half-open probe.
    Probe,
    /// Skip L2.
    Skip,
}

#[derive(Debug)]
enum Inner {
    Closed { failures: u32 },
    Open { until_ms: u64 },
    HalfOpen { probe_started_ms: u64 },
}

/// The breaker; shared by every invocation of an environment.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown_ms: u64,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cooldown_ms: u64) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown_ms,
            inner: Mutex::new(Inner::Closed { failures: 0 }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A poisoned lock only means a panic elsewhere; the state is still a valid value.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether a call may go to L2 at `now_ms`.
    pub fn permit(&self, now_ms: u64) -> Permit {
        let mut inner = self.lock();
        match *inner {
            Inner::Closed { .. } => Permit::Call,
            Inner::Open { until_ms } if now_ms >= until_ms => {
                *inner = Inner::HalfOpen {
                    probe_started_ms: now_ms,
                };
                Permit::Probe
            }
            Inner::Open { .. } => Permit::Skip,
            // A probe that never reported (its task was dropped) is replaced after a cool-down.
            Inner::HalfOpen { probe_started_ms } if now_ms >= probe_started_ms.saturating_add(self.cooldown_ms) => {
                *inner = Inner::HalfOpen {
                    probe_started_ms: now_ms,
                };
                Permit::Probe
            }
            Inner::HalfOpen { .. } => Permit::Skip,
        }
    }

    /// An invocation's L2 calls all answered in time (a conditional-check failure counts as an
    /// answer).
    pub fn record_success(&self) {
        *self.lock() = Inner::Closed { failures: 0 };
    }

    /// An L2 call failed (timeout, connection, throttling, server error).
    pub fn record_failure(&self, now_ms: u64) {
        let mut inner = self.lock();
        let open = Inner::Open {
            until_ms: now_ms.saturating_add(self.cooldown_ms),
        };
        *inner = match *inner {
            Inner::Closed { failures } if failures + 1 < self.threshold => Inner::Closed { failures: failures + 1 },
            _ => open,
        };
    }

    /// The state at `now_ms` (an open breaker whose cool-down has passed reads half-open).
    pub fn state(&self, now_ms: u64) -> BreakerState {
        match *self.lock() {
            Inner::Closed { .. } => BreakerState::Closed,
            Inner::Open { until_ms } if now_ms >= until_ms => BreakerState::HalfOpen,
            Inner::Open { .. } => BreakerState::Open,
            Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let b = Breaker::new(3, 1000);
        b.record_failure(0);
        b.record_failure(0);
        b.record_success();
        b.record_failure(0);
        b.record_failure(0);
        assert_eq!(b.permit(0), Permit::Call);
        b.record_failure(10);
        assert_eq!(b.state(10), BreakerState::Open);
        assert_eq!(b.permit(500), Permit::Skip);
    }

    #[test]
    fn one_probe_after_cooldown_then_close_or_reopen() {
        let b = Breaker::new(1, 1000);
        b.record_failure(0);
        assert_eq!(b.permit(999), Permit::Skip);
        assert_eq!(b.permit(1000), Permit::Probe);
        assert_eq!(b.permit(1001), Permit::Skip, "only one probe at a time");
        b.record_failure(1001);
        assert_eq!(b.state(1500), BreakerState::Open);
        assert_eq!(b.permit(2001), Permit::Probe);
        b.record_success();
        assert_eq!(b.state(2001), BreakerState::Closed);
        assert_eq!(b.permit(2002), Permit::Call);
    }

    #[test]
    fn a_lost_probe_is_replaced_after_a_cooldown() {
        let b = Breaker::new(1, 100);
        b.record_failure(0);
        assert_eq!(b.permit(100), Permit::Probe);
        assert_eq!(b.permit(150), Permit::Skip);
        assert_eq!(b.permit(200), Permit::Probe);
    }
}
