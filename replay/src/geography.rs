//! Where viewers are: edge locations, the regional edge cache each belongs to, how traffic
//! splits between them, and the caches a request passes on its way to the origin.
//!
//! CloudFront serves from edge locations, each its own cache, behind 13 regional edge caches
//! ("How CloudFront works with regional edge caches",
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/HowCloudFrontWorks.html>).
//! **AWS publishes no mapping from an edge location to its regional edge cache**, so this file
//! assumes one, written out below, and every figure that depends on it says so:
//!
//! - the 13 regional caches sit in the AWS Regions of [`REGIONAL_CACHES`]: an assumption (the
//!   Origin Shield page names the Regions Origin Shield can be enabled in, which are
//!   regional-cache Regions; this list is the replay's choice, not a copy of AWS's);
//! - each of the 100 edge locations of [`LOCATIONS`] (IATA codes, as CloudFront names its
//!   locations in `x-edge-location`) belongs to the regional cache of its continent's nearest
//!   Region of that list: an assumption, by distance on the map;
//! - **geography skew**: the locations are listed by an assumed traffic rank (an audience
//!   weighted to North America and Europe), and the `k`-th of the first `N` carries a share
//!   of traffic proportional to `1 / k^skew` (default skew 1: a few large, many small);
//! - each request's location is drawn independently by those shares: popularity is the same
//!   everywhere (no regional content), which flatters no tier.

use serde::Serialize;

use crate::trace::Rng;

/// A regional edge cache: its AWS Region and the city it is known by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RegionalCache {
    /// AWS Region code.
    pub region: &'static str,
    /// City.
    pub city: &'static str,
}

const fn rec(region: &'static str, city: &'static str) -> RegionalCache {
    RegionalCache { region, city }
}

/// The 13 regional edge caches (assumed Regions; see the module's docs).
pub const REGIONAL_CACHES: [RegionalCache; 13] = [
    rec("us-east-1", "N. Virginia"),
    rec("us-east-2", "Ohio"),
    rec("us-west-2", "Oregon"),
    rec("sa-east-1", "São Paulo"),
    rec("eu-west-1", "Ireland"),
    rec("eu-west-2", "London"),
    rec("eu-central-1", "Frankfurt"),
    rec("ap-south-1", "Mumbai"),
    rec("ap-southeast-1", "Singapore"),
    rec("ap-southeast-2", "Sydney"),
    rec("ap-northeast-1", "Tokyo"),
    rec("ap-northeast-2", "Seoul"),
    rec("ap-east-1", "Hong Kong"),
];

/// The edge locations, by assumed traffic rank: IATA code and the index of its regional
/// cache in [`REGIONAL_CACHES`] (assumed; see the module's docs).
#[rustfmt::skip]
pub const LOCATIONS: [(&str, usize); 100] = [
    ("IAD", 0), ("FRA", 6), ("LHR", 5), ("SFO", 2), ("NRT", 10),
    ("ORD", 1), ("JFK", 0), ("DFW", 1), ("LAX", 2), ("AMS", 6),
    ("CDG", 6), ("SIN", 8), ("SEA", 2), ("ATL", 0), ("GRU", 3),
    ("ICN", 11), ("SYD", 9), ("BOM", 7), ("MIA", 0), ("DUB", 4),
    ("EWR", 0), ("YTO", 0), ("MAD", 4), ("MXP", 6), ("ARN", 6),
    ("HKG", 12), ("DEN", 2), ("BOS", 0), ("PHX", 2), ("IAH", 1),
    ("MSP", 1), ("HIO", 2), ("KIX", 10), ("DEL", 7), ("WAW", 6),
    ("ZRH", 6), ("VIE", 6), ("MUC", 6), ("TPE", 12), ("MEL", 9),
    ("YVR", 2), ("YUL", 0), ("QRO", 1), ("GIG", 3), ("EZE", 3),
    ("SCL", 3), ("BOG", 3), ("LIM", 3), ("MAN", 5), ("CPH", 6),
    ("HEL", 6), ("OSL", 6), ("PRG", 6), ("BRU", 6), ("MRS", 6),
    ("DUS", 6), ("HAM", 6), ("TXL", 6), ("LIS", 4), ("BCN", 4),
    ("FCO", 6), ("ATH", 6), ("BUD", 6), ("OTP", 6), ("SOF", 6),
    ("ZAG", 6), ("TLV", 6), ("DXB", 7), ("BAH", 7), ("FJR", 7),
    ("JED", 7), ("JNB", 4), ("CPT", 4), ("NBO", 4), ("LOS", 4),
    ("MAA", 7), ("BLR", 7), ("HYD", 7), ("CCU", 7), ("KUL", 8),
    ("CGK", 8), ("BKK", 8), ("MNL", 12), ("SGN", 8), ("HAN", 12),
    ("AKL", 9), ("PER", 9), ("BNE", 9), ("CMH", 1), ("IND", 1),
    ("JAX", 0), ("MCI", 1), ("SLC", 2), ("BNA", 0), ("CLT", 0),
    ("PIT", 0), ("DTW", 1), ("OMA", 1), ("PHL", 0), ("LAS", 2),
];

