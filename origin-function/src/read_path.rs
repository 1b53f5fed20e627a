//! The shared read path (origin-cache.md, "Read path") as one value the origin owns
//! ([`ReadPath`]): L1, then L2 (read by every caller, before any coalescing), then — only
//! when a load is needed — one coalesced load per key ([`crate::load`]).
//!
//! What a copy found in L2 leads to is decided here, by its state in the freshness model:
//! a fresh copy answers unless XFetch draws an early refresh **and** this caller gets the
//! lease; a copy inside `stale-while-revalidate` answers while the caller holding the lease
//! refreshes it; a copy usable only on error is kept in hand while the source is asked. An
//! optional refresh that cannot get the lease serves the copy instead of loading.
//!
//! Purge (purge.md, step 3): the purge log's head is read (when due) before L1 is asked, and
//! a copy a purge this environment has read selects is never served, promoted or held for a
//! failing source — it is as if it were not there.

use std::sync::Arc;
use std::time::Instant;

use edge_policy::cache_control::FreshnessState;

use crate::cache_status::{CacheStatus, Detail};
use crate::clock::Now;
use crate::coalesce::{Flights, LoadRole};
use crate::config::Config;
use crate::entry::StoredEntry;
use crate::l2::item::Found;
use crate::l2::{digest, L2};
use crate::layers::{L2Read, Layers, Lease};
use crate::load::{Load, Loaded, Why};
use crate::metrics::{millis, Metrics};
use crate::policy::Policies;
use crate::prepared::Prepared;
use crate::purge::store::PurgeStore;
use crate::respond::Answer;
use crate::source::Source;
use crate::xfetch;

/// What answers a shared request, and its `Cache-Status`.
#[derive(Debug)]
pub enum Served {
    /// L1 or L2 answered with a stored entry.
    Hit(Arc<StoredEntry>, CacheStatus),
    /// A load answered: this caller's, or the one it was collapsed onto.
    Load(Arc<Loaded>, CacheStatus),
}

impl Served {
    /// What answers, and how it is said.
    pub fn answer(&self) -> (Answer<'_>, CacheStatus) {
        match self {
            Served::Hit(entry, status) => (Answer::Stored(entry), *status),
            Served::Load(loaded, status) => (loaded.answer(), *status),
        }
    }
}

/// The shared read path of one execution environment: the layers, the loads in flight, the
/// source, the decisions for shared answers and XFetch's parameters.
pub struct ReadPath {
    layers: Layers,
    flights: Flights<Arc<Loaded>>,
    source: Source,
    policies: Policies,
    xfetch_beta: f64,
    rand: Box<dyn Fn() -> f64 + Send + Sync>,
}

/// The newer of two copies (by the time they were loaded).
fn newest(a: Option<Arc<StoredEntry>>, b: Arc<StoredEntry>) -> Option<Arc<StoredEntry>> {
    match a {
        Some(a) if a.stamp.stored_at_ms >= b.stamp.stored_at_ms => Some(a),
        _ => Some(b),
    }
}

impl ReadPath {
    /// The read path `config` asks for, over `source`, the decisions of `policies`, `l2`
    /// (`None`: no L2) and the purge store `purge` (`None`: purging off).
    pub fn new(
        config: &Config,
        source: Source,
        policies: Policies,
        l2: Option<Arc<dyn L2>>,
        purge: Option<Arc<dyn PurgeStore>>,
    ) -> Self {
        ReadPath {
            layers: Layers::new(config, l2, purge),
            flights: Flights::default(),
            source,
            policies,
            xfetch_beta: config.xfetch_beta,
            rand: Box::new(|| 1.0 - rand::random::<f64>()),
        }
    }

    /// Replaces the random source of XFetch (uniform in `(0, 1]`).
    pub fn with_rand(mut self, rand: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.rand = Box::new(rand);
        self
    }

    /// The layers.
    pub fn layers(&self) -> &Layers {
        &self.layers
    }

    /// The source.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Serves a shared request (not private, no unkeyed input) at `now`: L1's freshness on
    /// the monotonic clock, the rest on the wall clock.
    pub async fn serve(&self, p: &Prepared<'_>, now: Now, m: &mut Metrics) -> Served {
        let now_ms = now.wall_ms;
        let key = p.canonical.key.as_str();
        let mut session = self.layers.session(now);
        // purge.md, step 3: the log's head before anything is served from L1.
        session.purge_refresh(m).await;
        let started = Instant::now();
        let l1 = self.layers.l1().get(key).await;
        m.l1_ms += millis(started);
        let view = self.layers.purge_view();
        // The purge view's times are this environment's own: the monotonic clock, as L1's.
        let l1 = l1.filter(|e| view.is_none_or(|v| v.allows_l1(&e.entry, e.l1.stored_at_ms, now.monotonic_ms)));
        if let Some(hit) = l1.as_ref().filter(|e| e.is_fresh(now.monotonic_ms)) {
            let status = CacheStatus::hit(hit.l1.ttl_secs(now.monotonic_ms), Detail::L1);
            return Served::Hit(Arc::clone(&hit.entry), status);
        }
        // An L1 copy past its L1 freshness still answers a failing source.
        let mut held = l1.map(|e| e.entry);
        let digest = digest(key);
        let mut why = Why::Miss;
        let found = match session.read(key, &digest, false, m).await {
            L2Read::Found(Found::Entry(entry)) if !self.layers.purged(&entry) => Some(entry),
            _ => None,
        };
        if let Some(entry) = found {
            match entry.stamp.state(now_ms) {
                FreshnessState::Fresh => {
                    let early = xfetch::should_refresh_early(
                        now_ms,
                        entry.delta_ms,
                        self.xfetch_beta,
                        entry.stamp.fresh_until_ms(),
                        (self.rand)(),
                    );
                    // An optional refresh runs only under the lease: if another caller holds
                    // it, or L2 cannot tell, the fresh copy answers.
                    if !early || session.lease(&digest, m).await != Lease::Held {
                        session.promote(Arc::clone(&entry)).await;
                        let status = CacheStatus::hit(entry.stamp.ttl_secs(now_ms), Detail::L2);
                        return Served::Hit(entry, status);
                    }
                    why = Why::Early;
                }
                FreshnessState::StaleWhileRevalidate => match session.lease(&digest, m).await {
                    Lease::Elsewhere => {
                        let status = CacheStatus::hit(entry.stamp.ttl_secs(now_ms), Detail::L2Stale);
                        return Served::Hit(entry, status);
                    }
                    lease => {
                        why = Why::Stale {
                            held: lease == Lease::Held,
                        }
                    }
                },
                // Usable only on error: ask the source first, keep the copy for a failure.
                FreshnessState::StaleIfError | FreshnessState::Expired => {}
            }
            held = newest(held, entry);
        }
        let load = Load {
            request: p,
            digest: &digest,
            why,
            held,
        };
        let (loaded, role) = self
            .flights
            .run(key, async {
                Arc::new(load.run(&self.source, &self.policies, &mut session, now_ms, m).await)
            })
            .await;
        let status = match role {
            LoadRole::Loaded => loaded.status(),
            LoadRole::Collapsed => CacheStatus {
                stored: false,
                ..loaded.status().collapsed()
            },
        };
        Served::Load(loaded, status)
    }
}
