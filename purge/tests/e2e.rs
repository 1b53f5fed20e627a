//! The purge end to end against the local stack (`local_edge::Stack`: two dynalite servers,
//! the real origin binary in two execution environments, the edge with CloudFront's
//! invalidation API and Lambda's `Invoke` on their own loopback port): a product cached in
//! both L1s, L2 and the edge under two query strings; its price changed in the catalogue;
//! a purge; then, polled every 50 ms, no answer from any layer carries the old value.
//!
//! Needs the origin binaries: `cargo build --bins -p origin-function`.

mod common;

use std::time::{Duration, Instant};

use common::{local, price_of, run, Local};
use purge::edge::{Backoff, Edge};
use purge::selector;

/// After the purge returned: every 50 ms for `for_ms`, each edge target and each origin
/// `(path, query)` answers; every answer must carry `price` for product `id`. The answers
/// recorded, `(ms after the purge, what, cache, price)`.
async fn poll_for_old_answers(
    local: &Local,
    id: u64,
    price: u64,
    edge: &[&str],
    origin: &[(&str, &str)],
    for_ms: u64,
) -> Vec<(u64, String, String, Option<u64>)> {
    let started = Instant::now();
    let mut seen = Vec::new();
    while started.elapsed() < Duration::from_millis(for_ms) {
        for target in edge {
            let (x_cache, body) = local.edge(target).await;
            seen.push((
                started.elapsed().as_millis() as u64,
                target.to_string(),
                x_cache,
                price_of(&body, id),
            ));
        }
        for (path, query) in origin {
            let (status, body) = local.origin(path, query).await;
            seen.push((
                started.elapsed().as_millis() as u64,
                format!("origin {path}?{query}"),
                status,
                price_of(&body, id),
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let old: Vec<_> = seen.iter().filter(|s| s.3 != Some(price)).collect();
    assert!(
        old.is_empty(),
        "answers without the new price after purge returned: {old:?}"
    );
    seen
}

/// Warms `edge` through the edge (miss, then hit) and `origin` in both environments.
async fn warm(local: &Local, edge: &[&str], origin: &[(&str, &str)]) {
    for target in edge {
        local.edge(target).await;
        let (x_cache, _) = local.edge(target).await;
        assert!(x_cache.starts_with("Hit"), "{target}: {x_cache}");
    }
    for (path, query) in origin {
        for _ in 0..4 {
            local.origin(path, query).await;
        }
    }
}

#[tokio::test]
async fn no_layer_answers_the_old_value_after_a_purge_by_tag_url_or_prefix() {
    let local = local().await;

    // A tag: product 42 (category music, 42 % 10) on its page and in two listings, two query
    // strings at the edge and in the origin's layers.
    let listings = [
        "/api/products?category=music&per_page=100",
        "/api/products?per_page=100&sort=price&category=music&utm_source=news",
    ];
    let edge = ["/api/products/42?utm_source=a", listings[0], listings[1]];
    let origin = [
        ("/api/products/42", ""),
        ("/api/products", "category=music&per_page=100"),
        ("/api/products", "category=music&per_page=100&sort=price"),
    ];
    warm(&local, &edge, &origin).await;
    let (_, before) = local.edge(edge[0]).await;
    let old = price_of(&before, 42).unwrap();
    local.set_price(42, old + 100).await;
    let report = run(&local, &selector::tag("category:music").unwrap(), false).await;
    assert_eq!(report.seq, Some(1));
    assert!(report.paths.len() >= 3, "{:?}", report.paths);
    assert!(report.marked >= 3, "{report:?}");
    let seen = poll_for_old_answers(&local, 42, old + 100, &edge, &origin, 1_500).await;
    let misses = seen.iter().filter(|s| s.2.starts_with("Miss")).count();
    assert!(
        misses >= 1 && misses <= edge.len(),
        "each edge key misses once: {misses}"
    );

    // A URL with its tracking parameters in another order than it was cached under.
    let page = "/api/products/43?utm_source=x&utm_medium=y";
    warm(&local, &[page], &[("/api/products/43", "")]).await;
    let (_, before) = local.edge(page).await;
    let old = price_of(&before, 43).unwrap();
    local.set_price(43, old + 7).await;
    let report = run(
        &local,
        &selector::url("/api/products/43?utm_medium=y&utm_source=x").unwrap(),
        false,
    )
    .await;
    assert_eq!(report.batches, [vec!["/api/products/43*".to_owned()]]);
    poll_for_old_answers(&local, 43, old + 7, &[page], &[("/api/products/43", "")], 1_000).await;

    // A prefix.
    warm(&local, &["/api/products/44"], &[("/api/products/44", "")]).await;
    let (_, before) = local.edge("/api/products/44").await;
    let old = price_of(&before, 44).unwrap();
    local.set_price(44, old + 3).await;
    let report = run(&local, &selector::prefix("/api/products/4*").unwrap(), false).await;
    assert!(
        report.keys.iter().any(|k| k.ends_with("/api/products/44")),
        "{:?}",
        report.keys
    );
    poll_for_old_answers(
        &local,
        44,
        old + 3,
        &["/api/products/44"],
        &[("/api/products/44", "")],
        1_000,
    )
    .await;
    local.stack.stop().await;
}

#[tokio::test]
async fn too_many_invalidations_in_progress_is_retried_with_the_same_caller_reference() {
    let local = local().await;
    warm(&local, &["/api/products/7"], &[]).await;
    // The next two creates are refused.
    let refused = local
        .http
        .post(format!("{}/__edge/invalidations/refuse?count=2", local.api))
        .send()
        .await
        .unwrap();
    assert!(refused.status().is_success());
    // Through the direct invoke (the Redis path's route), the stores' steps run inside the
    // function.
    let report = run(&local, &selector::url("/api/products/7").unwrap(), true).await;
    assert_eq!(report.invalidations.len(), 1);
    let created = &report.invalidations[0];
    assert_eq!(
        (created.throttled, created.caller_reference.as_str()),
        (2, "edge-purge-1-0")
    );
    let listed = local
        .cloudfront()
        .list_invalidations()
        .distribution_id(local.stack.distribution_id())
        .send()
        .await
        .unwrap();
    let list = listed.invalidation_list().unwrap();
    assert_eq!(list.quantity(), 1, "a retried batch is billed once");
    // A repeated create with the same reference returns the same invalidation.
    let edge = Edge::new(local.cloudfront(), local.stack.distribution_id(), Backoff::default());
    let again = edge.create(&created.caller_reference, &created.paths).await.unwrap();
    assert_eq!(again.id, created.id);
    let (x_cache, _) = local.edge("/api/products/7").await;
    assert!(x_cache.starts_with("Miss"), "{x_cache}");
    local.stack.stop().await;
}
