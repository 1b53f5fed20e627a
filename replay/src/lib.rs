//! Trace replay and soak against the local edge: what caching buys, and what holds under load.
//!
//! `replay` (src/main.rs) and `soak` (src/bin/soak.rs) are thin CLIs over these modules.
#![warn(missing_docs)]

pub mod access_log;
pub mod advice;
pub mod analysis;
pub mod arm;
pub mod bound;
pub mod calibration;
pub mod chart;
pub mod cost;
pub mod geography;
pub mod keyed;
pub mod peaks;
pub mod report;
pub mod run;
pub mod scale;
pub mod scale_chart;
pub mod scale_report;
pub mod simulate;
pub mod tier_cache;
pub mod trace;
