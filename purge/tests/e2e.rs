//! The purge end to end against the local stack (`local_edge::Stack`: two dynalite servers,
//! the real origin binary in two execution environments, the edge with CloudFront's
//! invalidation API and Lambda's `Invoke` on their own loopback port): a product cached in
//! both L1s, L2 and the edge under two query strings; its price changed in the catalogue;
//! a purge; then, polled every 50 ms, no answer from any layer carries the old value.
//!
//! Needs the origin binaries: `cargo build --bins -p origin-function`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_cloudfront::config::{Credentials, Region};
use origin_function::config::Config;
use origin_function::l2::DynamoL2;
use origin_function::purge::command::PurgeSteps;
use origin_function::purge::store::DynamoPurgeStore;
use origin_function::source::{set_price, Catalogue};
use purge::edge::{Backoff, Edge};
use purge::plan::Limits;
use purge::run::wall_ms;
use purge::selector::{self, Parsed};
use purge::stores::Stores;
use purge::{Purge, Timing};
use serde_json::{json, Value};

/// Short enough for a test, as the stack is configured: the log polled every 300 ms, the
/// origin's timeout 3 s, the triggers' 1 s.
const TIMING: Timing = Timing {
    poll_ms: 300,
    l2_deadline_ms: 300,
    function_timeout_ms: 3_000,
    trigger_timeout_ms: 1_000,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Local {
    stack: local_edge::Stack,
    api: String,
    http: reqwest::Client,
    sdk: aws_config::SdkConfig,
}

async fn local() -> Local {
    let stack = local_edge::Stack::builder()
        .root(root())
        .native()
        .products(100)
        .environments(2)
        .invocation_timeout(Duration::from_millis(TIMING.function_timeout_ms))
        .origin_env("ORIGIN_PURGE_POLL_MS", TIMING.poll_ms.to_string())
        .start()
        .await
        .expect("the local stack (cargo build --bins -p origin-function)");
    let api = stack.aws_api_url().expect("the invalidation API");
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("local", "local", None, None, "tests"))
        .load()
        .await;
    Local {
        stack,
        api,
        http: reqwest::Client::new(),
        sdk,
    }
}

impl Local {
    fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .endpoint_url(self.stack.cache_endpoint())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    fn stores(&self, invoke: bool) -> Stores {
        if invoke {
            let config = aws_sdk_lambda::config::Builder::from(&self.sdk)
                .endpoint_url(&self.api)
                .build();
            return Stores::Invoke {
                client: aws_sdk_lambda::Client::from_conf(config),
                function: "origin-function".into(),
            };
        }
        let config = Config {
            cache_table: "edge-cache".into(),
            purge_table: "edge-cache-purge".into(),
            ..Config::default()
        };
        let client = self.dynamo();
        Stores::Direct(PurgeSteps::new(
            Arc::new(DynamoPurgeStore::new(client.clone(), "edge-cache-purge")),
            Some(Arc::new(DynamoL2::new(client, &config))),
        ))
    }

    fn cloudfront(&self) -> aws_sdk_cloudfront::Client {
        let config = aws_sdk_cloudfront::config::Builder::from(&self.sdk)
            .endpoint_url(&self.api)
            .build();
        aws_sdk_cloudfront::Client::from_conf(config)
    }

    fn purge(&self, invoke: bool) -> Purge {
        let backoff = Backoff {
            first: Duration::from_millis(50),
            max: Duration::from_millis(400),
            attempts: 5,
        };
        Purge {
            stores: self.stores(invoke),
            edge: Some(Edge::new(self.cloudfront(), self.stack.distribution_id(), backoff)),
            cloudflare: None,
            timing: TIMING,
            limits: Limits::default(),
            retention: Duration::from_secs(3600),
            wait: Some((Duration::from_secs(10), Duration::from_millis(50))),
            list_covered: true,
            clock: wall_ms,
        }
    }

    async fn set_price(&self, id: u32, cents: u64) {
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .endpoint_url(self.stack.catalogue_endpoint())
            .build();
        let catalogue = Catalogue::new(aws_sdk_dynamodb::Client::from_conf(config), "catalogue");
        set_price(&catalogue, id, cents).await.expect("set price");
    }

