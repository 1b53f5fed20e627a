//! The scale report's answers and Markdown (`bench/results/scale.md`): which triggers to
//! associate where, whether Origin Shield pays, then the figures behind them.

use std::fmt::Write as _;

use serde::Serialize;

use crate::advice::{TriggerCase, Verdict};
use crate::calibration::{Calibration, LogCheck};
use crate::cost::TIERS;
use crate::geography::Tiering;
use crate::peaks::Peaks;
use crate::scale::{ArmAtScale, ScaleRun};

/// What the report says about its inputs.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleContext {
    /// The trace in words.
    pub trace: String,
    /// Viewer requests.
    pub requests: usize,
    /// Simulated hours.
    pub span_hours: f64,
    /// The number of edge locations the advice and the bill use.
    pub default_locations: usize,
    /// An origin request, USD per million.
    pub origin_usd_per_million: f64,
    /// Where that cost comes from.
    pub origin_cost_source: String,
    /// One Lambda@Edge invocation, USD.
    pub invocation_usd: f64,
    /// Origin Shield's Region.
    pub shield_region: String,
    /// Its price per 10,000 charged requests.
    pub shield_usd_per_10k: f64,
    /// The origin's virtual latency, ms.
    pub origin_latency_ms: u64,
    /// Eviction, in words.
    pub eviction: String,
}

/// Peaks of a cold start (every cache empty: after a purge or a deploy of new rules).
#[derive(Debug, Clone, Serialize)]
pub struct ColdStart {
    /// Traffic.
    pub requests_per_minute: u64,
    /// Minutes simulated.
    pub minutes: u64,
    /// The arm.
    pub arm: &'static str,
    /// Tiers.
    pub tiering: Tiering,
    /// Its peaks.
    pub peaks: Peaks,
}

/// The origin cost per million origin requests from which a trigger pays for itself on a
/// behaviour (`None`: it saves no origin request, so no cost makes it pay).
pub fn threshold_per_million(case: &TriggerCase, invocation_usd: f64) -> Option<f64> {
    let saved = case.saved_origin_requests();
    let invocations = case.with.invocations.saturating_sub(case.without.invocations);
    (saved > 0).then(|| invocations as f64 * invocation_usd / saved as f64 * 1e6)
}

/// The origin cost per million origin requests from which Origin Shield pays for itself
/// for an arm at `locations` (its charged requests, less the origin-response invocations it
/// saves, over the origin requests it saves); `None` when it saves no origin request.
pub fn shield_break_even_per_million(arm: &ArmAtScale, locations: usize, ctx: &ScaleContext) -> Option<f64> {
    let (without, with) = (
        arm.at(locations, Tiering::Regional)?,
        arm.at(locations, Tiering::RegionalShield)?,
    );
    let saved = without.origin_requests_per_request - with.origin_requests_per_request;
    let per =
        |p: &crate::scale::GridPoint| p.figures.origin_response_invocations as f64 / p.figures.requests.max(1) as f64;
    let cost = with.shield_requests_per_request / 10_000.0 * ctx.shield_usd_per_10k
        + (per(with) - per(without)) * ctx.invocation_usd;
    (saved > 0.0).then(|| (cost / saved * 1e6 * 100.0).round() / 100.0)
}

/// What `invocations` Lambda@Edge invocations over the trace are of this project's bill
/// (every part, at the advice's layout with the regional tier; the same share at every
/// traffic tier, since every part scales with requests).
pub fn bill_share(run: &ScaleRun, ctx: &ScaleContext, invocations: u64) -> Option<f64> {
    let project = run.arms.iter().find(|a| a.arm == crate::arm::ArmKind::Project.name())?;
    let (_, bill) = project.bill.iter().find(|(t, _)| *t == Tiering::Regional)?;
    let month = bill.last()?;
    let per_request = month.total / (month.requests_per_minute as f64 * 60.0 * 24.0 * 30.0);
    let requests = project
        .at(ctx.default_locations, Tiering::Regional)?
        .figures
        .requests
        .max(1);
    Some(invocations as f64 * ctx.invocation_usd / (per_request * requests as f64))
}

