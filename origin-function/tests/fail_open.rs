//! L2 faults never fail a request: deadlines, the breaker, the source answers. Each test body
//! runs on both L2 backends (`dynamodb::…` on dynalite, `redis::…` on redis-server).

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use common::*;
use origin_function::breaker::BreakerState;

on_both_backends!(
    l2_stopped_mid_test_still_answers_then_the_breaker_opens_and_recovers,
    a_blackholed_l2_costs_one_deadline_per_request_until_the_breaker_opens,
    a_source_failure_is_a_503_that_no_cache_keeps,
);

/// Production deadlines for one L2 call: DynamoDB 100 ms per attempt and 300 ms in all,
/// Redis 300 ms per call (each backend reads its own).
fn production_deadlines(cfg: &mut origin_function::config::Config) {
    cfg.l2_attempt_timeout = Duration::from_millis(100);
    cfg.l2_operation_timeout = Duration::from_millis(300);
    cfg.redis_command_timeout = Duration::from_millis(300);
}

async fn l2_stopped_mid_test_still_answers_then_the_breaker_opens_and_recovers(backend: Backend) {
    let mut stack = Stack::split(backend).await;
    let mut cfg = stack.config();
    production_deadlines(&mut cfg);
    cfg.breaker_failures = 3;
    cfg.breaker_cooldown_ms = 10_000;
    let origin = origin(cfg);
    assert_eq!(
        call(&origin, get("/api/products/1"), T0).await.cache_status(),
        "origin; fwd=miss; stored"
    );

    stack.stop_l2();
    for id in 2..=4 {
        let started = Instant::now();
        let r = call(&origin, get(&format!("/api/products/{id}")), T0 + 1_000).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["id"], id);
        assert!(
            started.elapsed() < Duration::from_millis(1500),
            "took {:?}",
            started.elapsed()
        );
        assert_eq!(r.invoked.metrics.l2_errors, 1);
        assert_eq!(r.cache_status(), "origin; fwd=miss; stored; detail=l2-unavailable");
    }
    assert_eq!(origin.breaker().state(T0 + 1_000), BreakerState::Open);
    let r = call(&origin, get("/api/products/5"), T0 + 2_000).await;
    assert_eq!(r.status, 200);
    assert_eq!(
        (
            r.invoked.metrics.l2_skipped,
            r.invoked.metrics.l2_errors,
            r.invoked.metrics.breaker_state
        ),
        (1, 0, 1)
    );

    // The server comes back (empty: both keep data in memory only) on the same port.
    stack.restart_l2().await;
    let r = call(&origin, get("/api/products/6"), T0 + 12_000).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(origin.breaker().state(T0 + 12_000), BreakerState::Closed);
    assert_eq!(stack.cache_items().await, 1);
}

async fn a_blackholed_l2_costs_one_deadline_per_request_until_the_breaker_opens(backend: Backend) {
    let stack = Stack::blackholed(backend).await;
    let mut cfg = stack.config();
    production_deadlines(&mut cfg);
    cfg.breaker_failures = 2;
    let origin = origin(cfg);
    for id in 1..=2 {
        let started = Instant::now();
        let r = call(&origin, get(&format!("/api/products/{id}")), T0).await;
        let took = started.elapsed();
        assert_eq!(r.status, 200);
        assert!(
            took >= Duration::from_millis(250) && took < Duration::from_millis(900),
            "took {took:?}"
        );
        assert_eq!(r.invoked.metrics.l2_errors, 1);
    }
    let started = Instant::now();
    let r = call(&origin, get("/api/products/3"), T0 + 1).await;
    assert_eq!(r.status, 200);
    assert!(
        started.elapsed() < Duration::from_millis(200),
        "breaker open: took {:?}",
        started.elapsed()
    );
    assert_eq!(r.invoked.metrics.l2_skipped, 1);
}

async fn a_source_failure_is_a_503_that_no_cache_keeps(backend: Backend) {
    let mut stack = Stack::split(backend).await;
    let mut cfg = stack.config();
    cfg.source_operation_timeout = Duration::from_millis(500);
    let origin = origin(cfg);
    stack.catalogue.stop();
    let r = call(&origin, get("/api/products/1"), T0).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.invoked.metrics.source_errors, 1);
    assert_eq!(stack.cache_items().await, 0);
}
