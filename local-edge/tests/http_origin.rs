//! The local edge in front of any HTTP origin (`--http-origin`, issue 24): the built wasm-pkg
//! in Node, the behaviour table written from the rules in force, and a counting origin on
//! loopback. CloudFront's readings (local-edge.md, docs/conformance.md): the TTL comes from
//! the directives, never from `Age`; a revalidation sends one or both validators; `Connection`
//! and what it names never reach a function, the cache or the origin; `CDN-Cache-Control` is
//! the handler's to write as `s-maxage`.

#[path = "common/counting_origin.rs"]
mod counting_origin;

use std::path::PathBuf;
use std::time::Duration;

use counting_origin::{Canned, CountingOrigin};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The edge alone in front of `origin`, its clock movable.
struct Edge {
    stack: local_edge::Stack,
    client: reqwest::Client,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn x_cache(&self) -> &str {
        self.header("x-cache").unwrap_or("")
    }
}

impl Edge {
    async fn in_front_of(origin: &CountingOrigin) -> Edge {
        Edge::with(local_edge::Stack::builder().http_origin(origin.url())).await
    }

    async fn with(builder: local_edge::StackBuilder) -> Edge {
        assert!(
            root().join("wasm-pkg/pkg/origin_response.wasm").exists(),
            "wasm-pkg is not built: run `make wasm`"
        );
        let stack = builder
            .root(root())
            .edge_package(root().join("wasm-pkg"))
            .test_clock(true)
            .start()
            .await
            .expect("the edge starts");
        Edge {
            stack,
            client: reqwest::Client::new(),
        }
    }

    async fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[]).await
    }

    async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.client.get(format!("{}{path}", self.stack.url()));
        for (n, v) in headers {
            request = request.header(*n, *v);
        }
        let response = request.send().await.expect("the edge answers");
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap_or_default(),
        }
    }

    async fn advance(&self, seconds: u64) {
        self.client
            .post(format!("{}/__edge/clock?advance={seconds}", self.stack.url()))
            .send()
            .await
            .unwrap();
    }

    async fn stop(self) {
        self.stack.stop().await;
    }
}

/// What the origin's L2 sends for an entry 250 s old on the products route (300 s): its
/// remaining freshness, and no `Age` (origin-cache.md, "What it says about itself").
fn l2_answer_250_s_old() -> Canned {
    Canned::ok("{\"id\":1}")
        .header(
            "cache-control",
            "public, max-age=0, s-maxage=50, stale-while-revalidate=86400, stale-if-error=86400",
        )
        .header("cache-status", "origin; hit; ttl=50; detail=l2")
        .header("etag", "\"l2\"")
}

