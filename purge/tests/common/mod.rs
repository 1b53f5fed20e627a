//! The local stack the purge tests run against (`local_edge::Stack`: two dynalite servers,
//! the real origin binary in two execution environments, the edge with CloudFront's
//! invalidation API and Lambda's `Invoke` on their own loopback port), the purge as the CLI
//! builds it over that stack, and what a test reads back (a layer's answer, a price, the
//! origin's source loads).
//!
//! Needs the origin binaries: `cargo build --bins -p origin-function`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

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
use purge::selector::Parsed;
use purge::stores::Stores;
use purge::{Purge, Timing};
use serde_json::{json, Value};

/// Short enough for a test, as the stack is configured: the log polled every 300 ms, the
/// origin's timeout 3 s, the triggers' 1 s.
pub const TIMING: Timing = Timing {
    poll_ms: 300,
    l2_deadline_ms: 300,
    function_timeout_ms: 3_000,
    trigger_timeout_ms: 1_000,
};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

pub struct Local {
    pub stack: local_edge::Stack,
    pub api: String,
    pub http: reqwest::Client,
    pub sdk: aws_config::SdkConfig,
}

/// The stack with the test [`TIMING`].
pub async fn local() -> Local {
    local_with(|stack| stack).await
}

/// The stack with the test [`TIMING`], and what `tune` adds to its builder.
pub async fn local_with(tune: impl FnOnce(local_edge::StackBuilder) -> local_edge::StackBuilder) -> Local {
    let stack = local_edge::Stack::builder()
        .root(root())
        .native()
        .products(100)
        .environments(2)
        .invocation_timeout(Duration::from_millis(TIMING.function_timeout_ms))
        .origin_env("ORIGIN_PURGE_POLL_MS", TIMING.poll_ms.to_string());
    let stack = tune(stack)
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
    pub fn dynamo(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .endpoint_url(self.stack.cache_endpoint())
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    pub fn stores(&self, invoke: bool) -> Stores {
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

    pub fn cloudfront(&self) -> aws_sdk_cloudfront::Client {
        let config = aws_sdk_cloudfront::config::Builder::from(&self.sdk)
            .endpoint_url(&self.api)
            .build();
        aws_sdk_cloudfront::Client::from_conf(config)
    }

    pub fn purge(&self, invoke: bool) -> Purge {
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

    pub async fn set_price(&self, id: u32, cents: u64) {
        let config = aws_sdk_dynamodb::config::Builder::from(&self.sdk)
            .endpoint_url(self.stack.catalogue_endpoint())
            .build();
        let catalogue = Catalogue::new(aws_sdk_dynamodb::Client::from_conf(config), "catalogue");
        set_price(&catalogue, id, cents).await.expect("set price");
    }

    /// Through the edge: `(X-Cache, body)`.
    pub async fn edge(&self, target: &str) -> (String, Value) {
        let answer = self.edge_answer(target, &[]).await;
        (answer.x_cache, answer.body)
    }

    /// Through the edge with `headers`: its `X-Cache`, the origin's `Cache-Status`, the body
    /// (`null` when it is not JSON).
    pub async fn edge_answer(&self, target: &str, headers: &[(String, String)]) -> EdgeAnswer {
        let mut request = self.http.get(format!("{}{target}", self.stack.url()));
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let r = request.send().await.expect("edge");
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        };
        let (x_cache, cache_status) = (header("x-cache"), header("cache-status"));
        let body = r.json().await.unwrap_or(Value::Null);
        EdgeAnswer {
            x_cache,
            cache_status,
            body,
        }
    }

    /// Straight to an execution environment (its L1, then L2), as CloudFront's origin
    /// request would reach it: `(Cache-Status, body)`.
    pub async fn origin(&self, path: &str, query: &str) -> (String, Value) {
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

/// An answer through the edge.
pub struct EdgeAnswer {
    /// `Hit from cloudfront`, `Miss from cloudfront`, ...
    pub x_cache: String,
    /// The origin's `Cache-Status` (as stored with the edge's copy).
    pub cache_status: String,
    /// The JSON body, `null` when it is not JSON.
    pub body: Value,
}

/// Source loads so far, from the environments' EMF lines (`"SourceLoads":N`) in the stack's
/// log directory.
pub fn source_loads(log_dir: &Path) -> u64 {
    let Ok(dir) = std::fs::read_dir(log_dir) else { return 0 };
    dir.flatten()
        .filter_map(|e| std::fs::read_to_string(e.path()).ok())
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.split("\"SourceLoads\":").nth(1))
                .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// The price of product `id` in a product or a listing body.
pub fn price_of(body: &Value, id: u64) -> Option<u64> {
    if body["id"].as_u64() == Some(id) {
        return body["price"]["amount"].as_u64();
    }
    body["items"]
        .as_array()?
        .iter()
        .find(|i| i["id"].as_u64() == Some(id))
        .and_then(|i| i["price"]["amount"].as_u64())
}

pub async fn run(local: &Local, parsed: &Parsed, invoke: bool) -> purge::Report {
    let report = local.purge(invoke).run(parsed).await;
    assert!(report.ok(), "{}", purge::report::text(&report));
    assert_eq!(report.completed, Some(true));
    report
}
