//! One CloudWatch Embedded Metric Format line per invocation (origin-cache.md, "What it says
//! about itself"): CloudWatch turns the line's numbers into metrics, with no API call.
//!
//! The outcome counters (`L1Hits`, `L2Hits`, `Misses`, `StaleServed`, `CoalescedWaits`,
//! `Bypass`) are derived from the request's [`CacheStatus`] by [`Metrics::count`], the same
//! value the `Cache-Status` header is rendered from; the event counters (L2 calls and faults,
//! source loads) are counted where the event happens, an L2 fault by its kind
//! ([`Metrics::l2_fault`]).

use std::time::Instant;

use serde_json::{json, Value};

use crate::cache_status::{CacheStatus, Detail, Fwd, Served};
use crate::error::L2Fault;

/// Milliseconds since `since`, for the latency figures.
pub fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// The counters and timings of one invocation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// Answered by L1.
    pub l1_hits: u32,
    /// Answered by L2 (fresh).
    pub l2_hits: u32,
    /// Shared-cacheable requests the caches did not answer (the source was read).
    pub misses: u32,
    /// Answered with a cached copy instead of the source's answer: stale while another
    /// caller refreshes it, or (stale or fresh) because the source failed.
    pub stale_served: u32,
    /// Waited for another caller's load (in this environment, or via the L2 lease).
    pub coalesced_waits: u32,
    /// L2 calls made (gets, leases, waits' re-reads, writes, releases).
    pub l2_calls: u32,
    /// L2 calls that failed (timeout, budget spent, connection, throttling, server error, or
    /// an answer slower than `ORIGIN_L2_SLOW_MS`).
    pub l2_errors: u32,
    /// L2 answers slower than `ORIGIN_L2_SLOW_MS` (also counted in `l2_errors`).
    pub l2_slow: u32,
    /// L2 skipped because the breaker is open.
    pub l2_skipped: u32,
    /// Values over the L2 item limit, never written.
    pub l2_oversize: u32,
    /// L2 items whose full key differed from the request's key.
    pub l2_key_mismatch: u32,
    /// Source loads.
    pub source_loads: u32,
    /// Source loads that failed.
    pub source_errors: u32,
    /// Private requests (never cached).
    pub bypass: u32,
    /// `1` on the environment's first invocation.
    pub cold_start: u32,
    /// `1` on every later invocation.
    pub context_reused: u32,
    /// `1` for a warm-up event.
    pub warmup: u32,
    /// Keys warm-up preloaded into L1.
    pub preloaded: u32,
    /// Reads of the purge log's head (purge.md, step 3).
    pub purge_log_reads: u32,
    /// Those that failed (L1 then fails closed).
    pub purge_log_errors: u32,
    /// `1` when a gap in the log (or its retention passing) cleared L1.
    pub purge_l1_cleared: u32,
    /// Path and tag index writes (one per storable source load).
    pub purge_index_writes: u32,
    /// Those that failed: that URL is purged only by its lifetime.
    pub purge_index_errors: u32,
    /// `Surrogate-Key` tokens dropped (invalid, or past 64 per answer).
    pub tags_dropped: u32,
    /// Breaker state after the invocation: `0` closed, `1` open, `2` half-open.
    pub breaker_state: u8,
    /// Time in L1, ms.
    pub l1_ms: f64,
    /// Time in L2 calls, ms.
    pub l2_ms: f64,
    /// Time in the source, ms.
    pub source_ms: f64,
    /// Whole invocation, ms.
    pub total_ms: f64,
    /// The route's name (a property, not a metric).
    pub route: String,
    /// The `Cache-Status` sent (a property).
    pub cache_status: Option<CacheStatus>,
    /// The HTTP status sent (a property).
    pub status: u16,
}

/// Reads one counter.
type Counter = fn(&Metrics) -> u32;
/// Reads one timing.
type Timing = fn(&Metrics) -> f64;

