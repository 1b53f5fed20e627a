//! L1, L2 and the source, against real servers: each test body runs on both L2 backends
//! (`dynamodb::…` on dynalite, `redis::…` on redis-server), with the secret check on.

#[macro_use]
mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use tokio::task::JoinSet;

fn key(path: &str) -> String {
    format!("{HOST}{path}")
}

on_both_backends!(
    a_miss_is_stored_then_l1_answers_with_its_ttl,
    l1_never_outlives_its_cap_then_l2_answers_with_its_remaining_freshness,
    another_environment_reads_l2_and_promotes_to_its_l1,
    a_stale_entry_is_served_while_another_caller_holds_the_lease,
    an_expired_item_not_yet_deleted_is_a_miss,
    a_planted_fresh_item_is_served_only_under_its_own_full_key,
    an_unreadable_item_is_a_miss_not_a_fault,
    two_environments_load_a_cold_key_once,
    xfetch_refreshes_early_when_the_draw_says_so,
    an_oversized_value_skips_l2_and_is_counted,
    a_large_compressible_value_is_stored_gzipped,
    a_released_lease_lets_a_waiter_load_at_once,
    a_load_that_outlived_its_lease_never_overwrites_a_newer_entry,
    a_private_request_never_reads_a_cached_entry,
    an_oac_signature_is_not_a_viewer_credential,
);

async fn a_miss_is_stored_then_l1_answers_with_its_ttl(backend: Backend) {
    let stack = Stack::start(backend).await;
    let origin = origin(stack.config());
    let first = call(&origin, get("/api/products/7"), T0).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(first.header("cache-control"), PRODUCT_CC);
    assert_eq!(first.header("age"), "", "the source's own answer carries no Age");
    assert_eq!(first.header("date"), "Thu, 17 Oct 2024 08:15:29 GMT");
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
    assert_eq!(item.cache_control, PRODUCT_CC);
    // The longer of the two stale windows (here both are a day).
    assert_eq!(item.expires_at, (T0 + 300_000 + 86_400_000) / 1000);
    assert!(!item.gz);
    if let Some(ttl) = item.ttl_ms {
        // Redis: the key expires at the end of the stale window, counted from storedAt.
        assert!((86_600_000..=86_700_000).contains(&ttl), "PTTL {ttl}");
    }
}

async fn l1_never_outlives_its_cap_then_l2_answers_with_its_remaining_freshness(backend: Backend) {
    let stack = Stack::start(backend).await;
    let origin = origin(stack.config());
    call(&origin, get("/api/products/3"), T0).await;
    // L1 answers with its own remaining freshness but the answer's directives are aged:
    // the edge never adds its freshness on top of the origin's.
    let l1 = call(&origin, get("/api/products/3"), T0 + 10_500).await;
    assert_eq!(l1.cache_status(), "origin; hit; ttl=20; detail=l1");
    assert_eq!(
        l1.header("cache-control"),
        "public, max-age=50, s-maxage=290, stale-while-revalidate=86400, stale-if-error=86400"
    );
    assert_eq!(
        l1.header("age"),
        "",
        "remaining freshness, never Age: an edge reading Age must not subtract twice"
    );
    // L1 cap is 30 s (s-maxage 300): at +31 s L1 is stale, L2 is fresh.
    let r = call(&origin, get("/api/products/3"), T0 + 31_000).await;
    assert_eq!(r.cache_status(), "origin; hit; ttl=269; detail=l2");
    assert_eq!(
        r.header("cache-control"),
        "public, max-age=29, s-maxage=269, stale-while-revalidate=86400, stale-if-error=86400"
    );
    assert_eq!(r.header("age"), "");
    assert_eq!(r.invoked.metrics.l2_hits, 1);
    // Promoted to L1 for what is left of the cap, never past the answer's freshness.
    let r = call(&origin, get("/api/products/3"), T0 + 290_000).await;
    assert_eq!(r.cache_status(), "origin; hit; ttl=10; detail=l2");
    let r = call(&origin, get("/api/products/3"), T0 + 299_000).await;
    assert_eq!(r.cache_status(), "origin; hit; ttl=1; detail=l1");
    assert!(r.header("cache-control").contains("max-age=0, s-maxage=1,"));
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
    assert_eq!(r.cache_status(), "origin; hit; ttl=299; detail=l2");
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
    assert_eq!(
        r.header("cache-control"),
        "public, max-age=0, s-maxage=0, stale-while-revalidate=86400, stale-if-error=86400"
    );
    assert_eq!(r.header("age"), "");
    assert_eq!(r.invoked.metrics.stale_served, 1);
    assert_eq!(b.source_loads(), 0);
    // Once the lease has lapsed, one caller takes it and refreshes.
    stack.lease_lapses(&key("/api/products/5")).await;
    let c = origin(stack.config());
    let r = call(&c, get("/api/products/5"), stale_at + 6_000).await;
    assert_eq!(r.cache_status(), "origin; fwd=stale; stored");
    assert_eq!(c.source_loads(), 1);
    let r = call(&b, get("/api/products/5"), stale_at + 7_000).await;
    assert_eq!(r.cache_status(), "origin; hit; ttl=299; detail=l2");
}

