//! CloudFront's behaviour, behaviour by behaviour, as the behaviour table says: each test
//! would fail if the local edge did what CloudFront does not (collapsing a private answer,
//! losing an environment to a viewer that hangs up, forwarding what no policy names, handing
//! a bodiless 304 to another viewer, keeping a timed-out handler, caching errors otherwise
//! than the error-caching settings say).

mod common;

use std::time::{Duration, Instant};

use common::{deployed, forwarding_every_header, root, Mode, Options, Reply, Stack};
use local_edge::distribution::{AccessControl, CustomErrorResponse, Selection};
use local_edge::Distribution;

/// Sends `count` GETs of `path` at once, the i-th with `headers(i)`.
async fn concurrently(
    stack: &Stack,
    path: &str,
    count: usize,
    headers: impl Fn(usize) -> Vec<(String, String)>,
) -> Vec<(usize, Reply)> {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..count {
        let mut request = stack.client.get(format!("{}{path}", stack.base));
        for (n, v) in headers(i) {
            request = request.header(n, v);
        }
        set.spawn(async move { (i, Reply::read(request.send().await.expect("answered")).await) });
    }
    let mut out = Vec::new();
    while let Some(done) = set.join_next().await {
        out.push(done.unwrap());
    }
    out.sort_by_key(|(i, _)| *i);
    out
}

/// One environment, held busy by a request whose source load the (delayed) catalogue
/// slows: requests sent meanwhile all wait on one origin fetch, so collapsing is certain.
async fn hold_the_only_environment(stack: &Stack) -> tokio::task::JoinHandle<u16> {
    stack.catalogue_proxy.as_ref().unwrap().set(Mode::Delay);
    let before = stack.origin_requests().await;
    let (client, url) = (stack.client.clone(), format!("{}/api/products/33", stack.base));
    let busy = tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() });
    stack
        .wait_for_stats(Duration::from_secs(10), "the slow request reached the origin", |s| {
            s["origin_requests"].as_u64() == Some(before + 1)
        })
        .await;
    busy
}

/// On a fresh stack with one environment, sends sixteen `/api/me` GETs (viewer `i` is user
/// `i % 8 + 1`) while that environment is held; once every one of them is waiting on it
/// (counted as an origin request by the edge, so none was collapsed), the catalogue is let
/// go at full speed, so that sixteen sequential invocations fit within the environment wait.
async fn sixteen_me_requests_behind_the_held_environment() -> (Stack, Vec<(usize, Reply)>) {
    let stack = Stack::with(one_environment_behind_proxies(None)).await;
    let before = stack.origin_requests().await;
    let busy = hold_the_only_environment(&stack).await;
    let requests = concurrently(&stack, "/api/me", 16, eight_users);
    let release = async {
        stack
            .wait_for_stats(
                Duration::from_secs(10),
                "every viewer waits on its own origin request",
                |s| s["origin_requests"].as_u64() >= Some(before + 17),
            )
            .await;
        stack.catalogue_proxy.as_ref().unwrap().set(Mode::Pass);
    };
    let (replies, ()) = tokio::join!(requests, release);
    assert_eq!(busy.await.unwrap(), 200);
    (stack, replies)
}

/// Viewer `i` is user `i % 8 + 1`.
fn eight_users(i: usize) -> Vec<(String, String)> {
    vec![("authorization".into(), format!("Bearer user-{}", i % 8 + 1))]
}

