//! L1, L2 and the source, against a real DynamoDB-compatible server (dynalite).

mod common;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use origin_function::l2::digest;
use tokio::task::JoinSet;

const PRODUCT_CC: &str = "public, max-age=60, s-maxage=300, stale-while-revalidate=86400, stale-if-error=86400";

fn key(path: &str) -> String {
    format!("{HOST}{path}")
}

#[tokio::test]
async fn a_miss_is_stored_then_l1_answers_with_its_ttl() {
    let (server, cfg) = one_server().await;
    let origin = origin(cfg);
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

    // The L2 item, as the README documents it.
    let item = raw_client(&server.endpoint())
        .get_item()
        .table_name(CACHE)
        .key("pk", AttributeValue::S(digest(&key("/api/products/7"))))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["fullKey"].as_s().unwrap(), &key("/api/products/7"));
    assert_eq!(item["storedAt"].as_n().unwrap(), &T0.to_string());
    assert_eq!(item["freshUntil"].as_n().unwrap(), &(T0 + 300_000).to_string());
    assert_eq!(
        item["expiresAt"].as_n().unwrap(),
        &((T0 + 300_000 + 86_400_000) / 1000).to_string()
    );
    assert_eq!(item["gz"].as_bool().unwrap(), &false);
}

#[tokio::test]
async fn l1_never_outlives_its_cap_then_l2_answers() {
    let (_server, cfg) = one_server().await;
    let origin = origin(cfg);
    call(&origin, get("/api/products/3"), T0).await;
    // L1 cap is 30 s (s-maxage 300): at +31 s L1 is stale, L2 is fresh.
    let r = call(&origin, get("/api/products/3"), T0 + 31_000).await;
    assert_eq!(r.cache_status(), "origin; hit; detail=l2");
    assert_eq!(r.invoked.metrics.l2_hits, 1);
    assert_eq!(origin.source_loads(), 1);
}

#[tokio::test]
async fn another_environment_reads_l2_and_promotes_to_its_l1() {
    let (_server, cfg) = one_server().await;
    let a = origin(cfg.clone());
    let b = origin(cfg);
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

#[tokio::test]
async fn a_stale_entry_is_served_while_another_caller_holds_the_lease() {
    let (server, cfg) = one_server().await;
    let a = origin(cfg.clone());
    call(&a, get("/api/products/5"), T0).await;
    let stale_at = T0 + 310_000;
    // Someone else is refreshing: a live lease item.
    raw_client(&server.endpoint())
        .put_item()
        .table_name(CACHE)
        .item(
            "pk",
            AttributeValue::S(format!("lease#{}", digest(&key("/api/products/5")))),
        )
        .item("owner", AttributeValue::S("elsewhere".into()))
        .item("leaseUntil", AttributeValue::N((stale_at + 5_000).to_string()))
        .item("expiresAt", AttributeValue::N(((stale_at + 5_000) / 1000).to_string()))
        .send()
        .await
        .unwrap();
    let b = origin(cfg.clone());
    let r = call(&b, get("/api/products/5"), stale_at).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.cache_status(), "origin; hit; ttl=-10; detail=l2-stale");
    assert_eq!(r.invoked.metrics.stale_served, 1);
    assert_eq!(b.source_loads(), 0);
    // Once the lease has lapsed, one caller takes it and refreshes.
    let c = origin(cfg);
    let r = call(&c, get("/api/products/5"), stale_at + 6_000).await;
    assert_eq!(r.cache_status(), "origin; fwd=stale; stored");
    assert_eq!(c.source_loads(), 1);
    let r = call(&b, get("/api/products/5"), stale_at + 7_000).await;
    assert_eq!(r.cache_status(), "origin; hit; detail=l2");
}

