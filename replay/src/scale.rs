//! The replay at scale: every arm through the tiered simulation at 1 to 100 edge locations,
//! with and without the regional tier and Origin Shield; the per-trigger advice and the
//! advised association as a fourth arm; the bill; the origin's peaks.
//!
//! Each arm's trace is keyed once (`keyed.rs`); every point of the grid is one
//! deterministic simulation of it (`simulate.rs`).

use local_edge::Distribution;
use serde::Serialize;

use crate::access_log::LogRecord;
use crate::advice::{advise, advised_distribution, uses_origin_access_control, Advice, AdvicePrices, BehaviourCase};
use crate::arm::{Arm, ArmKind};
use crate::bound::{ttl_aware_bound, Bound};
use crate::cost::{scale_monthly, Prices, ScaleTierCost, ScaleUsage};
use crate::geography::{regional_cache_of, Geography, Tiering, Topology, LOCATIONS};
use crate::keyed::KeyedRequest;
use crate::simulate::{simulate, Figures, SimConfig};
use crate::trace::TraceRequest;

/// Where a trace's requests land for one number of edge locations.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    /// Each location's regional cache.
    pub regional_of: Vec<usize>,
    /// Each request's location.
    pub placed: Vec<usize>,
    /// The locations' names.
    pub names: Vec<String>,
}

impl Layout {
    /// The first `locations` of the assumed table, traffic split by `skew` (seeded).
    pub fn generated(locations: usize, skew: f64, requests: usize, seed: u64) -> Layout {
        let topology = Topology::first(locations, Tiering::Untiered, 0);
        Layout {
            placed: Geography::new(locations, skew).place(requests, seed),
            names: LOCATIONS
                .iter()
                .take(topology.regional_of.len())
                .map(|(c, _)| (*c).to_owned())
                .collect(),
            regional_of: topology.regional_of,
        }
    }

    /// The log's own edge locations (`IAD89` of `IAD89-C1`), each in the regional cache of
    /// its city code; a code the table lacks is put under `us-east-1` and named in
    /// `unmapped`.
    pub fn logged(records: &[LogRecord]) -> (Layout, Vec<String>) {
        let mut names: Vec<String> = Vec::new();
        let mut layout = Layout {
            regional_of: Vec::new(),
            placed: Vec::with_capacity(records.len()),
            names: Vec::new(),
        };
        let mut unmapped = Vec::new();
        for r in records {
            let name = r.location();
            let at = match names.iter().position(|n| n == name) {
                Some(at) => at,
                None => {
                    names.push(name.to_owned());
                    layout.regional_of.push(regional_cache_of(name).unwrap_or_else(|| {
                        unmapped.push(name.to_owned());
                        0
                    }));
                    names.len() - 1
                }
            };
            layout.placed.push(at);
        }
        layout.names = names;
        (layout, unmapped)
    }

    /// Edge locations.
    pub fn locations(&self) -> usize {
        self.regional_of.len().max(1)
    }

    /// Its topology under `tiering`, the shield in regional cache `shield`.
    pub fn topology(&self, tiering: Tiering, shield: usize) -> Topology {
        Topology {
            regional_of: if self.regional_of.is_empty() {
                vec![0]
            } else {
                self.regional_of.clone()
            },
            tiering,
            shield,
        }
    }
}

/// One simulation of one arm.
#[derive(Debug, Clone, Serialize)]
pub struct GridPoint {
    /// Edge locations.
    pub locations: usize,
    /// Tiers.
    pub tiering: Tiering,
    /// Answered by the viewer's edge location from a copy, per viewer request.
    pub edge_hit_ratio: f64,
    /// Viewer requests that caused no origin request of their own.
    pub offload_ratio: f64,
    /// Origin requests per viewer request.
    pub origin_requests_per_request: f64,
    /// Origin Shield's charged requests per viewer request.
    pub shield_requests_per_request: f64,
    /// Everything counted.
    pub figures: Figures,
}

/// `v` to 4 places.
pub fn round4(v: f64) -> f64 {
    (v * 10_000.0).round() / 10_000.0
}