/// Counter names and how to read them from [`Metrics`], in the order of the line.
const COUNTS: &[(&str, Counter)] = &[
    ("L1Hits", |m| m.l1_hits),
    ("L2Hits", |m| m.l2_hits),
    ("Misses", |m| m.misses),
    ("StaleServed", |m| m.stale_served),
    ("CoalescedWaits", |m| m.coalesced_waits),
    ("L2Calls", |m| m.l2_calls),
    ("L2Errors", |m| m.l2_errors),
    ("L2Slow", |m| m.l2_slow),
    ("L2Skipped", |m| m.l2_skipped),
    ("L2Oversize", |m| m.l2_oversize),
    ("L2KeyMismatch", |m| m.l2_key_mismatch),
    ("SourceLoads", |m| m.source_loads),
    ("SourceErrors", |m| m.source_errors),
    ("Bypass", |m| m.bypass),
    ("ColdStart", |m| m.cold_start),
    ("ContextReused", |m| m.context_reused),
    ("Warmup", |m| m.warmup),
    ("Preloaded", |m| m.preloaded),
    ("PurgeLogReads", |m| m.purge_log_reads),
    ("PurgeLogErrors", |m| m.purge_log_errors),
    ("PurgeL1Cleared", |m| m.purge_l1_cleared),
    ("PurgeIndexWrites", |m| m.purge_index_writes),
    ("PurgeIndexErrors", |m| m.purge_index_errors),
    ("TagsDropped", |m| m.tags_dropped),
];

/// Timing names (milliseconds).
const TIMES: &[(&str, Timing)] = &[
    ("L1LatencyMs", |m| m.l1_ms),
    ("L2LatencyMs", |m| m.l2_ms),
    ("SourceLatencyMs", |m| m.source_ms),
    ("TotalLatencyMs", |m| m.total_ms),
];

fn round3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

/// The parts of the EMF line that do not change between invocations, rendered once.
#[derive(Debug, Clone)]
pub struct EmfFormat {
    /// `"CloudWatchMetrics":[…]},"Function":"…"`: after the timestamp, before the values.
    middle: String,
}

impl EmfFormat {
    /// The metric declarations for `namespace`, and the `Function` dimension's value.
    pub fn new(namespace: &str, function: &str) -> Self {
        let mut definitions: Vec<Value> = COUNTS
            .iter()
            .map(|(name, _)| json!({ "Name": name, "Unit": "Count" }))
            .collect();
        definitions.push(json!({ "Name": "BreakerState", "Unit": "None" }));
        definitions.extend(
            TIMES
                .iter()
                .map(|(name, _)| json!({ "Name": name, "Unit": "Milliseconds" })),
        );
        let declaration = json!([{ "Namespace": namespace, "Dimensions": [["Function"]], "Metrics": definitions }]);
        let middle = format!(
            r#","CloudWatchMetrics":{declaration}}},"Function":{}"#,
            Value::String(function.into())
        );
        EmfFormat { middle }
    }
}

impl Metrics {
    /// Records how the request was answered: the outcome counters and the `CacheStatus`
    /// property, from the value the header is rendered from.
    pub fn count(&mut self, status: &CacheStatus) {
        let detail = status.detail;
        match status.served {
            Served::Hit => match detail {
                Some(Detail::L1) => self.l1_hits = 1,
                Some(Detail::L2) => self.l2_hits = 1,
                Some(Detail::L2Stale | Detail::RefreshFailed) => self.stale_served = 1,
                _ => {}
            },
            Served::Fwd(Fwd::Miss | Fwd::Stale) => {
                if status.collapsed {
                    self.coalesced_waits = 1;
                    if detail == Some(Detail::L2) {
                        self.l2_hits = 1;
                    }
                }
                if detail == Some(Detail::StaleIfError) {
                    self.stale_served = 1;
                }
            }
            Served::Fwd(Fwd::Bypass | Fwd::Method | Fwd::Request) => self.bypass = 1,
            Served::Neither => {}
        }
        if status.read_the_source() {
            self.misses = 1;
        }
        self.cache_status = Some(*status);
    }

    /// Counts one L2 fault: every kind in `L2Errors`, a slow answer in `L2Slow` too.
    pub fn l2_fault(&mut self, fault: L2Fault) {
        self.l2_errors += 1;
        if fault == L2Fault::Slow {
            self.l2_slow += 1;
        }
    }

