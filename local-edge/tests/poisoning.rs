//! Cache poisoning and deception, against the whole local stack. Each case proves that no
//! cached response reaches a request it doesn't belong to.
//!
//! The oracle: the victim's request sent again under a different edge key (another
//! Accept-Encoding, so a separate cache entry filled by a fresh origin answer) must get the
//! very same body; and no body may carry the attacker's marker.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Reply, Stack};

const MARK: &str = "evil";

async fn oracle(stack: &Stack, path: &str) -> Reply {
    stack.get_with(path, &[("accept-encoding", "br")]).await
}

/// `keyed`: the attacker's marker travels in keyed input (a kept parameter), so the origin may
/// reflect it in the attacker's own answer; it must still never reach the victim.
async fn assert_victim_clean(
    stack: &Stack,
    attack_path: &str,
    attack_headers: &[(&str, &str)],
    victim: &str,
    keyed: bool,
) {
    let attack = stack.get_with(attack_path, attack_headers).await;
    if !keyed {
        assert!(
            !attack.body.contains(MARK),
            "{attack_path} {attack_headers:?}: the origin saw unkeyed input: {}",
            attack.body
        );
    }
    let reply = stack.get(victim).await;
    let reference = oracle(stack, victim).await;
    assert_eq!(
        reply.status, reference.status,
        "{attack_path} {attack_headers:?} → {victim}"
    );
    assert_eq!(
        reply.body, reference.body,
        "{attack_path} {attack_headers:?} → {victim}: a cached body that isn't the victim's"
    );
    assert!(!reply.body.contains(MARK));
}

#[tokio::test(flavor = "multi_thread")]
async fn unkeyed_headers_cannot_poison() {
    let stack = Stack::start().await;
    let cases: &[(&str, &str)] = &[
        ("x-forwarded-host", "evil.example"),
        ("x-host", "evil.example"),
        ("x-forwarded-server", "evil.example"),
        ("x-forwarded-scheme", "evil"),
        ("x-forwarded-port", "6666"),
        ("x-original-url", "/api/me?evil"),
        ("x-rewrite-url", "/api/me?evil"),
        ("x-http-method-override", "DELETE"),
        ("x-http-method", "DELETE"),
        ("x-method-override", "DELETE"),
        ("forwarded", "host=evil.example;proto=http"),
    ];
    for (i, (name, value)) in cases.iter().enumerate() {
        let path = format!("/api/products/{}", i + 1);
        assert_victim_clean(&stack, &path, &[(name, value)], &path, false).await;
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn parameter_cloaking_cannot_poison() {
    let stack = Stack::start().await;
    for (attack, victim) in [
        // `;` is data, exactly as CloudFront treats it: the tracking item is removed whole.
        (
            "/api/products?category=books&utm_content=x;q=evil",
            "/api/products?category=books",
        ),
        ("/api/products?category=books;q=evil", "/api/products?category=books"),
        // An encoded `&` or `=` stays encoded: it is part of the value, never a separator.
        (
            "/api/products?category=books%26q%3Devil",
            "/api/products?category=books",
        ),
        (
            "/api/products?category%3Dbooks%26q=evil",
            "/api/products?category=books",
        ),
        // Tracking parameters and order never split the key from what the origin sees.
        (
            "/api/products?q=evil&utm_source=x&category=toys",
            "/api/products?category=toys",
        ),
    ] {
        assert_victim_clean(&stack, attack, &[], victim, true).await;
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fat_get_cannot_poison() {
    let stack = Stack::start().await;
    let attack = stack
        .client
        .get(format!("{}/api/products?category=garden", stack.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("q=evil&category=evil")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!attack.contains(MARK));
    let victim = stack.get("/api/products?category=garden").await;
    assert!(victim.is_hit());
    assert_eq!(victim.body, oracle(&stack, "/api/products?category=garden").await.body);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn path_confusion_keeps_private_routes_private() {
    let stack = Stack::start().await;
    let seven = [("authorization", "Bearer user-7")];
    for path in [
        "/api/me/x.css",
        "/api/me%2Fx.css",
        "/api/me;x.css",
        "/api/me%3Bx.css",
        "/api/me/..%2Fx.css",
        "/api/me.",
        "/api/me..",
        "/api/me%2E",
        "/api/me%00",
        "/api/me%00.css",
        "/api/users/7/x.css",
        "/API/ME",
        "/static/..%2Fapi/me",
        "/static/../api/me",
    ] {
        // The victim, logged in, is lured to the URL…
        let lured = stack.get_with(path, &seven).await;
        let cc = lured.header("cache-control").unwrap_or("");
        assert!(!lured.is_hit(), "{path}: served from cache to the victim");
        if lured.body.contains("user7@") {
            assert!(
                cc.contains("private") || cc.contains("no-store"),
                "{path}: private data marked {cc:?}"
            );
        }
        // …then the attacker fetches it without credentials.
        let stolen = stack.get(path).await;
        assert!(
            !stolen.body.contains("user7@"),
            "{path}: private data reached another viewer: {}",
            stolen.body
        );
    }
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn double_encoding_is_not_decoded_twice() {
    let stack = Stack::start().await;
    let seven = [("authorization", "Bearer user-7")];
    for path in ["/api/m%2565", "/api/%256De", "/api/products%252F1", "/%2561pi/me"] {
        let lured = stack.get_with(path, &seven).await;
        assert!(
            !lured.body.contains("user7@"),
            "{path} was decoded twice and reached /api/me: {}",
            lured.body
        );
        let other = stack.get(path).await;
        assert!(!other.body.contains("user7@"));
    }
    // A double-encoded public path is its own key: it never serves the decoded resource's entry.
    let real = stack.get("/api/products/1").await;
    let doubled = stack.get("/api/products/%2531").await;
    assert_ne!(doubled.body, real.body);
    stack.stop().await;
}

/// Sends raw bytes and reads the status line.
fn raw_status(addr: &str, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    stream.write_all(request).unwrap();
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn cr_lf_in_header_values_is_rejected_and_poisons_nothing() {
    let stack = Stack::start().await;
    let addr = stack.base.trim_start_matches("http://").to_owned();
    let attempts: [&[u8]; 3] = [
        // Obsolete line folding smuggling a second header.
        b"GET /api/products/20 HTTP/1.1\r\nhost: x\r\nx-test: a\r\n x-forwarded-host: evil.example\r\n\r\n",
        // A bare CR inside a value.
        b"GET /api/products/20 HTTP/1.1\r\nhost: x\r\nx-test: a\rx-forwarded-host: evil.example\r\n\r\n",
        // A bare LF inside a value.
        b"GET /api/products/20 HTTP/1.1\r\nhost: x\r\nx-test: a\nx-forwarded-host: evil.example\r\n\r\n",
    ];
    for attempt in attempts {
        let addr = addr.clone();
        let status = tokio::task::spawn_blocking(move || raw_status(&addr, attempt))
            .await
            .unwrap();
        // Either refused outright, or parsed as separate headers that the edge then deletes.
        assert!(
            status.starts_with("HTTP/1.1 400") || status.starts_with("HTTP/1.1 200"),
            "{status:?}"
        );
    }
    let victim = stack.get("/api/products/20").await;
    assert!(!victim.body.contains(MARK), "{}", victim.body);
    assert_eq!(victim.body, oracle(&stack, "/api/products/20").await.body);
    stack.stop().await;
}