/// One simulation as a grid point.
pub fn point(
    keyed: &[KeyedRequest],
    behaviours: usize,
    layout: &Layout,
    topology: &Topology,
    config: SimConfig,
) -> GridPoint {
    let figures = simulate(keyed, &layout.placed, behaviours, topology, config);
    GridPoint {
        locations: layout.locations(),
        tiering: topology.tiering,
        edge_hit_ratio: round4(figures.edge_hit_ratio()),
        offload_ratio: round4(figures.offload_ratio()),
        origin_requests_per_request: round4(figures.origin_requests_per_request()),
        shield_requests_per_request: round4(figures.shield_requests_per_request()),
        figures,
    }
}

/// Every layout under every tiering.
pub fn grid(
    keyed: &[KeyedRequest],
    behaviours: usize,
    layouts: &[Layout],
    shield: usize,
    config: SimConfig,
) -> Vec<GridPoint> {
    layouts
        .iter()
        .flat_map(|layout| Tiering::ALL.map(|tiering| (layout, tiering)))
        .map(|(layout, tiering)| point(keyed, behaviours, layout, &layout.topology(tiering, shield), config))
        .collect()
}

/// An arm of the scale report.
#[derive(Debug, Clone, Serialize)]
pub struct ArmAtScale {
    /// `naive`, `cloudfront-alone`, `normalized` or `advised`.
    pub arm: &'static str,
    /// The legend.
    pub label: &'static str,
    /// The TTL-aware bound: one ideal cache with this arm's keys.
    pub bound: Bound,
    /// Every layout under every tiering.
    pub grid: Vec<GridPoint>,
    /// The number of edge locations of the bill and the advice.
    pub default_locations: usize,
    /// Its month at each traffic tier at the default number of locations, with the
    /// regional tier, without and with Origin Shield.
    pub bill: Vec<(Tiering, Vec<ScaleTierCost>)>,
}

impl ArmAtScale {
    /// The grid point at `locations` and `tiering`.
    pub fn at(&self, locations: usize, tiering: Tiering) -> Option<&GridPoint> {
        self.grid
            .iter()
            .find(|p| p.locations == locations && p.tiering == tiering)
    }
}

/// The name and legend of the advised arm.
pub const ADVISED: (&str, &str) = ("advised", "advised association");

/// The chart's colour of an arm by name.
pub fn colour(arm: &str) -> &'static str {
    ArmKind::from_name(arm).map_or("#e7298a", ArmKind::colour)
}

/// What a scale run needs.
#[derive(Debug, Clone)]
pub struct ScaleSpec<'a> {
    /// The trace.
    pub trace: &'a [TraceRequest],
    /// The origin's status per request (empty: all 200).
    pub statuses: &'a [u16],
    /// One layout per number of edge locations.
    pub layouts: &'a [Layout],
    /// The layout the advice and the bill are computed on (an index in `layouts`).
    pub default_layout: usize,
    /// The three arms (naive, CloudFront alone, this project).
    pub arms: &'a [Arm],
    /// `bench/cloudfront-alone.toml`: the policies of a behaviour without viewer-request.
    pub alone: &'a Distribution,
    /// The simulation's knobs.
    pub config: SimConfig,
    /// Origin Shield's regional cache.
    pub shield: usize,
    /// Prices.
    pub prices: &'a Prices,
    /// One origin request, USD.
    pub origin_usd: f64,
    /// Bytes out per answer.
    pub response_bytes: f64,
}

/// The advice for one behaviour and what it weighed.
#[derive(Debug, Clone, Serialize)]
pub struct AdviceRow {
    /// What was weighed.
    pub case: BehaviourCase,
    /// The verdicts.
    pub advice: Advice,
}

/// What a scale run found.
#[derive(Debug, Clone, Serialize)]
pub struct ScaleRun {
    /// The four arms.
    pub arms: Vec<ArmAtScale>,
    /// Per behaviour, at the default layout with the regional tier.
    pub advice: Vec<AdviceRow>,
    /// The advised arm itself (this project's handler, the advised associations).
    #[serde(skip)]
    pub advised: Option<Arm>,
}