    /// The EMF line: `_aws` metadata naming the metrics, then their values at the top level.
    pub fn emf_line(&self, format: &EmfFormat, timestamp_ms: u64) -> String {
        use std::fmt::Write;
        let mut line = String::with_capacity(format.middle.len() + 512);
        let _ = write!(line, r#"{{"_aws":{{"Timestamp":{timestamp_ms}{}"#, format.middle);
        for (name, read) in COUNTS {
            let _ = write!(line, r#","{name}":{}"#, read(self));
        }
        let _ = write!(line, r#","BreakerState":{}"#, self.breaker_state);
        for (name, read) in TIMES {
            let v = round3(read(self));
            let _ = write!(line, r#","{name}":{}"#, if v.is_finite() { v } else { 0.0 });
        }
        let _ = write!(
            line,
            r#","Route":{},"CacheStatus":{},"Status":{}}}"#,
            Value::String(self.route.clone()),
            Value::String(self.cache_status.map(|s| s.to_string()).unwrap_or_default()),
            self.status
        );
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_declared_metric_has_a_value() {
        let m = Metrics {
            l1_hits: 1,
            l1_ms: 0.12345,
            ..Metrics::default()
        };
        let v: Value = serde_json::from_str(&m.emf_line(&EmfFormat::new("NS", "origin"), 42)).unwrap();
        let decl = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(decl["Namespace"], "NS");
        for d in decl["Metrics"].as_array().unwrap() {
            assert!(v[d["Name"].as_str().unwrap()].is_number(), "{d}");
        }
        assert_eq!(v["L1Hits"], 1);
        assert_eq!(v["L1LatencyMs"], 0.123);
        assert_eq!(v["_aws"]["Timestamp"], 42);
    }

    #[test]
    fn l2_faults_are_counted_by_kind_under_the_same_metric_names() {
        let mut m = Metrics::default();
        m.l2_fault(L2Fault::Timeout);
        m.l2_fault(L2Fault::Slow);
        let v: Value = serde_json::from_str(&m.emf_line(&EmfFormat::new("NS", "origin"), 1)).unwrap();
        assert_eq!((&v["L2Errors"], &v["L2Slow"]), (&json!(2), &json!(1)));
    }

    #[test]
    fn outcome_counters_come_from_the_cache_status() {
        let counted = |status: CacheStatus| {
            let mut m = Metrics::default();
            m.count(&status);
            (
                m.l1_hits,
                m.l2_hits,
                m.misses,
                m.stale_served,
                m.coalesced_waits,
                m.bypass,
            )
        };
        assert_eq!(counted(CacheStatus::hit(5, Detail::L1)), (1, 0, 0, 0, 0, 0));
        assert_eq!(counted(CacheStatus::hit(5, Detail::L2)), (0, 1, 0, 0, 0, 0));
        assert_eq!(counted(CacheStatus::hit(-5, Detail::L2Stale)), (0, 0, 0, 1, 0, 0));
        assert_eq!(counted(CacheStatus::fwd(Fwd::Miss).stored()), (0, 0, 1, 0, 0, 0));
        assert_eq!(counted(CacheStatus::fwd(Fwd::Miss).collapsed()), (0, 0, 0, 0, 1, 0));
        assert_eq!(
            counted(CacheStatus::fwd(Fwd::Miss).collapsed().detail(Detail::L2)),
            (0, 1, 0, 0, 1, 0)
        );
        assert_eq!(
            counted(
                CacheStatus::fwd(Fwd::Stale)
                    .fwd_status(503)
                    .detail(Detail::StaleIfError)
            ),
            (0, 0, 1, 1, 0, 0)
        );
        assert_eq!(counted(CacheStatus::hit(5, Detail::RefreshFailed)), (0, 0, 1, 1, 0, 0));
        assert_eq!(counted(CacheStatus::fwd(Fwd::Bypass)), (0, 0, 0, 0, 0, 1));
        let mut m = Metrics::default();
        let status = CacheStatus::fwd(Fwd::Request).detail(Detail::Unverified);
        m.count(&status);
        let v: Value = serde_json::from_str(&m.emf_line(&EmfFormat::new("NS", "origin"), 1)).unwrap();
        assert_eq!(v["CacheStatus"], status.to_string());
    }
}
