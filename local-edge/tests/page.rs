//! The live page's JSON and its guard, end to end (the real stack, the built wasm-pkg): the
//! rows say what the viewers saw, a request's explanation names the dropped tracking
//! parameter and the key both requests shared, every `/__edge/*` path refuses a
//! non-loopback `Host`, nothing shows a credential or the origin's secret, and the page is
//! off beyond loopback unless asked for. (The page in a real browser: tests/page/.)

mod common;

use std::net::SocketAddr;
use std::path::PathBuf;

use common::root;
use serde_json::Value;

const SECRET: &str = "origin-secret-3f9c2a71d4e8";

async fn start(listen: Option<SocketAddr>, debug_page: Option<bool>) -> local_edge::Stack {
    let mut builder = local_edge::Stack::builder()
        .root(root())
        .products(50)
        .environments(1)
        .secret(SECRET)
        .edge_package(root().join("wasm-pkg"));
    if let Some(bin) = std::env::var_os("ORIGIN_BIN") {
        builder = builder.origin_bin(PathBuf::from(bin));
    }
    if let Some(bin) = std::env::var_os("SEED_BIN") {
        builder = builder.seed_bin(PathBuf::from(bin));
    }
    if let Some(listen) = listen {
        builder = builder.listen(listen);
    }
    if let Some(on) = debug_page {
        builder = builder.debug_page(on);
    }
    builder.start().await.expect("the stack starts")
}

/// GET `path` on `base` with `headers`: status, `X-Cache`, body.
async fn get(base: &str, path: &str, headers: &[(&str, &str)]) -> (u16, String, String) {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    for (n, v) in headers {
        request = request.header(*n, *v);
    }
    let response = request.send().await.expect("the edge answers");
    let status = response.status().as_u16();
    let x_cache = response
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, x_cache, response.text().await.unwrap())
}

