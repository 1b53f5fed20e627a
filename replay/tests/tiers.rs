//! The tiered simulation against hand counts and against the TTL-aware bound.

mod common;

use edge_policy::cache_control::Lifetime;
use replay::bound::{ttl_aware_bound, Bound};
use replay::geography::{Tiering, Topology};
use replay::keyed::KeyedRequest;
use replay::scale::Layout;
use replay::simulate::{simulate, Answered, Figures, LevelFigures, SimConfig};
use replay::trace::{generate, Mix};

/// Fresh 10 s, then 20 s inside stale-while-revalidate.
const A: Lifetime = Lifetime {
    ttl: 10,
    stale_while_revalidate: 20,
    stale_if_error: 0,
};

/// Stored with a TTL of 0 (`no-cache`): never collapsed.
const B: Lifetime = Lifetime {
    ttl: 0,
    stale_while_revalidate: 0,
    stale_if_error: 0,
};

fn at(ms: u64, key: u32, lifetime: Option<Lifetime>, cached: bool) -> KeyedRequest {
    KeyedRequest {
        at_ms: ms,
        behaviour: 0,
        cached,
        key,
        lifetime,
        viewer_request: true,
        origin_response: true,
        origin_key: None,
    }
}

fn level(
    arrivals: u64,
    hits: u64,
    stale_hits: u64,
    collapsed: u64,
    forwarded: u64,
    revalidations: u64,
) -> LevelFigures {
    LevelFigures {
        arrivals,
        hits,
        stale_hits,
        collapsed,
        forwarded,
        revalidations,
        evictions: 0,
    }
}

/// Two edge locations, IAD (us-east-1, the shield's Region: its regional cache *is* the
/// shield) and FRA (Frankfurt, then the shield), origin answers 1 s after they are asked.
#[test]
fn two_locations_and_a_shield_count_as_worked_out_by_hand() {
    const IAD: usize = 0;
    const FRA: usize = 1;
    let topology = Topology {
        regional_of: vec![0, 6],
        tiering: Tiering::RegionalShield,
        shield: 0,
    };
    #[rustfmt::skip]
    let trace = [
        // FRA edge, Frankfurt and the shield miss: origin request 1, answered at 1 s.
        (at(0, 1, Some(A), true), FRA),
        // IAD's edge misses; its regional cache (the shield) waits on request 1: collapsed.
        (at(500, 1, Some(A), true), IAD),
        // FRA's edge waits on its own fetch: collapsed at the edge.
        (at(500, 1, Some(A), true), FRA),
        // Every cache that asked stored the answer at 1 s: a fresh hit at IAD's edge.
        (at(5_000, 1, Some(A), true), IAD),
        // 11 s old at FRA's edge: stale, served; it revalidates from Frankfurt, stale too,
        // which revalidates from the shield, stale too, which asks the origin (request 2,
        // in the background, answered at 13 s). Each stale copy passes down as it is.
        (at(12_000, 1, Some(A), true), FRA),
        // IAD's edge copy (from 1 s) is stale: served; it revalidates from the shield, fresh
        // since 13 s, and keeps the shield's copy: its remaining lifetime, not a new one.
        (at(14_000, 1, Some(A), true), IAD),
        // Fresh at IAD's edge (the copy of 13 s).
        (at(20_000, 1, Some(A), true), IAD),
        // Past every window everywhere (FRA's copies from 1 s, the shield's from 13 s):
        // origin request 3.
        (at(50_000, 1, Some(A), true), FRA),
        // IAD's edge copy of 13 s has expired too; the shield waits on request 3.
        (at(50_500, 1, Some(A), true), IAD),
        // A TTL of 0 never collapses: two origin requests (4 and 5) for one key.
        (at(60_000, 2, Some(B), true), FRA),
        (at(60_200, 2, Some(B), true), FRA),
        // Not cached (CachingDisabled): from IAD's edge straight to the origin (6).
        (at(70_000, 3, None, false), IAD),
    ];
    let (keyed, locations): (Vec<_>, Vec<_>) = trace.into_iter().unzip();
    let config = SimConfig {
        origin_latency_ms: 1_000,
        ..SimConfig::default()
    };
    let f = simulate(&keyed, &locations, 1, &topology, config);
    assert_eq!(f.requests, 12);
    assert_eq!(f.edge, level(12, 2, 2, 1, 7, 2), "edge");
    // IAD's path meets the shield's node as its regional cache.
    assert_eq!(f.regional, level(8, 1, 1, 2, 4, 1), "regional");
    assert_eq!(
        f.shield,
        level(5, 0, 1, 0, 4, 1),
        "shield: only FRA's requests reach it as the shield"
    );
    assert_eq!(
        f.answered,
        Answered {
            edge: 5,
            regional: 2,
            shield: 0,
            origin: 5
        }
    );
    assert_eq!((f.origin_requests, f.background_origin_requests), (6, 1));
    assert_eq!((f.viewer_request_invocations, f.origin_response_invocations), (12, 6));
    assert_eq!(f.behaviours[0].edge_hits, 4);
    // Requests 4 and 5 start in the same second and overlap; all origin-response runs in
    // us-east-1 (the shield, and IAD's edge for the uncached request).
    let p = &f.peaks;
    assert_eq!((p.origin_requests_per_second, p.origin_concurrency), (2, 2));
    assert_eq!(
        (p.origin_response_per_second, p.origin_response_region),
        (2, Some("us-east-1"))
    );

    // The single ideal cache on the same requests (latency 0): 7 hits (1 stale), 5 misses.
    let b = ttl_aware_bound(&keyed);
    assert_eq!((b.hits, b.stale_hits, b.misses), (7, 1, 5));
    no_level_above_the_bound(&f, &b);
}

