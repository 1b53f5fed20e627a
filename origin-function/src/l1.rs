//! L1: the execution environment's memory (moka), built once in `main` and shared by the
//! invocations one environment serves.
//!
//! Bounded by entries **and** bytes with one weigher: every entry weighs at least
//! `max_bytes / max_entries`, so a total weight within `max_bytes` also means at most
//! `max_entries` entries. Each entry's TTL (moka's `Expiry`) is its own and never longer than
//! the route's `s-maxage`; freshness is also checked against the handler's clock on read, so
//! tests move a test clock instead of sleeping. Concurrent misses for one key share one load
//! (`try_get_with`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::ops::compute::Op;
use moka::Expiry;

/// A response the caches hold: what the source answered plus its freshness facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedResponse {
    /// The status (200 or another shared-cacheable one, e.g. 404).
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// The strong `ETag`, quoted.
    pub etag: String,
    /// The body.
    pub body: String,
    /// When the source answered, epoch ms.
    pub stored_at_ms: u64,
    /// `stored_at + s-maxage`, epoch ms.
    pub fresh_until_ms: u64,
    /// End of the stale window, epoch **seconds** (the L2 TTL attribute).
    pub expires_at_s: u64,
    /// How long the last load took, ms (XFetch's delta).
    pub delta_ms: u64,
}

/// One L1 entry: the response and the entry's own freshness (never past the response's).
#[derive(Debug, Clone)]
pub struct L1Entry {
    /// The response.
    pub response: Arc<CachedResponse>,
    /// Fresh in L1 until, epoch ms.
    pub fresh_until_ms: u64,
    ttl: Duration,
}

impl L1Entry {
    /// An entry fresh for `ttl_ms` from `now_ms`, capped by the response's own freshness.
    pub fn new(response: Arc<CachedResponse>, now_ms: u64, ttl_ms: u64) -> Self {
        let fresh_until_ms = now_ms.saturating_add(ttl_ms).min(response.fresh_until_ms);
        let ttl = Duration::from_millis(fresh_until_ms.saturating_sub(now_ms));
        L1Entry {
            response,
            fresh_until_ms,
            ttl,
        }
    }

    /// Whether the entry may answer at `now_ms`.
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.fresh_until_ms
    }

    /// Remaining freshness in whole seconds (RFC 9211 `ttl`).
    pub fn ttl_seconds(&self, now_ms: u64) -> u64 {
        self.fresh_until_ms.saturating_sub(now_ms) / 1000
    }

    fn weight(&self, key: &str) -> u64 {
        (key.len() + self.response.body.len() + self.response.content_type.len() + self.response.etag.len() + 96) as u64
    }
}

struct EntryTtl;

impl Expiry<String, L1Entry> for EntryTtl {
    fn expire_after_create(&self, _key: &String, value: &L1Entry, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &L1Entry,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// How an L1 lookup-or-load was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadRole {
    /// This caller's load ran.
    Loaded,
    /// Another caller's load (or insert) answered: the request was collapsed.
    Collapsed,
}

/// The L1 cache.
#[derive(Clone)]
pub struct L1 {
    cache: Cache<String, L1Entry>,
}

impl L1 {
    /// A cache holding at most `max_entries` entries and about `max_bytes` bytes.
    pub fn new(max_entries: u64, max_bytes: u64) -> Self {
        let max_entries = max_entries.max(1);
        let max_bytes = max_bytes.max(1);
        let floor = max_bytes.div_ceil(max_entries);
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(move |k: &String, v: &L1Entry| u32::try_from(v.weight(k).max(floor)).unwrap_or(u32::MAX))
            .expire_after(EntryTtl)
            .build();
        L1 { cache }
    }

    /// A fresh entry for `key` at `now_ms`.
    pub async fn get_fresh(&self, key: &str, now_ms: u64) -> Option<L1Entry> {
        self.cache.get(key).await.filter(|e| e.is_fresh(now_ms))
    }

    /// Stores an entry (warm-up, promotion outside a load).
    pub async fn insert(&self, key: &str, entry: L1Entry) {
        if entry.ttl > Duration::ZERO {
            self.cache.insert(key.to_owned(), entry).await;
        }
    }

