//! The tiered simulation: a keyed trace (`keyed.rs`) through edge locations, regional edge
//! caches and Origin Shield (`geography.rs`), in process, single-threaded and deterministic,
//! on the trace's virtual clock.
//!
//! The model, per viewer request (time passed in; nothing sleeps):
//! - viewer-request runs once per viewer request on a behaviour that associates it;
//! - a request its behaviour does not cache (CachingDisabled, or a method outside the cached
//!   methods) goes from its edge location straight to the origin, past the regional caches
//!   ("How CloudFront works with regional edge caches",
//!   <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/HowCloudFrontWorks.html>:
//!   proxy methods and dynamic requests go directly to the origin) — and, an assumption, past
//!   Origin Shield too;
//! - otherwise it asks the caches of its path, nearest first (`Topology::path`). A fresh copy
//!   answers; a copy inside `stale-while-revalidate` answers at once and that cache starts one
//!   background revalidation from the cache above it (none while one is in flight); past every
//!   window (or inside `stale-if-error` only) the cache asks the one above. A cache with a
//!   fetch in flight for the key collapses the request onto it when the answer's TTL is above
//!   0 (`lambda-edge-rules.md`); else the request goes up on its own;
//! - **a tier that fills from an upper tier keeps the upper copy's remaining lifetime**: it
//!   stores the upper copy's [`Stamp`] (its `stored_at` and lifetime), never a fresh TTL;
//! - the origin answers with the lifetime its route and status decide (`KeyedRequest::lifetime`)
//!   after a fixed virtual latency; every cache that asked stores the answer when it arrives,
//!   stamped at that moment. origin-response runs once per origin request, at the tier that
//!   reaches the origin, in that tier's Region;
//! - Origin Shield is charged per request it receives from another Region's regional cache
//!   (requests from its own Region's locations reach it as their regional cache, uncharged).
//!
//! At latency 0 and one untiered location this is exactly the TTL-aware bound (`bound.rs`):
//! `tests/tiers.rs` holds it to that.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use edge_policy::cache_control::{FreshnessState, Lifetime, Stamp};
use serde::Serialize;

use crate::geography::{Hop, Level, Topology};
use crate::keyed::KeyedRequest;
use crate::peaks::{PeakMeter, Peaks};
use crate::tier_cache::TierCache;

/// The simulation's knobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SimConfig {
    /// Virtual ms from the request of the tier that reaches the origin to the answer.
    pub origin_latency_ms: u64,
    /// Most copies an edge location keeps (`None`: no eviction).
    pub edge_capacity: Option<usize>,
    /// Most copies a regional cache keeps (`None`: no eviction).
    pub regional_capacity: Option<usize>,
    /// This project's origin keeps a shared copy per canonical key (its L2) and answers from
    /// it with the **remaining** freshness (`origin-cache.md`, "What it says about itself":
    /// `s-maxage` lowered by the copy's age, the stale windows whole); off: every origin
    /// answer carries the full decided lifetime (any origin without a cache of its own).
    pub origin_cache: bool,
}

/// What the caches of one level did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LevelFigures {
    /// Requests that reached a cache of this level (viewers at the edge; misses and
    /// revalidations from below above it).
    pub arrivals: u64,
    /// Answered from a fresh copy.
    pub hits: u64,
    /// Answered from a copy inside `stale-while-revalidate`.
    pub stale_hits: u64,
    /// Waited on a fetch in flight for the same key.
    pub collapsed: u64,
    /// Asked the level above (or the origin).
    pub forwarded: u64,
    /// Background revalidations this level started.
    pub revalidations: u64,
    /// Copies evicted to make room (0 when unbounded).
    pub evictions: u64,
}

/// Where viewer requests were answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Answered {
    /// By their edge location (fresh, stale or collapsed).
    pub edge: u64,
    /// By a regional cache.
    pub regional: u64,
    /// By Origin Shield.
    pub shield: u64,
    /// By an origin request of their own.
    pub origin: u64,
}

