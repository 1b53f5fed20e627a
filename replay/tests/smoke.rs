//! A small replay end to end (the full one is `make bench-replay`): every arm reports every
//! figure, no arm beats its TTL-aware bound, this project's handler keeps more requests from
//! the origin than the naive handler and CloudFront alone, a stampede loads the source once,
//! and the tiered simulation at 1 location, untiered, stays within ±0.5 points of it.

mod common;

use replay::calibration::{calibrate, TOLERANCE};

#[test]
fn a_small_replay_reports_every_figure_for_three_arms() {
    let w = common::replay(
        "smoke",
        &[
            "--requests",
            "600",
            "--rate",
            "200",
            "--products",
            "200",
            "--clients",
            "8",
            "--stampede",
            "24",
        ],
    );
    let r = &w.report;
    let arm = |name: &str| &r["arms"][name];
    let f = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    for name in ["naive", "cloudfront-alone", "normalized"] {
        let a = arm(name);
        let e = &a["edge"];
        for field in [
            "x_cache_hit_ratio",
            "origin_offload_ratio",
            "p50_ms",
            "p99_ms",
            "mean_response_bytes",
        ] {
            assert!(e[field].is_number(), "{name}: {field} missing: {a}");
        }
        assert_eq!(e["requests"], 600, "{name}");
        assert_eq!(e["errors"], 0, "{name}: {e}");
        // What reached the origin adds up: viewers' fetches plus background revalidations.
        assert_eq!(
            f(&e["origin_requests"]),
            f(&e["viewer_fetches"]) + f(&e["background_fetches"]),
            "{name}"
        );
        assert!(f(&e["x_cache"]["miss"]) >= f(&e["collapsed_waiters"]), "{name}");
        assert_eq!(a["cost_per_month_usd"].as_array().unwrap().len(), 3, "{name}");
        if name == "naive" {
            assert!(a["bound"].is_null());
        } else {
            // An ideal edge with the same keys does at least as well.
            assert!(
                f(&e["origin_offload_ratio"]) <= f(&a["bound"]["hit_ratio"]) + 0.005,
                "{name}: {a}"
            );
        }
    }
    // Private routes work without a function (the credential is keyed, so it reaches the
    // origin) and through this project's handler (it relays the credential in
    // X-Viewer-Authorization past OAC's signature); the seed's handler relays nothing, so
    // behind OAC its private requests are refused.
    for name in ["cloudfront-alone", "normalized"] {
        assert!(arm(name)["edge"]["statuses"].get("4xx").is_none(), "{name}: {r}");
    }
    assert!(f(&arm("naive")["edge"]["statuses"]["4xx"]) > 0.0, "{r}");
    // No edge function, no Lambda@Edge on the bill.
    let alone = &arm("cloudfront-alone")["usage"];
    assert_eq!(
        (
            f(&alone["viewer_request_invocations"]),
            f(&alone["origin_response_invocations"])
        ),
        (0.0, 0.0)
    );
    assert_eq!(f(&arm("normalized")["usage"]["viewer_request_invocations"]), 1.0);
    let offload = |name: &str| f(&arm(name)["edge"]["origin_offload_ratio"]);
    assert!(offload("normalized") > offload("naive"), "{r}");
    assert!(offload("normalized") >= offload("cloudfront-alone"), "{r}");
    assert!(r["break_even"]["handler_usd_per_million_requests"].is_number());
    let off = &r["normalized_origin_response_off"]["cost_per_month_usd"][2]["total"];
    assert!(f(off) <= f(&arm("normalized")["cost_per_month_usd"][2]["total"]));
    assert_eq!(r["stampede"]["naive_source_loads"], 1);
    assert_eq!(r["stampede"]["normalized_origin_invocations"], 1);
    assert!(r["prices_date"].is_string() && r["run"]["date"].is_string());
    assert!(w.chart.starts_with("<svg") && w.chart.contains("CloudFront alone"));
    assert!(w.tables.contains("| requests/minute |") && w.tables.contains("Break-even"));

    // The same trace through the simulation (1 location, untiered, latency 0, this
    // project's origin answering from its L2 with the remaining freshness).
    let rows = calibrate(r, &common::arms(), 200).expect("the smoke trace is generated again exactly");
    assert_eq!(rows.len(), 3);
    for c in rows {
        assert!(
            (c.full_stack_offload_ratio - c.simulated_offload_ratio).abs() <= TOLERANCE,
            "{}: hit ratio {c:?}",
            c.arm
        );
        assert!(
            (c.full_stack_origin_requests_per_request - c.simulated_origin_requests_per_request).abs() <= TOLERANCE,
            "{}: origin requests per request {c:?}",
            c.arm
        );
    }
}