    /// The fresh entry for `key`, or the result of `init`, which runs once for all concurrent
    /// callers of one key. `Ok` values are stored; `Err` values are handed to every waiting
    /// caller and not stored (an answer that may not be cached).
    pub async fn get_or_load<F, E>(&self, key: &str, now_ms: u64, init: F) -> (Result<L1Entry, Arc<E>>, LoadRole)
    where
        F: std::future::Future<Output = Result<L1Entry, E>>,
        E: Send + Sync + 'static,
    {
        // Drop an entry that is stale by the handler's clock (atomically, so a fresh entry
        // another caller just stored is kept).
        self.cache
            .entry_by_ref(key)
            .and_compute_with(|e| async move {
                match e {
                    Some(e) if !e.value().is_fresh(now_ms) => Op::Remove,
                    _ => Op::Nop,
                }
            })
            .await;
        let ran = AtomicBool::new(false);
        let result = self
            .cache
            .try_get_with_by_ref(key, async {
                ran.store(true, Ordering::Relaxed);
                init.await
            })
            .await;
        let role = if ran.load(Ordering::Relaxed) {
            LoadRole::Loaded
        } else {
            LoadRole::Collapsed
        };
        (result, role)
    }

    /// Entry count and weighted size after pending maintenance (tests, metrics).
    pub async fn usage(&self) -> (u64, u64) {
        self.cache.run_pending_tasks().await;
        (self.cache.entry_count(), self.cache.weighted_size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    fn response(body: &str, fresh_until_ms: u64) -> Arc<CachedResponse> {
        Arc::new(CachedResponse {
            status: 200,
            content_type: "application/json".into(),
            etag: "\"e\"".into(),
            body: body.into(),
            stored_at_ms: 0,
            fresh_until_ms,
            expires_at_s: fresh_until_ms / 1000,
            delta_ms: 5,
        })
    }

    #[tokio::test]
    async fn ttl_is_capped_by_the_response_and_read_by_the_callers_clock() {
        let l1 = L1::new(10, 1 << 20);
        let entry = L1Entry::new(response("x", 10_000), 0, 60_000);
        assert_eq!(entry.fresh_until_ms, 10_000);
        l1.insert("k", entry).await;
        assert!(l1.get_fresh("k", 9_999).await.is_some());
        assert!(l1.get_fresh("k", 10_000).await.is_none());
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_load() {
        let l1 = L1::new(10, 1 << 20);
        let loads = AtomicU32::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok::<_, ()>(L1Entry::new(response("x", 60_000), 0, 60_000))
        };
        let (a, b, c) = tokio::join!(
            l1.get_or_load("k", 0, load()),
            l1.get_or_load("k", 0, load()),
            l1.get_or_load("k", 0, load())
        );
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        let roles = [a.1, b.1, c.1];
        assert_eq!(roles.iter().filter(|r| **r == LoadRole::Loaded).count(), 1);
        assert!(a.0.is_ok() && b.0.is_ok() && c.0.is_ok());
    }

    #[tokio::test]
    async fn a_stale_entry_is_reloaded_and_errors_are_not_stored() {
        let l1 = L1::new(10, 1 << 20);
        l1.insert("k", L1Entry::new(response("old", 1_000), 0, 60_000)).await;
        let (r, role) = l1.get_or_load("k", 2_000, async { Err::<L1Entry, _>("no") }).await;
        assert!(r.is_err() && role == LoadRole::Loaded);
        assert!(l1.get_fresh("k", 2_000).await.is_none());
        let (r, _) = l1
            .get_or_load("k", 2_000, async {
                Ok::<_, ()>(L1Entry::new(response("new", 9_000), 2_000, 60_000))
            })
            .await;
        assert_eq!(r.unwrap().response.body, "new");
    }

    #[tokio::test]
    async fn bounded_by_entries_and_by_bytes() {
        let l1 = L1::new(4, 1 << 20);
        for i in 0..50 {
            l1.insert(&format!("k{i}"), L1Entry::new(response("x", 60_000), 0, 60_000))
                .await;
        }
        assert!(l1.usage().await.0 <= 4);
        let l1 = L1::new(1000, 10_000);
        let big = "y".repeat(3_000);
        for i in 0..20 {
            l1.insert(&format!("k{i}"), L1Entry::new(response(&big, 60_000), 0, 60_000))
                .await;
        }
        let (_, bytes) = l1.usage().await;
        assert!(bytes <= 10_000, "weighted size {bytes}");
    }
}
