//! The demo API through the handler, configured as deployed (the secret check on): private
//! routes, the secret check, headers, warm-up, metrics, fixtures, and agreement with the
//! edge's origin-response policy.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::*;
use edge_policy::{origin_response, ResponseView, RuleSet};
use origin_function::{HttpRequest, Invocation};
use serde_json::Value;

/// Parse, serialize, parse with AWS's own event type `T`: equal.
fn round_trips<T>(raw: &Value) -> bool
where
    T: serde::de::DeserializeOwned + serde::Serialize + PartialEq,
{
    let parsed: T = serde_json::from_value(raw.clone()).unwrap();
    let again: T = serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
    parsed == again
}

#[test]
fn fixtures_are_aws_events_and_round_trip() {
    use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayV2httpRequest};
    for (name, rest) in [
        ("function-url-get-product.json", false),
        ("function-url-get-me-authorized.json", false),
        ("apigw-rest-get-product.json", true),
    ] {
        let raw = fixture(name);
        if rest {
            assert!(round_trips::<ApiGatewayProxyRequest>(&raw), "{name}");
        } else {
            assert!(round_trips::<ApiGatewayV2httpRequest>(&raw), "{name}");
        }
        // The origin reads the same request from it as lambda_http does.
        let theirs: lambda_http::request::LambdaRequest = serde_json::from_value(raw.clone()).unwrap();
        let theirs = lambda_http::Request::from(theirs);
        let Invocation::Http(ours) = invocation(raw) else {
            panic!("{name}: not HTTP")
        };
        assert_eq!(ours.parts.method, *theirs.method(), "{name}");
        // The path without the REST stage, as lambda_http reads it for routing.
        assert_eq!(
            ours.parts.uri.path(),
            lambda_http::RequestExt::raw_http_path(&theirs),
            "{name}"
        );
        for (header, value) in theirs.headers() {
            assert!(
                ours.parts.headers.get_all(header).iter().any(|v| v == value),
                "{name}: {header}"
            );
        }
        assert!(!ours.malformed, "{name}");
    }
}

