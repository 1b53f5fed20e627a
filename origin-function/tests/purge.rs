//! Purge at the origin (purge.md), against real servers: tags that never leave the origin
//! and are indexed before the answer returns, the purge log read before any L1 serve, L2
//! markers and the conditional writes that honour them, and the races the order of a purge
//! closes. Each body runs on both L2 backends unless its fault is DynamoDB's own.

#[macro_use]
mod common;

use std::sync::atomic::Ordering;
use std::time::Duration;

use common::*;
use origin_function::config::Config;
use origin_function::purge::command::{PurgeCommand, PurgeReply, PurgeSteps};
use origin_function::purge::{PurgeRecord, Selector};
use serde_json::json;

fn key(path: &str) -> String {
    format!("{HOST}{path}")
}

/// The host the Cloudflare Worker reaches the origin at: its function URL as `make
/// run-workers` gives it (the Worker's `fetch` sets `Host` from the origin URL, never the
/// viewer's), another key than CloudFront's [`HOST`].
const WORKER_HOST: &str = "127.0.0.1:9797";

/// A GET the Worker sends (its secret header included).
fn from_worker(path: &str) -> serde_json::Value {
    let mut event = get(path);
    event["headers"]["host"] = WORKER_HOST.into();
    event["requestContext"]["domainName"] = WORKER_HOST.into();
    event
}

/// The deployed purge settings, with the log read at most once a second (the default).
fn purging(mut config: Config) -> Config {
    config.purge_enabled = true;
    config.purge_poll = Duration::from_millis(1000);
    config
}

fn price(r: &Reply) -> u64 {
    r.json()["price"]["amount"].as_u64().expect("a product's price")
}

/// Steps 1–3 of a purge (allocate, resolve, mark, log) at `now_ms`: the sequence, the keys
/// resolved.
async fn purge(steps: &PurgeSteps, selector: Selector, now_ms: u64) -> (u64, Vec<String>) {
    let PurgeReply::Allocate { seq } = steps.run(PurgeCommand::Allocate).await.unwrap() else {
        panic!("allocate")
    };
    let resolved = steps.resolve(&selector, now_ms).await.unwrap();
    steps.mark(&resolved.keys, seq, now_ms + 60_000, now_ms).await.unwrap();
    steps
        .run(PurgeCommand::Log {
            record: PurgeRecord { seq, selector },
            now_ms,
            retention_ms: 3_600_000,
        })
        .await
        .unwrap();
    (seq, resolved.keys)
}

on_both_backends!(
    tags_stay_inside_the_origin_and_are_indexed_before_the_answer_returns,
    a_tag_purge_reaches_every_environments_l1_and_l2,
    a_load_that_began_before_the_purge_never_writes_l2_or_l1,
    an_index_entry_written_during_the_purge_is_caught_by_the_second_resolve,
    a_purge_command_event_runs_the_steps_inside_the_function,
    every_selector_reaches_the_entries_the_worker_stored_under_its_own_host,
);

async fn tags_stay_inside_the_origin_and_are_indexed_before_the_answer_returns(backend: Backend) {
    let stack = Stack::start(backend).await;
    let origin = origin(purging(stack.config()));
    let r = call(&origin, get("/api/products/7"), T0).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("surrogate-key"), "", "tags never leave the origin");
    assert_eq!(r.invoked.metrics.purge_index_writes, 1);
    let category = r.json()["category"].as_str().unwrap().to_owned();
    let missing = call(&origin, get("/api/products/9999"), T0).await;
    assert_eq!((missing.status, missing.header("surrogate-key")), (404, ""));
    let listing = call(&origin, get(&format!("/api/products?category={category}")), T0).await;
    assert_eq!(listing.status, 200);

    let steps = stack.purge_steps();
    let tagged = |tag: &str| Selector::Tag(tag.into());
    let product = steps.resolve(&tagged("product:7"), T0).await.unwrap();
    assert_eq!(product.keys, [key("/api/products/7")]);
    assert_eq!(product.paths, ["/api/products/7"]);
    let negative = steps.resolve(&tagged("product:9999"), T0).await.unwrap();
    assert_eq!(
        negative.paths,
        ["/api/products/9999"],
        "a product's 404 carries its tag"
    );
    let by_category = steps
        .resolve(&tagged(&format!("category:{category}")), T0)
        .await
        .unwrap();
    assert_eq!(
        by_category.paths,
        [
            "/api/products/7".to_owned(),
            format!("/api/products?category={category}")
        ],
        "sorted: '/' before '?'"
    );
    let listings = steps.resolve(&tagged("products"), T0).await.unwrap();
    assert_eq!(listings.paths, [format!("/api/products?category={category}")]);
    let by_path = steps.resolve(&Selector::Url("/api/products".into()), T0).await.unwrap();
    assert_eq!(by_path.keys, [key(&format!("/api/products?category={category}"))]);
    let by_prefix = steps
        .resolve(&Selector::Prefix("/api/products/".into()), T0)
        .await
        .unwrap();
    assert_eq!(by_prefix.keys, [key("/api/products/7"), key("/api/products/9999")]);
    assert!(by_prefix.scan.is_some_and(|s| s.pages >= 1));
    let nothing = steps.resolve(&tagged("product:12345"), T0).await.unwrap();
    assert!(nothing.keys.is_empty() && nothing.paths.is_empty());
}