/// One behaviour's share of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BehaviourFigures {
    /// Viewer requests.
    pub requests: u64,
    /// Answered by their edge location from a copy (fresh or stale).
    pub edge_hits: u64,
    /// Origin requests (background revalidations included).
    pub origin_requests: u64,
    /// viewer-request invocations.
    pub viewer_request_invocations: u64,
    /// origin-response invocations.
    pub origin_response_invocations: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    /// Viewer requests.
    pub requests: u64,
    /// Edge locations.
    pub edge: LevelFigures,
    /// Regional caches.
    pub regional: LevelFigures,
    /// Origin Shield (requests from other Regions' regional caches).
    pub shield: LevelFigures,
    /// Where viewer requests were answered.
    pub answered: Answered,
    /// Requests that reached the origin.
    pub origin_requests: u64,
    /// Of those, background revalidations (no viewer waited).
    pub background_origin_requests: u64,
    /// Loads from behind the origin's own cache (equal to the origin requests without
    /// [`SimConfig::origin_cache`]).
    pub source_loads: u64,
    /// viewer-request invocations.
    pub viewer_request_invocations: u64,
    /// origin-response invocations.
    pub origin_response_invocations: u64,
    /// Per behaviour, in the distribution's order.
    pub behaviours: Vec<BehaviourFigures>,
    /// The origin's load at its peak.
    pub peaks: Peaks,
}

impl Figures {
    /// Answered by the viewer's edge location from a copy (what `x-edge-result-type: Hit`
    /// counts), per viewer request.
    pub fn edge_hit_ratio(&self) -> f64 {
        per(self.edge.hits + self.edge.stale_hits, self.requests)
    }

    /// Viewer requests that caused no origin request of their own.
    pub fn offload_ratio(&self) -> f64 {
        1.0 - per(self.answered.origin, self.requests)
    }

    /// Origin requests per viewer request.
    pub fn origin_requests_per_request(&self) -> f64 {
        per(self.origin_requests, self.requests)
    }

    /// Origin Shield's charged requests (from other Regions) per viewer request.
    pub fn shield_requests_per_request(&self) -> f64 {
        per(self.shield.arrivals, self.requests)
    }
}

fn per(count: u64, requests: u64) -> f64 {
    count as f64 / requests.max(1) as f64
}

/// An origin request (or a load behind the origin's cache) in flight and the caches waiting
/// to store its answer, which lives `lifetime` from when it arrives.
#[derive(Debug, Clone)]
struct Fetch {
    key: u32,
    lifetime: Option<Lifetime>,
    fillers: Vec<usize>,
}

/// Why a request climbs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Trip {
    Viewer,
    Revalidation,
}

/// The simulation's state.
struct Sim<'t> {
    topology: &'t Topology,
    config: SimConfig,
    caches: Vec<TierCache>,
    fetches: Vec<Fetch>,
    done: BinaryHeap<Reverse<(u64, usize)>>,
    tick: u64,
    meter: PeakMeter,
    figures: Figures,
}

/// Runs `trace` (in time order) with request `i` at location `locations[i]`.
pub fn simulate(
    trace: &[KeyedRequest],
    locations: &[usize],
    behaviours: usize,
    topology: &Topology,
    config: SimConfig,
) -> Figures {
    let edges = topology.regional_of.len();
    let mut sim = Sim {
        topology,
        config,
        // The CloudFront caches, then the origin's own (keyed by `origin_key`).
        caches: (0..=topology.nodes())
            .map(|node| {
                TierCache::new(if node < edges {
                    config.edge_capacity
                } else {
                    config.regional_capacity
                })
            })
            .collect(),
        fetches: Vec::new(),
        done: BinaryHeap::new(),
        tick: 0,
        meter: PeakMeter::new(config.origin_latency_ms),
        figures: Figures {
            behaviours: vec![BehaviourFigures::default(); behaviours],
            ..Figures::default()
        },
    };
    for (i, request) in trace.iter().enumerate() {
        let location = locations.get(i).copied().unwrap_or(0).min(edges - 1);
        sim.viewer(request, location);
    }
    sim.finish()
}