    /// Through the edge: `(X-Cache, body)`.
    async fn edge(&self, target: &str) -> (String, Value) {
        let r = self
            .http
            .get(format!("{}{target}", self.stack.url()))
            .send()
            .await
            .expect("edge");
        let x_cache = r
            .headers()
            .get("x-cache")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (x_cache, r.json().await.expect("json"))
    }

    /// Straight to an execution environment (its L1, then L2), as CloudFront's origin
    /// request would reach it: `(Cache-Status, body)`.
    async fn origin(&self, path: &str, query: &str) -> (String, Value) {
        let event = json!({
            "version": "2.0", "rawPath": path, "rawQueryString": query,
            "headers": {"host": local_edge::stack::ORIGIN_DOMAIN, "x-origin-verify": self.stack.secret()},
            "requestContext": {"domainName": local_edge::stack::ORIGIN_DOMAIN, "http": {"method": "GET", "path": path}},
            "isBase64Encoded": false
        });
        let r: Value = self
            .http
            .post(format!("{}/2015-03-31/functions/origin-function/invocations", self.api))
            .body(event.to_string())
            .send()
            .await
            .expect("invoke")
            .json()
            .await
            .expect("json");
        let status = r["headers"]["cache-status"].as_str().unwrap_or("").to_owned();
        let body = serde_json::from_str(r["body"].as_str().unwrap_or("null")).unwrap_or(Value::Null);
        (status, body)
    }
}

/// The price of product `id` in a product or a listing body.
fn price_of(body: &Value, id: u64) -> Option<u64> {
    if body["id"].as_u64() == Some(id) {
        return body["price"]["amount"].as_u64();
    }
    body["items"]
        .as_array()?
        .iter()
        .find(|i| i["id"].as_u64() == Some(id))
        .and_then(|i| i["price"]["amount"].as_u64())
}

