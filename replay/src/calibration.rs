//! The model held against measurements: the 1-location, untiered simulation against the
//! full-stack replay's figures (`bench/results/replay.json`, the calibration of this model),
//! and a log's predicted hit ratio against its own `x-edge-result-type`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::arm::Arm;
use crate::geography::Tiering;
use crate::scale::{point, round4, Layout};
use crate::simulate::SimConfig;
use crate::trace::{generate, Mix};

/// The tolerance the simulation is held to against the full-stack replay, in points (0.5
/// points of hit ratio, and of origin requests per request).
pub const TOLERANCE: f64 = 0.005;

/// One arm: the full stack against the simulation on the same trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Calibration {
    /// The arm.
    pub arm: &'static str,
    /// Full stack: viewer requests that caused no origin request.
    pub full_stack_offload_ratio: f64,
    /// Simulation, 1 location, untiered, latency 0, with the origin's own cache.
    pub simulated_offload_ratio: f64,
    /// Full stack: origin requests per viewer request.
    pub full_stack_origin_requests_per_request: f64,
    /// Simulation: origin requests per viewer request.
    pub simulated_origin_requests_per_request: f64,
    /// Both differences within [`TOLERANCE`].
    pub within_tolerance: bool,
}

/// The arms of `arms` against a full-stack report (`replay.json`), whose generated trace is
/// generated again from its recorded size and rate (`products`: the catalogue it drew from,
/// which the report does not record). `None` when the report replayed a trace file.
pub fn calibrate(report: &Value, arms: &[Arm], products: usize) -> Option<Vec<Calibration>> {
    let trace_info = &report["trace"];
    let requests = usize::try_from(trace_info["requests"].as_u64()?).ok()?;
    let rate = trace_info["rate_per_s"].as_f64()?;
    let trace = generate(&Mix {
        requests,
        products,
        rate,
        ..Mix::default()
    });
    // The regenerated trace must be the replayed one: same span to the millisecond.
    let span = trace.last().map_or(0.0, |r| r.at_ms as f64 / 1000.0);
    if (span - trace_info["span_s"].as_f64()?).abs() > 0.001 {
        return None;
    }
    let one = Layout::generated(1, 1.0, trace.len(), 0);
    let topology = one.topology(Tiering::Untiered, 0);
    let rows = arms
        .iter()
        .filter_map(|arm| {
            let edge = &report["arms"][arm.kind.name()]["edge"];
            let full_offload = edge["origin_offload_ratio"].as_f64()?;
            let full_origin = edge["origin_requests"].as_f64()? / edge["requests"].as_f64()?.max(1.0);
            let keyed = arm.key_trace(&trace, &[]);
            let config = SimConfig {
                origin_cache: true,
                ..SimConfig::default()
            };
            let sim = point(&keyed, arm.distribution.behaviours.len(), &one, &topology, config);
            Some(Calibration {
                arm: arm.kind.name(),
                full_stack_offload_ratio: full_offload,
                simulated_offload_ratio: sim.offload_ratio,
                full_stack_origin_requests_per_request: round4(full_origin),
                simulated_origin_requests_per_request: sim.origin_requests_per_request,
                within_tolerance: (full_offload - sim.offload_ratio).abs() <= TOLERANCE
                    && (full_origin - sim.origin_requests_per_request).abs() <= TOLERANCE,
            })
        })
        .collect();
    Some(rows)
}

/// A log's own result types against the simulation's prediction on its requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogCheck {
    /// Records read.
    pub records: usize,
    /// Records per `x-edge-result-type`.
    pub result_types: BTreeMap<String, u64>,
    /// `Hit` records per record: what the log says its edge locations answered from cache.
    pub logged_hit_ratio: f64,
    /// What the simulation predicts for the same requests at the same locations (this
    /// project's arm, regional tier): answered by the edge location from a copy.
    pub predicted_edge_hit_ratio: f64,
    /// The `Accept-Encoding` every request was assumed to carry (not logged).
    pub assumed_accept_encoding: String,
    /// Edge locations whose city code the assumed table lacks (put under us-east-1).
    pub unmapped_locations: Vec<String>,
    /// Edge locations in the log.
    pub locations: usize,
}

impl LogCheck {
    /// The check from the log's result types and the predicted ratio.
    pub fn new(
        result_types: BTreeMap<String, u64>,
        predicted_edge_hit_ratio: f64,
        assumed_accept_encoding: &str,
        layout: &Layout,
        unmapped_locations: Vec<String>,
    ) -> LogCheck {
        let records: u64 = result_types.values().sum();
        let hits = result_types.get("Hit").copied().unwrap_or(0);
        LogCheck {
            records: records as usize,
            logged_hit_ratio: round4(hits as f64 / records.max(1) as f64),
            result_types,
            predicted_edge_hit_ratio,
            assumed_accept_encoding: assumed_accept_encoding.to_owned(),
            unmapped_locations,
            locations: layout.locations(),
        }
    }
}