/// Origin Shield's saving a month at each tier (negative: it costs more than it saves), for
/// an arm at the default number of locations.
pub fn shield_net(arm: &ArmAtScale) -> Option<Vec<f64>> {
    let bill = |t: Tiering| arm.bill.iter().find(|(tiering, _)| *tiering == t).map(|(_, b)| b);
    let (without, with) = (bill(Tiering::Regional)?, bill(Tiering::RegionalShield)?);
    Some(
        without
            .iter()
            .zip(with)
            .map(|(a, b)| ((a.total - b.total) * 100.0).round() / 100.0)
            .collect(),
    )
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn per_thousand(v: f64) -> String {
    format!("{:.1}", v * 1000.0)
}

fn usd(v: f64) -> String {
    if v < 0.0 {
        format!("−${:.2}", -v)
    } else {
        format!("${v:.2}")
    }
}

fn verdict(v: &Verdict) -> String {
    match v {
        Verdict::Keep { reason } => format!("**keep** ({reason})"),
        Verdict::Required { reason } => format!("**keep** ({reason})"),
        Verdict::Remove { reason, .. } => format!("remove ({reason})"),
    }
}

fn ratio(part: u64, whole: u64) -> f64 {
    part as f64 / whole.max(1) as f64
}

/// The Markdown report.
pub fn markdown(
    ctx: &ScaleContext,
    run: &ScaleRun,
    cold: &[ColdStart],
    calibration: Option<&[Calibration]>,
    log: Option<&LogCheck>,
) -> String {
    let mut s = String::new();
    let n = ctx.default_locations;
    let _ = writeln!(
        s,
        "Trace: {} ({} requests, {:.1} simulated hours). Origin request: ${:.2} per million ({}). \
         Origin latency {} ms (virtual). {}.\n",
        ctx.trace,
        ctx.requests,
        ctx.span_hours,
        ctx.origin_usd_per_million,
        ctx.origin_cost_source,
        ctx.origin_latency_ms,
        ctx.eviction
    );
    answers_section(&mut s, ctx, run, cold);
    triggers_section(&mut s, ctx, run);
    shield_section(&mut s, ctx, run);
    grid_section(&mut s, run);
    let _ = writeln!(
        s,
        "\n### The bill a month ({n} edge locations, regional tier; then with Origin Shield)\n"
    );
    let _ = writeln!(
        s,
        "| arm | tiers | {} |",
        TIERS.map(|t| format!("{t} req/min")).join(" | ")
    );
    let _ = writeln!(s, "|---|---|---|---|---|");
    for arm in &run.arms {
        for (tiering, bill) in &arm.bill {
            let cells: Vec<String> = bill.iter().map(|t| usd(t.total)).collect();
            let _ = writeln!(s, "| {} | {} | {} |", arm.label, tiering.name(), cells.join(" | "));
        }
    }
    peaks_section(&mut s, run, cold);
    let _ = writeln!(
        s,
        "\n### The TTL-aware bound against expiry (one ideal cache, this trace)\n"
    );
    let _ = writeln!(
        s,
        "| arm | TTL-aware bound | infinite-cache bound | stale hits |\n|---|---|---|---|"
    );
    for arm in &run.arms {
        let b = &arm.bound;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            arm.label,
            pct(b.hit_ratio),
            pct(b.infinite_hit_ratio),
            b.stale_hits
        );
    }
    if let Some(rows) = calibration {
        let _ = writeln!(
            s,
            "\n### Calibration: 1 location, untiered, latency 0 against the full-stack replay\n"
        );
        let _ = writeln!(s, "| arm | no origin request: full stack / simulated | origin requests per 1,000: full stack / simulated | within ±0.5 points |\n|---|---|---|---|");
        for c in rows {
            let _ = writeln!(
                s,
                "| {} | {} / {} | {} / {} | {} |",
                c.arm,
                pct(c.full_stack_offload_ratio),
                pct(c.simulated_offload_ratio),
                per_thousand(c.full_stack_origin_requests_per_request),
                per_thousand(c.simulated_origin_requests_per_request),
                if c.within_tolerance { "yes" } else { "no" }
            );
        }
    }
    if let Some(l) = log {
        let _ = writeln!(
            s,
            "\n### The log's own result types\n\n{} records at {} edge locations: `Hit` {} of records; predicted {} \
             (this project's distribution, regional tier). Result types: {:?}. Assumed `Accept-Encoding: {}` (not logged).{}\n",
            l.records,
            l.locations,
            pct(l.logged_hit_ratio),
            pct(l.predicted_edge_hit_ratio),
            l.result_types,
            l.assumed_accept_encoding,
            if l.unmapped_locations.is_empty() {
                String::new()
            } else {
                format!(" Unmapped locations (under us-east-1): {}.", l.unmapped_locations.join(", "))
            }
        );
    }
    s
}

