//! L2 faults never fail a request: deadlines, the breaker, the source answers.

mod common;

use std::time::{Duration, Instant};

use common::*;
use origin_function::breaker::BreakerState;

#[tokio::test]
async fn l2_stopped_mid_test_still_answers_then_the_breaker_opens_and_recovers() {
    let catalogue = Dynalite::start();
    let mut cache = Dynalite::start();
    prepare(&catalogue.endpoint(), &cache.endpoint()).await;
    let mut cfg = config(&catalogue.endpoint(), &cache.endpoint());
    cfg.l2_attempt_timeout = Duration::from_millis(100);
    cfg.l2_operation_timeout = Duration::from_millis(300);
    cfg.breaker_failures = 3;
    cfg.breaker_cooldown_ms = 10_000;
    let origin = origin(cfg);
    assert_eq!(
        call(&origin, get("/api/products/1"), T0).await.cache_status(),
        "origin; fwd=miss; stored"
    );

    cache.stop();
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

    // The server comes back (empty: dynalite keeps data in memory) on the same port.
    let cache = Dynalite::start_on(cache.port);
    origin_function::tables::create_cache_table(&raw_client(&cache.endpoint()), CACHE)
        .await
        .unwrap();
    let r = call(&origin, get("/api/products/6"), T0 + 12_000).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(origin.breaker().state(T0 + 12_000), BreakerState::Closed);
    assert_eq!(cache_items(&cache.endpoint()).await, 1);
}

#[tokio::test]
async fn a_blackholed_l2_costs_one_deadline_per_request_until_the_breaker_opens() {
    let catalogue = Dynalite::start();
    let hole = Blackhole::start();
    prepare(&catalogue.endpoint(), &catalogue.endpoint()).await;
    let mut cfg = config(&catalogue.endpoint(), &hole.endpoint());
    cfg.l2_attempt_timeout = Duration::from_millis(100);
    cfg.l2_operation_timeout = Duration::from_millis(300);
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

#[tokio::test]
async fn a_source_failure_is_a_503_that_no_cache_keeps() {
    let mut catalogue = Dynalite::start();
    let cache = Dynalite::start();
    prepare(&catalogue.endpoint(), &cache.endpoint()).await;
    let mut cfg = config(&catalogue.endpoint(), &cache.endpoint());
    cfg.source_operation_timeout = Duration::from_millis(500);
    let origin = origin(cfg);
    catalogue.stop();
    let r = call(&origin, get("/api/products/1"), T0).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("cache-control"), "no-store");
    assert_eq!(r.invoked.metrics.source_errors, 1);
    assert_eq!(cache_items(&cache.endpoint()).await, 0);
}
