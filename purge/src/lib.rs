//! Purge by URL, prefix and tag through every layer the operator controls (purge.md), in an
//! order that cannot re-cache the old value: the origin's L2 (markers) and every warm L1
//! (through the purge log each environment reads before serving from L1), then — after `W`
//! — CloudFront's cache (`CreateInvalidation`) and the Worker's Cache API copies (Cloudflare's
//! purge by URL).
//!
//! Files by job: [`selector`] (reading `--url`, `--prefix`, `--tag`), [`plan`] (the
//! invalidation paths and their batches), [`stores`] (the origin's stores, directly or by a
//! direct invoke), [`edge`] (CloudFront), [`cloudflare`] (Cloudflare), [`run`] (the order and
//! the report), [`report`] (the report as text), [`error`]. `main.rs` is the CLI.
#![warn(missing_docs)]

pub mod cloudflare;
pub mod edge;
pub mod error;
pub mod plan;
pub mod report;
pub mod run;
pub mod selector;
pub mod stores;

pub use error::PurgeError;
pub use run::{Purge, Report, Timing};