#[tokio::test(flavor = "multi_thread")]
async fn an_l2_answer_250_s_old_on_a_300_s_route_is_kept_50_s_and_its_misses_collapse() {
    let origin = CountingOrigin::start().await;
    origin.on("/api/products/aged", |_, _| {
        l2_answer_250_s_old().after(Duration::from_millis(300))
    });
    let edge = Edge::in_front_of(&origin).await;
    let viewers: Vec<_> = (0..8)
        .map(|_| {
            let (client, url) = (edge.client.clone(), format!("{}/api/products/aged", edge.stack.url()));
            tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    for viewer in viewers {
        assert_eq!(viewer.await.unwrap(), 200);
    }
    assert_eq!(origin.count("/api/products/aged"), 1, "a TTL of 50 s collapses: not 0");
    edge.advance(49).await;
    let kept = edge.get("/api/products/aged").await;
    assert_eq!(kept.x_cache(), "Hit from cloudfront", "still fresh at 49 s");
    assert_eq!(origin.count("/api/products/aged"), 1);
    edge.advance(2).await;
    let stale = edge.get("/api/products/aged").await;
    assert_eq!(
        stale.x_cache(),
        "Hit from cloudfront",
        "served stale while revalidating"
    );
    origin.wait_for("/api/products/aged", 2).await;
    assert_eq!(
        origin.seen("/api/products/aged")[1].header("if-none-match"),
        Some("\"l2\""),
        "stale at 51 s: 50, not 300"
    );
    edge.stop().await;
    origin.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn after_the_test_clock_moves_3600_s_a_miss_is_stored_with_its_full_lifetime() {
    let origin = CountingOrigin::start().await;
    // `Date` is the origin's wall clock (hyper writes it); the edge's clock is an hour ahead.
    origin.on("/api/products/full", |_, n| {
        Canned::ok(&format!("v{n}")).header("etag", "\"f\"")
    });
    let edge = Edge::in_front_of(&origin).await;
    edge.advance(3600).await;
    let miss = edge.get("/api/products/full").await;
    assert_eq!(miss.x_cache(), "Miss from cloudfront");
    assert_eq!(
        miss.header("cache-control"),
        Some("public, max-age=60, s-maxage=300, stale-while-revalidate=86400, stale-if-error=86400")
    );
    edge.advance(299).await;
    assert_eq!(edge.get("/api/products/full").await.x_cache(), "Hit from cloudfront");
    assert_eq!(
        origin.count("/api/products/full"),
        1,
        "its full 300 s, not aged by the offset"
    );
    edge.advance(2).await;
    edge.get("/api/products/full").await;
    origin.wait_for("/api/products/full", 2).await;
    edge.stop().await;
    origin.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_last_modified_only_copy_revalidates_with_if_modified_since_and_takes_the_304s_headers() {
    const MODIFIED: &str = "Mon, 30 Nov 2026 08:00:00 GMT";
    let origin = CountingOrigin::start().await;
    origin.on("/api/products/lm", |seen, _| {
        if seen.header("if-modified-since") == Some(MODIFIED) {
            Canned::ok("")
                .status(304)
                .header("last-modified", MODIFIED)
                .header("x-version", "2")
        } else {
            Canned::ok("lm-body")
                .header(
                    "cache-control",
                    "public, s-maxage=10, stale-while-revalidate=0, stale-if-error=0",
                )
                .header("last-modified", MODIFIED)
                .header("x-version", "1")
        }
    });
    let edge = Edge::in_front_of(&origin).await;
    assert_eq!(edge.get("/api/products/lm").await.header("x-version"), Some("1"));
    edge.advance(11).await;
    let refreshed = edge.get("/api/products/lm").await;
    let asked = &origin.seen("/api/products/lm")[1];
    assert_eq!(asked.header("if-modified-since"), Some(MODIFIED));
    assert_eq!(asked.header("if-none-match"), None);
    assert_eq!(refreshed.status, 200);
    assert_eq!(refreshed.body, "lm-body");
    assert_eq!(refreshed.header("x-version"), Some("2"), "the 304's headers");
    assert_eq!(refreshed.x_cache(), "RefreshHit from cloudfront");
    let hit = edge.get("/api/products/lm").await;
    assert_eq!(
        (hit.x_cache(), hit.header("x-version")),
        ("Hit from cloudfront", Some("2"))
    );
    // A viewer's If-Modified-Since is answered from the copy.
    let not_modified = edge
        .get_with("/api/products/lm", &[("if-modified-since", MODIFIED)])
        .await;
    assert_eq!(not_modified.status, 304);
    assert_eq!(origin.count("/api/products/lm"), 2);
    edge.stop().await;
    origin.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_named_header_is_never_stored_nor_forwarded() {
    let origin = CountingOrigin::start().await;
    origin.on("/api/products/hop", |_, _| {
        Canned::ok("hop")
            .header("connection", "x-foo")
            .header("x-foo", "per-connection")
            .header("x-kept", "yes")
    });
    origin.on("/api/me", |_, _| Canned::ok("me"));
    let edge = Edge::in_front_of(&origin).await;
    let miss = edge.get("/api/products/hop").await;
    assert_eq!((miss.header("x-foo"), miss.header("x-kept")), (None, Some("yes")));
    let hit = edge.get("/api/products/hop").await;
    assert_eq!(hit.x_cache(), "Hit from cloudfront");
    assert_eq!(hit.header("x-foo"), None, "never stored");
    // Toward the origin too, on a behaviour that forwards every viewer header.
    edge.get_with(
        "/api/me",
        &[("connection", "x-secret"), ("x-secret", "1"), ("x-other", "2")],
    )
    .await;
    let seen = &origin.seen("/api/me")[0];
    assert_eq!(seen.header("x-secret"), None);
    assert_eq!(seen.header("x-other"), Some("2"));
    edge.stop().await;
    origin.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn cdn_cache_control_max_age_is_kept_300_s_and_reaches_the_viewer_as_the_documented_s_maxage() {
    let origin = CountingOrigin::start().await;
    origin.on("/cdn/a", |_, _| {
        Canned::ok("a")
            .header("cache-control", "max-age=0")
            .header("cdn-cache-control", "max-age=300")
    });
    let edge = Edge::in_front_of(&origin).await;
    let miss = edge.get("/cdn/a").await;
    assert_eq!(
        miss.header("cache-control"),
        Some("public, max-age=0, s-maxage=300, stale-while-revalidate=300, stale-if-error=86400")
    );
    assert_eq!(miss.header("cdn-cache-control"), Some("max-age=300"));
    edge.advance(299).await;
    assert_eq!(edge.get("/cdn/a").await.x_cache(), "Hit from cloudfront");
    assert_eq!(origin.count("/cdn/a"), 1);
    edge.stop().await;
    origin.stop();
}

/// A label, the origin's status and the headers that keep its answer out of the edge.
type UnsharedCase = (&'static str, u16, &'static [(&'static str, &'static str)]);

#[tokio::test(flavor = "multi_thread")]
async fn cdn_cache_control_never_makes_an_unshared_answer_cacheable() {
    let origin = CountingOrigin::start().await;
    let cases: [UnsharedCase; 6] = [
        ("private", 200, &[("cache-control", "private, max-age=60")]),
        ("no-store", 200, &[("cache-control", "no-store")]),
        ("set-cookie", 200, &[("set-cookie", "s=1")]),
        ("vary", 200, &[("vary", "X-Tenant")]),
        ("error", 503, &[("cache-control", "public, s-maxage=60")]),
        ("cdn-no-store", 200, &[("cdn-cache-control", "no-store")]),
    ];
    for (label, status, headers) in cases {
        let headers: Vec<(String, String)> = headers.iter().map(|(n, v)| ((*n).into(), (*v).into())).collect();
        origin.on(&format!("/api/products/never-{label}"), move |_, _| {
            let mut canned = Canned::ok(label)
                .status(status)
                .header("cdn-cache-control", "max-age=300");
            for (n, v) in &headers {
                canned = canned.header(n, v);
            }
            canned
        });
    }
    let edge = Edge::in_front_of(&origin).await;
    for (label, _, _) in cases {
        let path = format!("/api/products/never-{label}");
        for _ in 0..2 {
            let reply = edge.get(&path).await;
            let cc = reply.header("cache-control").unwrap_or("");
            assert!(cc.contains("private") || cc.contains("no-store"), "{label}: {cc}");
            assert_eq!(reply.header("cdn-cache-control"), None, "{label}");
        }
        assert_eq!(origin.count(&path), 2, "{label}: never stored");
    }
    // Credentialed: a viewer's token reaches the origin only on a private behaviour (it keys
    // `Authorization`), and what comes back is never shared there.
    origin.on("/api/me", |_, _| {
        Canned::ok("me")
            .header("cache-control", "public, max-age=60")
            .header("cdn-cache-control", "max-age=300")
    });
    for _ in 0..2 {
        let reply = edge.get_with("/api/me", &[("authorization", "Bearer user-7")]).await;
        assert_eq!(reply.header("cache-control"), Some("private, no-store"), "credentialed");
        assert_eq!(reply.header("cdn-cache-control"), None, "credentialed");
    }
    assert_eq!(origin.count("/api/me"), 2, "credentialed: never stored");
    edge.stop().await;
    origin.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_origin_gets_cloudfronts_headers_its_custom_headers_and_the_origin_path() {
    let origin = CountingOrigin::start().await;
    origin.on("/v1/api/products/7", |_, _| Canned::ok("seven"));
    let builder = local_edge::Stack::builder()
        .http_origin(format!("{}/v1", origin.url()))
        .origin_header("X-Api-Key", "k1");
    let edge = Edge::with(builder).await;
    let reply = edge
        .get_with(
            "/api/products/7?utm_source=x",
            &[("x-forwarded-host", "evil.example"), ("user-agent", "curl")],
        )
        .await;
    assert_eq!(reply.body, "seven");
    let seen = &origin.seen("/v1/api/products/7")[0];
    assert_eq!(seen.query, "");
    assert_eq!(seen.header("host"), Some(origin.url().trim_start_matches("http://")));
    assert_eq!(seen.header("x-api-key"), Some("k1"));
    assert_eq!(seen.header("user-agent"), Some("Amazon CloudFront"));
    assert!(seen.header("via").is_some_and(|v| v.ends_with("(CloudFront)")));
    assert!(seen.header("x-amz-cf-id").is_some());
    assert_eq!(seen.header("x-forwarded-host"), None);
    assert_eq!(seen.header("authorization"), None, "no Origin Access Control signature");
    edge.stop().await;
    origin.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn origin_access_control_is_refused_with_an_http_origin() {
    let origin = CountingOrigin::start().await;
    let refused = local_edge::Stack::builder()
        .root(root())
        .edge_package(root().join("wasm-pkg"))
        .http_origin(origin.url())
        .behaviours(root().join("deploy/behaviours.toml"))
        .start()
        .await;
    let message = refused.err().expect("refused").to_string();
    assert!(message.contains("Origin Access Control"), "{message}");
    origin.stop();
}