impl Sim<'_> {
    fn viewer(&mut self, request: &KeyedRequest, location: usize) {
        let now = request.at_ms;
        self.deliver(now);
        self.figures.requests += 1;
        let behaviour = &mut self.figures.behaviours[usize::from(request.behaviour)];
        behaviour.requests += 1;
        if request.viewer_request {
            behaviour.viewer_request_invocations += 1;
            self.figures.viewer_request_invocations += 1;
        }
        if !request.cached {
            self.figures.edge.arrivals += 1;
            self.figures.edge.forwarded += 1;
            self.figures.answered.origin += 1;
            self.origin_request(request, now, location, Vec::new(), Trip::Viewer);
            return;
        }
        let path = self.topology.path(location);
        match self.climb(&path, 0, request, now, Vec::new(), Trip::Viewer) {
            Some(Level::Edge) => self.figures.answered.edge += 1,
            Some(Level::Regional) => self.figures.answered.regional += 1,
            Some(Level::Shield) => self.figures.answered.shield += 1,
            None => self.figures.answered.origin += 1,
        }
    }

    /// Asks the caches of `path` from `from` on; `fillers` are the caches below that will
    /// store the answer. The level that answered, or `None`: the origin did.
    fn climb(
        &mut self,
        path: &[Hop],
        from: usize,
        request: &KeyedRequest,
        now: u64,
        mut fillers: Vec<usize>,
        trip: Trip,
    ) -> Option<Level> {
        let key = request.key;
        for (i, hop) in path.iter().enumerate().skip(from) {
            self.tick += 1;
            let found = self.caches[hop.node].lookup(key, now, self.tick);
            self.level(hop.level).arrivals += 1;
            if let Some((stamp, state @ (FreshnessState::Fresh | FreshnessState::StaleWhileRevalidate))) = found {
                let stale = state == FreshnessState::StaleWhileRevalidate;
                let level = self.level(hop.level);
                if stale {
                    level.stale_hits += 1;
                } else {
                    level.hits += 1;
                }
                self.fill(&fillers, key, stamp);
                if trip == Trip::Viewer && hop.level == Level::Edge {
                    self.figures.behaviours[usize::from(request.behaviour)].edge_hits += 1;
                }
                if stale {
                    self.revalidate(path, i, request, now);
                }
                return Some(hop.level);
            }
            let waiting = self.caches[hop.node].pending(key);
            if let Some(fetch) = waiting.filter(|f| self.fetches[*f].collapses()) {
                self.level(hop.level).collapsed += 1;
                for node in &fillers {
                    self.caches[*node].await_fetch(key, fetch);
                }
                self.fetches[fetch].fillers.extend(fillers);
                return Some(hop.level);
            }
            self.level(hop.level).forwarded += 1;
            fillers.push(hop.node);
        }
        let top = path.last().map_or(0, |h| h.node);
        self.origin_request(request, now, top, fillers, trip);
        None
    }

    /// The cache at `path[at]` serves a stale copy: one background revalidation from above.
    fn revalidate(&mut self, path: &[Hop], at: usize, request: &KeyedRequest, now: u64) {
        let node = path[at].node;
        if self.caches[node].pending(request.key).is_some() {
            return;
        }
        self.level(path[at].level).revalidations += 1;
        self.climb(path, at + 1, request, now, vec![node], Trip::Revalidation);
    }

    /// `node` asks the origin; `fillers` store the answer when it arrives.
    fn origin_request(&mut self, request: &KeyedRequest, now: u64, node: usize, fillers: Vec<usize>, trip: Trip) {
        self.figures.origin_requests += 1;
        if trip == Trip::Revalidation {
            self.figures.background_origin_requests += 1;
        }
        let behaviour = &mut self.figures.behaviours[usize::from(request.behaviour)];
        behaviour.origin_requests += 1;
        let region = request.origin_response.then(|| self.topology.region_of(node));
        if region.is_some() {
            behaviour.origin_response_invocations += 1;
            self.figures.origin_response_invocations += 1;
        }
        self.meter.origin_request(now, region);
        if !request.cached {
            self.figures.source_loads += 1;
            return;
        }
        let lifetime = self.origin_answer(request, now);
        self.start(request.key, lifetime, fillers, now);
    }

    /// A fetch of `key` that `fillers` wait on, answered `lifetime` after the latency.
    fn start(&mut self, key: u32, lifetime: Option<Lifetime>, fillers: Vec<usize>, now: u64) {
        let fetch = self.fetches.len();
        for node in &fillers {
            self.caches[*node].await_fetch(key, fetch);
        }
        self.fetches.push(Fetch { key, lifetime, fillers });
        self.done.push(Reverse((now + self.config.origin_latency_ms, fetch)));
    }

    /// The lifetime the origin's answer carries: the decided one from a load, or what is
    /// left of its own copy's freshness.
    fn origin_answer(&mut self, request: &KeyedRequest, now: u64) -> Option<Lifetime> {
        let (true, Some(key)) = (self.config.origin_cache, request.origin_key) else {
            self.figures.source_loads += 1;
            return request.lifetime;
        };
        let node = self.caches.len() - 1;
        self.tick += 1;
        let aged = |stamp: Stamp| Lifetime {
            ttl: stamp.remaining_secs(now),
            ..stamp.lifetime
        };
        match self.caches[node].lookup(key, now, self.tick) {
            Some((stamp, FreshnessState::Fresh)) => Some(aged(stamp)),
            // Stale: the caller that takes the refresh loads and answers fresh; while a
            // refresh is in flight, the others answer with the stale copy
            // (`origin-cache.md`, read path 3 and 4).
            Some((stamp, FreshnessState::StaleWhileRevalidate)) if self.caches[node].pending(key).is_some() => {
                Some(aged(stamp))
            }
            _ => {
                let waiting = self.caches[node].pending(key).filter(|f| self.fetches[*f].collapses());
                if waiting.is_none() {
                    self.figures.source_loads += 1;
                    self.start(key, request.lifetime, vec![node], now);
                }
                request.lifetime
            }
        }
    }

    /// Every cache in `fillers` keeps the upper copy: its stamp, so its remaining lifetime.
    fn fill(&mut self, fillers: &[usize], key: u32, stamp: Stamp) {
        for node in fillers {
            self.tick += 1;
            self.caches[*node].store(key, stamp, self.tick);
        }
    }

    /// Delivers every origin answer due by `now`, in order.
    fn deliver(&mut self, now: u64) {
        while let Some(Reverse((at, fetch))) = self.done.peek().copied() {
            if at > now {
                break;
            }
            self.done.pop();
            let Fetch { key, lifetime, fillers } = std::mem::replace(
                &mut self.fetches[fetch],
                Fetch {
                    key: 0,
                    lifetime: None,
                    fillers: Vec::new(),
                },
            );
            for node in fillers {
                self.caches[node].fetch_done(key, fetch);
                if let Some(l) = lifetime {
                    self.tick += 1;
                    self.caches[node].store(key, Stamp::new(at, l), self.tick);
                }
            }
        }
    }

    fn level(&mut self, level: Level) -> &mut LevelFigures {
        match level {
            Level::Edge => &mut self.figures.edge,
            Level::Regional => &mut self.figures.regional,
            Level::Shield => &mut self.figures.shield,
        }
    }

    fn finish(mut self) -> Figures {
        self.deliver(u64::MAX);
        let edges = self.topology.regional_of.len();
        let evicted = |caches: &[TierCache]| caches.iter().map(TierCache::evictions).sum::<u64>();
        self.figures.edge.evictions = evicted(&self.caches[..edges]);
        self.figures.regional.evictions = evicted(&self.caches[edges..self.topology.nodes()]);
        self.figures.peaks = self.meter.peaks();
        self.figures
    }
}

impl Fetch {
    /// Whether a request for the same key may wait on this fetch (TTL above 0).
    fn collapses(&self) -> bool {
        self.lifetime.is_some_and(|l| l.collapses())
    }
}
