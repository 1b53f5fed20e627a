//! The origin handler against its baselines, printing the ratios:
//! - the whole handler on an L1 hit vs a bare `lambda_http` handler returning a constant
//!   body (both from the event's JSON bytes to the response's JSON bytes; goal ≤ 1.5×);
//! - the handler on an L2 hit (L1 TTL 0) vs a raw `GetItem` of the same item on the same
//!   local dynalite (goal ≤ 1.15×);
//! - the handler on a Redis L2 hit (L1 TTL 0) vs a raw `HGETALL` of the same entry on the
//!   same local redis-server (the Redis "GET" of the entry), and vs the DynamoDB L2 hit.

#[path = "../tests/common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use criterion::Criterion;
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Adapter, Body, Context, LambdaEvent, Request, Response, Service};
use origin_function::l2::digest;
use origin_function::{Invocation, Origin};
use tokio::runtime::Runtime;

struct Setup {
    _server: Dynalite,
    _redis: Stack,
    l1_origin: Origin,
    l2_origin: Origin,
    redis_origin: Origin,
    raw: aws_sdk_dynamodb::Client,
    raw_redis: redis::aio::MultiplexedConnection,
    event: Vec<u8>,
    body: String,
}

fn setup(rt: &Runtime) -> Setup {
    rt.block_on(async {
        let (server, cfg) = one_server().await;
        let l1_origin = build_origin(cfg.clone());
        let mut l2_cfg = cfg.clone();
        l2_cfg.l1_ttl_seconds = 0;
        let l2_origin = build_origin(l2_cfg);
        let redis = Stack::start(Backend::Redis).await;
        let mut redis_cfg = redis.config();
        redis_cfg.l1_ttl_seconds = 0;
        let redis_origin = build_origin(redis_cfg.clone());
        redis_origin.connect_l2().await.expect("redis");
        redis_origin
            .invoke(invocation(get("/api/products/7")), T0)
            .await
            .expect("load");
        let raw_redis = redis::Client::open(redis_cfg.redis_url.clone().expect("url"))
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("redis");
        let event = serde_json::to_vec(&get("/api/products/7")).expect("event");
        let first = l1_origin
            .invoke(invocation(get("/api/products/7")), T0)
            .await
            .expect("load");
        let first = serde_json::to_value(&first.response).expect("json");
        let body = first["body"].as_str().unwrap_or("").to_owned();
        let raw = cache_client(&cfg);
        Setup {
            _server: server,
            _redis: redis,
            l1_origin,
            l2_origin,
            redis_origin,
            raw,
            raw_redis,
            event,
            body,
        }
    })
}

/// Event JSON bytes in (read once, as the Lambda runtime does), response JSON bytes out.
async fn handler_once(origin: &Origin, event: &[u8]) -> Vec<u8> {
    let payload: Invocation = serde_json::from_slice(event).expect("event");
    let invoked = origin.invoke(payload, T0 + 1_000).await.expect("invoke");
    black_box(&invoked.metrics_line);
    serde_json::to_vec(&invoked.response).expect("response")
}

async fn bare_once(event: &[u8], body: &str) -> Vec<u8> {
    let request: LambdaRequest = serde_json::from_slice(event).expect("event");
    let body = body.to_owned();
    let mut adapter = Adapter::from(service_fn(move |_req: Request| {
        let body = body.clone();
        async move {
            Ok::<_, Infallible>(
                Response::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(Body::from(body))
                    .expect("response"),
            )
        }
    }));
    let response = adapter
        .call(LambdaEvent::new(request, Context::default()))
        .await
        .expect("call");
    serde_json::to_vec(&response).expect("response")
}

async fn raw_get_once(raw: &aws_sdk_dynamodb::Client, pk: &str) {
    let out = raw
        .get_item()
        .table_name(CACHE)
        .key("pk", AttributeValue::S(pk.to_owned()))
        .send()
        .await
        .expect("GetItem");
    black_box(out.item);
}

async fn raw_hgetall_once(conn: &redis::aio::MultiplexedConnection, pk: &str) {
    let mut conn = conn.clone();
    let fields: std::collections::HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
        .arg(pk)
        .query_async(&mut conn)
        .await
        .expect("HGETALL");
    black_box(fields);
}