fn answers_section(s: &mut String, ctx: &ScaleContext, run: &ScaleRun, cold: &[ColdStart]) {
    let n = ctx.default_locations;
    let _ = writeln!(
        s,
        "### The answers ({n} edge locations, regional tier, an origin request at ${:.2} per million)\n",
        ctx.origin_usd_per_million
    );
    let advised: Vec<String> = run
        .advice
        .iter()
        .filter(|r| r.case.requests > 0)
        .map(|r| {
            let t: Vec<&str> = r.advice.triggers().iter().map(|t| t.event_type()).collect();
            format!(
                "`{}` {}",
                r.advice.path_pattern,
                if t.is_empty() { "none".into() } else { t.join(" + ") }
            )
        })
        .collect();
    let _ = writeln!(s, "- **Which triggers where**: {}.", advised.join(", "));
    for row in &run.advice {
        if let Some(from) = threshold_per_million(&row.case.viewer_request, ctx.invocation_usd) {
            let _ = writeln!(
                s,
                "  viewer-request on `{}` saves {} origin requests per 1,000 of its requests and pays from ${from:.2} per million origin requests.",
                row.case.path_pattern,
                per_thousand(ratio(row.case.viewer_request.saved_origin_requests().max(0) as u64, row.case.requests)),
            );
        }
    }
    for arm in &run.arms {
        let (Some(without), Some(with), Some(net)) = (
            arm.at(n, Tiering::Regional),
            arm.at(n, Tiering::RegionalShield),
            shield_net(arm),
        ) else {
            continue;
        };
        let from = shield_break_even_per_million(arm, n, ctx).map_or("never".into(), |v| format!("${v:.2}"));
        let _ = writeln!(
            s,
            "- **Origin Shield** ({}): {} → {} origin requests per 1,000; {} a month at {} req/min; pays from {from} per million origin requests.",
            arm.label,
            per_thousand(without.origin_requests_per_request),
            per_thousand(with.origin_requests_per_request),
            if net.last().copied().unwrap_or(0.0) >= 0.0 { format!("saves {}", usd(net.last().copied().unwrap_or(0.0))) } else { format!("costs {} more", usd(-net.last().copied().unwrap_or(0.0))) },
            TIERS[TIERS.len() - 1],
        );
    }
    if let Some(peak) = cold
        .iter()
        .filter(|c| c.requests_per_minute == TIERS[TIERS.len() - 1])
        .max_by_key(|c| c.peaks.reserved_concurrency)
    {
        let _ = writeln!(
            s,
            "- **Reserved concurrency**: at {} req/min from empty caches the origin peaks at {} requests/s and {} in flight: reserve at least {} ({}, {}).",
            peak.requests_per_minute, peak.peaks.origin_requests_per_second, peak.peaks.origin_concurrency, peak.peaks.reserved_concurrency, peak.arm, peak.tiering.name()
        );
    }
    let _ = writeln!(s);
}