/// The requests answered without an origin request of their own at or below each level
/// never exceed the ideal cache's hits, and the origin sees at least the ideal cache's
/// origin requests.
fn no_level_above_the_bound(f: &Figures, b: &Bound) {
    let a = &f.answered;
    let edge_hits = f.edge.hits + f.edge.stale_hits;
    assert!(edge_hits as usize <= b.hits, "edge hits {edge_hits} > {}", b.hits);
    for (name, served) in [
        ("edge", a.edge),
        ("regional", a.edge + a.regional),
        ("shield", a.edge + a.regional + a.shield),
    ] {
        assert!(
            served as usize <= b.hits,
            "{name}: {served} answered > bound {}",
            b.hits
        );
    }
    let floor = (b.misses + b.stale_hits) as u64;
    assert!(
        f.origin_requests >= floor,
        "{} origin requests < floor {floor}",
        f.origin_requests
    );
}

fn small_trace() -> Vec<replay::trace::TraceRequest> {
    generate(&Mix {
        requests: 3_000,
        products: 300,
        rate: 5.0,
        ..Mix::default()
    })
}

#[test]
fn one_untiered_location_at_latency_zero_is_each_arms_bound_exactly() {
    let trace = small_trace();
    let one = Layout::generated(1, 1.0, trace.len(), 1);
    for arm in common::arms() {
        let keyed = arm.key_trace(&trace, &[]);
        let b = ttl_aware_bound(&keyed);
        let f = simulate(
            &keyed,
            &one.placed,
            arm.distribution.behaviours.len(),
            &one.topology(Tiering::Untiered, 0),
            SimConfig::default(),
        );
        let name = arm.kind.name();
        assert_eq!((f.edge.hits + f.edge.stale_hits) as usize, b.hits, "{name}: hits");
        assert_eq!(f.edge.stale_hits as usize, b.stale_hits, "{name}: stale hits");
        assert_eq!(f.answered.origin as usize, b.misses, "{name}: misses");
        assert_eq!(
            f.origin_requests as usize,
            b.misses + b.stale_hits,
            "{name}: origin requests"
        );
        assert!(
            b.hits > 0 && b.stale_hits > 0,
            "{name}: the trace exercises both: {b:?}"
        );
    }
}

#[test]
fn at_latency_zero_no_tier_beats_the_single_cache_bound() {
    let trace = small_trace();
    for arm in common::arms() {
        let keyed = arm.key_trace(&trace, &[]);
        let b = ttl_aware_bound(&keyed);
        for locations in [5, 20] {
            let layout = Layout::generated(locations, 1.0, trace.len(), 2);
            for tiering in Tiering::ALL {
                let f = simulate(
                    &keyed,
                    &layout.placed,
                    arm.distribution.behaviours.len(),
                    &layout.topology(tiering, 0),
                    SimConfig::default(),
                );
                no_level_above_the_bound(&f, &b);
                if tiering == Tiering::RegionalShield {
                    // Every request that finds the shield not fresh reaches it, so at
                    // latency 0 it pays exactly the bound's origin requests.
                    assert_eq!(
                        f.origin_requests as usize,
                        b.misses + b.stale_hits,
                        "{}",
                        arm.kind.name()
                    );
                }
            }
        }
    }
}
