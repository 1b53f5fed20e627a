//! Purge during load (issue 25): the replay's trace (Zipf popularity, tracking parameters in
//! any order, percent-encoding and `Accept-Encoding` variety) runs through the local edge from
//! eight concurrent viewers while the hottest product's price changes and its category's tag
//! is purged. After `purge` returns no answer carries the old price; each purged key loads
//! from the source once, however many viewers ask for it at the same moment (the edge's
//! collapsing, the origin's coalescing and L2 leases); the keys the purge did not select keep
//! hitting in L1 and L2, and at the edge unless the wildcard the purge chose also covered them,
//! which the report lists.
//!
//! Needs the origin binaries: `cargo build --bins -p origin-function`.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{local_with, price_of, root, source_loads, Local};
use purge::plan::Limits;
use purge::selector;
use replay::trace::{generate, Mix, TraceRequest};
use serde_json::Value;

const VIEWERS: usize = 8;
/// Zipf rank 1: the hottest product, in category `games` (`CATEGORIES[1 % 10]`).
const PRODUCT: u64 = 1;
const CATEGORY: &str = "games";

/// One answer a viewer saw.
struct Seen {
    /// When the request was sent.
    sent: Instant,
    /// Its path and query as the trace wrote it.
    target: String,
    x_cache: String,
    cache_status: String,
    /// Whether the answer shows the purged category (so its key carried the purged tag).
    purged: bool,
    /// The product's price, when the answer shows it.
    price: Option<u64>,
}

impl Seen {
    fn edge_hit(&self) -> bool {
        self.x_cache.starts_with("Hit") || self.x_cache.starts_with("RefreshHit")
    }

    fn origin_cache_hit(&self) -> bool {
        self.cache_status.contains("detail=l1") || self.cache_status.contains("detail=l2")
    }
}