#[tokio::test]
async fn private_routes_never_touch_the_caches() {
    let (server, cfg) = one_server().await;
    let origin = origin(cfg);
    for _ in 0..2 {
        let mut event = fixture("function-url-get-me-authorized.json");
        event["headers"][VERIFY_HEADER] = SECRET.into();
        let r = call(&origin, event, T0).await;
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
    // A public route with the viewer's credential is private too.
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
    assert_eq!(r.header("cache-control"), CONFIG_CC);
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
async fn an_unkeyed_forwarded_host_cannot_poison_any_cache() {
    let (_server, cfg) = one_server().await;
    let origin = origin(cfg);
    // The demo builds links from X-Forwarded-Host (reference-rules.md), so the attempt is
    // visible in its own answer, which never touches L1 or L2 and tells every cache
    // downstream (a broken edge) not to keep it.
    let r = call(
        &origin,
        request("GET", "/api/products/4", &[("x-forwarded-host", "evil.example")]),
        T0,
    )
    .await;
    assert_eq!(r.json()["links"]["self"], "https://evil.example/api/products/4");
    assert_eq!(r.cache_status(), "origin; fwd=request; detail=unkeyed-input");
    assert_eq!(r.header("cache-control"), "private, no-store");
    let r = call(&origin, get("/api/products/4"), T0).await;
    assert_eq!(r.json()["links"]["self"], format!("https://{HOST}/api/products/4"));
    assert_eq!(r.cache_status(), "origin; fwd=miss; stored");
}

#[tokio::test]
async fn warm_up_preloads_hot_keys_with_the_secret_check_on() {
    let (_server, mut cfg) = one_server().await;
    assert!(!cfg.verify_secrets.is_empty(), "deployed configuration");
    cfg.origin_host = Some(HOST.into());
    cfg.hot_paths = vec!["/api/config".into(), "/api/products?category=books".into()];
    let origin = origin(cfg);
    let r = origin.invoke(invocation(fixture("warmup.json")), T0).await.unwrap();
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
        .invoke(invocation(fixture("eventbridge-scheduled-event.json")), T0 + 2_000)
        .await
        .unwrap();
    assert_eq!(serde_json::to_value(&r.response).unwrap()["warmup"], true);
    assert_eq!(r.metrics.context_reused, 1);
    assert_eq!(origin.source_loads(), 2);
    let err = origin
        .invoke(invocation(serde_json::json!({ "hello": 1 })), T0)
        .await
        .unwrap_err();
    assert_eq!(err.error_type(), "InvalidEvent");
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
        "L2Calls",
        "L2Errors",
        "L2Slow",
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
    assert_eq!(line["CacheStatus"], first.cache_status());
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
    assert_eq!(line["CacheStatus"], second.cache_status());
}

#[tokio::test]
async fn only_requests_carrying_the_cloudfront_secret_are_served() {
    let (_server, mut cfg) = one_server().await;
    let new = "new-secret-0123456789abcdef";
    cfg.verify_secrets = vec![new.into(), SECRET.into()];
    let origin = origin(cfg);
    let direct = call(&origin, unverified("GET", "/api/products/4", &[]), T0).await;
    assert_eq!(
        (direct.status, direct.cache_status()),
        (403, "origin; fwd=request; detail=unverified")
    );
    assert_eq!(direct.header("cache-control"), "no-store");
    // Wrong secrets: a guess, one of the same length differing in its last byte, a prefix,
    // and the right one with a second value beside it.
    let same_length = format!("{}X", &SECRET[..SECRET.len() - 1]);
    for wrong in ["guess", same_length.as_str(), &SECRET[..10], ""] {
        let r = call(
            &origin,
            unverified("GET", "/api/products/4", &[(VERIFY_HEADER, wrong)]),
            T0,
        )
        .await;
        assert_eq!(r.status, 403, "{wrong:?}");
    }
    // Both secrets of a rotation are accepted.
    for secret in [new, SECRET] {
        let r = call(
            &origin,
            unverified("GET", "/api/products/4", &[(VERIFY_HEADER, secret)]),
            T0,
        )
        .await;
        assert_eq!(r.status, 200, "{secret}");
    }
    assert_eq!(
        origin.source_loads(),
        1,
        "a refused request touches neither cache nor source"
    );
}

#[tokio::test]
async fn api_gateway_events_need_no_secret() {
    let (_server, cfg) = one_server().await;
    assert!(!cfg.verify_secrets.is_empty());
    let origin = origin(cfg);
    let r = call(&origin, fixture("apigw-rest-get-product.json"), T0).await;
    assert_eq!((r.status, r.json()["id"].as_u64()), (200, Some(7)));
    assert_eq!(r.header("cache-control"), PRODUCT_CC);
    // REST events use plain `Authorization` for the viewer's credential.
    let mut event = fixture("apigw-rest-get-product.json");
    event["path"] = "/api/me".into();
    event["multiValueHeaders"]["Authorization"] = serde_json::json!(["Bearer user-9"]);
    let r = call(&origin, event, T0).await;
    assert_eq!((r.status, r.json()["id"].as_u64()), (200, Some(9)));
    assert_eq!(r.header("cache-control"), "private, no-store");
    // Internal requests (warm-up) are not checked either.
    let internal = HttpRequest::internal(HOST, "/api/products/3");
    let r = origin
        .handle(&internal, T0, &mut origin_function::metrics::Metrics::default())
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn an_unrepresentable_header_is_a_400_never_a_dropped_credential() {
    let (_server, cfg) = one_server().await;
    let origin = origin(cfg);
    let r = call(
        &origin,
        request("GET", "/api/products/1", &[("authorization", "Bearer user-7\u{1}")]),
        T0,
    )
    .await;
    assert_eq!(
        (r.status, r.cache_status()),
        (400, "origin; fwd=request; detail=malformed")
    );
    assert_eq!(origin.source_loads(), 0);
}

#[test]
fn the_function_refuses_to_start_with_the_check_on_and_no_secret() {
    for secret in [None, Some(""), Some(" , ")] {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_origin-function"));
        cmd.env("ORIGIN_VERIFY_HEADER", "x-origin-verify")
            .env_remove("ORIGIN_VERIFY_SECRET")
            .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9");
        if let Some(secret) = secret {
            cmd.env("ORIGIN_VERIFY_SECRET", secret);
        }
        let out = cmd.output().expect("run the function");
        assert!(!out.status.success(), "{secret:?}: started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("ORIGIN_VERIFY_SECRET"), "{secret:?}: {stderr}");
    }
}

/// The origin writes exactly the `Cache-Control` the origin-response trigger would write over
/// the same status, headers and request: for every route of the embedded rules and every
/// status the origin answers with, fresh, aged, stale, private and refused. So the trigger
/// can stay off in front of this origin, and leaving it on changes nothing.
#[tokio::test]
async fn the_origins_cache_control_is_what_origin_response_would_write() {
    let mut stack = Stack::split(Backend::Dynamo).await;
    let mut cfg = stack.config();
    cfg.source_operation_timeout = Duration::from_millis(500);
    let rules = RuleSet::embedded();
    let a = origin(cfg.clone());
    let b = origin(cfg.clone());
    let mut statuses = BTreeSet::new();
    let mut checked = 0;
    let mut check = |event: &Value, reply: &Reply| {
        let request: Vec<(&str, &str)> = event["headers"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str().unwrap()))
            .collect();
        let response: Vec<(&str, &str)> = reply
            .headers
            .as_object()
            .unwrap()
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str().unwrap()))
            .collect();
        let status = reply.status.to_string();
        let view = ResponseView {
            status: &status,
            request_method: event["requestContext"]["http"]["method"].as_str().unwrap(),
            request_uri: event["rawPath"].as_str().unwrap(),
            request_headers: &request,
            headers: &response,
            // The origin sends `Date` and never `Expires`, so the trigger's clock reads nothing.
            now_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as u64,
        };
        let edge = origin_response(rules, &view);
        assert_eq!(
            edge.cache_control,
            reply.header("cache-control"),
            "{status} {} ({})",
            event["rawPath"],
            reply.cache_status()
        );
        statuses.insert(reply.status);
        checked += 1;
    };
    let signed = [
        ("authorization", OAC_SIGNATURE),
        ("x-viewer-authorization", "Bearer user-7"),
    ];
    // One path per route of the embedded rules.
    let candidates = [
        "/api/products",
        "/static/app.css",
        "/api/config",
        "/api/users/7",
        "/nothing/7",
    ];
    let paths: Vec<&str> = rules
        .routes()
        .iter()
        .map(|route| {
            *candidates
                .iter()
                .find(|p| std::ptr::eq(rules.route_for(p), route))
                .unwrap_or_else(|| panic!("no candidate path for route {}", route.name))
        })
        .collect();
    for path in &paths {
        let events = [
            get(path),
            get(&format!("{path}?per_page=0&page=2")),
            request("HEAD", path, &[]),
            request("GET", path, &[("authorization", "Bearer user-7")]),
            request("GET", path, &[("authorization", "Bearer user-8")]),
            request("GET", path, &signed),
            request("GET", path, &[("x-forwarded-host", "evil.example")]),
            request("POST", path, &[]),
            unverified("GET", path, &[]),
        ];
        for event in &events {
            let r = call(&a, event.clone(), T0).await;
            check(event, &r);
            // Again, from L1 (aged), and from L2 in another environment (aged further).
            let again = call(&a, event.clone(), T0 + 5_000).await;
            check(event, &again);
            let other = call(&b, event.clone(), T0 + 40_000).await;
            check(event, &other);
            if let Some(etag) = r.headers["etag"].as_str() {
                let mut conditional = event.clone();
                conditional["headers"]["if-none-match"] = etag.into();
                let r = call(&a, conditional.clone(), T0 + 6_000).await;
                check(&conditional, &r);
            }
        }
    }
    // The source fails: stale copies inside their windows, and 503s.
    stack.catalogue.stop();
    for path in &paths {
        for (event, at) in [(get(path), T0 + 400_000), (get(&format!("{path}?page=3")), T0)] {
            let r = call(&b, event.clone(), at).await;
            check(&event, &r);
        }
    }
    for status in [200, 304, 400, 401, 403, 404, 405, 503] {
        assert!(statuses.contains(&status), "no {status} among {statuses:?}");
    }
    assert!(checked > 150, "{checked}");
}
