//! Eighteen requests on the edge's virtual clock, through CloudFront alone and this project's
//! handler, where every figure can be worked out by hand: the TTL-aware bound, what reached
//! the origin, and how `X-Cache` undercounts what the edge absorbed.

mod common;

use std::io::Write;

use replay::arm::{Arm, ArmKind};
use replay::geography::Tiering;
use replay::scale::{point, Layout};
use replay::simulate::SimConfig;

/// (seconds, path, Accept-Encoding or `None` for a private request with a token). What each
/// arm does with it, worked out from rules.toml and bench/cloudfront-alone.toml:
const TRACE: &[(u64, &str, Option<&str>)] = &[
    (0, "/api/products/1?utm_source=a", Some("gzip")), // miss, both
    (10, "/api/products/1?utm_source=b&fbclid=x", Some("gzip, deflate")), // hit, both (not keyed)
    (20, "/api/products?sort=price&category=books", Some("br, gzip")), // miss, both
    (30, "/api/products?category=books&sort=price", Some("gzip, br")), // project hit; alone miss (order)
    (40, "/api/products?category=b%6Foks&sort=price", Some("br,gzip")), // project hit; alone miss (%6F)
    (50, "/api/config?v=2", Some("gzip")),             // miss, both (s-maxage=60, swr=300)
    (60, "/api/config?v=3", Some("gzip")),             // hit, both: fresh, query not keyed
    (120, "/api/config", Some("gzip")),                // hit, both: stale-while-revalidate, renewed
    (600, "/api/config", Some("gzip")), // miss, both: 480 s after renewal, past 60 + 300 (a 304: RefreshHit)
    (610, "/api/me", None),             // miss, both: never cached
    (620, "/api/me", None),             // miss, both
    (630, "/static/app.js?utm_source=x", Some("gzip")), // miss, both
    (640, "/static/app.js", Some("gzip")), // hit, both
    (650, "/api/other?a=1&utm_medium=x", Some("gzip")), // miss, both: a 404, kept 10 s (negative lifetime)
    (655, "/api/other?a=1", Some("gzip")), // hit, both (X-Cache says Error)
    (658, "/api/other?a=1&igshid=z", Some("gzip")), // project hit (X-Cache Error); alone miss
    (700, "/api/products/2?utm_source=a", Some("gzip")), // miss, both
    (700, "/api/products/2?utm_source=b", Some("gzip")), // at once: collapsed or hit, both
];

fn trace_file() -> std::path::PathBuf {
    let path = std::env::temp_dir().join(format!("tiny-trace-{}.jsonl", std::process::id()));
    let mut file = std::fs::File::create(&path).unwrap();
    for (s, p, encoding) in TRACE {
        let headers = match encoding {
            Some(e) => serde_json::json!([["accept-encoding", e]]),
            None => serde_json::json!([["authorization", "Bearer user-1"]]),
        };
        let line = serde_json::json!({"at_ms": s * 1000, "path": p, "headers": headers});
        writeln!(file, "{line}").unwrap();
    }
    path
}

#[test]
fn the_ttl_aware_bound_and_the_origins_view_match_a_hand_count() {
    let trace = trace_file();
    let w = common::replay(
        "tiny",
        &[
            "--trace",
            trace.to_str().unwrap(),
            "--virtual-clock",
            "--arms",
            "cloudfront-alone,normalized",
            "--stampede",
            "0",
            "--products",
            "20",
        ],
    );
    let lines = replay::trace::read(&trace, 1.0).unwrap();
    std::fs::remove_file(trace).unwrap();
    let r = &w.report;
    assert!(r["arms"]["naive"].is_null());
    // (bound hits, misses, stale hits, infinite-cache hits, X-Cache Hit or collapsed)
    for (name, hits, misses, infinite, absorbed) in [("normalized", 9, 9, 10, 7), ("cloudfront-alone", 6, 12, 7, 5)] {
        let a = &r["arms"][name];
        let (b, e) = (&a["bound"], &a["edge"]);
        assert_eq!(
            (b["hits"].as_u64(), b["misses"].as_u64()),
            (Some(hits), Some(misses)),
            "{name}: {b}"
        );
        assert_eq!(b["stale_hits"], 1, "{name}: the /api/config at 120 s");
        let ratio = |n: u64| (n as f64 / 18.0 * 10_000.0).round() / 10_000.0;
        assert_eq!(b["infinite_hit_ratio"].as_f64(), Some(ratio(infinite)), "{name}");
        // The edge paid exactly the misses the bound says it must, plus the one revalidation.
        assert_eq!(e["viewer_fetches"].as_u64(), Some(misses), "{name}: {e}");
        assert_eq!(e["background_fetches"], 1, "{name}: {e}");
        assert_eq!(e["origin_offload_ratio"], b["hit_ratio"], "{name}");
        // X-Cache calls a collapsed waiter a Miss and a cached 404 an Error (it says less),
        // and the expired /api/config at 600 s, revalidated with its ETag, a RefreshHit
        // (which did reach the origin).
        let x = &e["x_cache"];
        assert_eq!(x["refresh_hit"], 1, "{name}: {e}");
        let hits = x["hit"].as_u64().unwrap();
        assert_eq!(hits + e["collapsed_waiters"].as_u64().unwrap(), absorbed, "{name}: {e}");
        assert!(
            e["x_cache_hit_ratio"].as_f64() < e["origin_offload_ratio"].as_f64(),
            "{name}"
        );
        assert_eq!(e["lag_p99_ms"], 0.0);

        // The tiered simulation, 1 location, untiered, latency 0, is this bound, and with
        // this project's origin answering from its L2 it is what the full stack did.
        let kind = ArmKind::from_name(name).unwrap();
        let arm = Arm::new(kind, &common::arm_files()).unwrap();
        let statuses: Vec<u16> = lines
            .iter()
            .map(|l| if l.path.starts_with("/api/other") { 404 } else { 200 })
            .collect();
        let keyed = arm.key_trace(&lines, &statuses);
        let one = Layout::generated(1, 1.0, lines.len(), 0);
        for origin_cache in [false, true] {
            let config = SimConfig {
                origin_cache,
                ..SimConfig::default()
            };
            let p = point(
                &keyed,
                arm.distribution.behaviours.len(),
                &one,
                &one.topology(Tiering::Untiered, 0),
                config,
            );
            let f = &p.figures;
            assert_eq!((f.answered.origin, f.edge.stale_hits), (misses, 1), "{name}: {f:?}");
            assert_eq!(f.origin_requests, e["origin_requests"].as_u64().unwrap(), "{name}");
            assert_eq!(p.offload_ratio, b["hit_ratio"].as_f64().unwrap(), "{name}");
        }
    }
}
