//! What a run measured: the edge as viewers saw it (`X-Cache`) and as the origin saw it
//! (origin requests, collapsed waiters, background revalidations), the origin's layers, latency.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

/// One answered request.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// HTTP status (0: no answer).
    pub status: u16,
    /// `X-Cache`.
    pub x_cache: String,
    /// Latency, milliseconds.
    pub latency_ms: f64,
    /// How late it was sent against the trace's time, milliseconds.
    pub lag_ms: f64,
    /// Bytes received: status line, headers and body.
    pub bytes: u64,
}

/// Answers by `X-Cache`, as viewers saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct XCacheCounts {
    /// `Hit from cloudfront` (fresh, or stale inside a window).
    pub hit: u64,
    /// `RefreshHit from cloudfront`.
    pub refresh_hit: u64,
    /// `Miss from cloudfront`: collapsed waiters included.
    pub miss: u64,
    /// `Error from cloudfront`: an error fetched or served from the cache.
    pub error: u64,
    /// Anything else (Lambda errors, generated responses, no answer).
    pub other: u64,
}

/// The edge's view of a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EdgeFigures {
    /// Requests sent.
    pub requests: usize,
    /// Answers by `X-Cache`.
    pub x_cache: XCacheCounts,
    /// `(Hit + RefreshHit) / requests`: what `X-Cache` (and CloudFront's reports) call hits.
    /// A `RefreshHit` did reach the origin (a `304`); a collapsed waiter, which did not, is a
    /// `Miss`; a cached error is an `Error`.
    pub x_cache_hit_ratio: f64,
    /// Origin requests the edge made (`/__edge/stats`).
    pub origin_requests: u64,
    /// Of those, made by a background revalidation (stale-while-revalidate), for no viewer.
    pub background_fetches: u64,
    /// Of those, made for a viewer request: `origin_requests - background_fetches`.
    pub viewer_fetches: u64,
    /// `X-Cache: Miss` answers that waited on another request's fetch (collapsed): no origin
    /// request of their own.
    pub collapsed_waiters: u64,
    /// Waiters that fetched their own answer because the collapsed one was not shareable.
    pub uncollapsed: u64,
    /// Copies served stale (stale-while-revalidate, or stale-if-error).
    pub stale_serves: u64,
    /// `1 - viewer_fetches / requests`: the share of viewer requests that caused no origin
    /// request. Compare this, not `X-Cache`, with the bound.
    pub origin_offload_ratio: f64,
    /// Answers by status class (`2xx`, `4xx`, …; `none`: no answer).
    pub statuses: BTreeMap<String, u64>,
    /// p50 latency, ms.
    pub p50_ms: f64,
    /// p95 latency, ms.
    pub p95_ms: f64,
    /// p99 latency, ms.
    pub p99_ms: f64,
    /// p99 of how late requests were sent against the trace's times, ms (the replay kept up
    /// with the trace when this is small).
    pub lag_p99_ms: f64,
    /// Mean bytes per answer (status line, headers, body).
    pub mean_response_bytes: f64,
    /// Transport failures and 5xx.
    pub errors: usize,
}

/// Percentile of sorted values (nearest rank).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut v: Vec<f64> = values.collect();
    v.sort_by(f64::total_cmp);
    v
}

/// Edge figures from the outcomes of a run and the edge's `/__edge/stats` at its end.
pub fn edge_figures(outcomes: &[Outcome], stats: &Value) -> EdgeFigures {
    let mut x_cache = XCacheCounts::default();
    let mut statuses = BTreeMap::new();
    for o in outcomes {
        let counter = match o.x_cache.split(" from ").next().unwrap_or("") {
            "Hit" => &mut x_cache.hit,
            "RefreshHit" => &mut x_cache.refresh_hit,
            "Miss" => &mut x_cache.miss,
            "Error" => &mut x_cache.error,
            _ => &mut x_cache.other,
        };
        *counter += 1;
        let class = match o.status {
            0 => "none".to_owned(),
            s => format!("{}xx", s / 100),
        };
        *statuses.entry(class).or_insert(0) += 1;
    }
    let stat = |k: &str| stats[k].as_u64().unwrap_or(0);
    let (origin_requests, background_fetches) = (stat("origin_requests"), stat("background_fetches"));
    let viewer_fetches = origin_requests.saturating_sub(background_fetches);
    let requests = outcomes.len();
    let latencies = sorted(outcomes.iter().map(|o| o.latency_ms));
    let lags = sorted(outcomes.iter().map(|o| o.lag_ms));
    EdgeFigures {
        requests,
        x_cache_hit_ratio: ratio((x_cache.hit + x_cache.refresh_hit) as usize, requests),
        x_cache,
        origin_requests,
        background_fetches,
        viewer_fetches,
        collapsed_waiters: stat("collapsed_waiters"),
        uncollapsed: stat("uncollapsed"),
        stale_serves: stat("stale_serves"),
        origin_offload_ratio: ratio(requests.saturating_sub(viewer_fetches as usize), requests),
        statuses,
        p50_ms: percentile(&latencies, 50.0),
        p95_ms: percentile(&latencies, 95.0),
        p99_ms: percentile(&latencies, 99.0),
        lag_p99_ms: percentile(&lags, 99.0),
        mean_response_bytes: outcomes.iter().map(|o| o.bytes as f64).sum::<f64>() / requests.max(1) as f64,
        errors: outcomes.iter().filter(|o| o.status == 0 || o.status >= 500).count(),
    }
}

