//! One cache of the tiered simulation (an edge location or a regional edge cache): copies
//! keyed by interned cache key, each a [`Stamp`] of the one freshness model, the fetch in
//! flight per key, and optionally a size bound with least-recently-used eviction.

use std::collections::{BTreeMap, HashMap};

use edge_policy::cache_control::{FreshnessState, Stamp};

/// A cache on the simulation's virtual clock.
#[derive(Debug, Clone, Default)]
pub struct TierCache {
    /// Copies and the tick they were last used at.
    copies: HashMap<u32, (Stamp, u64)>,
    /// The fetch in flight that will fill a key here (an index the simulation gives out).
    pending: HashMap<u32, usize>,
    /// Most copies kept; `None`: unbounded (nothing evicted).
    capacity: Option<usize>,
    /// Copies by last use, oldest first (only when bounded).
    order: BTreeMap<u64, u32>,
    /// Copies evicted to make room.
    evictions: u64,
}

impl TierCache {
    /// An empty cache holding at most `capacity` copies (`None`: unbounded).
    pub fn new(capacity: Option<usize>) -> Self {
        TierCache {
            capacity,
            ..TierCache::default()
        }
    }

    /// The copy of `key` and its state at `now_ms`, marked used at `tick`.
    pub fn lookup(&mut self, key: u32, now_ms: u64, tick: u64) -> Option<(Stamp, FreshnessState)> {
        let (stamp, used) = self.copies.get_mut(&key)?;
        let found = (*stamp, stamp.state(now_ms));
        if self.capacity.is_some() {
            self.order.remove(used);
            self.order.insert(tick, key);
        }
        *used = tick;
        Some(found)
    }

    /// Stores `stamp` for `key` at `tick`, evicting the least recently used copy when full.
    pub fn store(&mut self, key: u32, stamp: Stamp, tick: u64) {
        if let Some((_, used)) = self.copies.insert(key, (stamp, tick)) {
            self.order.remove(&used);
        }
        let Some(capacity) = self.capacity else {
            return;
        };
        self.order.insert(tick, key);
        while self.copies.len() > capacity.max(1) {
            let Some((_, oldest)) = self.order.pop_first() else {
                break;
            };
            self.copies.remove(&oldest);
            self.evictions += 1;
        }
    }

    /// The fetch in flight for `key`, if any.
    pub fn pending(&self, key: u32) -> Option<usize> {
        self.pending.get(&key).copied()
    }

    /// Records that fetch `fetch` will fill `key` here.
    pub fn await_fetch(&mut self, key: u32, fetch: usize) {
        self.pending.insert(key, fetch);
    }

    /// Fetch `fetch` for `key` is done.
    pub fn fetch_done(&mut self, key: u32, fetch: usize) {
        if self.pending.get(&key) == Some(&fetch) {
            self.pending.remove(&key);
        }
    }

    /// Copies held.
    pub fn len(&self) -> usize {
        self.copies.len()
    }

    /// Whether it holds no copy.
    pub fn is_empty(&self) -> bool {
        self.copies.is_empty()
    }

    /// Copies evicted so far.
    pub fn evictions(&self) -> u64 {
        self.evictions
    }
}

#[cfg(test)]
mod tests {
    use edge_policy::cache_control::Lifetime;

    use super::*;

    fn stamp(at: u64) -> Stamp {
        Stamp::new(
            at,
            Lifetime {
                ttl: 10,
                ..Lifetime::default()
            },
        )
    }

    #[test]
    fn a_bounded_cache_evicts_the_least_recently_used() {
        let mut c = TierCache::new(Some(2));
        c.store(1, stamp(0), 1);
        c.store(2, stamp(0), 2);
        assert!(c.lookup(1, 0, 3).is_some(), "1 is now the most recent");
        c.store(3, stamp(0), 4);
        assert!(c.lookup(2, 0, 5).is_none(), "2 was the least recently used");
        assert_eq!((c.len(), c.evictions()), (2, 1));
        assert_eq!(c.lookup(1, 10_000, 6).map(|(_, s)| s), Some(FreshnessState::Expired));
    }

    #[test]
    fn an_unbounded_cache_keeps_everything_and_pending_belongs_to_one_fetch() {
        let mut c = TierCache::new(None);
        for k in 0..1000 {
            c.store(k, stamp(0), u64::from(k));
        }
        assert_eq!((c.len(), c.evictions()), (1000, 0));
        c.await_fetch(7, 1);
        c.fetch_done(7, 2);
        assert_eq!(c.pending(7), Some(1), "another fetch's end leaves it");
        c.fetch_done(7, 1);
        assert_eq!(c.pending(7), None);
    }
}
