//! The report: what each arm measured, its bound and its bill, as JSON
//! (`bench/results/replay.json`) and as the Markdown tables docs/replay.md quotes
//! (`bench/results/replay.md`).

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};

use crate::analysis::{EdgeFigures, OriginFigures};
use crate::arm::ArmKind;
use crate::bound::Bound;
use crate::cost::{monthly, BreakEven, Prices, TierCost, Usage};

/// One arm's run and what follows from it.
#[derive(Debug, Clone, Serialize)]
pub struct ArmReport {
    /// The arm (`naive`, `cloudfront-alone`, `normalized`).
    pub arm: &'static str,
    /// The edge, as viewers and as the origin saw it.
    pub edge: EdgeFigures,
    /// The origin's layers.
    pub origin: OriginFigures,
    /// The TTL-aware bound with this arm's keys (`None`: not modelled).
    pub bound: Option<Bound>,
    /// What it uses per viewer request.
    pub usage: Usage,
    /// Its month at each tier.
    pub cost_per_month_usd: Vec<TierCost>,
}

impl ArmReport {
    /// The report of one arm's run.
    pub fn new(
        kind: ArmKind,
        edge: EdgeFigures,
        origin: OriginFigures,
        bound: Option<Bound>,
        usage: Usage,
        prices: &Prices,
    ) -> Self {
        ArmReport {
            arm: kind.name(),
            cost_per_month_usd: monthly(prices, &usage),
            edge,
            origin,
            bound,
            usage,
        }
    }
}

/// Writes a run's figures: `report` as JSON at `out` (its directory created), `tables`
/// beside it (`.md`) and `svg` at `chart`.
pub fn write_results(out: &Path, report: &Value, tables: &str, chart: &Path, svg: &str) -> Result<(), String> {
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let write = |path: &Path, text: &str| std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()));
    write(
        out,
        &(serde_json::to_string_pretty(report).map_err(|e| e.to_string())? + "\n"),
    )?;
    write(&out.with_extension("md"), tables)?;
    write(chart, svg)
}

/// Today, `YYYY-MM-DD` (UTC).
pub fn today() -> String {
    let t = local_edge::clock::Utc::from_epoch_ms(local_edge::clock::wall_ms());
    format!("{:04}-{:02}-{:02}", t.year, t.month, t.day)
}

/// This machine: CPU model, logical CPUs, memory (from /proc; empty where unreadable).
pub fn machine() -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name")
                .and_then(|r| r.split_once(':'))
                .map(|(_, v)| v.trim())
        })
        .unwrap_or("");
    let cpus = cpuinfo.lines().filter(|l| l.starts_with("processor")).count();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kb: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    json!({
        "cpu": model,
        "cpus": cpus,
        "memory_gb": (mem_kb as f64 / 1_048_576.0 * 10.0).round() / 10.0,
        "os": std::env::consts::OS,
    })
}

fn pct(v: f64) -> String {
    format!("{:.1}%", v * 100.0)
}

fn usd(v: f64) -> String {
    let cents = (v.max(0.0) * 100.0).round() as u64;
    let mut digits = (cents / 100).to_string();
    let mut grouped = String::new();
    while digits.len() > 3 {
        let rest = digits.split_off(digits.len() - 3);
        grouped = format!(",{rest}{grouped}");
    }
    format!("${digits}{grouped}.{:02}", cents % 100)
}