async fn a_tag_purge_reaches_every_environments_l1_and_l2(backend: Backend) {
    let stack = Stack::start(backend).await;
    let config = purging(stack.config());
    let (a, b) = (origin(config.clone()), origin(config));
    let path = "/api/products/7";
    let first = call(&a, get(path), T0).await;
    assert_eq!(first.cache_status(), "origin; fwd=miss; stored");
    assert_eq!(
        call(&b, get(path), T0 + 100).await.cache_status(),
        "origin; hit; ttl=300; detail=l2"
    );
    assert!(call(&a, get(path), T0 + 200)
        .await
        .cache_status()
        .ends_with("detail=l1"));
    assert!(call(&b, get(path), T0 + 300)
        .await
        .cache_status()
        .ends_with("detail=l1"));
    let old = price(&first);

    stack.set_price(7, old + 1).await;
    let (seq, keys) = purge(&stack.purge_steps(), Selector::Tag("product:7".into()), T0 + 400).await;
    assert_eq!((seq, keys), (1, vec![key(path)]));
    assert_eq!(
        stack.marker(&key(path)).await,
        Some(1),
        "L2 holds a marker, not the old value"
    );

    // Past the poll interval each environment has read the log before serving from L1.
    let ra = call(&a, get(path), T0 + 1_500).await;
    assert_eq!((price(&ra), ra.cache_status()), (old + 1, "origin; fwd=miss; stored"));
    let rb = call(&b, get(path), T0 + 1_600).await;
    assert_eq!(price(&rb), old + 1);
    assert_eq!(
        rb.cache_status(),
        "origin; hit; ttl=300; detail=l2",
        "a's load (S₀ = 1) replaced the marker"
    );
    assert_eq!(a.source_loads() + b.source_loads(), 2, "the purged key loads once");
}

async fn a_load_that_began_before_the_purge_never_writes_l2_or_l1(backend: Backend) {
    let stack = Stack::catalogue_behind_proxy(backend, Delay::EachAnswer(Duration::from_millis(600))).await;
    let proxy = stack.catalogue_proxy.as_ref().unwrap();
    let config = purging(stack.config());
    let (a, b) = (origin(config.clone()), origin(config));
    let path = "/api/products/13";
    let first = call(&a, get(path), T0).await;
    let old = price(&first);
    // Past s-maxage: b's refresh of the stale copy starts before the purge …
    let stale_at = T0 + 301_000;
    let loads = proxy.requests.load(Ordering::SeqCst);
    let refresh = {
        let b = b.clone();
        tokio::spawn(async move { call(&b, get(path), stale_at).await })
    };
    until(Duration::from_secs(20), "the refresh at the source", || {
        proxy.requests.load(Ordering::SeqCst) > loads
    })
    .await;
    // … and the purge marks L2 while b's source read is in flight.
    stack.set_price(13, old + 1).await;
    let (seq, _) = purge(&stack.purge_steps(), Selector::Tag("product:13".into()), stale_at).await;
    let r = tokio::time::timeout(Duration::from_secs(20), refresh)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(price(&r), old, "its own viewer asked before the purge");
    assert_eq!(
        r.cache_status(),
        "origin; fwd=stale; detail=purged",
        "neither stored nor kept"
    );
    assert_eq!(stack.marker(&key(path)).await, Some(seq), "the marker is still there");
    // b's L1 does not hold it: once b has read the log, its next request loads the new value.
    let next = call(&b, get(path), stale_at + 1_500).await;
    assert_eq!(price(&next), old + 1);
    assert_eq!(next.cache_status(), "origin; fwd=miss; stored");
}

