//! `replay-scale`: the replay at scale, in process (`make bench-replay-scale`). Which
//! triggers to associate where, and does Origin Shield pay? Writes
//! `bench/results/scale.json`, `.md` and `.svg`.
//!
//! ```text
//! replay-scale [--hours 50 --rate 1] [--log cloudfront.log] [--origin-cost-per-million 0.78]
//! ```

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use serde_json::{json, Value};

use replay::access_log;
use replay::arm::{Arm, ArmFiles, ArmKind};
use replay::calibration::{calibrate, LogCheck};
use replay::cost::{Prices, TIERS};
use replay::geography::{regional_cache_in, Tiering, REGIONAL_CACHES};
use replay::report::{machine, today, write_results};
use replay::run::{under, workspace_root};
use replay::scale::{point, round4, Layout, ScaleSpec};
use replay::scale_chart;
use replay::scale_report::{
    bill_share, markdown, shield_break_even_per_million, shield_net, threshold_per_million, ColdStart, ScaleContext,
};
use replay::simulate::SimConfig;
use replay::trace::{generate, Mix, TraceRequest};

/// The tiered simulation of CloudFront: arms at scale, per-trigger advice, Origin Shield.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Simulated hours of the generated trace (over a day, so keys expire past their
    /// one-day windows).
    #[arg(long, default_value_t = 50.0)]
    hours: f64,
    /// Mean arrival rate of the generated trace, requests per second (low: keys expire).
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Products in the catalogue.
    #[arg(long, default_value_t = 10_000)]
    products: usize,
    /// Seed of the trace and of the locations' draws.
    #[arg(long, default_value_t = 7)]
    seed: u64,
    /// A CloudFront standard access log (legacy format) to replay instead of a generated trace.
    #[arg(long)]
    log: Option<PathBuf>,
    /// The Accept-Encoding a logged request is assumed to carry (logs don't record it).
    #[arg(long, default_value = "gzip, deflate, br")]
    log_accept_encoding: String,
    /// Numbers of edge locations to simulate.
    #[arg(long, value_delimiter = ',', default_value = "1,5,20,100")]
    locations: Vec<usize>,
    /// The number the advice and the bill use.
    #[arg(long, default_value_t = 20)]
    default_locations: usize,
    /// Geography skew: the k-th location carries traffic ∝ 1/k^skew.
    #[arg(long, default_value_t = 1.0)]
    geo_skew: f64,
    /// Virtual ms from the tier that reaches the origin asking to the answer.
    #[arg(long, default_value_t = 50)]
    origin_latency_ms: u64,
    /// Origin Shield's Region.
    #[arg(long, default_value = "us-east-1")]
    shield_region: String,
    /// Most copies an edge location keeps (default: no eviction).
    #[arg(long)]
    edge_capacity: Option<usize>,
    /// Most copies a regional cache keeps (default: no eviction).
    #[arg(long)]
    regional_capacity: Option<usize>,
    /// Model an origin without a cache of its own (every answer with its full lifetime)
    /// instead of this project's, which answers from its L2 with the remaining freshness.
    #[arg(long)]
    no_origin_cache: bool,
    /// USD per million origin requests (default: the full-stack replay's measured cost).
    #[arg(long)]
    origin_cost_per_million: Option<f64>,
    /// Bytes per answer (default: the full-stack replay's measured mean).
    #[arg(long)]
    response_bytes: Option<f64>,
    /// Minutes of each cold start (every cache empty) at each traffic tier.
    #[arg(long, default_value_t = 10)]
    cold_minutes: u64,
    /// The full-stack replay's report (calibration, measured origin cost).
    #[arg(long, default_value = "bench/results/replay.json")]
    full_stack: PathBuf,
    /// The deployed behaviour table.
    #[arg(long, default_value = "deploy/behaviours.toml")]
    behaviours: PathBuf,
    /// The CloudFront-alone behaviour table.
    #[arg(long, default_value = "bench/cloudfront-alone.toml")]
    cloudfront_alone: PathBuf,
    /// The price table.
    #[arg(long, default_value = "bench/prices.json")]
    prices: PathBuf,
    /// Where the figures go (the Markdown beside it, `.md`).
    #[arg(long, default_value = "bench/results/scale.json")]
    out: PathBuf,
    /// Where the chart goes.
    #[arg(long, default_value = "bench/results/scale.svg")]
    chart: PathBuf,
}

fn main() {
    if let Err(e) = run(Args::parse()) {
        eprintln!("replay-scale: {e}");
        std::process::exit(1);
    }
}

