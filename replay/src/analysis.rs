//! What a run measured: edge hit ratio and its bound, origin layers, latency.

use std::collections::HashSet;
use std::path::Path;

use edge_policy::headers::normalize_accept_encoding;
use edge_policy::{canonical_request, RequestView, RuleSet};
use serde::Serialize;
use serde_json::Value;

use crate::trace::TraceRequest;

/// One answered request.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// HTTP status (0: no answer).
    pub status: u16,
    /// `X-Cache`.
    pub x_cache: String,
    /// Latency, milliseconds.
    pub latency_ms: f64,
}

/// The edge's view of a run.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeFigures {
    /// Requests sent.
    pub requests: usize,
    /// Share answered from the edge cache (`Hit`/`RefreshHit`).
    pub edge_hit_ratio: f64,
    /// p50 latency, ms.
    pub p50_ms: f64,
    /// p95 latency, ms.
    pub p95_ms: f64,
    /// p99 latency, ms.
    pub p99_ms: f64,
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

/// Edge figures from the outcomes of a run.
pub fn edge_figures(outcomes: &[Outcome]) -> EdgeFigures {
    let hits = outcomes
        .iter()
        .filter(|o| o.x_cache.starts_with("Hit") || o.x_cache.starts_with("RefreshHit"))
        .count();
    let errors = outcomes.iter().filter(|o| o.status == 0 || o.status >= 500).count();
    let mut latencies: Vec<f64> = outcomes.iter().map(|o| o.latency_ms).collect();
    latencies.sort_by(f64::total_cmp);
    EdgeFigures {
        requests: outcomes.len(),
        edge_hit_ratio: ratio(hits, outcomes.len()),
        p50_ms: percentile(&latencies, 50.0),
        p95_ms: percentile(&latencies, 95.0),
        p99_ms: percentile(&latencies, 99.0),
        errors,
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

/// The hit ratio an infinite edge cache would reach on this trace: every request whose
/// canonical key (plus the normalized Accept-Encoding CloudFront adds) was seen before is a
/// hit; private requests are never hits.
pub fn edge_hit_bound(trace: &[TraceRequest], rules: &RuleSet) -> f64 {
    let mut seen = HashSet::new();
    let mut hits = 0;
    for request in trace {
        let (path, query) = request.path.split_once('?').unwrap_or((&request.path, ""));
        let headers: Vec<(&str, &str)> = request.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let view = RequestView {
            method: "GET",
            uri: path,
            querystring: query,
            headers: &headers,
        };
        let Ok(canonical) = canonical_request(rules, "edge", &view) else {
            continue;
        };
        if canonical.bypass {
            continue;
        }
        let encoding =
            normalize_accept_encoding(headers.iter().filter(|(n, _)| *n == "accept-encoding").map(|(_, v)| *v));
        if !seen.insert(format!("{}|{}", canonical.key, encoding.unwrap_or("identity"))) {
            hits += 1;
        }
    }
    ratio(hits, trace.len())
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
}

/// Sums the EMF lines in every `env-*.log` under `dir`.
pub fn origin_figures(dir: &Path) -> OriginFigures {
    let mut f = OriginFigures::default();
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
        }
    }
    f.l1_hit_ratio = ratio(f.l1_hits as usize, f.invocations as usize);
    f.l2_hit_ratio = ratio(f.l2_hits as usize, f.invocations as usize);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(path: &str, headers: &[(&str, &str)]) -> TraceRequest {
        TraceRequest {
            path: path.into(),
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn the_bound_counts_repeats_of_canonical_keys() {
        let trace = vec![
            req("/api/products/1", &[("accept-encoding", "gzip")]),
            req("/api/products/1?utm_source=x", &[("accept-encoding", "gzip, deflate")]),
            req("/api/products/1", &[("accept-encoding", "br")]),
            req("/api/me", &[("authorization", "Bearer user-1")]),
            req("/api/me", &[("authorization", "Bearer user-1")]),
        ];
        assert_eq!(edge_hit_bound(&trace, RuleSet::embedded()), 0.2);
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