async fn an_expired_item_not_yet_deleted_is_a_miss(backend: Backend) {
    let stack = Stack::start(backend).await;
    let k = key("/api/products/9");
    // Past s-maxage and both stale windows by the entry's own decision …
    let mut old = Plant::new(&k, r#"{"planted":true}"#, T0 - 90_000_000);
    old.expires_at_s = T0 / 1000 + 60;
    stack.plant(&old).await;
    // … or past its TTL attribute while the decision would still allow it.
    let k2 = key("/api/products/10");
    let mut cut = Plant::new(&k2, r#"{"planted":true}"#, T0 - 1_000);
    cut.expires_at_s = T0 / 1000;
    stack.plant(&cut).await;
    let origin = origin(stack.config());
    for (path, id) in [("/api/products/9", 9), ("/api/products/10", 10)] {
        let r = call(&origin, get(path), T0).await;
        assert_eq!(r.cache_status(), "origin; fwd=miss; stored", "{path}");
        assert_eq!(r.json()["id"], id);
    }
    assert_eq!(origin.source_loads(), 2);
}

async fn a_planted_fresh_item_is_served_only_under_its_own_full_key(backend: Backend) {
    let stack = Stack::start(backend).await;
    let k = key("/api/products/9");
    stack.plant(&Plant::new(&k, r#"{"planted":true}"#, T0 - 60_000)).await;
    let origin1 = origin(stack.config());
    let r = call(&origin1, get("/api/products/9"), T0).await;
    assert_eq!(r.cache_status(), "origin; hit; ttl=240; detail=l2");
    assert_eq!(r.body, r#"{"planted":true}"#);

    // Same digest, another full key (a collision): never served.
    let mut other = Plant::new("someone.else/api/products/10", r#"{"wrong":true}"#, T0 - 1_000);
    other.digest_of = key("/api/products/10");
    stack.plant(&other).await;
    let origin2 = origin(stack.config());
    let r = call(&origin2, get("/api/products/10"), T0).await;
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(r.json()["id"], 10);
    assert_eq!(r.invoked.metrics.l2_key_mismatch, 1);
}

async fn an_unreadable_item_is_a_miss_not_a_fault(backend: Backend) {
    use std::io::Write;
    let stack = Stack::start(backend).await;
    let gzip = |bytes: &[u8]| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    };
    let cases = [
        // Not gzip at all.
        ("/api/products/1", b"\x1f\x8bnot really gzip".to_vec(), true),
        // A gzip bomb: 64 MiB of zeros (far over the 6 MiB cap) in a small item.
        ("/api/products/2", gzip(&vec![0u8; 64 << 20]), true),
        // Not UTF-8.
        ("/api/products/3", vec![0xff, 0xfe, 0xfd], false),
    ];
    for (path, body, gz) in &cases {
        let mut plant = Plant::new(&key(path), "", T0);
        plant.body = body.clone();
        plant.gz = *gz;
        stack.plant(&plant).await;
    }
    let origin = origin(stack.config());
    for (path, _, _) in &cases {
        let r = call(&origin, get(path), T0 + 1_000).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.cache_status(), "origin; fwd=miss; stored", "{path}");
        assert_eq!(
            (r.invoked.metrics.l2_errors, r.invoked.metrics.l2_skipped),
            (0, 0),
            "{path}: not a fault"
        );
        // The load replaced it.
        let stored = stack.stored(&key(path)).await.unwrap();
        assert_eq!(stored.stored_at, T0 + 1_000, "{path}");
    }
    assert_eq!(
        origin.breaker().state(T0 + 1_000),
        origin_function::breaker::BreakerState::Closed
    );
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
    // Loaded in 4 ms: with the smallest draw XFetch refreshes up to ~2.8 s early.
    stack.plant(&Plant::config(&key("/api/config"), "{}", T0)).await;
    // s-maxage 60: one second before expiry.
    let near = T0 + 59_000;
    let lucky = std::sync::Arc::new(build_origin(cfg.clone()).with_rand(|| 1.0));
    let r = call(&lucky, get("/api/config"), near).await;
    assert_eq!(r.cache_status(), "origin; hit; ttl=1; detail=l2");
    let eager = build_origin(cfg.clone()).with_rand(|| 1e-300);
    let r = call(&eager, get("/api/config"), near).await;
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored; detail=xfetch");
    assert_eq!(eager.source_loads(), 1);
    assert_eq!(stack.stored(&key("/api/config")).await.unwrap().stored_at, near);
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
    assert!(
        !stack.lease_exists(&key("/static/large.txt")).await,
        "the lease is given back"
    );
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
    assert!(item.body.len() < r.body.len());
    let other = common::origin(stack.config());
    let again = call(&other, get("/api/products?per_page=100"), T0 + 1).await;
    assert_eq!(again.cache_status(), "origin; hit; ttl=300; detail=l2");
    assert_eq!(again.body, r.body);
}

/// A waiter notices the holder's release at its next poll and loads itself: measured in L2
/// calls, not time (the wait would otherwise run for 20 s).
async fn a_released_lease_lets_a_waiter_load_at_once(backend: Backend) {
    let stack = Stack::start(backend).await;
    let k = key("/api/products/12");
    stack.plant_lease(&k, "elsewhere", T0 + 60_000).await;
    let mut cfg = stack.config();
    cfg.lease_wait_ms = 20_000;
    cfg.lease_poll_ms = 20;
    cfg.l2_budget = Duration::from_secs(60);
    let (waiter, calls) = counted_origin(cfg);
    let request = {
        let waiter = waiter.clone();
        tokio::spawn(async move { call(&waiter, get("/api/products/12"), T0).await })
    };
    // get + lease (taken elsewhere), then at least one poll (get + lease) of the wait.
    until(Duration::from_secs(20), "the waiter to poll", || {
        calls.load(Ordering::SeqCst) >= 4
    })
    .await;
    stack.release_lease(&k, "elsewhere").await;
    let at_release = calls.load(Ordering::SeqCst);
    let r = tokio::time::timeout(Duration::from_secs(20), request)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(waiter.source_loads(), 1);
    // After the release: at most the poll in flight (get + lease), the next poll's get and
    // lease (taken), and the write.
    let after = calls.load(Ordering::SeqCst) - at_release;
    assert!(after <= 5, "{after} L2 calls after the release");
    assert_eq!(r.invoked.metrics.l2_calls as usize, calls.load(Ordering::SeqCst));
}

/// A load that outlived its lease (a slow source) finds a newer entry and leaves it.
async fn a_load_that_outlived_its_lease_never_overwrites_a_newer_entry(backend: Backend) {
    let stack = Stack::catalogue_behind_proxy(backend, Delay::EachAnswer(Duration::from_millis(600))).await;
    let proxy = stack.catalogue_proxy.as_ref().unwrap();
    let slow = origin(stack.config());
    let k = key("/api/products/13");
    let request = {
        let slow = slow.clone();
        tokio::spawn(async move { call(&slow, get("/api/products/13"), T0).await })
    };
    // The slow load is under way at the source …
    until(Duration::from_secs(20), "the source load", || {
        proxy.requests.load(Ordering::SeqCst) >= 1
    })
    .await;
    // … while another environment stores a newer answer.
    stack.plant(&Plant::new(&k, r#"{"newer":true}"#, T0 + 5_000)).await;
    let r = tokio::time::timeout(Duration::from_secs(20), request)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["id"], 13, "the viewer still gets the load's answer");
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored; detail=l2-superseded");
    let stored = stack.stored(&k).await.unwrap();
    assert_eq!(
        (stored.stored_at, stored.body.as_slice()),
        (T0 + 5_000, &br#"{"newer":true}"#[..])
    );
    assert!(!stack.lease_exists(&k).await, "the lease is given back");
}

/// A private route, or a public one with the viewer's credential, never reads what the
/// caches hold for its path — however it got there.
async fn a_private_request_never_reads_a_cached_entry(backend: Backend) {
    let stack = Stack::start(backend).await;
    for path in ["/api/me", "/api/users/7", "/api/users/7.css"] {
        stack.plant(&Plant::new(&key(path), r#"{"planted":true}"#, T0)).await;
    }
    let origin = origin(stack.config());
    // The public answer is in L1 and L2.
    call(&origin, get("/api/products/1"), T0).await;
    let bearer = [("authorization", "Bearer user-7")];
    let relayed = [
        ("authorization", OAC_SIGNATURE),
        ("x-viewer-authorization", "Bearer user-7"),
    ];
    for headers in [&bearer[..], &relayed[..]] {
        for path in ["/api/me", "/api/users/7"] {
            let r = call(&origin, request("GET", path, headers), T0 + 1_000).await;
            assert_eq!((r.status, r.cache_status()), (200, "origin; fwd=bypass"), "{path}");
            assert_eq!(r.json()["id"], 7, "{path}");
            assert_eq!(r.header("cache-control"), "private, no-store");
        }
        let r = call(&origin, request("GET", "/api/users/7.css", headers), T0 + 1_000).await;
        assert!(!r.body.contains("planted"));
        let r = call(&origin, request("GET", "/api/products/1", headers), T0 + 1_000).await;
        assert_eq!(r.cache_status(), "origin; fwd=bypass");
        assert_eq!(r.header("cache-control"), "private, no-store");
        assert!(r.header("age").is_empty(), "not a cached answer");
    }
    // Without a credential, nothing about the user.
    let r = call(&origin, get("/api/me"), T0 + 1_000).await;
    assert_eq!((r.status, r.cache_status()), (401, "origin; fwd=bypass"));
}

/// Under Origin Access Control every origin request carries CloudFront's SigV4 signature in
/// `Authorization`: a public route is still answered, stored and sent as public.
async fn an_oac_signature_is_not_a_viewer_credential(backend: Backend) {
    let stack = Stack::start(backend).await;
    let origin = origin(stack.config());
    let signed = [("authorization", OAC_SIGNATURE)];
    let r = call(&origin, request("GET", "/api/products/4", &signed), T0).await;
    assert_eq!((r.status, r.cache_status()), (200, "origin; fwd=miss; stored"));
    assert_eq!(r.header("cache-control"), PRODUCT_CC);
    assert!(stack.stored(&key("/api/products/4")).await.is_some());
    let r = call(&origin, request("GET", "/api/products/4", &signed), T0 + 1_000).await;
    assert_eq!(r.cache_status(), "origin; hit; ttl=29; detail=l1");
    // The private route reads the relayed credential, never the signature.
    let r = call(&origin, request("GET", "/api/me", &signed), T0).await;
    assert_eq!((r.status, r.header("cache-control")), (401, "private, no-store"));
    let relayed = [
        ("authorization", OAC_SIGNATURE),
        ("x-viewer-authorization", "Bearer user-42"),
    ];
    let r = call(&origin, request("GET", "/api/me", &relayed), T0).await;
    assert_eq!((r.status, r.json()["id"].as_u64()), (200, Some(42)));
}

/// Waiters re-read what another environment just wrote: strongly consistent reads
/// (DynamoDB reads are eventually consistent by default; dynalite is always consistent, so
/// the request itself is checked).
#[tokio::test]
async fn waiters_read_l2_with_strong_consistency() {
    let stack = Stack::l2_behind_proxy(Backend::Dynamo, Delay::None).await;
    let k = key("/api/products/15");
    stack.plant_lease(&k, "elsewhere", T0 + 60_000).await;
    let mut cfg = stack.config();
    cfg.lease_wait_ms = 100;
    cfg.lease_poll_ms = 20;
    let origin = origin(cfg);
    let r = call(&origin, get("/api/products/15"), T0).await;
    assert_eq!(r.status, 200);
    let sent = stack.l2_proxy.as_ref().unwrap().sent_text();
    let first_read = sent.find("\"ConsistentRead\":").expect("a GetItem");
    assert!(
        sent[first_read..].starts_with("\"ConsistentRead\":false"),
        "the first read is not a waiter's"
    );
    assert!(
        sent.matches("\"ConsistentRead\":true").count() >= 2,
        "the waiter's re-reads"
    );
}
