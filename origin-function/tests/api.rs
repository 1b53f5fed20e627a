//! The demo API through the handler: private routes, headers, warm-up, metrics, fixtures.

mod common;

use common::*;
use origin_function::event::{FunctionUrlRequest, FunctionUrlResponse};
use serde_json::Value;

#[test]
fn fixtures_are_aws_function_url_events_and_round_trip() {
    for name in ["function-url-get-product.json", "function-url-get-me-authorized.json"] {
        let raw = fixture(name);
        // AWS's own event type accepts it.
        let aws: lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequest =
            serde_json::from_value(raw.clone()).unwrap();
        assert_eq!(aws.request_context.http.method.as_str(), "GET");
        let parsed: FunctionUrlRequest = serde_json::from_value(raw).unwrap();
        let again: FunctionUrlRequest = serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(parsed, again);
    }
}

#[tokio::test]
async fn private_routes_never_touch_the_caches() {
    let (server, cfg) = one_server().await;
    let origin = origin(cfg);
    for _ in 0..2 {
        let r = call(&origin, fixture("function-url-get-me-authorized.json"), T0).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["id"], 7);
        assert_eq!(r.cache_status(), "origin; fwd=bypass");
        assert_eq!(r.header("cache-control"), "private, no-store");
        assert_eq!(r.invoked.metrics.bypass, 1);
    }
    let auth = [("authorization", "Bearer user-7")];
    let r = call(&origin, request("GET", "/api/users/7", &auth), T0).await;
    assert_eq!((r.status, r.cache_status()), (200, "origin; fwd=bypass"));
    assert_eq!(
        call(&origin, request("GET", "/api/users/8", &auth), T0).await.status,
        403
    );
    assert_eq!(call(&origin, get("/api/users/7"), T0).await.status, 401);
    assert_eq!(call(&origin, get("/api/me"), T0).await.status, 401);
    // A public route with Authorization is private too.
    let r = call(&origin, request("GET", "/api/products/1", &auth), T0).await;
    assert_eq!((r.status, r.cache_status()), (200, "origin; fwd=bypass"));
    assert_eq!(r.header("cache-control"), "private, no-store");
    assert_eq!(origin.source_loads(), 7);
    assert_eq!(cache_items(&server.endpoint()).await, 0);
    assert_eq!(origin.l1().usage().await.0, 0);
}

#[tokio::test]
async fn etag_and_if_none_match_give_304_and_head_has_no_body() {
    let (_server, cfg) = one_server().await;
    let origin = origin(cfg);
    let r = call(&origin, get("/api/products/2"), T0).await;
    let etag = r.header("etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() == 34);
    let r = call(
        &origin,
        request("GET", "/api/products/2", &[("if-none-match", &format!("W/{etag}"))]),
        T0,
    )
    .await;
    assert_eq!((r.status, r.body.as_str()), (304, ""));
    assert_eq!(r.header("etag"), etag);
    assert!(r.header("cache-control").contains("s-maxage=300"));
    let r = call(&origin, request("HEAD", "/api/products/2", &[]), T0).await;
    assert_eq!((r.status, r.body.as_str()), (200, ""));
}

#[tokio::test]
async fn the_demo_api_answers_as_reference_rules_says() {
    let (_server, cfg) = one_server().await;
    let origin = origin(cfg);
    let r = call(&origin, get("/api/products/7"), T0).await;
    assert_eq!(r.json()["links"]["self"], format!("https://{HOST}/api/products/7"));
    let r = call(&origin, get("/api/products?category=books&sort=-price&per_page=2"), T0).await;
    let items = r.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 2);
    assert!(items[0]["price"]["amount"].as_u64() >= items[1]["price"]["amount"].as_u64());
    assert!(items.iter().all(|i| i["category"] == "books"));
    let r = call(&origin, get("/api/config"), T0).await;
    assert_eq!(
        r.header("cache-control"),
        "public, max-age=0, s-maxage=60, stale-while-revalidate=300"
    );
    assert_eq!(r.json()["currency"], "EUR");
    let r = call(&origin, get("/static/app.css"), T0).await;
    assert_eq!((r.status, r.header("content-type")), (200, "text/css"));
    let r = call(&origin, get("/nothing/here"), T0).await;
    assert_eq!((r.status, r.json()["error"].as_str()), (404, Some("not_found")));
    let r = call(&origin, get("/api/products/999999"), T0).await;
    assert_eq!(r.status, 404);
    let r = call(&origin, request("POST", "/api/products", &[]), T0).await;
    assert_eq!(
        (r.status, r.cache_status(), r.header("allow")),
        (405, "origin; fwd=method", "GET, HEAD")
    );
}