/// `a / b`, 0 when `b` is 0, rounded to 4 places.
pub fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 {
        0.0
    } else {
        (a as f64 / b as f64 * 10_000.0).round() / 10_000.0
    }
}

/// The origin's view, summed from its CloudWatch EMF lines (one per invocation).
#[derive(Debug, Clone, Default, Serialize)]
pub struct OriginFigures {
    /// Invocations.
    pub invocations: u64,
    /// Answered from L1.
    pub l1_hits: u64,
    /// Answered from L2.
    pub l2_hits: u64,
    /// Neither.
    pub misses: u64,
    /// Loads from the source of truth.
    pub source_loads: u64,
    /// Waits on another caller's load.
    pub coalesced_waits: u64,
    /// Private requests (never cached).
    pub bypass: u64,
    /// L1 hits / invocations.
    pub l1_hit_ratio: f64,
    /// L2 hits / invocations.
    pub l2_hit_ratio: f64,
    /// Mean billed duration, ms: each invocation's `TotalLatencyMs` rounded up to Lambda's
    /// 1 ms step.
    pub billed_ms_mean: f64,
}

/// Sums the EMF lines in every `env-*.log` under `dir`.
pub fn origin_figures(dir: &Path) -> OriginFigures {
    let mut f = OriginFigures::default();
    let mut billed_ms = 0.0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        for line in text.lines().filter(|l| l.contains("\"_aws\"")) {
            let Ok(v) = serde_json::from_str::<Value>(line) else {
                continue;
            };
            if v["Warmup"].as_u64() == Some(1) {
                continue;
            }
            let n = |k: &str| v[k].as_u64().unwrap_or(0);
            f.invocations += 1;
            f.l1_hits += n("L1Hits");
            f.l2_hits += n("L2Hits");
            f.misses += n("Misses");
            f.source_loads += n("SourceLoads");
            f.coalesced_waits += n("CoalescedWaits");
            f.bypass += n("Bypass");
            billed_ms += v["TotalLatencyMs"].as_f64().unwrap_or(0.0).ceil().max(1.0);
        }
    }
    f.billed_ms_mean = billed_ms / f.invocations.max(1) as f64;
    f.l1_hit_ratio = ratio(f.l1_hits as usize, f.invocations as usize);
    f.l2_hit_ratio = ratio(f.l2_hits as usize, f.invocations as usize);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status: u16, x_cache: &str) -> Outcome {
        Outcome {
            status,
            x_cache: x_cache.into(),
            ..Outcome::default()
        }
    }

    #[test]
    fn what_reaches_the_origin_is_counted_apart_from_x_cache() {
        let outcomes = [
            answered(200, "Miss from cloudfront"),
            answered(200, "Miss from cloudfront"), // collapsed onto the first
            answered(200, "Hit from cloudfront"),
            answered(200, "Hit from cloudfront"), // stale: revalidated in the background
            answered(404, "Error from cloudfront"),
            answered(0, ""),
        ];
        let stats = serde_json::json!({"origin_requests": 4, "background_fetches": 1,
            "collapsed_waiters": 1, "stale_serves": 1});
        let f = edge_figures(&outcomes, &stats);
        assert_eq!(
            f.x_cache,
            XCacheCounts {
                hit: 2,
                refresh_hit: 0,
                miss: 2,
                error: 1,
                other: 1
            }
        );
        assert_eq!(f.x_cache_hit_ratio, ratio(2, 6));
        assert_eq!((f.viewer_fetches, f.collapsed_waiters), (3, 1));
        assert_eq!(f.origin_offload_ratio, 0.5);
        assert_eq!(f.statuses["2xx"], 4);
        assert_eq!((f.statuses["4xx"], f.statuses["none"], f.errors), (1, 1, 1));
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(
            (percentile(&v, 50.0), percentile(&v, 99.0), percentile(&v, 100.0)),
            (50.0, 99.0, 100.0)
        );
    }
}