/// The regional cache of an `x-edge-location` such as `IAD89-C1` (its first three letters);
/// `None` when the code is not in [`LOCATIONS`].
pub fn regional_cache_of(edge_location: &str) -> Option<usize> {
    let code = edge_location.get(..3)?;
    LOCATIONS
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(code))
        .map(|(_, r)| *r)
}

/// The regional cache in `region`.
pub fn regional_cache_in(region: &str) -> Option<usize> {
    REGIONAL_CACHES.iter().position(|c| c.region == region)
}

/// The caches between the viewers and the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tiering {
    /// Edge locations only: each fetches from the origin itself.
    Untiered,
    /// Edge locations behind their regional edge caches.
    Regional,
    /// Edge locations, regional edge caches, and Origin Shield in one of them.
    RegionalShield,
}

impl Tiering {
    /// Every tiering, in the order reported.
    pub const ALL: [Tiering; 3] = [Tiering::Untiered, Tiering::Regional, Tiering::RegionalShield];

    /// The report's name.
    pub fn name(self) -> &'static str {
        match self {
            Tiering::Untiered => "edge only",
            Tiering::Regional => "+ regional",
            Tiering::RegionalShield => "+ regional + Origin Shield",
        }
    }
}

/// Which level of the hierarchy a cache is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    /// An edge location.
    Edge,
    /// A regional edge cache.
    Regional,
    /// Origin Shield (the regional cache of the shield's Region, for the other Regions).
    Shield,
}

/// Edge locations, their regional caches, and the tiering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    /// Each location's regional cache (an index in [`REGIONAL_CACHES`]).
    pub regional_of: Vec<usize>,
    /// The tiering.
    pub tiering: Tiering,
    /// The regional cache that is Origin Shield (with [`Tiering::RegionalShield`]).
    pub shield: usize,
}

/// One hop on the way to the origin: a cache (a node number: locations first, then the
/// regional caches) and its level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hop {
    /// The cache.
    pub node: usize,
    /// Its level.
    pub level: Level,
}

impl Topology {
    /// The first `locations` of [`LOCATIONS`], tiered as `tiering`, the shield in `shield`.
    pub fn first(locations: usize, tiering: Tiering, shield: usize) -> Topology {
        Topology {
            regional_of: LOCATIONS.iter().take(locations.max(1)).map(|(_, r)| *r).collect(),
            tiering,
            shield,
        }
    }

    /// Caches in all: the locations, then the 13 regional caches.
    pub fn nodes(&self) -> usize {
        self.regional_of.len() + REGIONAL_CACHES.len()
    }

    /// The node of regional cache `regional`.
    pub fn regional_node(&self, regional: usize) -> usize {
        self.regional_of.len() + regional
    }

    /// The caches a cacheable request at `location` asks, nearest first. Origin Shield
    /// is the shield Region's regional cache: that Region's locations reach it as their
    /// regional cache; the others pass through their own regional cache first
    /// ("Using Amazon CloudFront Origin Shield",
    /// <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/origin-shield.html>).
    pub fn path(&self, location: usize) -> Vec<Hop> {
        let mut hops = vec![Hop {
            node: location,
            level: Level::Edge,
        }];
        let regional = self.regional_of[location];
        if self.tiering != Tiering::Untiered {
            hops.push(Hop {
                node: self.regional_node(regional),
                level: Level::Regional,
            });
        }
        if self.tiering == Tiering::RegionalShield && regional != self.shield {
            hops.push(Hop {
                node: self.regional_node(self.shield),
                level: Level::Shield,
            });
        }
        hops
    }

