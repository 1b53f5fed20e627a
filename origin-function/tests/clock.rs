//! Time that cannot go backwards: L1's freshness and the breaker's cool-down run on the
//! handler's monotonic clock, so a step of the wall clock (NTP, a restored snapshot) neither
//! makes an L1 copy fresh again nor holds the breaker open (nor lets it probe early).

mod common;

use std::time::Duration;

use common::*;
use origin_function::breaker::BreakerState;
use origin_function::clock::Now;

/// Five minutes into the machine's uptime.
const M0: u64 = 300_000;
const HOUR: u64 = 3_600_000;

fn at(wall_ms: u64, monotonic_ms: u64) -> Now {
    Now { wall_ms, monotonic_ms }
}

#[tokio::test]
async fn a_backward_wall_step_never_makes_an_l1_copy_fresh_again() {
    let stack = Stack::split(Backend::Dynamo).await;
    let mut cfg = stack.config();
    cfg.l2_enabled = false;
    let origin = origin(cfg);
    let first = call(&origin, get("/api/products/21"), at(T0, M0)).await;
    assert_eq!(first.cache_status(), "origin; fwd=miss; stored");
    let hit = call(&origin, get("/api/products/21"), at(T0 + 1_000, M0 + 1_000)).await;
    assert!(hit.cache_status().contains("hit"), "{}", hit.cache_status());
    // 31 s later (past L1's 30 s cap) the wall clock reads an hour earlier: the copy has
    // been fresh in L1 for its 30 s, and is not again.
    let later = call(&origin, get("/api/products/21"), at(T0 - HOUR, M0 + 31_000)).await;
    assert_eq!(later.cache_status(), "origin; fwd=miss; stored");
}

#[tokio::test]
async fn the_breakers_cool_down_runs_on_the_monotonic_clock() {
    let mut stack = Stack::split(Backend::Dynamo).await;
    let mut cfg = stack.config();
    cfg.l2_operation_timeout = Duration::from_millis(300);
    cfg.breaker_failures = 1;
    cfg.breaker_cooldown_ms = 10_000;
    let origin = origin(cfg);
    stack.stop_l2();
    let r = call(&origin, get("/api/products/22"), at(T0, M0)).await;
    assert_eq!(r.invoked.metrics.l2_errors, 1);
    assert_eq!(origin.breaker().state(M0), BreakerState::Open);
    stack.restart_l2().await;
    // The wall clock jumps an hour ahead, 1 s after: still cooling down, L2 skipped.
    let r = call(&origin, get("/api/products/23"), at(T0 + HOUR, M0 + 1_000)).await;
    assert_eq!(r.invoked.metrics.l2_skipped, 1, "{}", r.cache_status());
    // It steps back an hour, 11 s after: the cool-down is over, the probe goes to L2.
    let r = call(&origin, get("/api/products/24"), at(T0 - HOUR, M0 + 11_000)).await;
    assert_eq!((r.invoked.metrics.l2_skipped, r.invoked.metrics.l2_errors), (0, 0));
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(origin.breaker().state(M0 + 11_000), BreakerState::Closed);
}
