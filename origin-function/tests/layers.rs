//! L1, L2 and the source, against real servers: each test body runs on both L2 backends
//! (`dynamodb::…` on dynalite, `redis::…` on redis-server).

#[macro_use]
mod common;

use common::*;
use tokio::task::JoinSet;

const PRODUCT_CC: &str = "public, max-age=60, s-maxage=300, stale-while-revalidate=86400, stale-if-error=86400";

fn key(path: &str) -> String {
    format!("{HOST}{path}")
}

on_both_backends!(
    a_miss_is_stored_then_l1_answers_with_its_ttl,
    l1_never_outlives_its_cap_then_l2_answers,
    another_environment_reads_l2_and_promotes_to_its_l1,
    a_stale_entry_is_served_while_another_caller_holds_the_lease,
    an_expired_item_not_yet_deleted_is_a_miss,
    a_planted_fresh_item_is_served_only_under_its_own_full_key,
    two_environments_load_a_cold_key_once,
    xfetch_refreshes_early_when_the_draw_says_so,
    an_oversized_value_skips_l2_and_is_counted,
    a_large_compressible_value_is_stored_gzipped,
);

async fn a_miss_is_stored_then_l1_answers_with_its_ttl(backend: Backend) {
    let stack = Stack::start(backend).await;
    let origin = origin(stack.config());
    let first = call(&origin, get("/api/products/7"), T0).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(first.header("cache-control"), PRODUCT_CC);
    assert_eq!(first.json()["id"], 7);
    let second = call(&origin, get("/api/products/7"), T0 + 12_000).await;
    assert_eq!(second.cache_status(), "origin; hit; ttl=18; detail=l1");
    assert_eq!(second.body, first.body);
    assert_eq!(second.header("etag"), first.header("etag"));
    assert_eq!(origin.source_loads(), 1);
    assert_eq!(second.invoked.metrics.l1_hits, 1);

    // The L2 entry, as the README documents it.
    let item = stack.stored(&key("/api/products/7")).await.unwrap();
    assert_eq!(item.full_key, key("/api/products/7"));
    assert_eq!(item.stored_at, T0);
    assert_eq!(item.fresh_until, T0 + 300_000);
    assert_eq!(item.expires_at, (T0 + 300_000 + 86_400_000) / 1000);
    assert!(!item.gz);
    if let Some(ttl) = item.ttl_ms {
        // Redis: the key expires at the end of the stale window, counted from storedAt.
        assert!((86_600_000..=86_700_000).contains(&ttl), "PTTL {ttl}");
    }
}

async fn l1_never_outlives_its_cap_then_l2_answers(backend: Backend) {
    let stack = Stack::start(backend).await;
    let origin = origin(stack.config());
    call(&origin, get("/api/products/3"), T0).await;
    // L1 cap is 30 s (s-maxage 300): at +31 s L1 is stale, L2 is fresh.
    let r = call(&origin, get("/api/products/3"), T0 + 31_000).await;
    assert_eq!(r.cache_status(), "origin; hit; detail=l2");
    assert_eq!(r.invoked.metrics.l2_hits, 1);
    assert_eq!(origin.source_loads(), 1);
}

async fn another_environment_reads_l2_and_promotes_to_its_l1(backend: Backend) {
    let stack = Stack::start(backend).await;
    let a = origin(stack.config());
    let b = origin(stack.config());
    call(&a, get("/api/products?category=books&sort=price"), T0).await;
    let r = call(
        &b,
        get("/api/products?sort=price&category=books&utm_source=x"),
        T0 + 1_000,
    )
    .await;
    assert_eq!(r.cache_status(), "origin; hit; detail=l2");
    let r = call(&b, get("/api/products?category=books&sort=price"), T0 + 2_000).await;
    assert_eq!(r.cache_status(), "origin; hit; ttl=29; detail=l1");
    assert_eq!(a.source_loads() + b.source_loads(), 1);
}

async fn a_stale_entry_is_served_while_another_caller_holds_the_lease(backend: Backend) {
    let stack = Stack::start(backend).await;
    let a = origin(stack.config());
    call(&a, get("/api/products/5"), T0).await;
    let stale_at = T0 + 310_000;
    // Someone else is refreshing: a live lease.
    stack
        .plant_lease(&key("/api/products/5"), "elsewhere", stale_at + 5_000)
        .await;
    let b = origin(stack.config());
    let r = call(&b, get("/api/products/5"), stale_at).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.cache_status(), "origin; hit; ttl=-10; detail=l2-stale");
    assert_eq!(r.invoked.metrics.stale_served, 1);
    assert_eq!(b.source_loads(), 0);
    // Once the lease has lapsed, one caller takes it and refreshes.
    stack.lease_lapses(&key("/api/products/5")).await;
    let c = origin(stack.config());
    let r = call(&c, get("/api/products/5"), stale_at + 6_000).await;
    assert_eq!(r.cache_status(), "origin; fwd=stale; stored");
    assert_eq!(c.source_loads(), 1);
    let r = call(&b, get("/api/products/5"), stale_at + 7_000).await;
    assert_eq!(r.cache_status(), "origin; hit; detail=l2");
}