fn triggers_section(s: &mut String, ctx: &ScaleContext, run: &ScaleRun) {
    let _ = writeln!(
        s,
        "### Which triggers to associate where ({} edge locations, regional tier)\n",
        ctx.default_locations
    );
    let _ = writeln!(
        s,
        "| behaviour | requests | viewer-request: edge hits with / without | origin req. per 1,000 with / without | pays from ($/M origin req.) | share of the bill | verdict | origin-response invocations (share of the bill) | verdict |\n|---|---|---|---|---|---|---|---|---|"
    );
    let share = |invocations: u64| pct(bill_share(run, ctx, invocations).unwrap_or(0.0));
    for row in &run.advice {
        let (c, a) = (&row.case, &row.advice);
        let vr = &c.viewer_request;
        let from = threshold_per_million(vr, ctx.invocation_usd).map_or("never".into(), |v| format!("${v:.2}"));
        let _ = writeln!(
            s,
            "| `{}` | {} | {} / {} | {} / {} | {} | {} | {} | {} ({}) | {} |",
            c.path_pattern,
            c.requests,
            pct(ratio(vr.with.edge_hits, c.requests)),
            pct(ratio(vr.without.edge_hits, c.requests)),
            per_thousand(ratio(vr.with.origin_requests, c.requests)),
            per_thousand(ratio(vr.without.origin_requests, c.requests)),
            if matches!(a.viewer_request, Verdict::Required { .. }) {
                "required".into()
            } else {
                from
            },
            share(vr.with.invocations),
            verdict(&a.viewer_request),
            c.origin_response.with.invocations,
            share(c.origin_response.with.invocations),
            verdict(&a.origin_response),
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "What each removal gives up on its behaviour (no hit ratio measures it):\n"
    );
    for row in &run.advice {
        for (trigger, v) in [
            ("viewer-request", &row.advice.viewer_request),
            ("origin-response", &row.advice.origin_response),
        ] {
            if let Verdict::Remove { gives_up, .. } = v {
                let _ = writeln!(
                    s,
                    "- `{}` without {trigger}: {}.",
                    row.advice.path_pattern,
                    gives_up.join("; ")
                );
            }
        }
    }
    let _ = writeln!(s);
}

fn shield_section(s: &mut String, ctx: &ScaleContext, run: &ScaleRun) {
    let _ = writeln!(
        s,
        "### Do I need Origin Shield? ({} in {}, ${:.4} per 10,000 requests from other Regions)\n",
        ctx.default_locations, ctx.shield_region, ctx.shield_usd_per_10k
    );
    let _ = writeln!(s, "| arm | origin req. per 1,000: regional / + shield | shield requests per 1,000 | saving a month at {} req/min |\n|---|---|---|---|", TIERS.map(|t| t.to_string()).join(" / "));
    for arm in &run.arms {
        let (Some(without), Some(with)) = (
            arm.at(ctx.default_locations, Tiering::Regional),
            arm.at(ctx.default_locations, Tiering::RegionalShield),
        ) else {
            continue;
        };
        let net = shield_net(arm).unwrap_or_default();
        let _ = writeln!(
            s,
            "| {} | {} / {} | {} | {} |",
            arm.label,
            per_thousand(without.origin_requests_per_request),
            per_thousand(with.origin_requests_per_request),
            per_thousand(with.shield_requests_per_request),
            net.iter().map(|v| usd(*v)).collect::<Vec<_>>().join(" / ")
        );
    }
    let _ = writeln!(s);
}

fn grid_section(s: &mut String, run: &ScaleRun) {
    let Some(first) = run.arms.first() else { return };
    let mut counts: Vec<usize> = first.grid.iter().map(|p| p.locations).collect();
    counts.dedup();
    let _ = writeln!(
        s,
        "### Edge hit ratio and origin requests per 1,000 viewer requests, by edge locations\n"
    );
    let header: Vec<String> = counts.iter().map(|n| format!("{n}")).collect();
    let _ = writeln!(s, "| arm | tiers | {} |", header.join(" | "));
    let _ = writeln!(s, "|---|---|{}", "---|".repeat(counts.len()));
    for arm in &run.arms {
        for tiering in Tiering::ALL {
            let cells: Vec<String> = counts
                .iter()
                .map(|n| {
                    arm.at(*n, tiering).map_or("".into(), |p| {
                        format!(
                            "{} / {}",
                            pct(p.edge_hit_ratio),
                            per_thousand(p.origin_requests_per_request)
                        )
                    })
                })
                .collect();
            let _ = writeln!(s, "| {} | {} | {} |", arm.label, tiering.name(), cells.join(" | "));
        }
    }
}

fn peaks_section(s: &mut String, run: &ScaleRun, cold: &[ColdStart]) {
    let _ = writeln!(
        s,
        "\n### The origin's peaks (reserved concurrency ≥ max(concurrency, requests/s ÷ 10))\n"
    );
    let _ = writeln!(s, "| | arm | tiers | origin req./s | origin concurrency | origin-response/s (Region) | reserve |\n|---|---|---|---|---|---|---|");
    let mut row = |what: String, arm: &str, tiering: Tiering, p: &Peaks| {
        let _ = writeln!(
            s,
            "| {what} | {arm} | {} | {} | {} | {} ({}) | {} |",
            tiering.name(),
            p.origin_requests_per_second,
            p.origin_concurrency,
            p.origin_response_per_second,
            p.origin_response_region.unwrap_or("-"),
            p.reserved_concurrency
        );
    };
    for arm in &run.arms {
        for tiering in [Tiering::Regional, Tiering::RegionalShield] {
            if let Some(p) = arm.at(arm.default_locations, tiering) {
                row("this trace".into(), arm.label, tiering, &p.figures.peaks);
            }
        }
    }
    for c in cold {
        row(
            format!("cold start, {} req/min, {} min", c.requests_per_minute, c.minutes),
            c.arm,
            c.tiering,
            &c.peaks,
        );
    }
}