fn read(path: &PathBuf) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn run(args: Args) -> Result<(), String> {
    let started = Instant::now();
    let root = workspace_root();
    let prices = Prices::from_json(&read(&under(&root, &args.prices))?)?;
    let full_stack: Option<Value> = read(&under(&root, &args.full_stack))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok());
    let measured = |pointer: &str| {
        full_stack
            .as_ref()
            .and_then(|r| r.pointer(pointer))
            .and_then(Value::as_f64)
    };
    let (origin_per_million, origin_cost_source) = match (
        args.origin_cost_per_million,
        measured("/break_even/measured_origin_usd_per_million_origin_requests"),
    ) {
        (Some(c), _) => (c, "--origin-cost-per-million".to_owned()),
        (None, Some(c)) => (
            c,
            format!("measured by the full-stack replay, {}", args.full_stack.display()),
        ),
        (None, None) => {
            return Err("no --origin-cost-per-million and no measured cost in the full-stack report".into())
        }
    };
    let response_bytes = args
        .response_bytes
        .or(measured("/arms/normalized/edge/mean_response_bytes"))
        .unwrap_or(1_600.0);
    let shield = regional_cache_in(&args.shield_region)
        .ok_or_else(|| format!("--shield-region: no regional cache in {}", args.shield_region))?;
    let files = ArmFiles {
        deployed: under(&root, &args.behaviours),
        cloudfront_alone: under(&root, &args.cloudfront_alone),
        edge_package: root.join("wasm-pkg"),
        naive_package: root.join("bench/naive-handler"),
    };
    let arms = ArmKind::ALL
        .iter()
        .map(|k| Arm::new(*k, &files))
        .collect::<Result<Vec<_>, _>>()?;
    let alone = arms[1].distribution.clone();

    // The trace, and where its requests land.
    let (trace, statuses, layouts, default_layout, description, log_records) = match &args.log {
        Some(file) => {
            let records =
                access_log::parse(&read(&under(&root, file))?).map_err(|e| format!("{}: {e}", file.display()))?;
            let trace = access_log::trace(&records, Some(&args.log_accept_encoding));
            let statuses = records.iter().map(|r| r.status).collect();
            let (layout, unmapped) = Layout::logged(&records);
            let description = format!("CloudFront standard log {}", file.display());
            (trace, statuses, vec![layout], 0, description, Some((records, unmapped)))
        }
        None => {
            let mix = Mix {
                requests: (args.hours * 3600.0 * args.rate).round() as usize,
                products: args.products,
                rate: args.rate,
                seed: args.seed,
                ..Mix::default()
            };
            let trace = generate(&mix);
            let layouts: Vec<Layout> = args
                .locations
                .iter()
                .map(|n| Layout::generated(*n, args.geo_skew, trace.len(), args.seed))
                .collect();
            let default_layout = args
                .locations
                .iter()
                .position(|n| *n == args.default_locations)
                .ok_or("--default-locations must be one of --locations")?;
            let description = format!(
                "generated: Poisson arrivals at {} requests/s, {} products (Zipf 1), the replay's default mix; locations split 1/k^{}",
                args.rate, args.products, args.geo_skew
            );
            (trace, Vec::new(), layouts, default_layout, description, None)
        }
    };
    let config = SimConfig {
        origin_latency_ms: args.origin_latency_ms,
        edge_capacity: args.edge_capacity,
        regional_capacity: args.regional_capacity,
        origin_cache: !args.no_origin_cache,
    };
    let spec = ScaleSpec {
        trace: &trace,
        statuses: &statuses,
        layouts: &layouts,
        default_layout,
        arms: &arms,
        alone: &alone,
        config,
        shield,
        prices: &prices,
        origin_usd: origin_per_million / 1e6,
        response_bytes,
    };
    println!(
        "trace: {} requests over {:.1} h; simulating {} arms × {} layouts × 3 tierings",
        trace.len(),
        span_hours(&trace),
        arms.len() + 1,
        layouts.len()
    );
    let result = spec.run(origin_per_million / 1e6);

    // Cold starts at each traffic tier: every cache empty, the default layout.
    let mut cold = Vec::new();
    if args.log.is_none() {
        let scale_arms: Vec<&Arm> = arms
            .iter()
            .filter(|a| a.kind == ArmKind::Project)
            .chain(result.advised.as_ref())
            .collect();
        for rpm in TIERS {
            let trace = generate(&Mix {
                requests: (rpm * args.cold_minutes) as usize,
                products: args.products,
                rate: rpm as f64 / 60.0,
                seed: args.seed,
                ..Mix::default()
            });
            let layout = Layout::generated(args.default_locations, args.geo_skew, trace.len(), args.seed);
            for (arm, name) in scale_arms.iter().zip(["normalized", "advised"]) {
                let keyed = arm.key_trace(&trace, &[]);
                for tiering in [Tiering::Regional, Tiering::RegionalShield] {
                    let p = point(
                        &keyed,
                        arm.distribution.behaviours.len(),
                        &layout,
                        &layout.topology(tiering, shield),
                        config,
                    );
                    cold.push(ColdStart {
                        requests_per_minute: rpm,
                        minutes: args.cold_minutes,
                        arm: name,
                        tiering,
                        peaks: p.figures.peaks,
                    });
                }
            }
        }
    }
    let calibration = match (&full_stack, &args.log) {
        (Some(report), None) => calibrate(report, &arms, args.products),
        _ => None,
    };
    let log_check = log_records.map(|(records, unmapped)| {
        let project = &arms[2];
        let keyed = project.key_trace(&trace, &statuses);
        let layout = &layouts[0];
        let p = point(
            &keyed,
            project.distribution.behaviours.len(),
            layout,
            &layout.topology(Tiering::Regional, shield),
            config,
        );
        LogCheck::new(
            access_log::result_types(&records),
            p.edge_hit_ratio,
            &args.log_accept_encoding,
            layout,
            unmapped,
        )
    });

    let context = ScaleContext {
        trace: description,
        requests: trace.len(),
        span_hours: round4(span_hours(&trace)),
        default_locations: layouts[default_layout].locations(),
        origin_usd_per_million: origin_per_million,
        origin_cost_source,
        invocation_usd: prices.lambda_edge_invocation(),
        shield_region: REGIONAL_CACHES[shield].region.to_owned(),
        shield_usd_per_10k: spec.shield_price(),
        origin_latency_ms: args.origin_latency_ms,
        eviction: match (args.edge_capacity, args.regional_capacity) {
            (None, None) => {
                "Eviction not modelled: every cache keeps every copy until it expires (AWS publishes no cache sizes)"
                    .to_owned()
            }
            (e, r) => {
                format!("LRU eviction: edge locations keep {e:?} copies, regional caches {r:?} (None: unbounded)")
            }
        },
    };
    let answers = json!({
        "advised_association": result.advice.iter().map(|r| json!({
            "path_pattern": r.advice.path_pattern,
            "triggers": r.advice.triggers().iter().map(|t| t.event_type()).collect::<Vec<_>>(),
            "viewer_request_pays_from_usd_per_million_origin_requests": threshold_per_million(&r.case.viewer_request, context.invocation_usd),
            "viewer_request_share_of_the_bill": bill_share(&result, &context, r.case.viewer_request.with.invocations).map(round4),
            "origin_response_share_of_the_bill": bill_share(&result, &context, r.case.origin_response.with.invocations).map(round4),
            "origin_response_pays_from_usd_per_million_origin_requests": threshold_per_million(&r.case.origin_response, context.invocation_usd),
        })).collect::<Vec<_>>(),
        "origin_shield_saving_per_month_usd": result.arms.iter().map(|a| (a.arm.to_owned(), json!(shield_net(a)))).collect::<serde_json::Map<_, _>>(),
        "origin_shield_pays_from_usd_per_million_origin_requests": result.arms.iter().map(|a| (a.arm.to_owned(), json!(shield_break_even_per_million(a, context.default_locations, &context)))).collect::<serde_json::Map<_, _>>(),
    });
    let report = json!({
        "run": {"date": today(), "machine": machine(), "seconds": round4(started.elapsed().as_secs_f64())},
        "prices_date": prices.date,
        "context": context,
        "answers": answers,
        "advice": result.advice,
        "arms": result.arms,
        "cold_start": cold,
        "calibration": calibration,
        "log_check": log_check,
        "assumptions": ASSUMPTIONS,
    });
    let mut tables = markdown(&context, &result, &cold, calibration.as_deref(), log_check.as_ref());
    tables.push_str("\nAssumptions:\n\n");
    for a in ASSUMPTIONS {
        tables.push_str(&format!("- {a}\n"));
    }
    let (out, chart) = (under(&root, &args.out), under(&root, &args.chart));
    write_results(&out, &report, &tables, &chart, &scale_chart::svg(&result.arms))?;
    println!(
        "\n{tables}\nwrote {}, its .md and {} in {:.0} s",
        out.display(),
        chart.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn span_hours(trace: &[TraceRequest]) -> f64 {
    trace.last().map_or(0.0, |r| r.at_ms as f64 / 3_600_000.0)
}

/// Every assumption behind the figures (docs/replay.md, "At scale", says where each comes from).
const ASSUMPTIONS: &[&str] = &[
    "Edge location → regional edge cache: an assumed mapping (replay/src/geography.rs); AWS publishes none. The 13 regional caches' Regions are assumed too.",
    "Geography: the k-th of N locations carries 1/k^skew of the traffic; each request's location is drawn independently; popularity is the same everywhere.",
    "The origin answers after a fixed virtual latency with the Cache-Control its route and status decide; this project's origin keeps one shared copy per canonical key (its L2) and answers from it with the remaining freshness, one caller refreshing a stale copy while the others get it stale (--no-origin-cache: a cacheless origin). Its per-environment L1, XFetch early refresh and lease waits are not modelled; the calibration against the full-stack replay shows what that leaves out.",
    "A tier that fills from an upper tier keeps the upper copy's remaining lifetime (its stamp); stale copies pass down as they are and each tier revalidates once at a time.",
    "Requests a behaviour does not cache go from the edge location straight to the origin, past the regional caches (documented) and past Origin Shield (assumed).",
    "origin-response runs in the Region of the tier that reaches the origin (a location's own regional cache's Region when it fetches itself: assumed).",
    "Origin concurrency counts origin requests overlapping within the origin latency: an upper bound on the function's own concurrency.",
    "The bill at 100, 1,000 and 10,000 requests/minute uses this trace's per-request figures (hit ratios rise with traffic, so the higher tiers flatter the origin less than they could); cold starts are simulated at each tier's rate.",
    "With a log: Accept-Encoding is not logged and is assumed; an x-edge-location's cache is the code before its dash; unknown city codes sit under us-east-1.",
];
