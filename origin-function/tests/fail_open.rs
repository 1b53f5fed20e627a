//! L2 faults never fail a request, and no layer makes an answer worse than the layer below:
//! deadlines, one L2 budget per invocation, the breaker, the source answers, and a held copy
//! answers a failing source. Each test body runs on both L2 backends (`dynamodb::…` on
//! dynalite, `redis::…` on redis-server), with the secret check on.

#[macro_use]
mod common;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::*;
use origin_function::breaker::BreakerState;
use origin_function::config::Config;

on_both_backends!(
    l2_stopped_mid_test_still_answers_then_the_breaker_opens_and_recovers,
    a_blackholed_l2_costs_one_deadline_per_request_until_the_breaker_opens,
    a_source_failure_is_a_503_that_no_cache_keeps,
    a_slow_l2_keeps_a_miss_inside_the_budget_and_opens_the_breaker,
    a_slow_answer_is_a_fault_and_ends_l2_for_the_invocation,
    a_slow_handshake_is_paid_at_init_not_by_the_first_request,
    a_failed_early_refresh_keeps_serving_the_fresh_copy,
    a_failed_stale_refresh_keeps_serving_the_stale_copy,
    a_fresh_copy_answers_when_l2_cannot_grant_the_refresh_lease,
    stale_if_error_outlives_the_stale_while_revalidate_window,
);

/// Production deadlines: DynamoDB 100 ms per attempt and 300 ms per call, Redis 300 ms per
/// call (each backend reads its own); 500 ms of L2 per invocation, an answer slower than
/// 100 ms is a fault.
fn production_deadlines(cfg: &mut Config) {
    let d = Config::default();
    cfg.l2_attempt_timeout = d.l2_attempt_timeout;
    cfg.l2_operation_timeout = d.l2_operation_timeout;
    cfg.redis_command_timeout = d.redis_command_timeout;
    cfg.l2_budget = d.l2_budget;
    cfg.l2_slow = d.l2_slow;
}

const ANSWER_DELAY: Duration = Duration::from_millis(250);

fn key(path: &str) -> String {
    format!("{HOST}{path}")
}

