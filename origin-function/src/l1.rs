//! L1: the execution environment's memory (moka), built once in `main` and shared by the
//! invocations one environment serves.
//!
//! Bounded by entries **and** bytes with one weigher: every entry weighs at least
//! `max_bytes / max_entries`, so a total weight within `max_bytes` also means at most
//! `max_entries` entries.
//!
//! An entry answers on its own while it is *fresh in L1*: at most `ttl_cap_secs` after it
//! was put here (`ORIGIN_L1_TTL_SECONDS`) and never past the stored answer's own freshness.
//! It is kept longer — until the answer's last stale window ends — so that a failing source
//! can still be answered with it (`stale-if-error`); moka's per-entry expiry is that moment.
//! Freshness in L1 is asked of the freshness model on the handler's **monotonic** clock (a
//! wall-clock step never makes an L1 copy fresh again); how long is left of the answer's own
//! freshness when it is put here is read on the wall clock its stamp was written on. Tests
//! move the clocks instead of sleeping. A cap of 0 turns L1 off (nothing is kept).

use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_policy::cache_control::{FreshnessState, Stamp};
use moka::future::Cache;
use moka::Expiry;

use crate::clock::Now;
use crate::entry::StoredEntry;

/// One L1 entry: the stored answer and how long it answers from L1 alone.
#[derive(Debug, Clone)]
pub struct L1Entry {
    /// The stored answer.
    pub entry: Arc<StoredEntry>,
    /// L1's own freshness, on the monotonic clock: put in L1 at its `stored_at_ms`, fresh for
    /// at most the cap and never past the answer's own freshness ([`Stamp::capped`]), no
    /// stale window.
    pub l1: Stamp,
    /// How long moka keeps it: until the answer's last window ends.
    keep: Duration,
}

impl L1Entry {
    /// The entry for `entry` put into L1 at `now` with a cap of `ttl_cap_secs`.
    pub fn new(entry: Arc<StoredEntry>, now: Now, ttl_cap_secs: u64) -> Self {
        let capped = entry.stamp.capped(now.wall_ms, ttl_cap_secs);
        L1Entry {
            l1: Stamp::new(now.monotonic_ms, capped.lifetime),
            keep: Duration::from_millis(entry.stamp.keep_ms(now.wall_ms)),
            entry,
        }
    }

    /// Whether the entry may answer from L1 at `monotonic_ms`.
    pub fn is_fresh(&self, monotonic_ms: u64) -> bool {
        self.l1.state(monotonic_ms) == FreshnessState::Fresh
    }

    fn weight(&self, key: &str) -> u64 {
        let e = &self.entry;
        (key.len() + e.key.len() + e.body.len() + e.content_type.len() + e.etag.len() + 192) as u64
    }
}

struct EntryExpiry;

impl Expiry<String, L1Entry> for EntryExpiry {
    fn expire_after_create(&self, _key: &String, value: &L1Entry, _created_at: Instant) -> Option<Duration> {
        Some(value.keep)
    }

    fn expire_after_update(
        &self,
        _key: &String,
        value: &L1Entry,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(value.keep)
    }
}

/// The L1 cache.
#[derive(Clone)]
pub struct L1 {
    cache: Cache<String, L1Entry>,
    ttl_cap_secs: u64,
}

impl L1 {
    /// A cache holding at most `max_entries` entries and about `max_bytes` bytes, each fresh
    /// in L1 for at most `ttl_cap_secs` (0: L1 off).
    pub fn new(max_entries: u64, max_bytes: u64, ttl_cap_secs: u64) -> Self {
        let max_entries = max_entries.max(1);
        let max_bytes = max_bytes.max(1);
        let floor = max_bytes.div_ceil(max_entries);
        let cache = Cache::builder()
            .max_capacity(max_bytes)
            .weigher(move |k: &String, v: &L1Entry| u32::try_from(v.weight(k).max(floor)).unwrap_or(u32::MAX))
            .expire_after(EntryExpiry)
            .build();
        L1 { cache, ttl_cap_secs }
    }

    /// Whether L1 keeps anything.
    pub fn is_on(&self) -> bool {
        self.ttl_cap_secs > 0
    }

    /// The entry for `key`, fresh or not (a stale one can still answer a failing source).
    pub async fn get(&self, key: &str) -> Option<L1Entry> {
        if !self.is_on() {
            return None;
        }
        self.cache.get(key).await
    }

    /// Puts `entry` into L1 at `now` (a load's answer, or an L2 hit promoted).
    pub async fn insert(&self, entry: Arc<StoredEntry>, now: impl Into<Now>) {
        if !self.is_on() {
            return;
        }
        let l1 = L1Entry::new(entry, now.into(), self.ttl_cap_secs);
        if l1.keep > Duration::ZERO {
            self.cache.insert(l1.entry.key.clone(), l1).await;
        }
    }

    /// Drops every entry (a purge log this environment cannot follow, purge.md).
    pub fn clear(&self) {
        self.cache.invalidate_all();
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
    use edge_policy::cache_control::{CacheControl, Lifetime};

    fn entry(key: &str, body: &str, s_maxage: u64, stored_at_ms: u64) -> Arc<StoredEntry> {
        let cache_control = CacheControl::parse([format!("public, s-maxage={s_maxage}, stale-if-error=100").as_str()]);
        Arc::new(StoredEntry {
            key: key.into(),
            status: 200,
            content_type: "application/json".into(),
            etag: "\"e\"".into(),
            body: body.into(),
            stamp: Stamp::new(
                stored_at_ms,
                Lifetime {
                    ttl: s_maxage,
                    stale_if_error: 100,
                    ..Lifetime::default()
                },
            ),
            cache_control,
            delta_ms: 5,
            seq: 0,
            tags: Vec::new(),
        })
    }

    #[tokio::test]
    async fn l1_freshness_is_capped_by_the_answer_and_read_by_the_callers_clock() {
        let l1 = L1::new(10, 1 << 20, 60);
        l1.insert(entry("k", "x", 10, 0), 0).await;
        let e = l1.get("k").await.unwrap();
        assert!(e.is_fresh(9_999));
        assert!(!e.is_fresh(10_000));
        assert_eq!(e.l1.ttl_secs(1_000), 9);
        // Promoted late in its life: fresh in L1 only for what is left, rounded down.
        l1.insert(entry("k2", "x", 10, 0), 2_500).await;
        let e = l1.get("k2").await.unwrap();
        assert!(e.is_fresh(9_499) && !e.is_fresh(9_500));
    }

    #[tokio::test]
    async fn the_cap_applies_and_zero_turns_l1_off() {
        let l1 = L1::new(10, 1 << 20, 30);
        l1.insert(entry("k", "x", 300, 0), 0).await;
        assert!(!l1.get("k").await.unwrap().is_fresh(30_000));
        let off = L1::new(10, 1 << 20, 0);
        off.insert(entry("k", "x", 300, 0), 0).await;
        assert!(off.get("k").await.is_none());
    }

    #[tokio::test]
    async fn bounded_by_entries_and_by_bytes() {
        let l1 = L1::new(4, 1 << 20, 60);
        for i in 0..50 {
            l1.insert(entry(&format!("k{i}"), "x", 60, 0), 0).await;
        }
        assert!(l1.usage().await.0 <= 4);
        let l1 = L1::new(1000, 10_000, 60);
        let big = "y".repeat(3_000);
        for i in 0..20 {
            l1.insert(entry(&format!("k{i}"), &big, 60, 0), 0).await;
        }
        let (_, bytes) = l1.usage().await;
        assert!(bytes <= 10_000, "weighted size {bytes}");
    }
}