async fn an_index_entry_written_during_the_purge_is_caught_by_the_second_resolve(backend: Backend) {
    let stack = Stack::catalogue_behind_proxy(backend, Delay::EachAnswer(Duration::from_millis(600))).await;
    let proxy = stack.catalogue_proxy.as_ref().unwrap();
    let config = purging(stack.config());
    let (b, c) = (origin(config.clone()), origin(config));
    let path = "/api/products/14";
    // b's first load of a key nobody indexed yet begins before the purge …
    let load = {
        let b = b.clone();
        tokio::spawn(async move { call(&b, get(path), T0).await })
    };
    until(Duration::from_secs(20), "the load at the source", || {
        proxy.requests.load(Ordering::SeqCst) >= 1
    })
    .await;
    let steps = stack.purge_steps();
    let selector = Selector::Tag("product:14".into());
    let (seq, first) = purge(&steps, selector.clone(), T0 + 10).await;
    assert!(first.is_empty(), "the first resolve cannot see it");
    let old = price(
        &tokio::time::timeout(Duration::from_secs(20), load)
            .await
            .unwrap()
            .unwrap(),
    );
    stack.set_price(14, old + 1).await;
    // … and it ends inside W: the second resolve finds its index entry and marks it.
    let second = steps.resolve(&selector, T0 + 20).await.unwrap();
    assert_eq!(second.keys, [key(path)]);
    assert_eq!(
        steps.mark(&second.keys, seq, T0 + 60_000, T0 + 20).await.unwrap(),
        (1, 0)
    );
    assert_eq!(stack.marker(&key(path)).await, Some(seq));
    // No environment answers the old value from then on: b's L1 copy (S₀ = 0) is selected
    // by the purge it reads, c finds the marker.
    assert_eq!(price(&call(&b, get(path), T0 + 1_500).await), old + 1);
    assert_eq!(price(&call(&c, get(path), T0 + 1_500).await), old + 1);
}

async fn a_purge_command_event_runs_the_steps_inside_the_function(backend: Backend) {
    let stack = Stack::start(backend).await;
    let origin = origin(purging(stack.config()));
    call(&origin, get("/api/products/3"), T0).await;
    let invoke = |payload: serde_json::Value| {
        let origin = origin.clone();
        async move {
            let invoked = origin
                .invoke(invocation(json!({ "purge": payload })), T0)
                .await
                .unwrap();
            serde_json::to_value(&invoked.response).unwrap()
        }
    };
    assert_eq!(
        invoke(json!({"op": "allocate"})).await,
        json!({"op": "allocate", "seq": 1})
    );
    let resolved =
        invoke(json!({"op": "resolve", "now_ms": T0, "selector": {"kind": "url", "value": "/api/products/3"}})).await;
    assert_eq!(resolved["keys"], json!([key("/api/products/3")]));
    let marked = invoke(
        json!({"op": "mark", "seq": 1, "keys": [key("/api/products/3")], "until_ms": T0 + 60_000, "now_ms": T0}),
    )
    .await;
    assert_eq!(marked, json!({"op": "mark", "marked": 1, "kept": 0}));
    let logged = invoke(json!({"op": "log", "now_ms": T0, "retention_ms": 3_600_000,
        "record": {"seq": 1, "selector": {"kind": "url", "value": "/api/products/3"}}}))
    .await;
    assert_eq!(logged, json!({"op": "log"}));
    // A function URL event never is a purge command, whatever it carries.
    let mut event = get("/api/products/3");
    event["purge"] = json!({"op": "allocate"});
    let r = call(&origin, event, T0 + 2_000).await;
    assert_eq!((r.status, r.cache_status()), (200, "origin; fwd=miss; stored"));
}

