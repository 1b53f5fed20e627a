//! `make bench-purge`: the purge's figures for docs/purge.md and docs/performance.md, on the
//! local stack with the deployed settings (`ORIGIN_PURGE_POLL_MS` 1 s, the origin's 10 s and
//! the trigger's 5 s: `W` = 15 s). While viewers keep reading 40 products and 4 listings
//! through the edge and probes keep reading the purged product straight from both origin
//! environments, a product's price changes and its tag is purged. Per layer (the edge, the
//! origin's L1, its L2), the time from the purge's start to the last answer carrying the old
//! price; `W`; the source loads the purge caused; the index items written per source load and
//! what they cost per million loads. Written to `bench/results/purge.json`.
//!
//! Ignored in `make test` (it runs ~1 minute); run with
//! `cargo test --release -p purge --test bench_purge -- --ignored --nocapture`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use aws_config::BehaviorVersion;
use aws_sdk_cloudfront::config::{Credentials, Region};
use common::{root, source_loads};
use origin_function::config::Config;
use origin_function::l2::DynamoL2;
use origin_function::purge::command::PurgeSteps;
use origin_function::purge::store::DynamoPurgeStore;
use origin_function::source::{set_price, Catalogue};
use purge::edge::{Backoff, Edge};
use purge::plan::Limits;
use purge::run::wall_ms;
use purge::stores::Stores;
use purge::{selector, Purge, Timing};
use serde_json::{json, Value};

/// DynamoDB's on-demand write request units, USD per million, from the prices the replay
/// uses (`bench/prices.json`).
fn wru_usd_per_million() -> f64 {
    let prices = std::fs::read_to_string(root().join("bench/prices.json")).expect("bench/prices.json");
    let prices: Value = serde_json::from_str(&prices).expect("prices");
    prices["dynamodb_on_demand_per_million_write_units"]
        .as_f64()
        .expect("dynamodb_on_demand_per_million_write_units")
}

/// One answer seen: ms since the purge began, the layer, whether it carried the old price.
#[derive(Debug, Clone)]
struct Seen {
    at_ms: u64,
    layer: &'static str,
    old: bool,
}

fn layer_of(x_cache: Option<&str>, cache_status: &str) -> &'static str {
    match x_cache {
        Some(x) if x.starts_with("Hit") || x.starts_with("RefreshHit") => "edge",
        _ if cache_status.contains("detail=l1") => "origin L1",
        _ if cache_status.contains("detail=l2") => "origin L2",
        _ => "source",
    }
}

