//! `replay`: drives the local edge with a trace and reports what caching buys.
//!
//! Three runs on fresh stacks: the trace through the product's handler (normalized), the
//! same trace through the seed's naive handler, and a stampede on one cold key spread over
//! several origin environments. Writes `bench/results/replay.json` and the chart.

use std::path::PathBuf;

use clap::Parser;
use edge_policy::RuleSet;
use serde_json::{json, Value};

use replay::analysis::{edge_figures, edge_hit_bound, origin_figures, EdgeFigures, OriginFigures, Outcome};
use replay::run::{replay, under, workspace_root, Stack, StackSpec};
use replay::trace::{self, Mix, TraceRequest};
use replay::{chart, cost};

/// Trace replay against the local edge: hit ratios per layer, latency, stampede, cost.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Requests in the generated trace.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Concurrent clients.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Products in the catalogue (seeded and drawn from).
    #[arg(long, default_value_t = 10_000)]
    products: u32,
    /// Replay this trace (JSON lines: {"path", "headers"}) instead of generating one.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Origin execution environments for the trace runs.
    #[arg(long, default_value_t = 2)]
    environments: usize,
    /// Concurrent requests in the stampede.
    #[arg(long, default_value_t = 64)]
    stampede: usize,
    /// Origin environments for the stampede (at least 4).
    #[arg(long, default_value_t = 4)]
    stampede_environments: usize,
    /// The product's Lambda@Edge package.
    #[arg(long, default_value = "wasm-pkg")]
    edge_pkg: PathBuf,
    /// The seed's naive handler.
    #[arg(long, default_value = "bench/naive-handler")]
    naive_pkg: PathBuf,
    /// The origin binary.
    #[arg(long, default_value = "target/release/origin-function")]
    origin_bin: PathBuf,
    /// The seed binary.
    #[arg(long, default_value = "target/release/seed")]
    seed_bin: PathBuf,
    /// The price table.
    #[arg(long, default_value = "bench/prices.json")]
    prices: PathBuf,
    /// Where the figures go.
    #[arg(long, default_value = "bench/results/replay.json")]
    out: PathBuf,
    /// Where the chart goes.
    #[arg(long, default_value = "bench/results/replay.svg")]
    chart: PathBuf,
}

struct RunFigures {
    edge: EdgeFigures,
    origin: OriginFigures,
    latencies: Vec<f64>,
}

