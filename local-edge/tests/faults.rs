//! Faults, each with the figure it must hold: 0 wrong bodies, bounded latency, no 5xx
//! where a stale copy exists. The L2 and catalogue servers sit behind a fault proxy.

mod common;

use std::time::{Duration, Instant};

use common::{Mode, Options, Stack};

fn product_id(body: &str) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    v["id"].as_u64()
}

async fn timed_get(stack: &Stack, path: &str) -> (common::Reply, Duration) {
    let started = Instant::now();
    let reply = stack.get(path).await;
    (reply, started.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn l2_blackholed_costs_bounded_latency_then_the_breaker_skips_it() {
    let stack = Stack::with(Options {
        proxies: true,
        ..Options::default()
    })
    .await;
    stack.cache_proxy.as_ref().unwrap().set(Mode::Blackhole);
    let mut latencies = Vec::new();
    for id in 1..=12u64 {
        let (reply, took) = timed_get(&stack, &format!("/api/products/{id}")).await;
        assert_eq!(reply.status, 200);
        assert_eq!(product_id(&reply.body), Some(id), "wrong body");
        latencies.push(took);
    }
    let worst = latencies.iter().max().unwrap();
    eprintln!("L2 blackholed: latencies {latencies:?}");
    assert!(*worst < Duration::from_millis(2500), "worst {worst:?}");
    // Once the breaker is open, L2 is skipped: the last requests pay no deadline.
    assert!(
        latencies[11] < Duration::from_millis(250),
        "after the breaker opened: {:?}",
        latencies[11]
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn l2_throttling_is_answered_from_the_source() {
    let stack = Stack::with(Options {
        proxies: true,
        ..Options::default()
    })
    .await;
    stack.cache_proxy.as_ref().unwrap().set(Mode::Throttle);
    for id in 1..=8u64 {
        let (reply, took) = timed_get(&stack, &format!("/api/products/{id}")).await;
        assert_eq!((reply.status, product_id(&reply.body)), (200, Some(id)));
        assert!(took < Duration::from_millis(1500), "{took:?}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_environment_crashing_mid_invocation_is_replaced() {
    let stack = Stack::with(Options {
        proxies: true,
        environments: 1,
        ..Options::default()
    })
    .await;
    assert_eq!(stack.get("/api/products/1").await.status, 200);
    stack.catalogue_proxy.as_ref().unwrap().set(Mode::Delay);
    let (client, url) = (stack.client.clone(), format!("{}/api/products/2", stack.base));
    let started = Instant::now();
    let in_flight = tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = stack.stats().await["environments"][0]["pid"].as_u64().unwrap();
    assert!(pid > 0);
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    let status = in_flight.await.unwrap();
    eprintln!("crash mid-invocation: {status} after {:?}", started.elapsed());
    assert_eq!(status, 502, "no stale copy exists, so the viewer gets CloudFront's 502");
    assert!(
        started.elapsed() < Duration::from_millis(1900),
        "answered only after the delay: {:?}",
        started.elapsed()
    );
    stack.catalogue_proxy.as_ref().unwrap().set(Mode::Pass);
    let next = stack.get("/api/products/2").await;
    assert_eq!((next.status, product_id(&next.body)), (200, Some(2)));
    let stats = stack.stats().await;
    assert_eq!(stats["environments"][0]["cold_starts"], 2, "{stats}");
    assert_eq!(stats["environments"][0]["crashes"], 1, "{stats}");
    // The stale copy of product 1 was never at risk.
    assert_eq!(product_id(&stack.get("/api/products/1").await.body), Some(1));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn origin_timeouts_fall_back_to_the_stale_copy() {
    // L1 and L2 off, so every origin invocation reaches the (then slowed) catalogue.
    let options = Options {
        proxies: true,
        invocation_timeout: Duration::from_millis(1000),
        origin_env: vec![
            ("ORIGIN_L1_TTL_SECONDS".into(), "0".into()),
            ("ORIGIN_L2_ENABLED".into(), "false".into()),
        ],
        ..Options::default()
    };
    let stack = Stack::with(options).await;
    let good = stack.get("/api/products/3").await;
    assert_eq!(good.status, 200);
    stack.catalogue_proxy.as_ref().unwrap().set(Mode::Delay);
    stack.advance(400).await;
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let (reply, took) = timed_get(&stack, "/api/products/3").await;
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, good.body.as_str()),
            "a 5xx or another body where a stale copy exists"
        );
        worst = worst.max(took);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    eprintln!("origin timing out, stale copy served: worst {worst:?}");
    assert!(
        worst < Duration::from_millis(200),
        "the stale copy is served at once: {worst:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while stack.stats().await["origin_errors"].as_u64().unwrap() == 0 {
        assert!(Instant::now() < deadline, "the background revalidation never timed out");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (fresh_key, took) = timed_get(&stack, "/api/products/4").await;
    eprintln!("origin timing out, no stale copy: {} after {took:?}", fresh_key.status);
    assert_eq!(fresh_key.status, 504);
    assert!(took < Duration::from_millis(1800), "{took:?}");
    stack.stop().await;
}