fn time_per_op<F: FnMut()>(iterations: u32, mut f: F) -> Duration {
    for _ in 0..iterations / 10 {
        f();
    }
    let started = Instant::now();
    for _ in 0..iterations {
        f();
    }
    started.elapsed() / iterations
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let s = setup(&rt);
    let pk = digest(&format!("{HOST}/api/products/7"));
    // Check what is measured really is what its name says.
    let hit: serde_json::Value =
        serde_json::from_slice(&rt.block_on(handler_once(&s.l1_origin, &s.event))).expect("json");
    assert!(hit["headers"]["cache-status"]
        .as_str()
        .unwrap_or("")
        .ends_with("detail=l1"));
    let hit: serde_json::Value =
        serde_json::from_slice(&rt.block_on(handler_once(&s.l2_origin, &s.event))).expect("json");
    assert!(hit["headers"]["cache-status"]
        .as_str()
        .unwrap_or("")
        .ends_with("detail=l2"));
    let hit: serde_json::Value =
        serde_json::from_slice(&rt.block_on(handler_once(&s.redis_origin, &s.event))).expect("json");
    assert!(hit["headers"]["cache-status"]
        .as_str()
        .unwrap_or("")
        .ends_with("detail=l2"));

    let mut c = Criterion::default().configure_from_args();
    {
        let mut g = c.benchmark_group("l1_hit");
        g.bench_function("origin_handler", |b| {
            b.to_async(&rt).iter(|| handler_once(&s.l1_origin, &s.event))
        });
        g.bench_function("bare_lambda_http", |b| {
            b.to_async(&rt).iter(|| bare_once(&s.event, &s.body))
        });
        g.finish();
    }
    {
        let mut g = c.benchmark_group("l2_hit");
        g.measurement_time(Duration::from_secs(8));
        g.bench_function("origin_handler", |b| {
            b.to_async(&rt).iter(|| handler_once(&s.l2_origin, &s.event))
        });
        g.bench_function("raw_get_item", |b| b.to_async(&rt).iter(|| raw_get_once(&s.raw, &pk)));
        g.finish();
    }
    {
        let mut g = c.benchmark_group("redis_l2_hit");
        g.bench_function("origin_handler", |b| {
            b.to_async(&rt).iter(|| handler_once(&s.redis_origin, &s.event))
        });
        g.bench_function("raw_hgetall", |b| {
            b.to_async(&rt).iter(|| raw_hgetall_once(&s.raw_redis, &pk))
        });
        g.finish();
    }
    c.final_summary();

    // The ratios, from interleaved runs of the same operations.
    let mut l1 = (Duration::MAX, Duration::MAX);
    let mut l2 = (Duration::MAX, Duration::MAX);
    let mut redis_l2 = (Duration::MAX, Duration::MAX);
    for _ in 0..5 {
        l1.0 = l1.0.min(time_per_op(20_000, || {
            rt.block_on(handler_once(&s.l1_origin, &s.event));
        }));
        l1.1 = l1.1.min(time_per_op(20_000, || {
            rt.block_on(bare_once(&s.event, &s.body));
        }));
        l2.0 = l2.0.min(time_per_op(300, || {
            rt.block_on(handler_once(&s.l2_origin, &s.event));
        }));
        l2.1 = l2.1.min(time_per_op(300, || rt.block_on(raw_get_once(&s.raw, &pk))));
        redis_l2.0 = redis_l2.0.min(time_per_op(2_000, || {
            rt.block_on(handler_once(&s.redis_origin, &s.event));
        }));
        redis_l2.1 = redis_l2
            .1
            .min(time_per_op(2_000, || rt.block_on(raw_hgetall_once(&s.raw_redis, &pk))));
    }
    let ratio = |a: Duration, b: Duration| a.as_secs_f64() / b.as_secs_f64();
    println!(
        "RATIO l1_hit: origin handler {:.2} µs / bare lambda_http {:.2} µs = {:.2}x (goal <= 1.5x)",
        l1.0.as_secs_f64() * 1e6,
        l1.1.as_secs_f64() * 1e6,
        ratio(l1.0, l1.1)
    );
    println!(
        "RATIO l2_hit: origin handler {:.1} µs / raw GetItem {:.1} µs = {:.2}x (goal <= 1.15x)",
        l2.0.as_secs_f64() * 1e6,
        l2.1.as_secs_f64() * 1e6,
        ratio(l2.0, l2.1)
    );
    println!(
        "RATIO redis_l2_hit: origin handler {:.1} µs / raw HGETALL {:.1} µs = {:.2}x",
        redis_l2.0.as_secs_f64() * 1e6,
        redis_l2.1.as_secs_f64() * 1e6,
        ratio(redis_l2.0, redis_l2.1)
    );
    println!(
        "RATIO l2_hit backends: Redis {:.1} µs / DynamoDB (dynalite) {:.1} µs = {:.2}x",
        redis_l2.0.as_secs_f64() * 1e6,
        l2.0.as_secs_f64() * 1e6,
        ratio(redis_l2.0, l2.0)
    );
}
