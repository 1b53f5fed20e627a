//! The edge cache, keyed and timed the way a CloudFront cache policy does it.
//!
//! Time is a parameter (`now_ms`): the server reads its clock once per request, and tests
//! move that clock instead of sleeping.
//!
//! **`s-maxage` with `stale-while-revalidate`/`stale-if-error`.** RFC 9111 §5.2.2.10 says
//! `s-maxage` "incorporates the semantics of the proxy-revalidate response directive", which
//! would forbid a shared cache from serving the response stale. RFC 5861's explicit windows
//! are honoured anyway, because CloudFront does so (since May 2023) and the origin asked for
//! them in the same header: within `stale-while-revalidate` the stale copy is served at once
//! while one background request revalidates it; within `stale-if-error` it is served when the
//! origin fails (5xx, timeout, crash).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use edge_policy::cache_control::CacheControl;

/// The cache policy's TTL bounds, seconds (CloudFront's minimum, default and maximum TTL).
#[derive(Debug, Clone, Copy)]
pub struct TtlBounds {
    /// Minimum TTL. Keep 0: above 0 CloudFront caches even `no-store`/`private` responses.
    pub min: u64,
    /// TTL when the response has no `s-maxage`/`max-age`.
    pub default: u64,
    /// Upper bound on any TTL.
    pub max: u64,
}

impl Default for TtlBounds {
    fn default() -> Self {
        TtlBounds {
            min: 0,
            default: 86_400,
            max: 31_536_000,
        }
    }
}

/// How long a stored response stays fresh and how long it may be served stale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// Fresh for this many seconds.
    pub ttl: u64,
    /// Served stale while revalidating for this many seconds after `ttl`.
    pub stale_while_revalidate: u64,
    /// Served stale on origin errors for this many seconds after `ttl`.
    pub stale_if_error: u64,
}

/// Whether and how long to store a response, from its one `Cache-Control` line.
///
/// With a minimum TTL of 0: `no-store` and `private` are not stored; `s-maxage`, else
/// `max-age`, bounded by the policy; neither: the default TTL; `no-cache`: stored but never
/// fresh (every use revalidates). With a minimum TTL above 0 CloudFront stores everything for
/// at least that long, which is why the deploy template keeps it 0.
pub fn lifetime(cache_control: &str, bounds: TtlBounds) -> Option<Lifetime> {
    let cc = CacheControl::parse([cache_control]);
    if cc.forbids_sharing() && bounds.min == 0 {
        return None;
    }
    let ttl = if cc.forbids_sharing() || cc.no_cache {
        bounds.min
    } else {
        cc.s_maxage
            .or(cc.max_age)
            .map_or(bounds.default, |t| t.clamp(bounds.min, bounds.max.max(bounds.min)))
    };
    Some(Lifetime {
        ttl,
        stale_while_revalidate: cc.stale_while_revalidate.unwrap_or(0),
        stale_if_error: cc.stale_if_error.unwrap_or(0),
    })
}

/// A response as the cache stores it.
#[derive(Debug, Clone)]
pub struct StoredResponse {
    /// The status.
    pub status: u16,
    /// The headers (lower-case names), after the origin-response trigger.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl StoredResponse {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// A cache entry.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The response.
    pub response: Arc<StoredResponse>,
    /// When it was stored or last revalidated, ms on the edge clock.
    pub stored_at_ms: u64,
    /// Its lifetime.
    pub lifetime: Lifetime,
}

impl Entry {
    /// Seconds since stored, for `Age`.
    pub fn age(&self, now_ms: u64) -> u64 {
        now_ms.saturating_sub(self.stored_at_ms) / 1000
    }
}

/// What a lookup found.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// Fresh: serve it.
    Fresh(Entry),
    /// Stale but inside `stale-while-revalidate`: serve it and revalidate in the background.
    StaleWhileRevalidate(Entry),
    /// Stale: go to the origin; the entry may still answer if the origin fails (`stale-if-error`)
    /// and lends its `ETag` to a conditional request.
    Stale(Entry),
    /// Nothing stored.
    Miss,
}

/// The cache: a bounded map from key to entry.
#[derive(Debug)]
pub struct EdgeCache {
    entries: Mutex<HashMap<String, Entry>>,
    capacity: usize,
}