/// After the purge returned: every 50 ms for `for_ms`, each edge target and each origin
/// `(path, query)` answers; every answer must carry `price` for product `id`. The answers
/// recorded, `(ms after the purge, what, cache, price)`.
async fn poll_for_old_answers(
    local: &Local,
    id: u64,
    price: u64,
    edge: &[&str],
    origin: &[(&str, &str)],
    for_ms: u64,
) -> Vec<(u64, String, String, Option<u64>)> {
    let started = Instant::now();
    let mut seen = Vec::new();
    while started.elapsed() < Duration::from_millis(for_ms) {
        for target in edge {
            let (x_cache, body) = local.edge(target).await;
            seen.push((
                started.elapsed().as_millis() as u64,
                target.to_string(),
                x_cache,
                price_of(&body, id),
            ));
        }
        for (path, query) in origin {
            let (status, body) = local.origin(path, query).await;
            seen.push((
                started.elapsed().as_millis() as u64,
                format!("origin {path}?{query}"),
                status,
                price_of(&body, id),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let old: Vec<_> = seen.iter().filter(|s| s.3 != Some(price)).collect();
    assert!(
        old.is_empty(),
        "answers without the new price after purge returned: {old:?}"
    );
    seen
}

/// Warms `edge` through the edge (miss, then hit) and `origin` in both environments.
async fn warm(local: &Local, edge: &[&str], origin: &[(&str, &str)]) {
    for target in edge {
        local.edge(target).await;
        let (x_cache, _) = local.edge(target).await;
        assert!(x_cache.starts_with("Hit"), "{target}: {x_cache}");
    }
    for (path, query) in origin {
        for _ in 0..4 {
            local.origin(path, query).await;
        }
    }
}

async fn run(local: &Local, parsed: &Parsed, invoke: bool) -> purge::Report {
    let report = local.purge(invoke).run(parsed).await;
    assert!(report.ok(), "{}", purge::report::text(&report));
    assert_eq!(report.completed, Some(true));
    report
}

#[tokio::test]
async fn no_layer_answers_the_old_value_after_a_purge_by_tag_url_or_prefix() {
    let local = local().await;

    // A tag: product 42 (category music, 42 % 10) on its page and in two listings, two query
    // strings at the edge and in the origin's layers.
    let listings = [
        "/api/products?category=music&per_page=100",
        "/api/products?per_page=100&sort=price&category=music&utm_source=news",
    ];
    let edge = ["/api/products/42?utm_source=a", listings[0], listings[1]];
    let origin = [
        ("/api/products/42", ""),
        ("/api/products", "category=music&per_page=100"),
        ("/api/products", "category=music&per_page=100&sort=price"),
    ];
    warm(&local, &edge, &origin).await;
    let (_, before) = local.edge(edge[0]).await;
    let old = price_of(&before, 42).unwrap();
    local.set_price(42, old + 100).await;
    let report = run(&local, &selector::tag("category:music").unwrap(), false).await;
    assert_eq!(report.seq, Some(1));
    assert!(report.paths.len() >= 3, "{:?}", report.paths);
    assert!(report.marked >= 3, "{report:?}");
    let seen = poll_for_old_answers(&local, 42, old + 100, &edge, &origin, 1_500).await;
    let misses = seen.iter().filter(|s| s.2.starts_with("Miss")).count();
    assert!(
        misses >= 1 && misses <= edge.len(),
        "each edge key misses once: {misses}"
    );

    // A URL with its tracking parameters in another order than it was cached under.
    let page = "/api/products/43?utm_source=x&utm_medium=y";
    warm(&local, &[page], &[("/api/products/43", "")]).await;
    let (_, before) = local.edge(page).await;
    let old = price_of(&before, 43).unwrap();
    local.set_price(43, old + 7).await;
    let report = run(
        &local,
        &selector::url("/api/products/43?utm_medium=y&utm_source=x").unwrap(),
        false,
    )
    .await;
    assert_eq!(report.batches, [vec!["/api/products/43*".to_owned()]]);
    poll_for_old_answers(&local, 43, old + 7, &[page], &[("/api/products/43", "")], 1_000).await;

    // A prefix.
    warm(&local, &["/api/products/44"], &[("/api/products/44", "")]).await;
    let (_, before) = local.edge("/api/products/44").await;
    let old = price_of(&before, 44).unwrap();
    local.set_price(44, old + 3).await;
    let report = run(&local, &selector::prefix("/api/products/4*").unwrap(), false).await;
    assert!(
        report.keys.iter().any(|k| k.ends_with("/api/products/44")),
        "{:?}",
        report.keys
    );
    poll_for_old_answers(
        &local,
        44,
        old + 3,
        &["/api/products/44"],
        &[("/api/products/44", "")],
        1_000,
    )
    .await;
    local.stack.stop().await;
}

#[tokio::test]
async fn too_many_invalidations_in_progress_is_retried_with_the_same_caller_reference() {
    let local = local().await;
    warm(&local, &["/api/products/7"], &[]).await;
    // The next two creates are refused.
    let refused = local
        .http
        .post(format!("{}/__edge/invalidations/refuse?count=2", local.api))
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_success());
    // Through the direct invoke (the Redis path's route), the stores' steps run inside the
    // function.
    let report = run(&local, &selector::url("/api/products/7").unwrap(), true).await;
    assert_eq!(report.invalidations.len(), 1);
    let created = &report.invalidations[0];
    assert_eq!(
        (created.throttled, created.caller_reference.as_str()),
        (2, "edge-purge-1-0")
    );
    let listed = local
        .cloudfront()
        .list_invalidations()
        .distribution_id(local.stack.distribution_id())
        .send()
        .await
        .unwrap();
    let list = listed.invalidation_list().unwrap();
    assert_eq!(list.quantity(), 1, "a retried batch is billed once");
    // A repeated create with the same reference returns the same invalidation.
    let edge = Edge::new(local.cloudfront(), local.stack.distribution_id(), Backoff::default());
    let again = edge.create(&created.caller_reference, &created.paths).await.unwrap();
    assert_eq!(again.id, created.id);
    let (x_cache, _) = local.edge("/api/products/7").await;
    assert!(x_cache.starts_with("Miss"), "{x_cache}");
    local.stack.stop().await;
}