async fn json(base: &str, path: &str) -> Value {
    let (status, _, body) = get(base, path, &[]).await;
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rows_say_what_the_viewers_saw_and_an_explanation_names_the_dropped_parameter() {
    let stack = start(None, None).await;
    let base = stack.url();
    let (_, first, _) = get(&base, "/api/products/42?utm_source=news&page=2", &[]).await;
    let (_, second, _) = get(&base, "/api/products/42?fbclid=abc&page=2", &[]).await;
    assert_eq!(
        (first.as_str(), second.as_str()),
        ("Miss from cloudfront", "Hit from cloudfront")
    );

    let live = json(&base, "/__edge/live?after=0").await;
    let rows = live["requests"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{live}");
    assert_eq!(rows[0]["x_cache"], "Miss from cloudfront");
    assert_eq!(rows[1]["x_cache"], "Hit from cloudfront");
    assert_eq!(rows[1]["url"], "/api/products/42?fbclid=abc&page=2");
    assert_eq!(rows[1]["behaviour"], "/api/products/*");
    let key = "d111111abcdef8.cloudfront.net/api/products/42?page=2";
    assert_eq!(
        (rows[0]["key"].as_str(), rows[1]["key"].as_str()),
        (Some(key), Some(key))
    );
    assert_eq!(
        rows[1]["differs"], false,
        "the Wasm handler and the native policy agree"
    );
    assert!(
        rows[0]["cache_status"][0].as_str().unwrap().starts_with("origin"),
        "{}",
        rows[0]
    );
    // The counters are /__edge/stats.
    let stats = json(&base, "/__edge/stats").await;
    for counter in ["requests", "hits", "misses", "stale_serves", "collapsed_waiters"] {
        assert_eq!(live["stats"][counter], stats[counter], "{counter}");
    }
    assert_eq!(live["stats"]["environments"][0]["cold_starts"], 1);
    let behaviours = live["series"]["behaviours"].as_array().unwrap();
    assert_eq!(behaviours[0]["behaviour"], "/api/products/*");
    let bucket = &behaviours[0]["buckets"][0];
    assert_eq!(
        (bucket[1].as_u64(), bucket[2].as_u64()),
        (Some(1), Some(2)),
        "one hit of two"
    );
    // Only what came after.
    let latest = live["latest"].as_u64().unwrap();
    assert!(json(&base, &format!("/__edge/live?after={latest}")).await["requests"]
        .as_array()
        .unwrap()
        .is_empty());

    let id = rows[1]["id"].as_u64().unwrap();
    let explained = json(&base, &format!("/__edge/explain?id={id}")).await;
    let text = explained["text"].as_str().unwrap();
    assert!(text.contains("tracking parameter fbclid"), "{text}");
    assert!(text.contains(&format!("cloudfront cache key {key}")), "{text}");
    assert!(explained["computed_by"]
        .as_str()
        .unwrap()
        .contains("native edge-policy"));
    assert_eq!(explained["handler"], "/api/products/42?page=2");
    let (status, _, _) = get(&base, "/__edge/explain?id=999999", &[]).await;
    assert_eq!(status, 404);

    // The page and its files, under a policy that allows nothing from elsewhere.
    let response = reqwest::get(format!("{base}/__edge/")).await.unwrap();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    let html = response.text().await.unwrap();
    assert!(
        html.contains("/__edge/page.js") && !html.contains("http"),
        "no asset from elsewhere"
    );
    for file in ["/__edge/page.js", "/__edge/page.css"] {
        assert_eq!(get(&base, file, &[]).await.0, 200, "{file}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn every_debug_path_refuses_a_host_that_is_not_loopback() {
    let stack = start(None, None).await;
    let base = stack.url();
    for path in [
        "/__edge/",
        "/__edge",
        "/__edge/stats",
        "/__edge/live",
        "/__edge/explain?id=1",
        "/__edge/page.js",
        "/__edge/nope",
    ] {
        for host in [
            "evil.example",
            "attacker.example:8080",
            "127.0.0.1.nip.example",
            "10.1.2.3",
        ] {
            let (status, _, body) = get(&base, path, &[("host", host)]).await;
            assert_eq!(status, 403, "{path} with Host {host}: {body}");
        }
        let (status, _, _) = get(&base, path, &[("host", "localhost")]).await;
        assert_ne!(status, 403, "{path} with Host localhost");
    }
    // A viewer path that only starts alike is the origin's, as before.
    let (status, _, _) = get(&base, "/__edgex", &[("host", "evil.example")]).await;
    assert_eq!(status, 404);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn no_credential_cookie_value_or_secret_shows() {
    let stack = start(None, None).await;
    let base = stack.url();
    let sent = [
        ("authorization", "Bearer user-7"),
        ("x-viewer-authorization", "Bearer viewer-relay-5b1e"),
        ("cookie", "session=cookie-value-a41d; theme=dark-c0ffee"),
        ("x-origin-verify", SECRET),
    ];
    get(&base, "/api/me", &sent).await;
    get(&base, "/api/products/3?page=1", &sent).await;
    get(&base, &format!("/api/products/4?q={SECRET}"), &[]).await;
    let mut seen = json(&base, "/__edge/live?after=0").await.to_string();
    for id in 1..=3 {
        seen.push_str(&json(&base, &format!("/__edge/explain?id={id}")).await.to_string());
    }
    seen.push_str(&json(&base, "/__edge/stats").await.to_string());
    for value in [
        "user-7",
        "viewer-relay-5b1e",
        "cookie-value-a41d",
        "dark-c0ffee",
        SECRET,
    ] {
        assert!(!seen.contains(value), "{value} shows in {seen}");
    }
    for shown in ["authorization", "[redacted]", "session=[redacted]", "x-origin-verify"] {
        assert!(seen.contains(shown), "{shown}");
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_loopback_the_page_is_off_unless_asked_for() {
    // 0.0.0.0 is not loopback; a loopback client still reaches it through 127.0.0.1.
    let any: SocketAddr = "0.0.0.0:0".parse().unwrap();
    let stack = start(Some(any), None).await;
    let base = format!("http://127.0.0.1:{}", stack.addr().port());
    get(&base, "/api/products/1", &[]).await;
    assert_eq!(get(&base, "/__edge/", &[]).await.0, 404, "off by default");
    assert_eq!(get(&base, "/__edge/live", &[]).await.0, 404);
    assert_eq!(get(&base, "/__edge/stats", &[]).await.0, 200, "the counters stay");
    stack.stop().await;
    let stack = start(Some(any), Some(true)).await;
    let base = format!("http://127.0.0.1:{}", stack.addr().port());
    assert_eq!(get(&base, "/__edge/", &[]).await.0, 200, "--debug-page");
    stack.stop().await;
}