/// Whether a product page or a listing shows `category`: what its tags say it carries.
fn shows_category(body: &Value, category: &str) -> bool {
    body["category"].as_str() == Some(category)
        || body["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|i| i["category"].as_str() == Some(category)))
}

/// The trace's requests in order, shared by the viewers: `next` counts the requests sent;
/// each viewer takes the next one (from the start again past the end) until `stop`.
struct Replay {
    local: Local,
    trace: Vec<TraceRequest>,
    next: AtomicUsize,
    stop: AtomicBool,
    seen: Mutex<Vec<Seen>>,
}

impl Replay {
    async fn viewer(&self, once: bool) {
        while !self.stop.load(Ordering::Relaxed) {
            let n = self.next.fetch_add(1, Ordering::Relaxed);
            if once && n >= self.trace.len() {
                return;
            }
            let request = &self.trace[n % self.trace.len()];
            let sent = Instant::now();
            let answer = self.local.edge_answer(&request.path, &request.headers).await;
            self.seen.lock().unwrap().push(Seen {
                sent,
                target: request.path.clone(),
                purged: shows_category(&answer.body, CATEGORY),
                price: price_of(&answer.body, PRODUCT),
                x_cache: answer.x_cache,
                cache_status: answer.cache_status,
            });
        }
    }

    /// `VIEWERS` concurrent viewers until `stop` (or, `once`, through the trace once).
    fn viewers(self: &Arc<Self>, once: bool) -> Vec<tokio::task::JoinHandle<()>> {
        (0..VIEWERS)
            .map(|_| {
                let replay = self.clone();
                tokio::spawn(async move { replay.viewer(once).await })
            })
            .collect()
    }
}

async fn join(viewers: Vec<tokio::task::JoinHandle<()>>) {
    for viewer in viewers {
        viewer.await.expect("a viewer");
    }
}

/// Waits for the EMF lines of the last invocations to reach the log files, then counts.
async fn settled_source_loads(log_dir: &std::path::Path) -> u64 {
    tokio::time::sleep(Duration::from_millis(300)).await;
    source_loads(log_dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_purge_during_the_replays_trace_leaves_no_old_answer_and_loads_each_purged_key_once() {
    let log_dir = root().join("target/purge-under-load");
    let local = local_with(|stack| stack.products(40).log_dir(&log_dir)).await;
    let trace = generate(&Mix {
        requests: 600,
        products: 40,
        private_share: 0.0,
        seed: 25,
        ..Mix::default()
    });
    let replay = Arc::new(Replay {
        local,
        trace,
        next: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        seen: Mutex::default(),
    });

    // Warm: every request of the trace once, so every key is at the edge, in L2 and in an L1.
    join(replay.viewers(true)).await;
    let old = std::mem::take(&mut *replay.seen.lock().unwrap())
        .iter()
        .find_map(|s| s.price)
        .expect("the trace asks for the hottest product");
    let loads_before = settled_source_loads(&log_dir).await;

    // The trace keeps running; its hottest product changes; its category's tag is purged,
    // with a collapse threshold low enough that the listings' query variants become one
    // wildcard `/api/products?*`, which also covers other categories' listings.
    replay.next.store(0, Ordering::Relaxed);
    let viewers = replay.viewers(false);
    tokio::time::sleep(Duration::from_secs(1)).await;
    replay.local.set_price(PRODUCT as u32, old + 1).await;
    let mut purge = replay.local.purge(false);
    purge.limits = Limits {
        collapse_min: 2,
        ..Limits::default()
    };
    let purge_began = Instant::now();
    let report = purge
        .run(&selector::tag(&format!("category:{CATEGORY}")).unwrap())
        .await;
    let returned = Instant::now();
    assert!(report.ok(), "{}", purge::report::text(&report));
    assert_eq!(report.completed, Some(true));
    // Every request of the trace is sent again after the purge returned.
    let from = replay.next.load(Ordering::Relaxed);
    while replay.next.load(Ordering::Relaxed) < from + replay.trace.len() + VIEWERS {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    replay.stop.store(true, Ordering::Relaxed);
    join(viewers).await;
    let loads = settled_source_loads(&log_dir).await - loads_before;
    let seen = std::mem::take(&mut *replay.seen.lock().unwrap());

    // After the bound (the local edge completes an invalidation at once): no old answer.
    let old_answers: Vec<_> = seen
        .iter()
        .filter(|s| s.sent >= returned && s.price == Some(old))
        .map(|s| (&s.target, &s.x_cache, &s.cache_status))
        .collect();
    assert!(
        old_answers.is_empty(),
        "old answers after purge returned: {old_answers:?}"
    );
    assert!(
        seen.iter().any(|s| s.sent >= returned && s.price == Some(old + 1)),
        "the new price is served"
    );

    // Each purged key loads from the source once, with eight viewers on the hottest one.
    let purged_keys = report.keys.len() + report.keys_after_wait.len();
    assert!(purged_keys >= 2, "{:?}", report.keys);
    assert_eq!(
        loads, purged_keys as u64,
        "one source load per purged key, none for the others: {:?}",
        report.keys
    );
    let hot = format!("/api/products/{PRODUCT}");
    let hot_after = seen
        .iter()
        .filter(|s| s.sent >= returned && s.target.split('?').next() == Some(hot.as_str()))
        .count();
    assert!(hot_after >= 2, "the hottest product is asked for again: {hot_after}");

    // The wildcard the purge chose, and the unpurged listings it also covered, in the report.
    let wildcard = "/api/products?*";
    assert!(
        report.collapsed.iter().any(|c| c.wildcard == wildcard),
        "{:?}",
        report.collapsed
    );
    let covered = report
        .also_covered
        .iter()
        .find(|a| a.wildcard == wildcard)
        .expect("the report lists what the wildcard also covered");
    assert!(!covered.paths.is_empty());
    assert!(covered
        .paths
        .iter()
        .all(|p| p.starts_with("/api/products?") && !report.paths.contains(p)));

    // Unpurged keys: hits at the edge throughout; a miss only for a listing the wildcard
    // covered, only once the purge had begun, and answered from L1 or L2.
    let mut covered_misses = 0;
    for s in seen.iter().filter(|s| !s.purged && !s.edge_hit()) {
        assert!(
            s.target.starts_with("/api/products?") && s.sent >= purge_began,
            "an unpurged key the wildcard does not cover missed at the edge: {} {} {}",
            s.target,
            s.x_cache,
            s.cache_status
        );
        assert!(
            s.origin_cache_hit(),
            "an unpurged key reached the source: {} {}",
            s.target,
            s.cache_status
        );
        covered_misses += 1;
    }
    assert!(covered_misses >= 1, "the wildcard's extra misses were served by L1/L2");
    eprintln!(
        "{} answers; purge S={:?} in {} ms; {} keys purged, {loads} source loads; \
         {covered_misses} edge misses of covered listings, all from L1/L2; {} listings also covered",
        seen.len(),
        report.seq,
        (returned - purge_began).as_millis(),
        purged_keys,
        covered.paths.len()
    );
    let unpurged_hits = seen.iter().filter(|s| !s.purged && s.edge_hit()).count();
    assert!(unpurged_hits > seen.len() / 2, "{unpurged_hits} of {}", seen.len());

    let replay = Arc::into_inner(replay).expect("the viewers have ended");
    replay.local.stack.stop().await;
}