    /// The AWS Region whose Lambda@Edge runs origin-facing triggers for a fetch made by
    /// `node`: its regional cache's Region (an assumption for a location that fetches
    /// itself).
    pub fn region_of(&self, node: usize) -> &'static str {
        let regional = match self.regional_of.get(node) {
            Some(r) => *r,
            None => node - self.regional_of.len(),
        };
        REGIONAL_CACHES[regional].region
    }
}

/// How traffic splits between `locations` locations: `1 / k^skew` for the `k`-th.
#[derive(Debug, Clone)]
pub struct Geography {
    cumulative: Vec<f64>,
}

impl Geography {
    /// The split over the first `locations` of [`LOCATIONS`].
    pub fn new(locations: usize, skew: f64) -> Geography {
        let mut total = 0.0;
        let mut cumulative = Vec::with_capacity(locations.max(1));
        for k in 1..=locations.max(1) {
            total += 1.0 / (k as f64).powf(skew);
            cumulative.push(total);
        }
        for c in &mut cumulative {
            *c /= total;
        }
        Geography { cumulative }
    }

    /// Each location's share of traffic.
    pub fn shares(&self) -> Vec<f64> {
        let mut previous = 0.0;
        self.cumulative
            .iter()
            .map(|c| {
                let share = c - previous;
                previous = *c;
                share
            })
            .collect()
    }

    /// A location for each of `requests` requests, drawn by the shares (seeded).
    pub fn place(&self, requests: usize, seed: u64) -> Vec<usize> {
        let mut rng = Rng::new(seed);
        (0..requests)
            .map(|_| {
                let u = rng.unit();
                self.cumulative
                    .partition_point(|c| *c < u)
                    .min(self.cumulative.len() - 1)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_location_has_a_regional_cache_and_codes_are_unique() {
        let mut codes: Vec<&str> = LOCATIONS.iter().map(|(c, _)| *c).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), LOCATIONS.len());
        assert!(LOCATIONS.iter().all(|(_, r)| *r < REGIONAL_CACHES.len()));
        // Every regional cache has a location below it.
        assert!((0..13).all(|r| LOCATIONS.iter().any(|(_, x)| *x == r)));
        assert_eq!(regional_cache_of("FRA56-P3"), Some(6));
        assert_eq!(regional_cache_of("iad89-c1"), Some(0));
        assert_eq!(regional_cache_of("ZZZ1"), None);
        assert_eq!(regional_cache_in("us-east-1"), Some(0));
    }

    #[test]
    fn a_few_locations_carry_most_traffic() {
        let shares = Geography::new(100, 1.0).shares();
        assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        assert!(shares[0] > 0.19 && shares[0] < 0.2, "{}", shares[0]);
        assert!(shares[..10].iter().sum::<f64>() > 0.5);
        let placed = Geography::new(5, 1.0).place(10_000, 3);
        let first = placed.iter().filter(|l| **l == 0).count();
        assert!((4_000..4_800).contains(&first), "{first}");
        assert!(placed.iter().all(|l| *l < 5));
    }

    #[test]
    fn a_request_climbs_edge_regional_and_the_shield_unless_it_is_in_the_shields_region() {
        let t = Topology::first(20, Tiering::RegionalShield, 0);
        let levels = |l: usize| t.path(l).iter().map(|h| h.level).collect::<Vec<_>>();
        // IAD is in the shield's Region: its regional cache is the shield.
        assert_eq!(levels(0), [Level::Edge, Level::Regional]);
        assert_eq!(t.path(0)[1].node, t.regional_node(0));
        // FRA passes through Frankfurt, then the shield in us-east-1.
        assert_eq!(levels(1), [Level::Edge, Level::Regional, Level::Shield]);
        assert_eq!(t.path(1)[2].node, t.regional_node(0));
        assert_eq!(Topology::first(20, Tiering::Untiered, 0).path(1).len(), 1);
        assert_eq!(
            (t.region_of(1), t.region_of(t.regional_node(0))),
            ("eu-central-1", "us-east-1")
        );
    }
}
