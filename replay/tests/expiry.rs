//! The TTL-aware bound against expiry. The reference rules keep products a day past their
//! freshness, so a replay of minutes never sees a key expire; these tests run on a rules file
//! with windows of seconds (`tests/fixtures/rules/short-windows.toml`), embedded at build time:
//! `make test-replay-expiry` builds them with `EDGE_RULES` into a target dir of their own.

mod common;

use replay::arm::ArmKind;
use replay::bound::ttl_aware_bound;
use replay::geography::Tiering;
use replay::keyed::{key_trace, AnswerHeader};
use replay::scale::{point, Layout};
use replay::simulate::SimConfig;
use replay::trace::{generate, Mix, TraceRequest};

const WHY: &str = "needs EDGE_RULES=tests/fixtures/rules/short-windows.toml: make test-replay-expiry";

/// Whether the embedded rules are the short-window file (products fresh 2 s).
fn short_windows() -> bool {
    edge_policy::RuleSet::embedded()
        .routes()
        .iter()
        .any(|r| r.name == "products" && r.freshness.s_maxage == Some(2))
}

#[test]
#[ignore = "needs EDGE_RULES=tests/fixtures/rules/short-windows.toml: make test-replay-expiry"]
fn a_key_past_its_last_window_is_a_miss_again() {
    assert!(short_windows(), "{WHY}");
    let at = |s: u64| TraceRequest::new(s * 1000, "/api/products/1", &[("accept-encoding", "gzip")]);
    // Fresh 2 s, then 5 s stale-while-revalidate.
    let trace = [
        at(0),  // miss, stored at 0
        at(1),  // fresh
        at(3),  // stale: a hit, renewed at 3
        at(4),  // fresh again (renewed at 3, fresh to 5)
        at(13), // 3 + 2 + 5 = 10: expired, a miss; stored at 13
        at(20), // 13 + 7 = 20: expired again
    ];
    let deployed = &common::arms()[2].distribution;
    let project = |r| local_edge::triggers::native_request(edge_policy::cloudfront::Trigger::ViewerRequest, r);
    let b = ttl_aware_bound(&key_trace(&trace, &[], deployed, project, AnswerHeader::Decided));
    assert_eq!((b.hits, b.stale_hits, b.misses), (3, 1, 3));
    // An infinite cache calls every repeat a hit.
    assert_eq!(b.infinite_hit_ratio, 0.8333);
}

#[test]
#[ignore = "needs EDGE_RULES=tests/fixtures/rules/short-windows.toml: make test-replay-expiry"]
fn expiry_costs_hits_and_the_simulation_still_equals_the_bound() {
    assert!(short_windows(), "{WHY}");
    // 400 s at 10 requests/s over 200 products: popular keys stay warm, the tail expires.
    let trace = generate(&Mix {
        requests: 4_000,
        products: 200,
        rate: 10.0,
        ..Mix::default()
    });
    let one = Layout::generated(1, 1.0, trace.len(), 3);
    let twenty = Layout::generated(20, 1.0, trace.len(), 3);
    for arm in common::arms() {
        let name = arm.kind.name();
        let keyed = arm.key_trace(&trace, &[]);
        let b = ttl_aware_bound(&keyed);
        if arm.kind != ArmKind::Naive {
            // The seed's header keeps everything a day whatever the rules say.
            assert!(
                b.hit_ratio + 0.05 < b.infinite_hit_ratio,
                "{name}: expiry should cost hits: {b:?}"
            );
        }
        let run = |layout: &Layout, tiering| {
            let topology = layout.topology(tiering, 0);
            point(
                &keyed,
                arm.distribution.behaviours.len(),
                layout,
                &topology,
                SimConfig::default(),
            )
            .figures
        };
        let f = run(&one, Tiering::Untiered);
        assert_eq!((f.edge.hits + f.edge.stale_hits) as usize, b.hits, "{name}");
        assert_eq!(f.edge.stale_hits as usize, b.stale_hits, "{name}");
        assert_eq!(f.origin_requests as usize, b.misses + b.stale_hits, "{name}");
        // Split over 20 locations each edge expires on its own: fewer hits; Origin Shield
        // at latency 0 pays exactly the bound's origin requests.
        let split = run(&twenty, Tiering::RegionalShield);
        assert!(((split.edge.hits + split.edge.stale_hits) as usize) < b.hits, "{name}");
        assert_eq!(split.origin_requests as usize, b.misses + b.stale_hits, "{name}");
    }
}
