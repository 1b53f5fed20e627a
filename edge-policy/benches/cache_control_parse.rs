//! Reading `Cache-Control` is linear (issue 11: 6,000 directives took 287 ms per call when
//! every element scanned the earlier ones). Times origin-response's whole decision (read,
//! decide, write) on one header of 600, 6,000 and 60,000 directives, for three shapes, and
//! prints the time per directive with its ratio to the 600-directive baseline measured in
//! the same process: ≈ 1 when linear, where a quadratic reader shows ≈ 10 and ≈ 100. The
//! `distinct` shape keeps 60,000 unknown directives, deduplicated by a sort: its ratio
//! may grow like log n (≈ 1.7 from 600 to 60,000), never like n.
//!
//! `cargo bench -p edge-policy --bench cache_control_parse`

use std::hint::black_box;
use std::time::Instant;

use edge_policy::{origin_response, ResponseView, RuleSet};

/// One header of `n` directives.
fn header(shape: &str, n: usize) -> String {
    let mut out = String::with_capacity(n * 16);
    for i in 0..n {
        if i > 0 {
            out.push_str(", ");
        }
        match shape {
            // The same known directives again and again: first occurrence wins.
            "repeated" => out.push_str(["max-age=1", "s-maxage=5", "no-cache=\"x\"", "public"][i % 4]),
            // Every one a different extension: all kept, deduplicated.
            "distinct" => out.push_str(&format!("x-ext-{i}=\"v\"")),
            // Malformed elements and unterminated quotes, read word by word.
            _ => out.push_str(if i % 2 == 0 { "a b c=\"d" } else { "e;f=" }),
        }
    }
    out
}

/// Median time of one origin-response decision on `value`, in ns.
fn time(value: &str) -> f64 {
    let response = [("cache-control", value)];
    let view = ResponseView {
        status: "200",
        request_method: "GET",
        request_uri: "/api/products/1",
        request_headers: &[],
        headers: &response,
        now_ms: 1_795_953_600_000,
    };
    let rounds = 15;
    let per_call = |reps: usize| {
        let start = Instant::now();
        for _ in 0..reps {
            black_box(origin_response(RuleSet::embedded(), black_box(&view)));
        }
        start.elapsed().as_nanos() as f64 / reps as f64
    };
    let reps = (600_000 / value.len().max(1)).clamp(1, 2_000);
    let mut samples: Vec<f64> = (0..rounds).map(|_| per_call(reps)).collect();
    samples.sort_by(f64::total_cmp);
    samples[rounds / 2]
}

fn main() {
    println!(
        "{:<10} {:>11} {:>12} {:>14} {:>16}",
        "shape", "directives", "ms per call", "ns/directive", "ratio to 600"
    );
    for shape in ["repeated", "distinct", "malformed"] {
        let mut baseline = None;
        for n in [600, 6_000, 60_000] {
            let ns = time(&header(shape, n));
            let per_directive = ns / n as f64;
            let ratio = per_directive / *baseline.get_or_insert(per_directive);
            println!(
                "{shape:<10} {n:>11} {:>12.3} {per_directive:>14.1} {ratio:>16.2}",
                ns / 1e6
            );
        }
    }
}
