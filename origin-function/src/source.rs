//! The source of truth: the demo API of reference-rules.md over a DynamoDB catalogue table,
//! behind one value ([`Source`]) the read path owns. A load really reads the table (GetItem
//! / Query), so its cost is real.
//!
//! Files by job: [`api`] (what the source reads of a request, and routing the demo API),
//! [`catalogue`] (reading and writing the catalogue table), [`answers`] (building the
//! answers), [`demo`] (the deterministic demo data and the seed).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::metrics::{millis, Metrics};

pub mod answers;
pub mod api;
pub mod catalogue;
pub mod demo;

pub use answers::SourceResponse;
pub use api::SourceRequest;
pub use catalogue::Catalogue;
pub use demo::{fixed_items, product_items, seed, set_price};

/// The source of one execution environment: the demo API over its catalogue, and how many
/// loads it has answered.
#[derive(Debug)]
pub struct Source {
    catalogue: Catalogue,
    loads: AtomicU64,
}

impl Source {
    /// The demo API over `catalogue`.
    pub fn new(catalogue: Catalogue) -> Self {
        Source {
            catalogue,
            loads: AtomicU64::new(0),
        }
    }

    /// Loads since the environment started.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// One load, counted and timed into `m`; a failure is a `503` (never stored: the policy
    /// writes `no-store`).
    pub async fn load(&self, request: &SourceRequest<'_>, m: &mut Metrics) -> SourceResponse {
        let started = Instant::now();
        m.source_loads += 1;
        self.loads.fetch_add(1, Ordering::Relaxed);
        let result = api::answer(&self.catalogue, request).await;
        m.source_ms += millis(started);
        result.unwrap_or_else(|_| {
            m.source_errors += 1;
            SourceResponse::error(503, "source_unavailable")
        })
    }
}
