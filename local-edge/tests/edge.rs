//! The local edge end to end: real processes, real HTTP, the built wasm-pkg, the real origin.

mod common;

use std::time::{Duration, Instant};

use common::{forwarding_every_header, root, Options, Stack};

#[tokio::test(flavor = "multi_thread")]
async fn miss_then_hit_with_age_via_and_cf_id() {
    let stack = Stack::start().await;
    let first = stack.get("/api/products/7").await;
    assert_eq!(first.status, 200);
    assert_eq!(first.x_cache(), "Miss from cloudfront");
    assert!(first.body.contains("\"id\":7"), "{}", first.body);
    let second = stack.get("/api/products/7").await;
    assert_eq!(second.x_cache(), "Hit from cloudfront");
    assert!(second.header("age").is_some());
    assert_eq!(second.body, first.body);
    assert!(second.header("via").unwrap().ends_with("(CloudFront)"));
    assert!(second.header("x-amz-cf-id").is_some());
    let stats = stack.stats().await;
    assert_eq!(
        (
            stats["hits"].as_u64(),
            stats["misses"].as_u64(),
            stats["origin_requests"].as_u64()
        ),
        (Some(1), Some(1), Some(1))
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tracking_and_reordered_variants_hit_the_same_entry() {
    let stack = Stack::start().await;
    let first = stack.get("/api/products?category=books&sort=price").await;
    assert_eq!(first.x_cache(), "Miss from cloudfront");
    for variant in [
        "/api/products?sort=price&category=books",
        "/api/products?utm_source=news&sort=price&fbclid=x&category=books",
        "/api/products?category=b%6Foks&sort=price&gclid=1",
        "//api/products/?category=books&sort=price&color=red",
    ] {
        let reply = stack.get(variant).await;
        let expected = if variant.ends_with("color=red") {
            "/api/products/"
        } else {
            "/api/products"
        };
        if expected == "/api/products" {
            assert_eq!(reply.x_cache(), "Hit from cloudfront", "{variant}");
            assert_eq!(reply.body, first.body, "{variant}");
        }
    }
    assert_eq!(
        stack.stats().await["origin_requests"],
        2,
        "only the canonical key and the trailing-slash path went to the origin"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exactly_one_cache_control_line_with_the_routes_directives() {
    let stack = Stack::start().await;
    for (path, expected) in [
        (
            "/api/products/3",
            "public, max-age=60, s-maxage=300, stale-while-revalidate=86400, stale-if-error=86400",
        ),
        (
            "/api/config",
            "public, max-age=0, s-maxage=60, stale-while-revalidate=300",
        ),
        // A 404: cache-control.md rule 6, "Negative answers" (issue 28) — the route's
        // freshness never applies; a short edge lifetime, no stale window.
        ("/nothing-here", "public, max-age=0, s-maxage=10"),
    ] {
        let reply = stack.get(path).await;
        assert_eq!(reply.all("cache-control"), [expected], "{path}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn stale_while_revalidate_serves_at_once_then_refreshes() {
    let stack = Stack::start().await;
    stack.get("/api/products/9").await;
    stack.advance(301).await; // past s-maxage=300, inside stale-while-revalidate=86400
    let stale = stack.get("/api/products/9").await;
    assert_eq!(stale.x_cache(), "Hit from cloudfront");
    assert!(stale.header("age").unwrap().parse::<u64>().unwrap() >= 301);
    // The background revalidation refreshes the entry: Age starts again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = stack.get("/api/products/9").await;
        if reply.header("age").unwrap().parse::<u64>().unwrap() < 301 {
            break;
        }
        assert!(Instant::now() < deadline, "the stale entry was never revalidated");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stack
        .wait_for_stats(Duration::from_secs(10), "the revalidation to end", |s| {
            s["revalidations_in_flight"] == 0
        })
        .await;
    let stats = stack.stats().await;
    assert_eq!(stats["origin_requests"], 2);
    // One of the two reached the origin for no viewer: the background revalidation.
    assert_eq!(stats["background_fetches"], 1);
    assert!(stats["stale_serves"].as_u64().unwrap() >= 1);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn origin_failing_serves_the_stale_copy_never_the_error() {
    // L1 and L2 off, so the origin really reaches its source, which we then take away.
    let options = Options {
        origin_env: vec![
            ("ORIGIN_L1_TTL_SECONDS".into(), "0".into()),
            ("ORIGIN_L2_ENABLED".into(), "false".into()),
        ],
        ..Options::default()
    };
    let mut stack = Stack::with(options).await;
    let good = stack.get("/api/products/11").await;
    assert_eq!(good.status, 200);
    stack.stop_catalogue().await;
    stack.advance(400).await; // stale: past s-maxage, inside stale-while-revalidate and stale-if-error
    for _ in 0..3 {
        let reply = stack.get("/api/products/11").await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.body, good.body);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The background revalidation fails (after the origin's own source deadline); the
    // stale copy keeps answering meanwhile and afterwards.
    let deadline = Instant::now() + Duration::from_secs(20);
    while stack.stats().await["origin_errors"].as_u64().unwrap() == 0 {
        assert!(Instant::now() < deadline, "the revalidation never failed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = stack.get("/api/products/11").await;
    assert_eq!((after.status, after.body.as_str()), (200, good.body.as_str()));
    // A key with no stale copy gets the origin's failure, its body as the origin wrote it.
    let missing = stack.get("/api/products/12").await;
    assert_eq!(
        (missing.status, missing.body.as_str(), missing.x_cache()),
        (503, r#"{"error":"source_unavailable"}"#, "Error from cloudfront"),
        "{:?}",
        missing.headers
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_handler_output_is_a_502_and_a_throw_is_a_503_execution_error() {
    let options = Options {
        package: Some(root().join("local-edge/tests/fixtures/bad-handler")),
        ..Options::default()
    };
    let stack = Stack::with(options).await;
    for path in ["/bad-uri", "/bad-header", "/bad-host"] {
        let reply = stack.get(path).await;
        assert_eq!(reply.status, 502, "{path}");
        assert_eq!(reply.x_cache(), "LambdaValidationError from cloudfront", "{path}");
    }
    assert_eq!(
        stack.get("/api/config").await.status,
        200,
        "a valid answer still passes"
    );
    assert_eq!(stack.stats().await["validation_errors"], 3);
    stack.stop().await;

    let options = Options {
        package: Some(root().join("local-edge/tests/fixtures/throwing-handler")),
        ..Options::default()
    };
    let stack = Stack::with(options).await;
    let reply = stack.get("/api/config").await;
    assert_eq!(
        (reply.status, reply.x_cache()),
        (503, "LambdaExecutionError from cloudfront")
    );
    // CloudFront's page: the status and the request id; the throw stays in the log.
    let id = reply.header("x-amz-cf-id").unwrap();
    assert!(reply.body.contains(&format!("Request ID: {id}")), "{}", reply.body);
    assert!(
        !reply.body.contains("boom") && !reply.body.contains("index.js"),
        "{}",
        reply.body
    );
    assert_eq!(stack.stats().await["execution_errors"], 1);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn private_routes_are_never_cached_and_users_never_see_each_other() {
    let stack = Stack::start().await;
    let seven = [("authorization", "Bearer user-7")];
    let eight = [("authorization", "Bearer user-8")];
    let a = stack.get_with("/api/me", &seven).await;
    let b = stack.get_with("/api/me", &eight).await;
    let a2 = stack.get_with("/api/me", &seven).await;
    assert!(
        a.body.contains("\"id\":7") && b.body.contains("\"id\":8"),
        "{} / {}",
        a.body,
        b.body
    );
    assert_eq!(a2.body, a.body);
    for reply in [&a, &b, &a2] {
        assert_eq!(reply.x_cache(), "Miss from cloudfront");
        assert_eq!(reply.all("cache-control"), ["private, no-store"]);
        assert!(reply.cache_status().contains("fwd=bypass"));
    }
    assert_eq!(stack.get("/api/me").await.status, 401);
    assert_eq!(stack.get_with("/api/users/8", &seven).await.status, 403);
    for suffix in ["/api/me/x.css", "/api/me%2Fx.css", "/api/me;x.css"] {
        let reply = stack.get_with(suffix, &seven).await;
        assert!(!reply.body.contains("user7"), "{suffix} leaked: {}", reply.body);
        assert_ne!(
            stack.get(suffix).await.x_cache(),
            "Hit from cloudfront",
            "{suffix} was cached"
        );
    }
    assert_eq!(stack.stats().await["cache_entries"], 0);
    stack.stop().await;
}

async fn poisoned(stack: &Stack) -> bool {
    stack
        .get_with(
            "/api/products/5",
            &[("x-forwarded-host", "evil.example"), ("forwarded", "host=evil.example")],
        )
        .await;
    let victim = stack.get("/api/products/5").await;
    assert_eq!(victim.x_cache(), "Hit from cloudfront");
    victim.body.contains("evil")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unkeyed_header_cannot_poison_a_cached_body() {
    let naive = || Some(root().join("bench/naive-handler"));
    // The deployed distribution forwards no viewer header on public behaviours: even the
    // seed's handler, which strips nothing, cannot be poisoned through it.
    let stack = Stack::with(Options {
        package: naive(),
        ..Options::default()
    })
    .await;
    assert!(!poisoned(&stack).await, "the distribution forwarded an unkeyed header");
    stack.stop().await;

    // Where the distribution forwards every header, the product's handler strips them.
    let stack = Stack::with(Options {
        distribution: Some(forwarding_every_header()),
        ..Options::default()
    })
    .await;
    assert!(!poisoned(&stack).await, "the handler let an unkeyed header through");
    stack.stop().await;

    // The control: the same attack through the seed's handler, which strips nothing, does
    // reach the origin where the distribution forwards it (the demo origin builds links from
    // X-Forwarded-Host), so the case above would fail if the handler stopped stripping. The
    // origin's second line of defence (origin-cache.md: an answer built from an input outside
    // the key says `private, no-store`) keeps even this edge from storing it.
    let stack = Stack::with(Options {
        package: naive(),
        distribution: Some(forwarding_every_header()),
        ..Options::default()
    })
    .await;
    let attack = stack
        .get_with("/api/products/5", &[("x-forwarded-host", "evil.example")])
        .await;
    assert!(
        attack.body.contains("evil.example"),
        "the control did not reach the origin: {}",
        attack.body
    );
    assert_eq!(attack.header("cache-control"), Some("private, no-store"));
    let victim = stack.get("/api/products/5").await;
    assert_eq!(victim.x_cache(), "Miss from cloudfront");
    assert!(!victim.body.contains("evil"), "{}", victim.body);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn l1_is_per_environment_and_l2_is_shared() {
    let stack = Stack::start().await;
    // Different Accept-Encoding values are different edge keys, so each request reaches
    // the origin; idle environments are taken in turn: env 0, env 1, env 0.
    let first = stack.get_with("/api/products/21", &[("accept-encoding", "gzip")]).await;
    let second = stack.get_with("/api/products/21", &[("accept-encoding", "br")]).await;
    let third = stack
        .get_with("/api/products/21", &[("accept-encoding", "br, gzip")])
        .await;
    assert!(first.cache_status().contains("fwd=miss"), "{}", first.cache_status());
    assert!(
        second.cache_status().contains("detail=l2"),
        "env 1 answers from L2: {}",
        second.cache_status()
    );
    assert!(
        third.cache_status().contains("detail=l1"),
        "env 0 answers from its L1: {}",
        third.cache_status()
    );
    let stats = stack.stats().await;
    for env in stats["environments"].as_array().unwrap() {
        assert_eq!(env["cold_starts"], 1);
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn l2_server_killed_still_answers_200() {
    let mut stack = Stack::start().await;
    stack.stop_cache().await;
    let started = Instant::now();
    let reply = stack.get("/api/products/31").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(reply.body.contains("\"id\":31"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_misses_for_one_key_are_collapsed() {
    let stack = Stack::start().await;
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (client, url) = (stack.client.clone(), format!("{}/api/products/40", stack.base));
        set.spawn(async move {
            let response = client.get(url).send().await.unwrap();
            let x_cache = response.headers()["x-cache"].to_str().unwrap().to_owned();
            (response.status().as_u16(), x_cache)
        });
    }
    let mut misses = 0;
    while let Some(answer) = set.join_next().await {
        let (status, x_cache) = answer.unwrap();
        assert_eq!(status, 200);
        misses += u64::from(x_cache == "Miss from cloudfront");
    }
    let stats = stack.stats().await;
    assert_eq!(stats["origin_requests"], 1);
    // X-Cache says Miss for every waiter; the counter tells them from the one that fetched.
    assert_eq!(stats["collapsed_waiters"].as_u64().unwrap(), misses - 1);
    assert_eq!(stats["background_fetches"], 0);
    stack.stop().await;
}
