//! The origin handler against its baselines, printing the ratios:
//! - the whole handler on an L1 hit vs a bare `lambda_http` handler returning a constant
//!   body (both from the event's JSON bytes to the response's JSON bytes; goal ≤ 1.5×);
//! - the handler on an L2 hit (L1 TTL 0) vs a raw `GetItem` of the same item on the same
//!   local dynalite (goal ≤ 1.15×);
//! - the handler on a Redis L2 hit (L1 TTL 0) vs a raw `HGETALL` of the same entry on the
//!   same local redis-server (the Redis "GET" of the entry), and vs the DynamoDB L2 hit;
//! - the handler's own CPU on the L2-hit path (an in-memory L2 answering at once) vs on an
//!   L1 hit: what the L2 path adds, without a server's latency and its noise.
//!
//! Each pair is measured in alternating blocks (either one first in turn), and the ratio is
//! printed on medians and on minimums.

#[path = "../tests/common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use common::*;
use criterion::Criterion;
use lambda_http::request::LambdaRequest;
use lambda_http::{service_fn, Adapter, Body, Context, LambdaEvent, Request, Response, Service};
use origin_function::l2::item::{Encoded, RawEntry};
use origin_function::l2::{digest, DynamoL2, L2Future, WriteOutcome, L2};
use origin_function::source::Catalogue;
use origin_function::{Invocation, Origin};
use tokio::runtime::Runtime;

/// An L2 that answers at once with one stored item (the handler's CPU alone).
struct InMemoryL2(RawEntry);

impl L2 for InMemoryL2 {
    fn get<'a>(&'a self, _digest: &'a str, _consistent: bool) -> L2Future<'a, Option<RawEntry>> {
        Box::pin(async move { Ok(Some(self.0.clone())) })
    }
    fn put<'a>(&'a self, _digest: &'a str, _entry: Encoded<'a>, _owner: &'a str) -> L2Future<'a, WriteOutcome> {
        Box::pin(async { Ok(WriteOutcome::Written) })
    }
    fn try_lease<'a>(&'a self, _digest: &'a str, _owner: &'a str, _now: u64, _ms: u64) -> L2Future<'a, bool> {
        Box::pin(async { Ok(true) })
    }
    fn release_lease<'a>(&'a self, _digest: &'a str, _owner: &'a str) -> L2Future<'a, ()> {
        Box::pin(async { Ok(()) })
    }
    fn mark<'a>(&'a self, _: &'a str, _: u64, _: u64, _: u64) -> L2Future<'a, bool> {
        Box::pin(async { Ok(false) })
    }
    fn connect(&self) -> L2Future<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

struct Setup {
    _server: Dynalite,
    _redis: Stack,
    l1_origin: Origin,
    l2_origin: Origin,
    memory_origin: Origin,
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
        let stored = DynamoL2::new(cache_client(&cfg), &cfg)
            .get(&digest(&format!("{HOST}/api/products/7")), true)
            .await
            .expect("get")
            .expect("stored");
        let mut memory_cfg = cfg.clone();
        memory_cfg.l1_ttl_seconds = 0;
        let catalogue = Catalogue::new(catalogue_client(&cfg), CATALOGUE);
        let memory_origin =
            Origin::with_parts(memory_cfg, catalogue, Some(Arc::new(InMemoryL2(stored))), None).expect("origin");
        Setup {
            _server: server,
            _redis: redis,
            l1_origin,
            l2_origin,
            memory_origin,
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

/// Per-operation times of two operations, measured in alternating blocks: `a` first in even
/// rounds, `b` first in odd ones, so neither always runs in the other's wake (a server's
/// garbage collection, a cold cache line).
struct Paired {
    a: Vec<Duration>,
    b: Vec<Duration>,
}

fn paired(rounds: usize, block: u32, mut a: impl FnMut(), mut b: impl FnMut()) -> Paired {
    let time = |f: &mut dyn FnMut()| {
        let started = Instant::now();
        for _ in 0..block {
            f();
        }
        started.elapsed() / block
    };
    // Warm both up.
    time(&mut a);
    time(&mut b);
    let (mut ta, mut tb) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for round in 0..rounds {
        if round % 2 == 0 {
            ta.push(time(&mut a));
            tb.push(time(&mut b));
        } else {
            tb.push(time(&mut b));
            ta.push(time(&mut a));
        }
    }
    Paired { a: ta, b: tb }
}

fn median(times: &[Duration]) -> Duration {
    let mut sorted = times.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

impl Paired {
    /// `RATIO name: a … / b … = …x`, on medians, with the ratio of the minimums beside it.
    fn print(&self, name: &str, a: &str, b: &str, goal: &str) {
        let (ma, mb) = (median(&self.a), median(&self.b));
        let (na, nb) = (
            self.a.iter().min().copied().unwrap_or_default(),
            self.b.iter().min().copied().unwrap_or_default(),
        );
        println!(
            "RATIO {name}: {a} {:.1} µs / {b} {:.1} µs = {:.2}x (medians of {} alternating rounds; minimums {:.1} / {:.1} µs = {:.2}x){goal}",
            micros(ma),
            micros(mb),
            ma.as_secs_f64() / mb.as_secs_f64(),
            self.a.len(),
            micros(na),
            micros(nb),
            na.as_secs_f64() / nb.as_secs_f64(),
        );
    }
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
    let l1 = paired(
        30,
        2_000,
        || {
            rt.block_on(handler_once(&s.l1_origin, &s.event));
        },
        || {
            rt.block_on(bare_once(&s.event, &s.body));
        },
    );
    l1.print("l1_hit", "origin handler", "bare lambda_http", " (goal <= 1.5x)");
    let cpu = paired(
        30,
        2_000,
        || {
            rt.block_on(handler_once(&s.memory_origin, &s.event));
        },
        || {
            rt.block_on(handler_once(&s.l1_origin, &s.event));
        },
    );
    cpu.print("handler_cpu", "L2-hit path (in-memory L2)", "L1-hit path", "");
    let l2 = paired(
        100,
        30,
        || {
            rt.block_on(handler_once(&s.l2_origin, &s.event));
        },
        || rt.block_on(raw_get_once(&s.raw, &pk)),
    );
    l2.print("l2_hit", "origin handler", "raw GetItem", " (goal <= 1.15x)");
    let redis_l2 = paired(
        30,
        500,
        || {
            rt.block_on(handler_once(&s.redis_origin, &s.event));
        },
        || rt.block_on(raw_hgetall_once(&s.raw_redis, &pk)),
    );
    redis_l2.print("redis_l2_hit", "origin handler", "raw HGETALL", "");
    println!(
        "RATIO l2_hit backends: Redis {:.1} µs / DynamoDB (dynalite) {:.1} µs = {:.2}x (medians)",
        micros(median(&redis_l2.a)),
        micros(median(&l2.a)),
        median(&redis_l2.a).as_secs_f64() / median(&l2.a).as_secs_f64()
    );
}
