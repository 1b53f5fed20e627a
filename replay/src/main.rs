//! `replay`: drives the local edge with a trace and reports what caching buys.
//!
//! The same trace through three arms, each on a fresh stack: the seed's naive handler,
//! CloudFront alone (cache policies only, `bench/cloudfront-alone.toml`) and this project's
//! handler; each arm's TTL-aware bound; a stampede on one cold key; the bill per arm and the
//! handler's break-even. Writes `bench/results/replay.json`, `.md` and `.svg`.

use std::path::PathBuf;

use clap::Parser;
use edge_policy::cloudfront::Trigger;
use serde_json::{json, Value};

use replay::analysis::{edge_figures, origin_figures, EdgeFigures, OriginFigures};
use replay::arm::{Arm, ArmFiles, ArmKind};
use replay::bound::ttl_aware_bound;
use replay::chart;
use replay::cost::{break_even, monthly, Prices, Usage};
use replay::report::{machine, markdown, today, write_results, ArmReport};
use replay::run::{under, workspace_root, Stack, StackSpec};
use replay::trace::{self, Mix, TraceRequest};

/// Trace replay against the local edge: three arms, their bounds, stampede, bill.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Requests in the generated trace.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Mean arrival rate of the generated trace (requests per second, Poisson); also the
    /// spacing of a trace file's lines that carry no `at_ms`.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Most requests in flight at once.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Products in the catalogue (seeded and drawn from).
    #[arg(long, default_value_t = 10_000)]
    products: u32,
    /// Replay this trace (JSON lines: {"at_ms", "path", "headers"}) instead of generating one.
    #[arg(long)]
    trace: Option<PathBuf>,
    /// Move the edge's clock by the trace's times instead of waiting for them (the origin's
    /// own clock still runs in real time).
    #[arg(long)]
    virtual_clock: bool,
    /// The arms to run, comma-separated: naive, cloudfront-alone, normalized.
    #[arg(long, default_value = "naive,cloudfront-alone,normalized")]
    arms: String,
    /// Origin execution environments for the trace runs.
    #[arg(long, default_value_t = 2)]
    environments: usize,
    /// Most entries the edge cache holds (large: the bound assumes nothing is evicted).
    #[arg(long, default_value_t = 1_000_000)]
    cache_capacity: u64,
    /// Concurrent requests in the stampede (0: no stampede).
    #[arg(long, default_value_t = 64)]
    stampede: usize,
    /// Origin environments for the stampede (at least 4).
    #[arg(long, default_value_t = 4)]
    stampede_environments: usize,
    /// This project's Lambda@Edge package.
    #[arg(long, default_value = "wasm-pkg")]
    edge_pkg: PathBuf,
    /// The seed's naive handler.
    #[arg(long, default_value = "bench/naive-handler")]
    naive_pkg: PathBuf,
    /// The deployed behaviour table (naive and normalized arms).
    #[arg(long, default_value = "deploy/behaviours.toml")]
    behaviours: PathBuf,
    /// The CloudFront-alone behaviour table.
    #[arg(long, default_value = "bench/cloudfront-alone.toml")]
    cloudfront_alone: PathBuf,
    /// The origin binary.
    #[arg(long, default_value = "target/release/origin-function")]
    origin_bin: PathBuf,
    /// The seed binary.
    #[arg(long, default_value = "target/release/seed")]
    seed_bin: PathBuf,
    /// The price table.
    #[arg(long, default_value = "bench/prices.json")]
    prices: PathBuf,
    /// Where the figures go (the Markdown tables go beside it, `.md`).
    #[arg(long, default_value = "bench/results/replay.json")]
    out: PathBuf,
    /// Where the chart goes.
    #[arg(long, default_value = "bench/results/replay.svg")]
    chart: PathBuf,
}

/// One arm's run.
struct Run {
    edge: EdgeFigures,
    origin: OriginFigures,
    latencies: Vec<f64>,
    statuses: Vec<u16>,
}

