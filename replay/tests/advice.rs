//! Per-trigger association advice: a trigger stays where what it saves pays for it, the
//! credential relay stays behind OAC, every removal says what it gives up, and raising the
//! origin cost never removes a trigger (proptest).

use edge_policy::cloudfront::Trigger;
use local_edge::distribution::Selection;
use local_edge::Distribution;
use proptest::prelude::*;
use replay::advice::{advise, advised_distribution, AdvicePrices, BehaviourCase, Side, TriggerCase, Verdict};

const INVOCATION: f64 = 0.6e-6 + 0.001 * 128.0 / 1024.0 * 0.000_050_01;

fn prices(origin_request: f64, origin_access_control: bool) -> AdvicePrices {
    AdvicePrices {
        invocation: INVOCATION,
        origin_request,
        origin_access_control,
    }
}

fn side(origin_requests: u64, invocations: u64) -> Side {
    Side {
        edge_hits: 0,
        origin_requests,
        invocations,
    }
}

/// 1,000 requests; viewer-request saves `saved` origin requests of 400.
fn case(path_pattern: &str, private: bool, saved: u64) -> BehaviourCase {
    BehaviourCase {
        path_pattern: path_pattern.into(),
        private,
        requests: 1_000,
        viewer_request: TriggerCase {
            with: side(400 - saved, 1_000),
            without: side(400, 0),
        },
        origin_response: TriggerCase {
            with: side(400 - saved, 400 - saved),
            without: side(400 - saved, 0),
        },
    }
}

#[test]
fn a_trigger_stays_only_where_what_it_saves_pays_for_it() {
    let cases = [
        case("/api/products", false, 100),
        case("/static/*", false, 0),
        case("/api/me*", true, 0),
    ];
    // At $1 per million origin requests, 100 saved origin requests are worth $0.0001 and
    // 1,000 invocations cost $0.0006: viewer-request goes everywhere it is not required.
    let cheap = advise(&cases, &prices(1e-6, true));
    assert!(!cheap[0].viewer_request.keeps() && !cheap[1].viewer_request.keeps());
    assert!(
        matches!(cheap[2].viewer_request, Verdict::Required { .. }),
        "the credential relay behind OAC"
    );
    // origin-response saves nothing with an origin that writes the same header.
    assert!(cheap.iter().all(|a| !a.origin_response.keeps()));
    // At $10 per million, products keep viewer-request ($0.001 ≥ $0.0006); static saves
    // nothing at any price.
    let dear = advise(&cases, &prices(10e-6, true));
    assert_eq!(dear[0].triggers(), [Trigger::ViewerRequest]);
    assert_eq!(dear[1].triggers(), []);
    // Without OAC nothing needs relaying: the private behaviour's viewer-request is weighed.
    assert!(!advise(&cases, &prices(10e-6, false))[2].viewer_request.keeps());
    // Every removal says what the behaviour gives up.
    let Verdict::Remove { gives_up, reason } = &cheap[1].origin_response else {
        panic!("{:?}", cheap[1].origin_response)
    };
    assert!(reason.starts_with("saves no origin request"), "{reason}");
    assert!(
        gives_up.iter().any(|r| r.contains("strip_set_cookie")),
        "static strips Set-Cookie: {gives_up:?}"
    );
    for rule in [
        "rule 3: Vary",
        "rule 4: an answer to a credentialed request",
        "rule 6: every 5xx",
    ] {
        assert!(gives_up.iter().any(|r| r.starts_with(rule)), "{rule}: {gives_up:?}");
    }
    let Verdict::Remove { gives_up, .. } = &cheap[0].viewer_request else {
        panic!()
    };
    assert!(gives_up[0].contains("tracking parameters removed"), "{gives_up:?}");
}

#[test]
fn a_behaviour_without_viewer_request_keys_as_cloudfront_alone_would() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let deployed = Distribution::load(&root.join("deploy/behaviours.toml")).unwrap();
    let alone = Distribution::load(&root.join("bench/cloudfront-alone.toml")).unwrap();
    let cases: Vec<BehaviourCase> = deployed
        .behaviours
        .iter()
        .map(|b| {
            case(
                &b.path_pattern,
                !b.cache_policy.caching,
                if b.path_pattern == "/api/products" { 300 } else { 0 },
            )
        })
        .collect();
    let advice = advise(&cases, &prices(5e-6, true));
    let advised = advised_distribution(&deployed, &alone, &advice);
    let at = |p: &str| advised.behaviour_for(p).clone();
    assert_eq!(at("/api/products").triggers, [Trigger::ViewerRequest]);
    assert_eq!(
        at("/api/products").cache_policy.query_strings,
        Selection::All,
        "keeps the deployed policy"
    );
    assert!(at("/static/app.js").triggers.is_empty());
    assert_eq!(
        at("/static/app.js").cache_policy.query_strings,
        Selection::None,
        "CloudFront alone's no-query policy"
    );
    assert_eq!(at("/api/me").triggers, [Trigger::ViewerRequest]);
    assert!(
        !at("/api/me").cache_policy.caching,
        "the private behaviour stays CachingDisabled"
    );
    assert_eq!(
        advised.origin.access_control, deployed.origin.access_control,
        "OAC unchanged"
    );
}

fn any_side() -> impl Strategy<Value = Side> {
    (0u64..10_000, 0u64..10_000, 0u64..10_000).prop_map(|(edge_hits, origin_requests, invocations)| Side {
        edge_hits,
        origin_requests,
        invocations,
    })
}

fn any_case() -> impl Strategy<Value = BehaviourCase> {
    let pattern = prop::sample::select(vec!["/static/*", "/api/products", "/api/config", "/api/me*", "*"]);
    (
        pattern,
        any::<bool>(),
        0u64..10_000,
        any_side(),
        any_side(),
        any_side(),
        any_side(),
    )
        .prop_map(|(pattern, private, requests, a, b, c, d)| BehaviourCase {
            path_pattern: pattern.into(),
            private,
            requests,
            viewer_request: TriggerCase { with: a, without: b },
            origin_response: TriggerCase { with: c, without: d },
        })
}

proptest! {
    #[test]
    fn raising_the_origin_cost_never_removes_a_trigger(
        cases in prop::collection::vec(any_case(), 1..8),
        cost in 0.0f64..1e-3,
        raise in 0.0f64..1e-2,
        oac in any::<bool>(),
    ) {
        let low = advise(&cases, &prices(cost, oac));
        let high = advise(&cases, &prices(cost + raise, oac));
        for (l, h) in low.iter().zip(&high) {
            for trigger in l.triggers() {
                prop_assert!(h.triggers().contains(&trigger), "{}: {:?} removed at {} but kept at {}", l.path_pattern, trigger, cost + raise, cost);
            }
        }
    }
}