async fn an_expired_item_not_yet_deleted_is_a_miss(backend: Backend) {
    let stack = Stack::start(backend).await;
    let k = key("/api/products/9");
    stack
        .plant(&k, &k, r#"{"planted":true}"#, T0 - 20_000, (T0 - 10_000) / 1000)
        .await;
    let origin = origin(stack.config());
    let r = call(&origin, get("/api/products/9"), T0).await;
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(r.json()["id"], 9);
    assert_eq!(origin.source_loads(), 1);
}

async fn a_planted_fresh_item_is_served_only_under_its_own_full_key(backend: Backend) {
    let stack = Stack::start(backend).await;
    let k = key("/api/products/9");
    stack
        .plant(&k, &k, r#"{"planted":true}"#, T0 + 60_000, (T0 + 120_000) / 1000)
        .await;
    let origin1 = origin(stack.config());
    let r = call(&origin1, get("/api/products/9"), T0).await;
    assert_eq!(r.cache_status(), "origin; hit; detail=l2");
    assert_eq!(r.body, r#"{"planted":true}"#);

    // Same digest, another full key (a collision): never served.
    let k10 = key("/api/products/10");
    stack
        .plant(
            "someone.else/api/products/10",
            &k10,
            r#"{"wrong":true}"#,
            T0 + 60_000,
            (T0 + 120_000) / 1000,
        )
        .await;
    let origin2 = origin(stack.config());
    let r = call(&origin2, get("/api/products/10"), T0).await;
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(r.json()["id"], 10);
    assert_eq!(r.invoked.metrics.l2_key_mismatch, 1);
}

async fn two_environments_load_a_cold_key_once(backend: Backend) {
    let stack = Stack::start(backend).await;
    let a = origin(stack.config());
    let b = origin(stack.config());
    let mut set = JoinSet::new();
    for i in 0..16 {
        let o = if i % 2 == 0 { a.clone() } else { b.clone() };
        set.spawn(async move { call(&o, get("/api/products/11"), T0).await });
    }
    let mut statuses = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["id"], 11);
        statuses.push(r.cache_status().to_owned());
    }
    assert_eq!(a.source_loads() + b.source_loads(), 1, "{statuses:#?}");
    assert_eq!(
        statuses
            .iter()
            .filter(|s| s.as_str() == "origin; fwd=miss; stored")
            .count(),
        1
    );
}

async fn xfetch_refreshes_early_when_the_draw_says_so(backend: Backend) {
    let stack = Stack::start(backend).await;
    let mut cfg = stack.config();
    cfg.xfetch_beta = 1.0;
    let a = origin(cfg.clone());
    call(&a, get("/api/config"), T0).await;
    // s-maxage 60: one second before expiry.
    let near = T0 + 59_000;
    let lucky = std::sync::Arc::new(build_origin(cfg.clone()).with_rand(|| 1.0));
    let r = call(&lucky, get("/api/config"), near).await;
    assert_eq!(r.cache_status(), "origin; hit; detail=l2");
    let eager = build_origin(cfg.clone()).with_rand(|| 1e-300);
    let r = call(&eager, get("/api/config"), near).await;
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored; detail=xfetch");
    assert_eq!(eager.source_loads(), 1);
}

async fn an_oversized_value_skips_l2_and_is_counted(backend: Backend) {
    let stack = Stack::start(backend).await;
    let origin = origin(stack.config());
    let r = call(&origin, get("/static/large.txt"), T0).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 800_000);
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored; detail=l2-oversize");
    assert_eq!(r.invoked.metrics.l2_oversize, 1);
    assert_eq!(
        r.header("cache-control"),
        "public, immutable, max-age=31536000, s-maxage=31536000"
    );
    assert_eq!(stack.cache_items().await, 0);
    let r = call(&origin, get("/static/large.txt"), T0 + 1_000).await;
    assert_eq!(r.cache_status(), "origin; hit; ttl=29; detail=l1");
}

async fn a_large_compressible_value_is_stored_gzipped(backend: Backend) {
    let stack = Stack::start(backend).await;
    let origin = origin(stack.config());
    let r = call(&origin, get("/api/products?per_page=100"), T0).await;
    assert_eq!(r.status, 200);
    assert!(r.body.len() > 4096);
    let item = stack.stored(&key("/api/products?per_page=100")).await.unwrap();
    assert!(item.gz);
    assert!(item.body_len < r.body.len());
    let other = common::origin(stack.config());
    let again = call(&other, get("/api/products?per_page=100"), T0 + 1).await;
    assert_eq!(again.cache_status(), "origin; hit; detail=l2");
    assert_eq!(again.body, r.body);
}