async fn measured_run(spec: &StackSpec, arm: &Arm, trace: &[TraceRequest], clients: usize) -> Result<Run, String> {
    let stack = Stack::start(spec, arm).await?;
    let replayed = stack.replay(trace, clients, spec.virtual_clock).await;
    let stats = stack.stats().await;
    stack.stop().await;
    let (outcomes, stats) = (replayed?, stats?);
    let mut latencies: Vec<f64> = outcomes.iter().map(|o| o.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    Ok(Run {
        edge: edge_figures(&outcomes, &stats),
        origin: origin_figures(&spec.log_dir),
        latencies,
        statuses: outcomes.iter().map(|o| o.status).collect(),
    })
}

/// What the arm used per viewer request.
fn usage(arm: &Arm, trace: &[TraceRequest], run: &Run) -> Usage {
    let requests = run.edge.requests.max(1) as f64;
    let per = |v: u64| v as f64 / requests;
    let o = &run.origin;
    Usage {
        viewer_request_invocations: arm.trigger_share(trace, Trigger::ViewerRequest),
        origin_response_invocations: per(run.edge.origin_requests) * arm.trigger_share(trace, Trigger::OriginResponse),
        origin_invocations: per(o.invocations),
        origin_billed_ms: o.billed_ms_mean,
        // A source load reads the catalogue; every shared invocation L1 doesn't answer reads L2.
        dynamodb_reads: per(o.source_loads + o.invocations.saturating_sub(o.l1_hits + o.bypass)),
        dynamodb_writes: per(o.source_loads),
        response_bytes: run.edge.mean_response_bytes,
    }
}

/// The bar the bound is drawn against: what reached the origin, not what `X-Cache` says.
const BOUND_BAR: &str = "no origin req.";

fn bars(run: &Run) -> Vec<(&'static str, f64)> {
    let requests = run.edge.requests.max(1) as f64;
    vec![
        ("X-Cache hit", run.edge.x_cache_hit_ratio),
        (BOUND_BAR, run.edge.origin_offload_ratio),
        ("origin L1", run.origin.l1_hits as f64 / requests),
        ("origin L2", run.origin.l2_hits as f64 / requests),
        ("source", run.origin.source_loads as f64 / requests),
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
    let prices = Prices::from_json(
        &std::fs::read_to_string(under(&root, &args.prices)).map_err(|e| format!("{}: {e}", args.prices.display()))?,
    )?;
    let trace = match &args.trace {
        Some(file) => trace::read(&under(&root, file), args.rate)?,
        None => trace::generate(&Mix {
            requests: args.requests,
            products: args.products as usize,
            rate: args.rate,
            ..Mix::default()
        }),
    };
    let files = ArmFiles {
        deployed: under(&root, &args.behaviours),
        cloudfront_alone: under(&root, &args.cloudfront_alone),
        edge_package: under(&root, &args.edge_pkg),
        naive_package: under(&root, &args.naive_pkg),
    };
    let kinds = args
        .arms
        .split(',')
        .map(|n| ArmKind::from_name(n.trim()).ok_or_else(|| format!("--arms: no arm {n:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let spec = |name: &str, environments: usize| StackSpec {
        root: root.clone(),
        origin_bin: under(&root, &args.origin_bin),
        seed_bin: under(&root, &args.seed_bin),
        environments,
        products: args.products,
        cache_capacity: args.cache_capacity,
        log_dir: root.join("target/replay").join(name),
        virtual_clock: args.virtual_clock,
    };
    let span_s = trace.last().map_or(0.0, |r| r.at_ms as f64 / 1000.0);
    println!(
        "trace: {} requests over {span_s:.0} s, at most {} in flight{}",
        trace.len(),
        args.clients,
        if args.virtual_clock { ", virtual clock" } else { "" }
    );

    let mut reports = Vec::new();
    let mut series = Vec::new();
    for kind in &kinds {
        let arm = Arm::new(*kind, &files)?;
        let run = measured_run(&spec(kind.name(), args.environments), &arm, &trace, args.clients).await?;
        let bound = arm
            .has_bound()
            .then(|| ttl_aware_bound(&arm.key_trace(&trace, &run.statuses)));
        println!(
            "{:>16}: X-Cache hit {:.1}%, no origin request {:.1}% (TTL-aware bound {}), {} collapsed, {} background, p50 {:.1} ms, p99 {:.0} ms, {} errors",
            kind.name(),
            run.edge.x_cache_hit_ratio * 100.0,
            run.edge.origin_offload_ratio * 100.0,
            bound.as_ref().map_or("n/a".into(), |b| format!("{:.1}%", b.hit_ratio * 100.0)),
            run.edge.collapsed_waiters,
            run.edge.background_fetches,
            run.edge.p50_ms,
            run.edge.p99_ms,
            run.edge.errors,
        );
        let usage = usage(&arm, &trace, &run);
        let bars = bars(&run);
        let at = bars.iter().position(|(label, _)| *label == BOUND_BAR);
        let mark = bound.as_ref().zip(at).map(|(b, at)| (at, b.hit_ratio));
        series.push((*kind, bars, mark, run.latencies));
        reports.push(ArmReport::new(*kind, run.edge, run.origin, bound, usage, &prices));
    }

    let find = |k: ArmKind| reports.iter().find(|r| r.arm == k.name());
    let project = find(ArmKind::Project);
    let origin_response_off = project.map(|p| {
        let usage = p.usage.without_origin_response();
        (usage, monthly(&prices, &usage))
    });
    let break_even = match (find(ArmKind::CloudFrontAlone), project) {
        (Some(alone), Some(project)) => Some(break_even(&prices, &alone.usage, &project.usage)),
        _ => None,
    };
    let stampede = if args.stampede > 0 {
        Some(stampede(&args, &files, &spec).await?)
    } else {
        None
    };

    let report = json!({
        "run": {"date": today(), "machine": machine()},
        "prices_date": prices.date,
        "trace": {
            "requests": trace.len(),
            "span_s": span_s,
            "rate_per_s": if args.trace.is_none() { json!(args.rate) } else { Value::Null },
            "file": args.trace.as_ref().map(|p| p.display().to_string()),
            "clients": args.clients,
            "virtual_clock": args.virtual_clock,
            "origin_environments": args.environments,
            "edge_cache_capacity": args.cache_capacity,
        },
        "arms": reports.iter().map(|r| (r.arm.to_owned(), json!(r))).collect::<serde_json::Map<_, _>>(),
        "normalized_origin_response_off": origin_response_off.as_ref().map(|(u, c)| json!({"usage": u, "cost_per_month_usd": c})),
        "break_even": break_even,
        "stampede": stampede,
        "assumptions": "CloudFront HTTPS requests and transfer out (status line, headers, body as measured); \
            Lambda@Edge at the table's billed ms and memory per invocation; the origin at its measured billed ms \
            (local dynalite, not DynamoDB) and 512 MB arm64; DynamoDB: a read unit per source load and per L2 read, \
            a write unit per source load; free tiers ignored; one edge location (CloudFront has many, each its own cache).",
    });
    let out = under(&root, &args.out);
    let tables = markdown(
        &reports,
        origin_response_off.as_ref().map(|(_, c)| c.as_slice()),
        break_even.as_ref(),
    );
    let svg = chart::svg(
        &series
            .iter()
            .map(|(kind, bars, mark, latencies)| chart::Series {
                label: kind.label(),
                colour: kind.colour(),
                bars: bars.clone(),
                mark: *mark,
                latencies,
            })
            .collect::<Vec<_>>(),
    );
    let chart_path = under(&root, &args.chart);
    write_results(&out, &report, &tables, &chart_path, &svg)?;
    println!(
        "\n{tables}\nwrote {}, its .md and {}",
        out.display(),
        chart_path.display()
    );
    Ok(())
}

/// One cold key, many concurrent viewers, all at once. Through the naive handler every
/// tracking variant is its own edge key, so the requests really spread over the origin's
/// environments (the origin's canonical key is the same for all); through this project's
/// handler the edge collapses them.
async fn stampede(args: &Args, files: &ArmFiles, spec: &dyn Fn(&str, usize) -> StackSpec) -> Result<Value, String> {
    let environments = args.stampede_environments.max(4);
    let trace: Vec<TraceRequest> = (0..args.stampede)
        .map(|i| TraceRequest::new(0, format!("/api/products/4242?utm_source=s{i}"), &[]))
        .collect();
    let wall_clock = |s: StackSpec| StackSpec {
        virtual_clock: false,
        ..s
    };
    let naive = Arm::new(ArmKind::Naive, files)?;
    let spread = measured_run(
        &wall_clock(spec("stampede", environments)),
        &naive,
        &trace,
        args.stampede,
    )
    .await?;
    let project = Arm::new(ArmKind::Project, files)?;
    let collapsed = measured_run(
        &wall_clock(spec("stampede-edge", environments)),
        &project,
        &trace,
        args.stampede,
    )
    .await?;
    println!(
        "stampede: {} concurrent requests over {environments} environments: {} source loads ({} origin invocations); through this project's edge: {} origin invocations, {} collapsed waiters",
        args.stampede, spread.origin.source_loads, spread.origin.invocations, collapsed.origin.invocations, collapsed.edge.collapsed_waiters
    );
    Ok(json!({
        "requests": args.stampede,
        "environments": environments,
        "naive_source_loads": spread.origin.source_loads,
        "naive_origin_invocations": spread.origin.invocations,
        "naive_coalesced_waits": spread.origin.coalesced_waits,
        "normalized_origin_invocations": collapsed.origin.invocations,
        "normalized_collapsed_waiters": collapsed.edge.collapsed_waiters,
    }))
}