async fn measured_run(spec: &StackSpec, trace: &[TraceRequest], clients: usize) -> Result<RunFigures, String> {
    let stack = Stack::start(spec).await?;
    let outcomes: Vec<Outcome> = replay(&stack.base, trace, clients).await;
    stack.stop().await;
    let mut latencies: Vec<f64> = outcomes.iter().map(|o| o.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    Ok(RunFigures {
        edge: edge_figures(&outcomes),
        origin: origin_figures(&spec.log_dir),
        latencies,
    })
}

fn bars(f: &RunFigures) -> Vec<(&'static str, f64)> {
    let requests = f.edge.requests.max(1) as f64;
    vec![
        ("edge", f.edge.edge_hit_ratio),
        ("origin L1", f.origin.l1_hits as f64 / requests),
        ("origin L2", f.origin.l2_hits as f64 / requests),
        ("source", f.origin.source_loads as f64 / requests),
    ]
}

#[tokio::main]
async fn main() {
    if let Err(e) = run_all(Args::parse()).await {
        eprintln!("replay: {e}");
        std::process::exit(1);
    }
}

async fn run_all(args: Args) -> Result<(), String> {
    let root = workspace_root();
    let trace = match &args.trace {
        Some(file) => trace::read(&under(&root, file))?,
        None => trace::generate(&Mix {
            requests: args.requests,
            products: args.products as usize,
            ..Mix::default()
        }),
    };
    let spec = |name: &str, package: &PathBuf, environments: usize| StackSpec {
        root: root.clone(),
        edge_package: under(&root, package),
        origin_bin: under(&root, &args.origin_bin),
        seed_bin: under(&root, &args.seed_bin),
        environments,
        products: args.products,
        log_dir: root.join("target/replay").join(name),
    };
    let bound = edge_hit_bound(&trace, RuleSet::embedded());
    println!(
        "trace: {} requests, {} clients; infinite-cache bound on canonical keys {:.1}%",
        trace.len(),
        args.clients,
        bound * 100.0
    );

    let normal = measured_run(
        &spec("normalized", &args.edge_pkg, args.environments),
        &trace,
        args.clients,
    )
    .await?;
    println!(
        "normalized: edge hit {:.1}%, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        normal.edge.edge_hit_ratio * 100.0,
        normal.edge.p50_ms,
        normal.edge.p99_ms,
        normal.edge.errors
    );
    let naive = measured_run(&spec("naive", &args.naive_pkg, args.environments), &trace, args.clients).await?;
    println!(
        "naive:      edge hit {:.1}%, p50 {:.2} ms, p99 {:.2} ms, {} errors",
        naive.edge.edge_hit_ratio * 100.0,
        naive.edge.p50_ms,
        naive.edge.p99_ms,
        naive.edge.errors
    );

    // The stampede: one cold key, many concurrent viewers. Through the naive handler every
    // tracking variant is its own edge key, so the requests really spread over the origin's
    // environments; the origin's canonical key is the same for all of them.
    let environments = args.stampede_environments.max(4);
    let stampede_trace: Vec<TraceRequest> = (0..args.stampede)
        .map(|i| TraceRequest {
            path: format!("/api/products/4242?utm_source=s{i}"),
            headers: vec![],
        })
        .collect();
    let spread = measured_run(
        &spec("stampede", &args.naive_pkg, environments),
        &stampede_trace,
        args.stampede,
    )
    .await?;
    let collapsed = measured_run(
        &spec("stampede-edge", &args.edge_pkg, environments),
        &stampede_trace,
        args.stampede,
    )
    .await?;
    println!(
        "stampede: {} concurrent requests over {environments} environments: {} source loads ({} origin invocations); through the normalizing edge: {} origin invocations",
        args.stampede, spread.origin.source_loads, spread.origin.invocations, collapsed.origin.invocations
    );

    let prices: Value =
        serde_json::from_str(&std::fs::read_to_string(under(&root, &args.prices)).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
    let per_request = |f: &RunFigures, v: u64| v as f64 / f.edge.requests.max(1) as f64;
    let measured = |f: &RunFigures| cost::Measured {
        edge_hit_ratio: f.edge.edge_hit_ratio,
        origin_per_request: per_request(f, f.origin.invocations),
        source_loads_per_request: per_request(f, f.origin.source_loads),
        l2_reads_per_request: per_request(
            f,
            f.origin.invocations.saturating_sub(f.origin.l1_hits + f.origin.bypass),
        ),
        l2_writes_per_request: per_request(f, f.origin.source_loads),
        origin_ms: 5.0,
        response_bytes: 300.0,
    };
    let cost_normal = cost::monthly(&prices, measured(&normal));
    let cost_naive = cost::monthly(&prices, measured(&naive));

    let result = json!({
        "date": prices["date"],
        "requests": trace.len(),
        "clients": args.clients,
        "edge_hit_ratio": normal.edge.edge_hit_ratio,
        "edge_hit_bound": bound,
        "naive_edge_hit_ratio": naive.edge.edge_hit_ratio,
        "source_loads": normal.origin.source_loads,
        "naive_source_loads": naive.origin.source_loads,
        "stampede_source_loads": spread.origin.source_loads,
        "stampede_requests": args.stampede,
        "stampede_environments": environments,
        "stampede_origin_invocations": spread.origin.invocations,
        "stampede_edge_collapsed_origin_invocations": collapsed.origin.invocations,
        "p50_ms": normal.edge.p50_ms,
        "p95_ms": normal.edge.p95_ms,
        "p99_ms": normal.edge.p99_ms,
        "errors": normal.edge.errors,
        "normalized": {"edge": normal.edge, "origin": normal.origin},
        "naive": {"edge": naive.edge, "origin": naive.origin},
        "cost_per_month_usd": {"normalized": cost_normal, "naive": cost_naive,
            "assumptions": "origin 5 ms per invocation, 300-byte responses, prices from bench/prices.json"},
    });
    let out = under(&root, &args.out);
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(
        &out,
        serde_json::to_string_pretty(&result).map_err(|e| e.to_string())? + "\n",
    )
    .map_err(|e| e.to_string())?;
    let svg = chart::svg(&[
        chart::Series {
            label: "naive (seed handler)",
            colour: "#d95f02",
            bars: bars(&naive),
            latencies: &naive.latencies,
        },
        chart::Series {
            label: "normalized (edge-policy)",
            colour: "#1b9e77",
            bars: bars(&normal),
            latencies: &normal.latencies,
        },
    ]);
    std::fs::write(under(&root, &args.chart), svg).map_err(|e| e.to_string())?;
    println!();
    println!("| tier (req/min) | normalized $/month | naive $/month |");
    println!("|---|---|---|");
    for (a, b) in cost_normal.iter().zip(&cost_naive) {
        println!("| {} | {:.2} | {:.2} |", a.requests_per_minute, a.total, b.total);
    }
    println!("\nwrote {} and {}", out.display(), under(&root, &args.chart).display());
    Ok(())
}