impl ScaleSpec<'_> {
    /// Origin Shield's price per 10,000 charged requests in its Region (0 when the table has
    /// none).
    pub fn shield_price(&self) -> f64 {
        let region = crate::geography::REGIONAL_CACHES[self.shield].region;
        self.prices
            .origin_shield_per_10k_requests
            .get(region)
            .copied()
            .unwrap_or(0.0)
    }

    /// The month of a grid point at each traffic tier.
    pub fn bill(&self, point: &GridPoint) -> Vec<ScaleTierCost> {
        let f = &point.figures;
        let per = |n: u64| n as f64 / f.requests.max(1) as f64;
        let usage = ScaleUsage {
            viewer_request_invocations: per(f.viewer_request_invocations),
            origin_response_invocations: per(f.origin_response_invocations),
            origin_requests: per(f.origin_requests),
            shield_requests: per(f.shield.arrivals),
            response_bytes: self.response_bytes,
        };
        scale_monthly(self.prices, &usage, self.origin_usd, self.shield_price())
    }

    fn arm(&self, arm: &'static str, label: &'static str, keyed: &[KeyedRequest], behaviours: usize) -> ArmAtScale {
        let grid = grid(keyed, behaviours, self.layouts, self.shield, self.config);
        let locations = self.layouts[self.default_layout].locations();
        let bill = [Tiering::Regional, Tiering::RegionalShield]
            .into_iter()
            .filter_map(|t| grid.iter().find(|p| p.locations == locations && p.tiering == t))
            .map(|p| (p.tiering, self.bill(p)))
            .collect();
        ArmAtScale {
            arm,
            label,
            bound: ttl_aware_bound(keyed),
            grid,
            default_locations: locations,
            bill,
        }
    }

    /// Runs every arm, the advice at `advice_usd` per origin request, and the advised arm.
    pub fn run(&self, advice_usd: f64) -> ScaleRun {
        let mut arms = Vec::new();
        let mut keyed_by_arm = Vec::new();
        for arm in self.arms {
            let keyed = arm.key_trace(self.trace, self.statuses);
            arms.push(self.arm(
                arm.kind.name(),
                arm.kind.label(),
                &keyed,
                arm.distribution.behaviours.len(),
            ));
            keyed_by_arm.push((arm.kind, keyed));
        }
        let layout = &self.layouts[self.default_layout];
        let at_default = |kind: ArmKind| {
            let (_, keyed) = keyed_by_arm.iter().find(|(k, _)| *k == kind)?;
            let arm = self.arms.iter().find(|a| a.kind == kind)?;
            let topology = layout.topology(Tiering::Regional, self.shield);
            Some((
                arm,
                point(keyed, arm.distribution.behaviours.len(), layout, &topology, self.config),
            ))
        };
        let (Some((project, with)), Some((_, without))) =
            (at_default(ArmKind::Project), at_default(ArmKind::CloudFrontAlone))
        else {
            return ScaleRun {
                arms,
                advice: Vec::new(),
                advised: None,
            };
        };
        let cases = crate::advice::cases(&project.distribution, &with.figures, &without.figures);
        let prices = AdvicePrices {
            invocation: self.prices.lambda_edge_invocation(),
            origin_request: advice_usd,
            origin_access_control: uses_origin_access_control(&project.distribution),
        };
        let advice = advise(&cases, &prices);
        let advised = Arm {
            kind: ArmKind::Project,
            package: None,
            distribution: advised_distribution(&project.distribution, self.alone, &advice),
        };
        let keyed = advised.key_trace(self.trace, self.statuses);
        arms.push(self.arm(ADVISED.0, ADVISED.1, &keyed, advised.distribution.behaviours.len()));
        let advice = cases
            .into_iter()
            .zip(advice)
            .map(|(case, advice)| AdviceRow { case, advice })
            .collect();
        ScaleRun {
            arms,
            advice,
            advised: Some(advised),
        }
    }
}