async fn l2_stopped_mid_test_still_answers_then_the_breaker_opens_and_recovers(backend: Backend) {
    let mut stack = Stack::split(backend).await;
    let mut cfg = stack.config();
    production_deadlines(&mut cfg);
    // A healthy answer must not count as slow on a loaded machine: this test is about a
    // stopped server.
    cfg.l2_slow = Duration::from_secs(2);
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
            took >= Duration::from_millis(250) && took < Duration::from_millis(1_500),
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

/// Every L2 answer takes 250 ms (a delaying proxy): one miss spends at most its budget in L2
/// (not get + lease + put + release, ~1 s), and the faults open the breaker.
async fn a_slow_l2_keeps_a_miss_inside_the_budget_and_opens_the_breaker(backend: Backend) {
    let stack = Stack::l2_behind_proxy(backend, Delay::EachAnswer(ANSWER_DELAY)).await;
    let mut cfg = stack.config();
    // Each answer arrives (no client deadline cuts it) and is not "slow": only the budget
    // bounds the miss.
    cfg.l2_budget = Duration::from_millis(400);
    cfg.l2_slow = Duration::from_secs(1);
    cfg.breaker_failures = 2;
    let origin = origin(cfg);
    origin.connect_l2().await.expect("connect at init");
    for id in 1..=2 {
        let r = call(&origin, get(&format!("/api/products/{id}")), T0).await;
        assert_eq!((r.status, r.json()["id"].as_u64()), (200, Some(id)));
        let m = &r.invoked.metrics;
        // The get answers after 250 ms; the lease runs into the budget's end (or, on a
        // loaded machine, the get itself does). Never get + lease + put + release.
        assert_eq!(m.l2_errors, 1, "{m:?}");
        assert!(m.l2_calls <= 2, "{m:?}");
        // The budget, plus what a loaded machine adds to waking a timer.
        assert!(m.l2_ms <= 400.0 + 250.0, "L2 took {} ms", m.l2_ms);
        assert_eq!(r.cache_status(), "origin; fwd=miss; stored; detail=l2-unavailable");
    }
    assert_eq!(origin.breaker().state(T0), BreakerState::Open);
    let r = call(&origin, get("/api/products/3"), T0 + 1).await;
    assert_eq!(r.status, 200);
    assert!(r.invoked.metrics.l2_ms < 1.0);
    assert_eq!((r.invoked.metrics.l2_skipped, r.invoked.metrics.l2_calls), (1, 0));
}

/// An answer slower than `ORIGIN_L2_SLOW_MS` counts as a fault: used, reported to the
/// breaker, and no further L2 call in that invocation.
async fn a_slow_answer_is_a_fault_and_ends_l2_for_the_invocation(backend: Backend) {
    let stack = Stack::l2_behind_proxy(backend, Delay::EachAnswer(ANSWER_DELAY)).await;
    let mut cfg = stack.config();
    production_deadlines(&mut cfg);
    // The client's own deadlines let the answer arrive: the slow rule is what trips.
    cfg.l2_attempt_timeout = Duration::from_secs(1);
    cfg.l2_operation_timeout = Duration::from_secs(2);
    cfg.redis_command_timeout = Duration::from_secs(2);
    cfg.breaker_failures = 1;
    let origin = origin(cfg);
    origin.connect_l2().await.expect("connect at init");
    let r = call(&origin, get("/api/products/5"), T0).await;
    assert_eq!(r.status, 200);
    let m = &r.invoked.metrics;
    assert_eq!((m.l2_calls, m.l2_errors, m.l2_slow), (1, 1, 1), "{m:?}");
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored; detail=l2-unavailable");
    assert_eq!(origin.breaker().state(T0), BreakerState::Open);
}

/// The connection is opened at init with the ~1 s connect deadline: a handshake slower than
/// one operation's deadline is paid there, and the first request reuses the connection.
async fn a_slow_handshake_is_paid_at_init_not_by_the_first_request(backend: Backend) {
    let slow_handshake = Delay::FirstAnswer(Duration::from_millis(1_500));
    let stack = Stack::l2_behind_proxy(backend, slow_handshake).await;
    let proxy = stack.l2_proxy.as_ref().unwrap();
    let mut cfg = stack.config();
    // Scaled up from production (1 s connect, 100/300 ms per operation) so a loaded machine
    // cannot blur it: the handshake (1.5 s) fits the connect deadline (3 s), not one
    // operation's (1 s).
    cfg.l2_connect_timeout = Duration::from_secs(3);
    cfg.l2_attempt_timeout = Duration::from_secs(1);
    cfg.l2_operation_timeout = Duration::from_secs(1);
    cfg.redis_command_timeout = Duration::from_secs(1);
    cfg.l2_slow = Duration::from_secs(1);
    let warmed = origin(cfg.clone());
    warmed.connect_l2().await.expect("connect within the connect deadline");
    let r = call(&warmed, get("/api/products/6"), T0).await;
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(r.invoked.metrics.l2_errors, 0);
    assert_eq!(
        proxy.connections.load(Ordering::SeqCst),
        1,
        "the init connection is reused"
    );

    // The control: without the init connection, the first request races the handshake.
    let cold = origin(cfg);
    let r = call(&cold, get("/api/products/7"), T0).await;
    assert_eq!(r.status, 200);
    assert!(r.invoked.metrics.l2_errors >= 1, "{:?}", r.invoked.metrics);
}

/// XFetch chose to refresh a fresh copy, and the source fails: the fresh copy answers.
async fn a_failed_early_refresh_keeps_serving_the_fresh_copy(backend: Backend) {
    let mut stack = Stack::split(backend).await;
    let mut cfg = stack.config();
    cfg.xfetch_beta = 1.0;
    cfg.source_operation_timeout = Duration::from_millis(500);
    // Loaded in 4 ms: with the smallest draw XFetch refreshes up to ~2.8 s early.
    stack
        .plant(&Plant::config(&key("/api/config"), r#"{"held":1}"#, T0))
        .await;
    stack.catalogue.stop();
    let eager = build_origin(cfg).with_rand(|| 1e-300);
    let r = call(&eager, get("/api/config"), T0 + 59_000).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"held":1}"#));
    assert_eq!(r.cache_status(), "origin; hit; ttl=1; detail=refresh-failed");
    assert_eq!(
        r.header("cache-control"),
        "public, max-age=0, s-maxage=1, stale-while-revalidate=300"
    );
    assert_eq!((eager.source_loads(), r.invoked.metrics.source_errors), (1, 1));
    assert!(
        !stack.lease_exists(&key("/api/config")).await,
        "the lease is given back"
    );
}

/// A stale copy's refresh fails: the stale copy answers (inside its stale window).
async fn a_failed_stale_refresh_keeps_serving_the_stale_copy(backend: Backend) {
    let mut stack = Stack::split(backend).await;
    let mut cfg = stack.config();
    cfg.source_operation_timeout = Duration::from_millis(500);
    stack
        .plant(&Plant::config(&key("/api/config"), r#"{"held":2}"#, T0))
        .await;
    stack.catalogue.stop();
    // s-maxage 60, stale-while-revalidate 300, no stale-if-error: stale for 10 s.
    let r = call(&origin(cfg), get("/api/config"), T0 + 70_000).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"held":2}"#));
    assert_eq!(
        r.cache_status(),
        "origin; fwd=stale; fwd-status=503; detail=stale-if-error"
    );
    assert_eq!(r.invoked.metrics.stale_served, 1);
}

/// L2 is too slow to grant the lease an early refresh needs: the fresh copy answers, the
/// source is not asked.
async fn a_fresh_copy_answers_when_l2_cannot_grant_the_refresh_lease(backend: Backend) {
    let stack = Stack::l2_behind_proxy(backend, Delay::EachAnswer(ANSWER_DELAY)).await;
    stack
        .plant(&Plant::new(&key("/api/products/8"), r#"{"held":true}"#, T0 - 299_000))
        .await;
    let mut cfg = stack.config();
    production_deadlines(&mut cfg);
    cfg.l2_attempt_timeout = Duration::from_secs(1);
    cfg.l2_operation_timeout = Duration::from_secs(2);
    cfg.redis_command_timeout = Duration::from_secs(2);
    cfg.xfetch_beta = 1.0;
    let eager = build_origin(cfg).with_rand(|| 1e-300);
    eager.connect_l2().await.expect("connect at init");
    let r = call(&eager, get("/api/products/8"), T0).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"held":true}"#));
    assert_eq!(r.cache_status(), "origin; hit; ttl=1; detail=l2");
    assert_eq!(eager.source_loads(), 0);
}

/// `stale-if-error` (a day) outlives `stale-while-revalidate` (300 s): past the latter, the
/// source is asked first and the stale copy answers its failure, until the longer window ends.
async fn stale_if_error_outlives_the_stale_while_revalidate_window(backend: Backend) {
    let mut stack = Stack::split(backend).await;
    let mut cfg = stack.config();
    cfg.source_operation_timeout = Duration::from_millis(500);
    let k = key("/api/products/14");
    let mut plant = Plant::new(&k, r#"{"held":14}"#, T0);
    plant.cache_control = "public, max-age=60, s-maxage=300, stale-while-revalidate=300, stale-if-error=86400".into();
    stack.plant(&plant).await;
    stack.catalogue.stop();
    let past_swr = T0 + 300_000 + 300_000 + 10_000;
    let r = call(&origin(cfg.clone()), get("/api/products/14"), past_swr).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"held":14}"#));
    assert_eq!(
        r.cache_status(),
        "origin; fwd=stale; fwd-status=503; detail=stale-if-error"
    );
    assert_eq!(r.invoked.metrics.source_loads, 1, "the source was asked first");
    assert_eq!(
        r.header("cache-control"),
        "public, max-age=0, s-maxage=0, stale-while-revalidate=300, stale-if-error=86400"
    );
    let past_sie = T0 + 300_000 + 86_400_000 + 1_000;
    let r = call(&origin(cfg), get("/api/products/14"), past_sie).await;
    assert_eq!((r.status, r.header("cache-control")), (503, "no-store"));
}

/// L1 keeps a copy past its own freshness for `stale-if-error`: with no L2, a failing source
/// is still answered with it.
#[tokio::test]
async fn l1_answers_a_failing_source_with_its_stale_copy() {
    let mut stack = Stack::split(Backend::Dynamo).await;
    let mut cfg = stack.config();
    cfg.l2_enabled = false;
    cfg.source_operation_timeout = Duration::from_millis(500);
    let origin = origin(cfg);
    let first = call(&origin, get("/api/products/16"), T0).await;
    assert_eq!(first.cache_status(), "origin; fwd=miss; stored");
    stack.catalogue.stop();
    // Past L1's 30 s and the answer's 300 s, inside both stale windows.
    let r = call(&origin, get("/api/products/16"), T0 + 400_000).await;
    assert_eq!((r.status, r.body.as_str()), (200, first.body.as_str()));
    assert_eq!(
        r.cache_status(),
        "origin; fwd=stale; fwd-status=503; detail=stale-if-error"
    );
    assert_eq!(r.header("age"), "", "no Age: the aged directives say what is left");
    // With L1 off (ORIGIN_L1_TTL_SECONDS=0) there is nothing to fall back on.
    let mut cfg = stack.config();
    cfg.l2_enabled = false;
    cfg.l1_ttl_seconds = 0;
    cfg.source_operation_timeout = Duration::from_millis(500);
    let r = call(&common::origin(cfg), get("/api/products/16"), T0 + 1_000).await;
    assert_eq!(r.status, 503);
}