impl EdgeCache {
    /// A cache holding at most `capacity` entries (the oldest stored is evicted first).
    pub fn new(capacity: usize) -> Self {
        EdgeCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Looks a key up at `now_ms`.
    pub fn lookup(&self, key: &str, now_ms: u64) -> Lookup {
        let entries = self.entries.lock().expect("cache lock");
        let Some(entry) = entries.get(key) else {
            return Lookup::Miss;
        };
        let age_ms = now_ms.saturating_sub(entry.stored_at_ms);
        let ttl_ms = entry.lifetime.ttl * 1000;
        if age_ms < ttl_ms {
            Lookup::Fresh(entry.clone())
        } else if age_ms < ttl_ms + entry.lifetime.stale_while_revalidate * 1000 {
            Lookup::StaleWhileRevalidate(entry.clone())
        } else {
            Lookup::Stale(entry.clone())
        }
    }

    /// Whether a stale entry may still answer an origin failure at `now_ms`.
    pub fn usable_on_error(entry: &Entry, now_ms: u64) -> bool {
        now_ms.saturating_sub(entry.stored_at_ms) < (entry.lifetime.ttl + entry.lifetime.stale_if_error) * 1000
    }

    /// Stores (or replaces) an entry.
    pub fn store(&self, key: &str, entry: Entry) {
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= self.capacity && !entries.contains_key(key) {
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.stored_at_ms)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(key.to_owned(), entry);
    }

    /// Drops a key (the origin said the response may no longer be stored).
    pub fn remove(&self, key: &str) {
        self.entries.lock().expect("cache lock").remove(key);
    }

    /// How many entries are stored.
    pub fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").len()
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b() -> TtlBounds {
        TtlBounds {
            min: 0,
            default: 100,
            max: 1000,
        }
    }

    #[test]
    fn s_maxage_wins_over_max_age_and_is_bounded() {
        assert_eq!(lifetime("max-age=10, s-maxage=20", b()).unwrap().ttl, 20);
        assert_eq!(lifetime("max-age=10", b()).unwrap().ttl, 10);
        assert_eq!(lifetime("s-maxage=5000", b()).unwrap().ttl, 1000);
        assert_eq!(lifetime("public", b()).unwrap().ttl, 100);
    }

    #[test]
    fn private_and_no_store_are_not_stored_while_min_ttl_is_zero() {
        assert_eq!(lifetime("private, max-age=60", b()), None);
        assert_eq!(lifetime("no-store", b()), None);
        let min = TtlBounds { min: 30, ..b() };
        assert_eq!(lifetime("no-store", min).unwrap().ttl, 30);
    }

    #[test]
    fn no_cache_is_stored_but_never_fresh() {
        assert_eq!(lifetime("no-cache, s-maxage=60", b()).unwrap().ttl, 0);
    }

    #[test]
    fn windows_follow_the_ttl() {
        let cache = EdgeCache::new(10);
        let lifetime = lifetime("s-maxage=10, stale-while-revalidate=5, stale-if-error=20", b()).unwrap();
        let response = Arc::new(StoredResponse {
            status: 200,
            headers: vec![],
            body: Bytes::new(),
        });
        cache.store(
            "k",
            Entry {
                response,
                stored_at_ms: 0,
                lifetime,
            },
        );
        assert!(matches!(cache.lookup("k", 9_999), Lookup::Fresh(_)));
        assert!(matches!(cache.lookup("k", 10_000), Lookup::StaleWhileRevalidate(_)));
        let Lookup::Stale(e) = cache.lookup("k", 15_000) else {
            panic!()
        };
        assert!(EdgeCache::usable_on_error(&e, 29_999));
        assert!(!EdgeCache::usable_on_error(&e, 30_000));
        assert!(matches!(cache.lookup("x", 0), Lookup::Miss));
    }

    #[test]
    fn the_oldest_entry_is_evicted_at_capacity() {
        let cache = EdgeCache::new(2);
        let lifetime = Lifetime {
            ttl: 10,
            stale_while_revalidate: 0,
            stale_if_error: 0,
        };
        let response = Arc::new(StoredResponse {
            status: 200,
            headers: vec![],
            body: Bytes::new(),
        });
        for (i, k) in ["a", "b", "c"].iter().enumerate() {
            cache.store(
                k,
                Entry {
                    response: response.clone(),
                    stored_at_ms: i as u64,
                    lifetime,
                },
            );
        }
        assert_eq!(cache.len(), 2);
        assert!(matches!(cache.lookup("a", 0), Lookup::Miss));
    }
}