async fn put_item(endpoint: &str, full_key: &str, digest_of: &str, body: &str, fresh_until: u64, expires_at_s: u64) {
    raw_client(endpoint)
        .put_item()
        .table_name(CACHE)
        .item("pk", AttributeValue::S(digest(digest_of)))
        .item("fullKey", AttributeValue::S(full_key.into()))
        .item("status", AttributeValue::N("200".into()))
        .item("body", AttributeValue::B(Blob::new(body.as_bytes())))
        .item("gz", AttributeValue::Bool(false))
        .item("contentType", AttributeValue::S("application/json".into()))
        .item("etag", AttributeValue::S("\"planted\"".into()))
        .item("storedAt", AttributeValue::N(T0.to_string()))
        .item("freshUntil", AttributeValue::N(fresh_until.to_string()))
        .item("delta", AttributeValue::N("4".into()))
        .item("expiresAt", AttributeValue::N(expires_at_s.to_string()))
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn an_expired_item_not_yet_deleted_is_a_miss() {
    let (server, cfg) = one_server().await;
    let k = key("/api/products/9");
    put_item(
        &server.endpoint(),
        &k,
        &k,
        r#"{"planted":true}"#,
        T0 - 20_000,
        (T0 - 10_000) / 1000,
    )
    .await;
    let origin = origin(cfg);
    let r = call(&origin, get("/api/products/9"), T0).await;
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(r.json()["id"], 9);
    assert_eq!(origin.source_loads(), 1);
}

#[tokio::test]
async fn a_planted_fresh_item_is_served_only_under_its_own_full_key() {
    let (server, cfg) = one_server().await;
    let k = key("/api/products/9");
    put_item(
        &server.endpoint(),
        &k,
        &k,
        r#"{"planted":true}"#,
        T0 + 60_000,
        (T0 + 120_000) / 1000,
    )
    .await;
    let origin1 = origin(cfg.clone());
    let r = call(&origin1, get("/api/products/9"), T0).await;
    assert_eq!(r.cache_status(), "origin; hit; detail=l2");
    assert_eq!(r.body, r#"{"planted":true}"#);

    // Same digest, another full key (a collision): never served.
    let k10 = key("/api/products/10");
    put_item(
        &server.endpoint(),
        "someone.else/api/products/10",
        &k10,
        r#"{"wrong":true}"#,
        T0 + 60_000,
        (T0 + 120_000) / 1000,
    )
    .await;
    let origin2 = origin(cfg);
    let r = call(&origin2, get("/api/products/10"), T0).await;
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(r.json()["id"], 10);
    assert_eq!(r.invoked.metrics.l2_key_mismatch, 1);
}

#[tokio::test]
async fn two_environments_load_a_cold_key_once() {
    let (_server, cfg) = one_server().await;
    let a = origin(cfg.clone());
    let b = origin(cfg);
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

#[tokio::test]
async fn xfetch_refreshes_early_when_the_draw_says_so() {
    let (_server, mut cfg) = one_server().await;
    cfg.xfetch_beta = 1.0;
    let a = origin(cfg.clone());
    call(&a, get("/api/config"), T0).await;
    // s-maxage 60: one second before expiry.
    let near = T0 + 59_000;
    let lucky = std::sync::Arc::new(
        origin_function::Origin::new(cfg.clone(), catalogue_client(&cfg), Some(cache_client(&cfg))).with_rand(|| 1.0),
    );
    let r = call(&lucky, get("/api/config"), near).await;
    assert_eq!(r.cache_status(), "origin; hit; detail=l2");
    let eager = origin_function::Origin::new(cfg.clone(), catalogue_client(&cfg), Some(cache_client(&cfg)))
        .with_rand(|| 1e-300);
    let r = call(&eager, get("/api/config"), near).await;
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored; detail=xfetch");
    assert_eq!(eager.source_loads(), 1);
}

#[tokio::test]
async fn an_oversized_value_skips_l2_and_is_counted() {
    let (server, cfg) = one_server().await;
    let origin = origin(cfg);
    let r = call(&origin, get("/static/large.txt"), T0).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), 800_000);
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored; detail=l2-oversize");
    assert_eq!(r.invoked.metrics.l2_oversize, 1);
    assert_eq!(
        r.header("cache-control"),
        "public, immutable, max-age=31536000, s-maxage=31536000"
    );
    assert_eq!(cache_items(&server.endpoint()).await, 0);
    let r = call(&origin, get("/static/large.txt"), T0 + 1_000).await;
    assert_eq!(r.cache_status(), "origin; hit; ttl=29; detail=l1");
}

#[tokio::test]
async fn a_large_compressible_value_is_stored_gzipped() {
    let (server, cfg) = one_server().await;
    let origin = origin(cfg.clone());
    let r = call(&origin, get("/api/products?per_page=100"), T0).await;
    assert_eq!(r.status, 200);
    assert!(r.body.len() > 4096);
    let item = raw_client(&server.endpoint())
        .get_item()
        .table_name(CACHE)
        .key("pk", AttributeValue::S(digest(&key("/api/products?per_page=100"))))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(item["gz"].as_bool().unwrap(), &true);
    assert!(item["body"].as_b().unwrap().as_ref().len() < r.body.len());
    let other = common::origin(cfg);
    let again = call(&other, get("/api/products?per_page=100"), T0 + 1).await;
    assert_eq!(again.cache_status(), "origin; hit; detail=l2");
    assert_eq!(again.body, r.body);
}