fn one_environment_behind_proxies(distribution: Option<Distribution>) -> Options {
    Options {
        environments: 1,
        proxies: true,
        distribution,
        ..Options::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sixteen_concurrent_me_requests_from_eight_users_each_get_their_own_body() {
    let (stack, replies) = sixteen_me_requests_behind_the_held_environment().await;
    for (i, reply) in &replies {
        let user = i % 8 + 1;
        assert_eq!(reply.status, 200, "{i}: {}", reply.body);
        assert!(
            reply.body.contains(&format!("\"id\":{user}")) && reply.body.contains(&format!("user{user}@")),
            "viewer {i} (user-{user}) got {}",
            reply.body
        );
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_caching_disabled_behaviour_never_collapses() {
    let (stack, replies) = sixteen_me_requests_behind_the_held_environment().await;
    for (i, reply) in &replies {
        assert_eq!(
            (reply.status, reply.x_cache()),
            (200, "Miss from cloudfront"),
            "{i}: {}",
            reply.body
        );
        assert_eq!(reply.all("cache-control"), ["private, no-store"]);
    }
    let stats = stack.stats().await;
    assert_eq!(stats["origin_requests"], 17, "one origin request per viewer: {stats}");
    assert_eq!(
        stats["uncollapsed"], 0,
        "nothing was collapsed in the first place: {stats}"
    );
    assert_eq!(stats["cache_entries"], 1, "only the product: {stats}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_that_is_not_storable_is_never_shared_by_collapsing() {
    // A misconfigured distribution: /api/me* on the public (caching) policy. Every viewer
    // still gets its own origin request, because the answer (`private, no-store`) is not
    // storable.
    let mut table = deployed();
    let public = table.behaviour_for("/api/products/1").clone();
    for b in table
        .behaviours
        .iter_mut()
        .filter(|b| b.path_pattern.starts_with("/api/me"))
    {
        let mut changed = (**b).clone();
        changed.cache_policy = public.cache_policy.clone();
        changed.origin_request_policy = public.origin_request_policy.clone();
        *b = std::sync::Arc::new(changed);
    }
    let stack = Stack::with(one_environment_behind_proxies(Some(table))).await;
    let busy = hold_the_only_environment(&stack).await;
    let replies = concurrently(&stack, "/api/me", 16, |_| vec![]).await;
    assert_eq!(busy.await.unwrap(), 200);
    for (_, reply) in &replies {
        assert_eq!(reply.status, 401);
    }
    let stats = stack.stats().await;
    assert_eq!(stats["origin_requests"], 17, "{stats}");
    assert_eq!(stats["uncollapsed"], 15, "every waiter fetched its own: {stats}");
    stack.stop().await;
}

/// The deployed table with the products behaviours on CachingDisabled: their origin fetch
/// runs in the viewer's own request (nothing to collapse), so a hang-up drops it mid-way.
fn products_not_cached() -> Distribution {
    let mut table = deployed();
    let disabled = table.behaviour_for("/api/me").cache_policy.clone();
    for b in table
        .behaviours
        .iter_mut()
        .filter(|b| b.path_pattern.starts_with("/api/products"))
    {
        let mut changed = (**b).clone();
        changed.cache_policy = disabled.clone();
        *b = std::sync::Arc::new(changed);
    }
    table
}

fn invocations(stats: &serde_json::Value) -> u64 {
    stats["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["invocations"].as_u64().unwrap())
        .sum()
}

#[tokio::test(flavor = "multi_thread")]
async fn viewers_that_hang_up_mid_miss_never_lose_an_environment() {
    let stack = Stack::with(Options {
        proxies: true,
        environments: 2,
        distribution: Some(products_not_cached()),
        ..Options::default()
    })
    .await;
    // Warm: the handler's process and both environments are up.
    for id in [20, 21] {
        assert_eq!(stack.get(&format!("/api/products/{id}")).await.status, 200);
    }
    stack.catalogue_proxy.as_ref().unwrap().set(Mode::Delay);
    for id in 1..=4 {
        let hung_up = stack
            .client
            .get(format!("{}/api/products/{id}", stack.base))
            .timeout(Duration::from_millis(500))
            .send()
            .await;
        assert!(hung_up.is_err(), "the viewer hung up before the answer");
    }
    stack.catalogue_proxy.as_ref().unwrap().set(Mode::Pass);
    let started = Instant::now();
    let fresh = stack
        .client
        .get(format!("{}/api/products/9", stack.base))
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("a fresh miss is answered: no environment was lost");
    assert_eq!(fresh.status().as_u16(), 200);
    eprintln!("fresh miss after 4 hang-ups: {:?}", started.elapsed());
    // The invocations the viewers abandoned ran to their end, as Lambda's do.
    stack
        .wait_for_stats(Duration::from_secs(20), "the abandoned invocations complete", |s| {
            invocations(s) >= 5
        })
        .await;
    // And a cached behaviour's fetch outlives its leader's hang-up: it fills the cache.
    stack.catalogue_proxy.as_ref().unwrap().set(Mode::Delay);
    let hung_up = stack
        .client
        .get(format!("{}/api/config", stack.base))
        .timeout(Duration::from_millis(500))
        .send()
        .await;
    assert!(hung_up.is_err());
    stack
        .wait_for_stats(Duration::from_secs(20), "the abandoned fetch fills the cache", |s| {
            s["cache_entries"] == 1
        })
        .await;
    stack.catalogue_proxy.as_ref().unwrap().set(Mode::Pass);
    assert_eq!(stack.get("/api/config").await.x_cache(), "Hit from cloudfront");
    stack.stop().await;
}

/// local-edge.md and lambda-edge-rules.md, "Throttling" (issue 28): no free environment within
/// the wait is the function URL's own `429`, an origin answer: origin-response runs on it, it
/// reaches the viewer as `Error from cloudfront`, is never cached, and never replaced by the
/// stale copy the edge holds (stale-if-error is for 5xx and an unreachable origin).
#[tokio::test(flavor = "multi_thread")]
async fn no_free_environment_within_the_limit_is_the_function_urls_429_never_a_stale_copy() {
    let stack = Stack::with(Options {
        environment_wait: Duration::from_millis(300),
        package: Some(root().join("local-edge/tests/fixtures/stale-if-error-handler")),
        ..one_environment_behind_proxies(None)
    })
    .await;
    let stored = stack.get("/api/products/34").await;
    assert_eq!(stored.status, 200);
    stack.advance(5).await; // past s-maxage=1: a copy servable only on an origin error
    let busy = hold_the_only_environment(&stack).await;
    let started = Instant::now();
    let throttled = stack.get("/api/products/34").await;
    assert_eq!((throttled.status, throttled.x_cache()), (429, "Error from cloudfront"));
    assert_eq!(
        throttled.header("x-origin-response-saw"),
        Some("429"),
        "origin-response ran on it"
    );
    assert!(throttled.body.contains("Rate Exceeded."), "{}", throttled.body);
    assert_ne!(throttled.body, stored.body, "never the stale copy");
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(busy.await.unwrap(), 200);
    assert_eq!(stack.stats().await["environment_waits_exceeded"], 1);
    stack.catalogue_proxy.as_ref().unwrap().set(Mode::Pass);
    let after = stack.get("/api/products/34").await;
    assert_eq!(after.status, 200, "a 429 is never cached");
    assert!(
        matches!(after.header("x-origin-response-saw"), Some("200" | "304")),
        "asked the origin again (the copy revalidated with its ETag): {:?}",
        after.headers
    );
    stack.stop().await;
}

/// cache-control.md rule 6, "Negative answers" (issue 28): a product that does not exist yet
/// answers 404 with a short edge lifetime (N = 10 s) and no stale window, at the edge and in
/// the origin's L1/L2 alike, so once it is added to the catalogue it is served within N + 1 s
/// of its first 404. The edge's clock is moved in step with the real one (the origin's layers
/// run on the real clock).
#[tokio::test(flavor = "multi_thread")]
async fn a_product_added_after_its_404_is_served_within_the_negative_lifetime() {
    let stack = Stack::start().await; // 50 products
    let first = stack.get("/api/products/60").await;
    let first_at = Instant::now();
    assert_eq!(first.status, 404);
    assert_eq!(first.all("cache-control"), ["public, max-age=0, s-maxage=10"]);
    assert_eq!(stack.get("/api/products/60").await.x_cache(), "Error from cloudfront");
    stack.seed(60).await; // product 60 now exists
    let served = loop {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        stack.advance(1).await;
        let reply = stack.get("/api/products/60").await;
        if reply.status == 200 {
            break first_at.elapsed();
        }
        assert_eq!(reply.status, 404);
        assert!(first_at.elapsed() < Duration::from_secs(20), "still 404 after 20 s");
    };
    assert!(
        served <= Duration::from_secs(11),
        "served {served:?} after the first 404"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_token_on_a_public_route_gets_the_cached_public_answer() {
    let stack = Stack::start().await;
    let with_token = stack
        .get_with("/api/products/5", &[("authorization", "Bearer user-7")])
        .await;
    assert_eq!(with_token.status, 200);
    assert!(
        with_token.all("cache-control")[0].starts_with("public"),
        "the origin never saw the token: {:?}",
        with_token.headers
    );
    let anonymous = stack.get("/api/products/5").await;
    assert_eq!(anonymous.x_cache(), "Hit from cloudfront");
    assert_eq!(anonymous.body, with_token.body);
    // Another spelling of a private route lands on the default (public) behaviour, where the
    // credential is not forwarded: the origin never answers with the user, as on AWS.
    let shouted = stack.get_with("/API/ME", &[("authorization", "Bearer user-7")]).await;
    assert!(
        shouted.status == 401 || shouted.status == 404,
        "{} {}",
        shouted.status,
        shouted.body
    );
    assert!(!shouted.body.contains("user7@"));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_viewers_if_none_match_never_yields_a_bodyless_answer_to_another_viewer() {
    // Even where the distribution forwards every viewer header.
    let stack = Stack::with(one_environment_behind_proxies(Some(forwarding_every_header()))).await;
    // The current ETag, learned under another key (another Accept-Encoding).
    let reference = stack.get_with("/api/products/7", &[("accept-encoding", "br")]).await;
    let etag = reference.header("etag").expect("an ETag").to_owned();
    let busy = hold_the_only_environment(&stack).await;
    let conditional = |i: usize| {
        if i % 2 == 0 {
            vec![("if-none-match".to_owned(), etag.clone())]
        } else {
            vec![]
        }
    };
    let replies = concurrently(&stack, "/api/products/7", 16, conditional).await;
    assert_eq!(busy.await.unwrap(), 200);
    for (i, reply) in &replies {
        if i % 2 == 0 {
            assert_eq!(reply.status, 304, "viewer {i} asked with the current ETag");
            assert!(reply.body.is_empty());
        } else {
            assert_eq!(reply.status, 200, "viewer {i} sent no conditional");
            assert_eq!(reply.body, reference.body, "viewer {i}");
        }
    }
    // The stale path: a conditional viewer triggers the revalidation; the others still get
    // the body.
    stack.catalogue_proxy.as_ref().unwrap().set(Mode::Pass);
    stack.advance(301).await;
    let replies = concurrently(&stack, "/api/products/7", 8, conditional).await;
    for (i, reply) in replies.iter().filter(|(i, _)| i % 2 == 1) {
        assert_eq!(
            (reply.status, reply.body.as_str()),
            (200, reference.body.as_str()),
            "viewer {i}"
        );
    }
    let plain = stack.get("/api/products/7").await;
    assert_eq!((plain.status, plain.body.as_str()), (200, reference.body.as_str()));
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_spinning_handler_is_replaced_and_the_next_request_succeeds() {
    let mut table = deployed();
    table.function.timeout_secs = 1;
    let stack = Stack::with(Options {
        package: Some(root().join("local-edge/tests/fixtures/spinning-handler")),
        distribution: Some(table),
        ..Options::default()
    })
    .await;
    assert_eq!(stack.get("/api/products/1").await.status, 200);
    let started = Instant::now();
    let spun = stack.get("/spin").await;
    assert_eq!(
        (spun.status, spun.x_cache()),
        (503, "LambdaExecutionError from cloudfront")
    );
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    let started = Instant::now();
    let next = stack.get("/api/products/2").await;
    assert_eq!(next.status, 200, "{}", next.body);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the next call must not wait on the spinning process: {:?}",
        started.elapsed()
    );
    assert_eq!(stack.stats().await["handler_replacements"], 1);

    // Calls caught on a spinning process fail with it (or were answered before it spun);
    // their failures, however many, end that process only, never the one replacing it.
    let mut caught = tokio::task::JoinSet::new();
    for path in ["/spin", "/api/products/3", "/api/products/4", "/api/products/5"] {
        let (client, url) = (stack.client.clone(), format!("{}{path}", stack.base));
        caught.spawn(async move { client.get(url).send().await.unwrap().status().as_u16() });
    }
    while let Some(status) = caught.join_next().await {
        assert!(matches!(status.unwrap(), 200 | 503));
    }
    for id in 6..=10 {
        assert_eq!(stack.get(&format!("/api/products/{id}")).await.status, 200);
    }
    assert_eq!(
        stack.stats().await["handler_replacements"],
        2,
        "one replacement per spinning process"
    );
    stack.stop().await;
}

/// The deployed table with an error-caching change.
fn with_error_caching(default_min_ttl_secs: u64, custom: &[(u16, u64)]) -> Distribution {
    let mut table = deployed();
    table.error_caching.default_min_ttl_secs = default_min_ttl_secs;
    table.error_caching.custom = custom
        .iter()
        .map(|(status, min_ttl_secs)| CustomErrorResponse {
            status: *status,
            min_ttl_secs: *min_ttl_secs,
        })
        .collect();
    table
}

#[tokio::test(flavor = "multi_thread")]
async fn errors_are_cached_as_the_error_caching_settings_say() {
    // The deployed table: 400 is left at the default, 10 s, even though it says no-store.
    let stack = Stack::start().await;
    let bad = "/api/products?sort=bogus";
    let first = stack.get(bad).await;
    assert_eq!(
        (first.status, first.x_cache()),
        (400, "Error from cloudfront"),
        "{}",
        first.body
    );
    let again = stack.get(bad).await;
    assert_eq!((again.status, again.body.as_str()), (400, first.body.as_str()));
    assert!(again.header("age").is_some(), "served from the cache");
    assert_eq!(stack.origin_requests().await, 1);
    stack.advance(9).await;
    stack.get(bad).await;
    assert_eq!(stack.origin_requests().await, 1, "still inside 10 s");
    stack.advance(2).await;
    stack.get(bad).await;
    assert_eq!(stack.origin_requests().await, 2, "past 10 s");
    stack.stop().await;

    // 400 set to 0: never cached.
    let stack = Stack::with(Options {
        distribution: Some(with_error_caching(10, &[(400, 0)])),
        ..Options::default()
    })
    .await;
    for n in 1..=3 {
        assert_eq!(stack.get(bad).await.status, 400);
        assert_eq!(stack.origin_requests().await, n);
    }
    assert_eq!(stack.stats().await["errors_cached"], 0);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_error_is_never_cached_over_a_copy_inside_stale_if_error() {
    // 503 cached 10 s (no custom entry), so only the stale-if-error rule keeps the good copy.
    let mut stack = Stack::with(Options {
        distribution: Some(with_error_caching(10, &[])),
        origin_env: vec![
            ("ORIGIN_L1_TTL_SECONDS".into(), "0".into()),
            ("ORIGIN_L2_ENABLED".into(), "false".into()),
        ],
        ..Options::default()
    })
    .await;
    let good = stack.get("/api/products/11").await;
    assert_eq!(good.status, 200);
    stack.stop_catalogue().await;
    stack.advance(400).await; // stale: inside stale-while-revalidate and stale-if-error
    let stale = stack.get("/api/products/11").await;
    assert_eq!((stale.status, stale.body.as_str()), (200, good.body.as_str()));
    stack
        .wait_for_stats(Duration::from_secs(20), "the revalidation failed", |s| {
            s["origin_errors"].as_u64().unwrap() >= 1
        })
        .await;
    let after = stack.get("/api/products/11").await;
    assert_eq!(
        (after.status, after.body.as_str()),
        (200, good.body.as_str()),
        "the 503 replaced the stale copy"
    );
    assert_eq!(stack.stats().await["errors_cached"], 0);
    // Without a stale copy the same 503 is cached for 10 s, as the settings say.
    assert_eq!(stack.get("/api/products/12").await.status, 503);
    assert_eq!(stack.stats().await["errors_cached"], 1);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn methods_outside_allowed_methods_get_cloudfronts_403_and_never_reach_the_origin() {
    let stack = Stack::start().await;
    for method in [reqwest::Method::POST, reqwest::Method::DELETE, reqwest::Method::OPTIONS] {
        let reply = stack.request(method.clone(), "/api/products/1", &[]).await;
        assert_eq!(
            (reply.status, reply.x_cache()),
            (403, "Error from cloudfront"),
            "{method}"
        );
    }
    let stats = stack.stats().await;
    assert_eq!(
        (stats["origin_requests"].as_u64(), stats["methods_refused"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(
        stack
            .request(reqwest::Method::HEAD, "/api/products/1", &[])
            .await
            .status,
        200
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_origin_checks_the_secret_and_a_viewers_guess_never_reaches_it() {
    let stack = Stack::start().await;
    assert!(stack.secret.len() >= 32, "a random secret per stack");
    // A viewer's own X-Origin-Verify is overwritten by the origin custom header.
    let reply = stack.get_with("/api/products/3", &[("x-origin-verify", "guess")]).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    stack.stop().await;

    // An edge that sends another secret than the environments hold is refused (403, not
    // cached: the table sets 403 to 0).
    let mut table = deployed();
    for h in table.origin.custom_headers.iter_mut() {
        h.value = "not-the-secret".into();
    }
    let stack = Stack::with(Options {
        distribution: Some(table),
        ..Options::default()
    })
    .await;
    for n in 1..=2 {
        let refused = stack.get("/api/products/3").await;
        assert_eq!(refused.status, 403, "{}", refused.body);
        assert!(refused.cache_status().contains("unverified"), "{:?}", refused.headers);
        assert_eq!(stack.origin_requests().await, n);
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn only_associated_triggers_run_and_viewer_response_never_changes_the_status() {
    let marking = root().join("local-edge/tests/fixtures/marking-handler");
    // The deployed distribution associates viewer-request and origin-response only.
    let stack = Stack::with(Options {
        package: Some(marking.clone()),
        ..Options::default()
    })
    .await;
    let reply = stack.get("/api/products/1").await;
    assert_eq!(reply.header("x-origin-response-saw"), Some("200"));
    assert_eq!(
        reply.header("x-viewer-response"),
        None,
        "viewer-response is not associated"
    );
    stack.stop().await;

    let mut table = deployed();
    for b in table.behaviours.iter_mut() {
        let mut changed = (**b).clone();
        changed.triggers.push(edge_policy::cloudfront::Trigger::ViewerResponse);
        *b = std::sync::Arc::new(changed);
    }
    let stack = Stack::with(Options {
        package: Some(marking),
        distribution: Some(table),
        ..Options::default()
    })
    .await;
    assert_eq!(
        stack.get("/api/products/1").await.header("x-viewer-response"),
        Some("ran")
    );
    let missing = stack.get("/api/products/999999").await;
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.header("x-viewer-response"),
        None,
        "not run on a status of 400 or more"
    );
    let changed = stack
        .get_with("/api/products/1", &[("x-test-change-status", "1")])
        .await;
    assert_eq!(
        (changed.status, changed.x_cache()),
        (502, "LambdaValidationError from cloudfront")
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_304_runs_origin_response_and_renews_the_stored_lifetime() {
    let stack = Stack::with(Options {
        package: Some(root().join("local-edge/tests/fixtures/marking-handler")),
        ..Options::default()
    })
    .await;
    let first = stack.get("/api/config").await; // s-maxage=60, stale-while-revalidate=300
    assert_eq!(first.header("x-origin-response-saw"), Some("200"));
    stack.advance(400).await; // past every window: revalidated with the stored ETag
    let refreshed = stack.get("/api/config").await;
    assert_eq!(refreshed.x_cache(), "RefreshHit from cloudfront");
    assert_eq!(refreshed.body, first.body);
    assert_eq!(
        refreshed.header("x-origin-response-saw"),
        Some("304"),
        "origin-response ran on the 304"
    );
    assert_eq!(refreshed.header("age"), Some("0"));
    stack.advance(30).await;
    let hit = stack.get("/api/config").await;
    assert_eq!(hit.x_cache(), "Hit from cloudfront", "the lifetime started again");
    assert_eq!(stack.stats().await["origin_requests"], 2);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cloudfront_alone_table_keys_exactly_as_its_cache_policy_says() {
    // No edge function at all, and the public policy keying only `category`.
    let mut table = deployed();
    for b in table.behaviours.iter_mut() {
        let mut changed = (**b).clone();
        changed.triggers.clear();
        if changed.cache_policy.caching {
            changed.cache_policy.query_strings = Selection::Whitelist {
                names: vec!["category".into()],
            };
        }
        *b = std::sync::Arc::new(changed);
    }
    table.origin.access_control = AccessControl::Never;
    let stack = Stack::with(Options {
        distribution: Some(table),
        ..Options::default()
    })
    .await;
    let a = stack.get("/api/products?category=books&sort=price").await;
    assert_eq!(a.x_cache(), "Miss from cloudfront");
    assert_eq!(
        a.all("cache-control"),
        ["public, max-age=60, s-maxage=300, stale-while-revalidate=86400, stale-if-error=86400"],
        "the origin's own header: no origin-response ran"
    );
    let b = stack.get("/api/products?sort=-price&category=books").await;
    assert_eq!(b.x_cache(), "Hit from cloudfront", "sort is not keyed");
    assert_eq!(b.body, a.body);
    // No path normalization: another spelling is another key.
    let c = stack.get("/api//products?category=books").await;
    assert_eq!(c.x_cache(), "Miss from cloudfront");
    // The query order is kept as received.
    stack.get("/api/products?category=toys&category=books").await;
    let reordered = stack.get("/api/products?category=books&category=toys").await;
    assert_eq!(reordered.x_cache(), "Miss from cloudfront");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_origin_alone_as_a_function_url_checks_its_secret_and_caches_nothing() {
    let stack = Stack::with(Options {
        function_url_only: true,
        ..Options::default()
    })
    .await;
    let refused = stack.get("/api/products/4").await;
    assert_eq!(refused.status, 403, "a call without the secret: {}", refused.body);
    let secret = stack.secret.clone();
    let mut bodies = Vec::new();
    for _ in 0..2 {
        let reply = stack
            .get_with("/api/products/4?utm_source=x", &[("x-origin-verify", &secret)])
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert!(reply.body.contains("\"id\":4"));
        assert_eq!(reply.header("x-cache"), None, "no edge in front");
        assert!(reply.cache_status().starts_with("origin"), "{:?}", reply.headers);
        bodies.push(reply.body);
    }
    assert_eq!(bodies[0], bodies[1]);
    stack.stop().await;
}