#[tokio::test]
async fn an_unkeyed_forwarded_host_cannot_poison_the_origin_caches() {
    let (_server, cfg) = one_server().await;
    let origin = origin(cfg);
    // The demo builds links from X-Forwarded-Host (reference-rules.md), so the attempt is
    // visible in its own answer, which never touches L1 or L2.
    let r = call(
        &origin,
        request("GET", "/api/products/4", &[("x-forwarded-host", "evil.example")]),
        T0,
    )
    .await;
    assert_eq!(r.json()["links"]["self"], "https://evil.example/api/products/4");
    assert_eq!(r.cache_status(), "origin; fwd=request; detail=unkeyed-input");
    let r = call(&origin, get("/api/products/4"), T0).await;
    assert_eq!(r.json()["links"]["self"], format!("https://{HOST}/api/products/4"));
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored");
}

#[tokio::test]
async fn warm_up_preloads_hot_keys_and_returns() {
    let (_server, mut cfg) = one_server().await;
    cfg.origin_host = Some(HOST.into());
    cfg.hot_paths = vec!["/api/config".into(), "/api/products?category=books".into()];
    let origin = origin(cfg);
    let r = origin.invoke(fixture("warmup.json"), T0).await.unwrap();
    assert_eq!(
        serde_json::to_value(&r.response).unwrap(),
        serde_json::json!({ "warmup": true, "preloaded": 2 })
    );
    assert_eq!((r.metrics.warmup, r.metrics.preloaded, r.metrics.cold_start), (1, 2, 1));
    let hit = call(&origin, get("/api/config"), T0 + 1_000).await;
    assert_eq!(hit.cache_status(), "origin; hit; ttl=29; detail=l1");
    let hit = call(&origin, get("/api/products?category=books"), T0 + 1_000).await;
    assert_eq!(hit.cache_status(), "origin; hit; ttl=29; detail=l1");
    let r = origin
        .invoke(fixture("eventbridge-scheduled-event.json"), T0 + 2_000)
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&r.response).unwrap()["warmup"], true);
    assert_eq!(r.metrics.context_reused, 1);
    assert_eq!(origin.source_loads(), 2);
    assert!(origin.invoke(serde_json::json!({ "hello": 1 }), T0).await.is_err());
}

#[tokio::test]
async fn one_emf_line_per_invocation_with_the_documented_counters() {
    let (_server, cfg) = one_server().await;
    let origin = origin(cfg);
    let first = call(&origin, get("/api/products/8"), T0).await;
    let second = call(&origin, get("/api/products/8"), T0 + 1).await;
    let line: Value = serde_json::from_str(&first.invoked.metrics_line).unwrap();
    assert!(!first.invoked.metrics_line.contains('\n'));
    let decl = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(line["_aws"]["Timestamp"], T0);
    assert_eq!(decl["Namespace"], "EdgeCache/Origin");
    assert_eq!(decl["Dimensions"], serde_json::json!([["Function"]]));
    let names: Vec<&str> = decl["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    for wanted in [
        "L1Hits",
        "L2Hits",
        "Misses",
        "StaleServed",
        "CoalescedWaits",
        "L2Errors",
        "BreakerState",
        "ColdStart",
        "ContextReused",
        "L1LatencyMs",
        "L2LatencyMs",
        "SourceLatencyMs",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing");
        assert!(line[wanted].is_number(), "{wanted} has no value");
    }
    assert_eq!(
        (
            line["ColdStart"].as_u64(),
            line["Misses"].as_u64(),
            line["SourceLoads"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    assert_eq!(line["CacheStatus"], "origin; fwd=miss; stored");
    assert_eq!(line["Route"], "products");
    let line: Value = serde_json::from_str(&second.invoked.metrics_line).unwrap();
    assert_eq!(
        (
            line["ContextReused"].as_u64(),
            line["L1Hits"].as_u64(),
            line["ColdStart"].as_u64()
        ),
        (Some(1), Some(1), Some(0))
    );
    let _: FunctionUrlResponse =
        serde_json::from_value(serde_json::to_value(&second.invoked.response).unwrap()).unwrap();
}

#[tokio::test]
async fn only_requests_carrying_the_cloudfront_secret_are_served() {
    let (_server, mut cfg) = one_server().await;
    cfg.verify_secrets = vec!["new-secret".into(), "old-secret".into()];
    let origin = origin(cfg);
    let direct = call(&origin, get("/api/products/4"), T0).await;
    assert_eq!(
        (direct.status, direct.cache_status()),
        (403, "origin; fwd=request; detail=unverified")
    );
    let wrong = call(
        &origin,
        request("GET", "/api/products/4", &[("x-origin-verify", "guess")]),
        T0,
    )
    .await;
    assert_eq!(wrong.status, 403);
    // Both secrets of a rotation are accepted.
    for secret in ["new-secret", "old-secret"] {
        let r = call(
            &origin,
            request("GET", "/api/products/4", &[("x-origin-verify", secret)]),
            T0,
        )
        .await;
        assert_eq!(r.status, 200, "{secret}");
    }
}
