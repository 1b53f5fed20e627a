//! The report as an operator reads it (the CLI prints this, or the JSON with `--json`).

use std::fmt::Write;

use crate::run::Report;

/// The bound, as the README states it.
pub const BOUND: &str = "after this returns the origin never serves the old answer from L1 or L2; the edge stops \
when its invalidation completes; browsers and other downstream caches keep their copy for its max-age \
(a purge cannot reach them)";

/// `report` as lines of text.
pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let seq = report.seq.map_or_else(|| "-".to_owned(), |s| s.to_string());
    let mode = if report.dry_run {
        " (dry run: nothing changed)"
    } else {
        ""
    };
    let _ = writeln!(out, "purge {}: S={seq}{mode}", report.selector);
    if report.keys.is_empty() && report.paths.is_empty() {
        let _ = writeln!(
            out,
            "  nothing holds it: no cached entry or indexed path (purges nothing more)"
        );
    }
    let _ = writeln!(
        out,
        "  resolved: {} entries, {} paths",
        report.keys.len(),
        report.paths.len()
    );
    for key in report.keys.iter().take(20) {
        let _ = writeln!(out, "    entry {key}");
    }
    if let Some(scan) = report.scan {
        let _ = writeln!(
            out,
            "  read cost: prefix scan of {} pages, {} items examined, {:.1} read capacity units",
            scan.pages, scan.scanned, scan.capacity_units
        );
    }
    if !report.dry_run {
        let _ = writeln!(
            out,
            "  L2: {} markers, {} entries kept (loaded after the purge)",
            report.marked, report.kept
        );
        let _ = writeln!(
            out,
            "  waited W = {} ms after the log write; {} entries appeared meanwhile",
            report.wait_ms,
            report.keys_after_wait.len()
        );
    } else {
        let _ = writeln!(out, "  W = {} ms", report.wait_ms);
    }
    let _ = writeln!(
        out,
        "  edge: {} batch(es), {} paths billed (${:.3} if past the free 1,000 a month)",
        report.batches.len(),
        report.billed_paths,
        report.price_usd_past_free_tier
    );
    for batch in &report.batches {
        let _ = writeln!(out, "    {}", batch.join(" "));
    }
    for c in &report.collapsed {
        let _ = writeln!(
            out,
            "  wildcard {} in place of {} query variants",
            c.wildcard,
            c.replaced.len()
        );
    }
    for a in &report.also_covered {
        if !a.paths.is_empty() {
            let _ = writeln!(out, "  {} also covers: {}", a.wildcard, a.paths.join(" "));
        }
    }
    for i in &report.invalidations {
        let throttled = if i.throttled > 0 {
            format!(" after {} TooManyInvalidationsInProgress", i.throttled)
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "  invalidation {} {} ({}){throttled}",
            i.id, i.status, i.caller_reference
        );
    }
    if let Some(completed) = report.completed {
        let _ = writeln!(
            out,
            "  CloudFront: {}",
            if completed { "Completed" } else { "still in progress" }
        );
    }
    if let Some(cf) = &report.cloudflare {
        let _ = writeln!(
            out,
            "  Cloudflare: {} URLs purged in {} calls, {} keys with keyed headers left to their lifetime",
            cf.urls.len(),
            cf.calls,
            cf.skipped.len()
        );
    }
    let _ = writeln!(out, "  done: {}", report.done.join(", "));
    match &report.failed {
        Some(f) => {
            let _ = writeln!(out, "  FAILED at {}: {}", f.step, f.error);
            let _ = writeln!(out, "  every step is safe to repeat: run the same purge again");
        }
        None if !report.dry_run => {
            let _ = writeln!(out, "  bound: {BOUND}");
        }
        None => {}
    }
    out
}