/// The Markdown tables: per-arm figures, the bill per tier, the break-even.
pub fn markdown(
    arms: &[ArmReport],
    origin_response_off: Option<&[TierCost]>,
    break_even: Option<&BreakEven>,
) -> String {
    let mut s = String::new();
    let names: Vec<&str> = arms.iter().map(|a| label(a.arm)).collect();
    let _ = writeln!(s, "| | {} |", names.join(" | "));
    let _ = writeln!(s, "|---|{}", "---|".repeat(arms.len()));
    let mut row = |name: &str, cell: &dyn Fn(&ArmReport) -> String| {
        let cells: Vec<String> = arms.iter().map(cell).collect();
        let _ = writeln!(s, "| {name} | {} |", cells.join(" | "));
    };
    row("`X-Cache` hit ratio", &|a| pct(a.edge.x_cache_hit_ratio));
    row("requests that caused no origin request", &|a| {
        pct(a.edge.origin_offload_ratio)
    });
    row("TTL-aware bound (same keys)", &|a| {
        a.bound.as_ref().map_or("n/a".into(), |b| pct(b.hit_ratio))
    });
    row("infinite-cache bound (same keys)", &|a| {
        a.bound.as_ref().map_or("n/a".into(), |b| pct(b.infinite_hit_ratio))
    });
    row("`X-Cache: Miss` that waited on another's fetch (collapsed)", &|a| {
        a.edge.collapsed_waiters.to_string()
    });
    row("origin requests (of which background revalidations)", &|a| {
        format!("{} ({})", a.edge.origin_requests, a.edge.background_fetches)
    });
    row("origin L1 / L2 hits / source loads", &|a| {
        format!(
            "{} / {} / {}",
            a.origin.l1_hits, a.origin.l2_hits, a.origin.source_loads
        )
    });
    row("p50 / p95 / p99 latency", &|a| {
        format!("{:.1} / {:.0} / {:.0} ms", a.edge.p50_ms, a.edge.p95_ms, a.edge.p99_ms)
    });
    row("answers 2xx / 4xx / 5xx", &|a| {
        let n = |k: &str| a.edge.statuses.get(k).copied().unwrap_or(0);
        format!("{} / {} / {}", n("2xx"), n("4xx"), n("5xx") + n("none"))
    });
    let _ = writeln!(s);
    let mut header = names.clone();
    if origin_response_off.is_some() {
        header.push("this project, origin-response off");
    }
    let _ = writeln!(s, "| requests/minute | {} |", header.join(" | "));
    let _ = writeln!(s, "|---|{}", "---|".repeat(header.len()));
    for (i, tier) in crate::cost::TIERS.iter().enumerate() {
        let mut cells: Vec<String> = arms.iter().map(|a| usd(a.cost_per_month_usd[i].total)).collect();
        if let Some(off) = origin_response_off {
            cells.push(usd(off[i].total));
        }
        let _ = writeln!(s, "| {} | {} |", group(*tier), cells.join(" | "));
    }
    if let Some(b) = break_even {
        let _ = writeln!(s);
        let at = |v: Option<f64>| v.map_or("never (it saves no origin request)".into(), |v| format!("${v:.2}"));
        let _ = writeln!(
            s,
            "Break-even origin cost per million origin requests: {} with origin-response, {} without; \
             this project's origin measured ${:.2}. The handler costs ${:.2} per million viewer requests \
             and cuts origin requests from {:.0} to {:.0} per million.",
            at(b.break_even_usd_per_million_origin_requests),
            at(b.break_even_usd_per_million_origin_requests_origin_response_off),
            b.measured_origin_usd_per_million_origin_requests,
            b.handler_usd_per_million_requests,
            b.origin_requests_per_million_alone,
            b.origin_requests_per_million_project,
        );
    }
    s
}

fn group(n: u64) -> String {
    usd(n as f64).trim_start_matches('$').trim_end_matches(".00").to_owned()
}

fn label(arm: &str) -> &'static str {
    ArmKind::from_name(arm).map_or("?", ArmKind::label)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dollars_are_grouped_and_rounded_to_cents() {
        assert_eq!(usd(1012.78), "$1,012.78");
        assert_eq!(usd(9.5), "$9.50");
        assert_eq!(usd(9.999), "$10.00");
        assert_eq!(usd(1_234_567.0), "$1,234,567.00");
        assert_eq!(group(10_000), "10,000");
    }

    #[test]
    fn today_is_a_calendar_date() {
        let d = today();
        assert_eq!((d.len(), &d[4..5], &d[7..8]), (10, "-", "-"));
        assert!(d.as_str() > "2025-01-01");
    }
}