#[tokio::test]
async fn a_failing_log_read_makes_old_l1_entries_reload_once() {
    let mut stack = Stack::split(Backend::Dynamo).await;
    let mut config = purging(stack.config());
    // Production deadlines: a stopped server costs little.
    config.l2_operation_timeout = Duration::from_millis(300);
    config.l2_attempt_timeout = Duration::from_millis(100);
    let a = origin(config);
    let path = "/api/products/5";
    call(&a, get(path), T0).await;
    let hit = call(&a, get(path), T0 + 1_500).await;
    assert!(hit.cache_status().ends_with("detail=l1"), "a successful read at +1.5 s");
    stack.stop_l2();
    // Within the interval nothing is read: L1 answers.
    assert!(call(&a, get(path), T0 + 2_000)
        .await
        .cache_status()
        .ends_with("detail=l1"));
    // The read fails and the last good one is over the interval old: the entry stored before
    // it loads again, once …
    let reload = call(&a, get(path), T0 + 3_000).await;
    assert_eq!(reload.invoked.metrics.purge_log_errors, 1);
    assert!(
        reload.cache_status().starts_with("origin; fwd=miss"),
        "{}",
        reload.cache_status()
    );
    // … and the copy loaded after the last good read is served while the log stays down.
    assert!(call(&a, get(path), T0 + 3_500)
        .await
        .cache_status()
        .ends_with("detail=l1"));
    assert!(call(&a, get(path), T0 + 5_000)
        .await
        .cache_status()
        .ends_with("detail=l1"));
    assert_eq!(a.source_loads(), 2);
}

#[tokio::test]
async fn a_failing_index_write_still_answers_and_is_counted() {
    let stack = Stack::start(Backend::Dynamo).await;
    raw_client(&stack.catalogue.endpoint())
        .delete_table()
        .table_name(PURGE)
        .send()
        .await
        .expect("DeleteTable");
    let origin = origin(purging(stack.config()));
    let r = call(&origin, get("/api/products/8"), T0).await;
    assert_eq!((r.status, r.cache_status()), (200, "origin; fwd=miss; stored"));
    let m = &r.invoked.metrics;
    assert_eq!((m.purge_index_writes, m.purge_index_errors), (1, 1));
    assert!(r.invoked.metrics_line.contains("\"PurgeIndexErrors\":1"));
    // Its L2 entry is stored all the same (a URL whose index write failed is purged only by
    // its lifetime, docs/purge.md).
    assert!(stack.stored(&key("/api/products/8")).await.is_some());
}

/// purge.md: "A path selects its entries under every host the origin is reached at", the
/// Worker's included (issue 25, item 6: its L1/L2 purged as for CloudFront).
async fn every_selector_reaches_the_entries_the_worker_stored_under_its_own_host(backend: Backend) {
    let stack = Stack::start(backend).await;
    let config = purging(stack.config());
    let (cloudfront, worker) = (origin(config.clone()), origin(config));
    let path = "/api/products/7";
    let old = price(&call(&cloudfront, get(path), T0).await);
    let first = call(&worker, from_worker(path), T0 + 100).await;
    assert_eq!(
        first.cache_status(),
        "origin; fwd=miss; stored",
        "the Worker's host is a key of its own"
    );
    assert!(call(&worker, from_worker(path), T0 + 200)
        .await
        .cache_status()
        .ends_with("detail=l1"));

    let steps = stack.purge_steps();
    for selector in [
        Selector::Url(path.into()),
        Selector::Prefix("/api/products/".into()),
        Selector::Tag("product:7".into()),
    ] {
        let keys = steps.resolve(&selector, T0 + 300).await.unwrap().keys;
        assert_eq!(keys.len(), 2, "{selector:?}: {keys:?}");
        assert!(keys.contains(&key(path)), "{selector:?}: {keys:?}");
        assert!(
            keys.iter().any(|k| k.starts_with(WORKER_HOST) && k.ends_with(path)),
            "{selector:?}: {keys:?}"
        );
    }

    stack.set_price(7, old + 1).await;
    let (seq, keys) = purge(&steps, Selector::Tag("product:7".into()), T0 + 400).await;
    let worker_key = keys
        .iter()
        .find(|k| k.starts_with(WORKER_HOST))
        .expect("the Worker's key");
    assert_eq!(stack.marker(worker_key).await, Some(seq), "L2 holds a marker");
    // Past the poll interval the Worker's environment has read the log before serving from L1.
    let after = call(&worker, from_worker(path), T0 + 1_500).await;
    assert_eq!(
        (price(&after), after.cache_status()),
        (old + 1, "origin; fwd=miss; stored")
    );
    assert_eq!(price(&call(&cloudfront, get(path), T0 + 1_600).await), old + 1);
}