fn price(body: &Value) -> Option<u64> {
    body["price"]["amount"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a benchmark: make bench-purge"]
async fn bench_purge() {
    let timing = Timing::default();
    let log_dir = root().join("target/bench-purge");
    let stack = local_edge::Stack::builder()
        .root(root())
        .native()
        .products(200)
        .environments(2)
        .log_dir(&log_dir)
        .start()
        .await
        .expect("the local stack");
    let api = stack.aws_api_url().unwrap();
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "bench"))
        .load()
        .await;
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&sdk)
            .endpoint_url(stack.cache_endpoint())
            .build(),
    );
    let http = reqwest::Client::new();
    let base = stack.url();
    let targets: Vec<String> = (1..=40)
        .map(|i| format!("/api/products/{i}?utm_source=bench"))
        .chain(["books", "music", "games", "garden"].map(|c| format!("/api/products?category={c}")))
        .collect();
    // Warm every target at the edge and in both environments.
    for t in &targets {
        http.get(format!("{base}{t}")).send().await.unwrap();
    }
    let product = 12u64; // category music (12 % 10 = 2)
    let old = price(
        &http
            .get(format!("{base}/api/products/{product}"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap(),
    )
    .unwrap();

    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let started = Arc::new(Mutex::new(None::<Instant>));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut tasks = Vec::new();
    // Viewers through the edge (~40 requests a second), and two origin probes.
    for viewer in 0..2 {
        let (http, base, targets, seen, started, stop) = (
            http.clone(),
            base.clone(),
            targets.clone(),
            seen.clone(),
            started.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut i = viewer;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let t = &targets[i % targets.len()];
                i += 1;
                let Ok(r) = http.get(format!("{base}{t}")).send().await else {
                    continue;
                };
                let x = r
                    .headers()
                    .get("x-cache")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let status = r
                    .headers()
                    .get("cache-status")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                let body: Value = r.json().await.unwrap_or_default();
                if t.starts_with(&format!("/api/products/{product}?")) {
                    if let Some(at) = *started.lock().unwrap() {
                        seen.lock().unwrap().push(Seen {
                            at_ms: at.elapsed().as_millis() as u64,
                            layer: layer_of(Some(&x), &status),
                            old: price(&body) == Some(old),
                        });
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    for _ in 0..2 {
        let (http, api, secret, seen, started, stop) = (
            http.clone(),
            api.clone(),
            stack.secret().to_owned(),
            seen.clone(),
            started.clone(),
            stop.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let path = format!("/api/products/{product}");
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let event = json!({
                    "version": "2.0", "rawPath": path, "rawQueryString": "",
                    "headers": {"host": local_edge::stack::ORIGIN_DOMAIN, "x-origin-verify": secret},
                    "requestContext": {"domainName": local_edge::stack::ORIGIN_DOMAIN, "http": {"method": "GET", "path": path}},
                });
                let sent = http
                    .post(format!("{api}/2015-03-31/functions/origin-function/invocations"))
                    .body(event.to_string())
                    .send()
                    .await;
                if let Ok(r) = sent {
                    let r: Value = r.json().await.unwrap_or_default();
                    let status = r["headers"]["cache-status"].as_str().unwrap_or("").to_owned();
                    let body: Value = serde_json::from_str(r["body"].as_str().unwrap_or("null")).unwrap_or_default();
                    if let Some(at) = *started.lock().unwrap() {
                        seen.lock().unwrap().push(Seen {
                            at_ms: at.elapsed().as_millis() as u64,
                            layer: layer_of(None, &status),
                            old: price(&body) == Some(old),
                        });
                    }
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let loads_before = source_loads(&log_dir);

    let catalogue = Catalogue::new(
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .endpoint_url(stack.catalogue_endpoint())
                .build(),
        ),
        "catalogue",
    );
    set_price(&catalogue, product as u32, old + 1).await.unwrap();
    let config = Config {
        cache_table: "edge-cache".into(),
        ..Config::default()
    };
    let purge = Purge {
        stores: Stores::Direct(PurgeSteps::new(
            Arc::new(DynamoPurgeStore::new(dynamo.clone(), "edge-cache-purge")),
            Some(Arc::new(DynamoL2::new(dynamo.clone(), &config))),
        )),
        edge: Some(Edge::new(
            aws_sdk_cloudfront::Client::from_conf(
                aws_sdk_cloudfront::config::Builder::from(&sdk)
                    .endpoint_url(&api)
                    .build(),
            ),
            stack.distribution_id(),
            Backoff::default(),
        )),
        cloudflare: None,
        timing,
        limits: Limits::default(),
        retention: Duration::from_secs(3600),
        wait: Some((Duration::from_secs(60), Duration::from_millis(100))),
        list_covered: false,
        clock: wall_ms,
    };
    *started.lock().unwrap() = Some(Instant::now());
    let report = purge.run(&selector::tag(&format!("product:{product}")).unwrap()).await;
    let returned_ms = started.lock().unwrap().unwrap().elapsed().as_millis() as u64;
    assert!(report.ok(), "{}", purge::report::text(&report));
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    let loads_after = source_loads(&log_dir);

    let seen = seen.lock().unwrap().clone();
    let mut layers = serde_json::Map::new();
    for layer in ["edge", "origin L1", "origin L2", "source"] {
        let last_old = seen.iter().filter(|s| s.layer == layer && s.old).map(|s| s.at_ms).max();
        let answers = seen.iter().filter(|s| s.layer == layer).count();
        layers.insert(
            layer.into(),
            json!({"answers": answers, "last_old_answer_ms": last_old}),
        );
    }
    let old_after_return = seen.iter().filter(|s| s.old && s.at_ms > returned_ms).count();
    // Index items per source load: the purge table's index items over the keys loaded.
    let scan = dynamo.scan().table_name("edge-cache-purge").send().await.unwrap();
    let items = scan.items();
    let index_items = items
        .iter()
        .filter(|i| {
            let pk = i
                .get("pk")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                .unwrap_or("");
            pk.starts_with("path#") || pk.starts_with("tag#")
        })
        .count();
    let keys = items
        .iter()
        .filter(|i| {
            i.get("pk")
                .and_then(|v| v.as_s().ok())
                .is_some_and(|pk| pk.starts_with("path#"))
        })
        .count();
    let per_load = index_items as f64 / keys.max(1) as f64;
    let wru_usd = wru_usd_per_million();
    let result = json!({
        "date": "measured by make bench-purge",
        "w_ms": timing.w().as_millis() as u64,
        "purge_returned_ms": returned_ms,
        "layers": layers,
        "old_answers_after_purge_returned": old_after_return,
        "source_loads_caused": loads_after.saturating_sub(loads_before),
        "index_items_per_source_load": per_load,
        "index_write_usd_per_million_source_loads": per_load * wru_usd,
        "wru_usd_per_million": wru_usd,
        "invalidation_paths_billed": report.billed_paths,
        "steps_ms": report.step_ms,
    });
    let out = root().join("bench/results/purge.json");
    std::fs::create_dir_all(out.parent().unwrap()).unwrap();
    std::fs::write(&out, serde_json::to_string_pretty(&result).unwrap()).unwrap();
    println!("{}", serde_json::to_string_pretty(&result).unwrap());
    stack.stop().await;
    assert_eq!(old_after_return, 0, "no old answer after purge returned");
}
