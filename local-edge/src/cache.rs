//! The edge cache: entries keyed by [`EdgeKey`], each stored with the [`Lifetime`] the
//! freshness model (`edge_policy::cache_control::freshness`) gave it. This module does no
//! window arithmetic: a lookup asks the entry's `Lifetime::state` with the edge's `now`.
//!
//! Storage is `moka` (LRU eviction, no full scan; updates are atomic per key), bounded by
//! **bytes** and by entries with one weigher: an entry weighs what it holds ([`weight`]: its
//! key, headers and body) and at least `max_bytes / max_entries`, so a weighted size within
//! the byte budget also means at most `max_entries` entries. A flood of distinct long URLs
//! therefore evicts by size, never grows past the budget.
//! Moka's own expiry only frees memory: an entry is kept for its last window plus
//! [`VALIDATOR_GRACE`] of wall time, so an expired copy can still lend its `ETag` to a
//! conditional request. Whether a copy is fresh, stale or gone is decided by the freshness
//! model against the edge's clock, which tests move.

use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_policy::cache_control::{CacheControl, FreshnessState, Lifetime, Stamp, TtlBounds};
use edge_policy::validation::{self, Validators};
use http::StatusCode;
use moka::ops::compute::Op;
use moka::policy::EvictionPolicy;
use moka::Expiry;

use crate::cache_key::EdgeKey;
use crate::distribution::{CachePolicy, ErrorCaching};
use crate::message::{first, EdgeResponse};

/// How long past its last window an entry is kept for its validator, wall time.
pub const VALIDATOR_GRACE: Duration = Duration::from_secs(3600);

/// Statuses CloudFront caches as errors, for the Error Caching Minimum TTL (CloudFront
/// Developer Guide, "HTTP 4xx and 5xx status codes that CloudFront caches"; 416 is listed
/// there but never cached; 410 is cached as the spec's exception list implies). Any other
/// 4xx/5xx is not stored.
const CACHED_ERRORS: &[u16] = &[400, 403, 404, 405, 410, 414, 500, 501, 502, 503, 504];

/// Errors that a `no-store`, `no-cache` or `private` keeps out of the cache
/// (`lambda-edge-rules.md`, "Error responses").
const ERRORS_HONOURING_NO_STORE: &[u16] = &[404, 410, 414, 501];

/// Why an answer is not stored (a decision, not an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotStored {
    /// The behaviour's cache policy is CachingDisabled, or the method is not cached.
    CachingDisabled,
    /// `private` or `no-store` with a minimum TTL of 0.
    ForbidsSharing,
    /// An error whose Error Caching Minimum TTL (and directives) come to 0.
    ErrorCachingOff,
    /// A status CloudFront does not cache.
    StatusNotCached,
}

/// What the cache does with an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Storing {
    /// Store it for this lifetime.
    Store {
        /// How long it is fresh and servable stale.
        lifetime: Lifetime,
        /// Whether it is an error cached under the error-caching settings.
        error: bool,
    },
    /// Do not store it.
    Skip(NotStored),
}

impl Storing {
    /// Whether concurrent misses may share this answer: only a stored answer whose computed
    /// TTL is above 0 ([`Lifetime::collapses`]).
    pub fn collapses(&self) -> bool {
        matches!(self, Storing::Store { lifetime, .. } if lifetime.collapses())
    }
}

/// Whether and how long the edge keeps an answer with status `status` and the (already
/// parsed, decided) `cache_control`, under `policy` and the distribution's error caching.
///
/// Errors (CloudFront's list): the Error Caching Minimum TTL for the status, raised by a
/// `s-maxage`/`max-age` on the error, even with `no-store`/`private`, except 404, 410, 414
/// and 501 with `no-store`, `no-cache` or `private`; no stale windows.
pub fn storing(
    status: StatusCode,
    cache_control: &CacheControl,
    policy: &CachePolicy,
    errors: &ErrorCaching,
) -> Storing {
    if !policy.caching {
        return Storing::Skip(NotStored::CachingDisabled);
    }
    let code = status.as_u16();
    if code >= 400 {
        if !CACHED_ERRORS.contains(&code) {
            return Storing::Skip(NotStored::StatusNotCached);
        }
        let forbids = cache_control.forbids_sharing() || cache_control.no_cache;
        if forbids && ERRORS_HONOURING_NO_STORE.contains(&code) {
            return Storing::Skip(NotStored::ForbidsSharing);
        }
        // The directives' own TTL, as the freshness model reads it with no floor and no
        // default (an error without `max-age`/`s-maxage` gets the minimum alone): `private`,
        // `no-store` and `no-cache` give none, so only the Error Caching Minimum TTL keeps
        // such an error (ARCHITECTURE.md, "Choices": an error saying `no-cache`).
        let bounds = TtlBounds {
            min: 0,
            default: 0,
            ..policy.ttl_bounds()
        };
        let directive = Lifetime::from_cache_control(cache_control, bounds).map_or(0, |l| l.ttl);
        let ttl = errors.min_ttl_secs(code).max(directive);
        if ttl == 0 {
            return Storing::Skip(NotStored::ErrorCachingOff);
        }
        return Storing::Store {
            lifetime: Lifetime {
                ttl,
                stale_while_revalidate: 0,
                stale_if_error: 0,
            },
            error: true,
        };
    }
    match Lifetime::from_cache_control(cache_control, policy.ttl_bounds()) {
        Some(lifetime) => Storing::Store { lifetime, error: false },
        None => Storing::Skip(NotStored::ForbidsSharing),
    }
}

/// A stored answer.
#[derive(Debug, Clone)]
pub struct Entry {
    /// The answer as stored (after origin-response).
    pub response: Arc<EdgeResponse>,
    /// When it was stored or last revalidated (ms on the edge's clock) and how long it stays
    /// fresh and servable stale.
    pub stamp: Stamp,
    /// An error cached under the error-caching settings.
    pub error: bool,
}

impl Entry {
    /// Its `ETag`.
    pub fn etag(&self) -> Option<&str> {
        first(&self.response.headers, "etag")
    }

    /// Its validators: `ETag` and `Last-Modified`.
    pub fn validators(&self) -> Validators<'_> {
        Validators::of(&edge_policy::header_fields(&self.response.headers))
    }

    /// The conditional headers the edge revalidates it with (RFC 9111 §4.3.1: both
    /// validators when it has both), owned for a fill that outlives the lookup.
    pub fn conditional_headers(&self) -> Vec<(&'static str, String)> {
        self.validators()
            .conditional_headers()
            .into_iter()
            .map(|(name, value)| (name, value.to_owned()))
            .collect()
    }
}

struct KeepForWindows;

impl KeepForWindows {
    fn keep(entry: &Entry) -> Duration {
        Duration::from_secs(entry.stamp.lifetime.keep_secs()).saturating_add(VALIDATOR_GRACE)
    }
}

impl Expiry<EdgeKey, Arc<Entry>> for KeepForWindows {
    fn expire_after_create(&self, _key: &EdgeKey, value: &Arc<Entry>, _created_at: Instant) -> Option<Duration> {
        Some(Self::keep(value))
    }

    fn expire_after_update(
        &self,
        _key: &EdgeKey,
        value: &Arc<Entry>,
        _updated_at: Instant,
        _duration_until_expiry: Option<Duration>,
    ) -> Option<Duration> {
        Some(Self::keep(value))
    }
}

/// What an entry costs the cache, bytes: its key's parts, the stored headers and body, and
/// a fixed overhead for the map, the `Arc`s and the stamp.
pub fn weight(key: &EdgeKey, entry: &Entry) -> u64 {
    let keyed = key.host.len()
        + key.path.len()
        + key.query.len()
        + key.headers.iter().map(|(n, v)| n.len() + v.len()).sum::<usize>()
        + key.cookies.iter().map(String::len).sum::<usize>();
    let headers: usize = (entry.response.headers.iter())
        .map(|(n, v)| n.as_str().len() + v.len())
        .sum();
    (keyed + headers + entry.response.body.len() + 256) as u64
}

/// The cache.
pub struct EdgeCache {
    entries: moka::sync::Cache<EdgeKey, Arc<Entry>>,
    max_bytes: u64,
}

impl EdgeCache {
    /// A cache holding at most `max_entries` entries and `max_bytes` of weighted size (least
    /// recently used evicted first).
    pub fn new(max_entries: u64, max_bytes: u64) -> Self {
        let max_bytes = max_bytes.max(1);
        let floor = max_bytes.div_ceil(max_entries.max(1));
        EdgeCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(move |k: &EdgeKey, v: &Arc<Entry>| u32::try_from(weight(k, v).max(floor)).unwrap_or(u32::MAX))
                .eviction_policy(EvictionPolicy::lru())
                .expire_after(KeepForWindows)
                .build(),
            max_bytes,
        }
    }

    /// The entry for `key` and what it may do at `now_ms`.
    pub fn lookup(&self, key: &EdgeKey, now_ms: u64) -> Option<(Arc<Entry>, FreshnessState)> {
        self.entries.get(key).map(|e| {
            let state = e.stamp.state(now_ms);
            (e, state)
        })
    }

    /// Stores an answer, replacing what was there.
    pub fn store(&self, key: EdgeKey, entry: Entry) {
        self.entries.insert(key, Arc::new(entry));
    }

    /// Stores an error unless the copy already there can still answer an origin error at
    /// `now_ms` (a cached error never replaces a copy inside `stale-if-error`). Whether it
    /// was stored.
    pub fn store_error(&self, key: EdgeKey, entry: Entry, now_ms: u64) -> bool {
        let result = self.entries.entry(key).and_compute_with(|current| match current {
            Some(c) if c.value().stamp.state(now_ms).usable_on_error() => Op::Nop,
            _ => Op::Put(Arc::new(entry)),
        });
        !matches!(result, moka::ops::compute::CompResult::Unchanged(_))
    }

    /// Applies a `304` to the copy it validates: only when the entry for `key` is still the
    /// one validated ([`validation::refreshes`]: it carries the validators the edge sent,
    /// `sent`, which the `304`'s own, `answered`, do not contradict), `refreshed` gives its
    /// replacement (`false`: no longer storable, removed). The refreshed copy, or `None` when
    /// the entry was no longer the one validated (it changed or went meanwhile).
    pub fn refresh(
        &self,
        key: EdgeKey,
        sent: Validators<'_>,
        answered: Validators<'_>,
        refreshed: impl FnOnce(&Entry) -> (Entry, bool),
    ) -> Option<Arc<Entry>> {
        let mut out = None;
        self.entries.entry(key).and_compute_with(|current| match current {
            Some(c) if validation::refreshes(c.value().validators(), sent, answered) => {
                let (entry, keep) = refreshed(c.value());
                let entry = Arc::new(entry);
                out = Some(entry.clone());
                if keep {
                    Op::Put(entry)
                } else {
                    Op::Remove
                }
            }
            _ => Op::Nop,
        });
        out
    }

    /// Removes every entry whose key `invalidated` says (a completed invalidation). How many.
    pub fn invalidate_matching(&self, invalidated: impl Fn(&EdgeKey) -> bool) -> u64 {
        let keys: Vec<EdgeKey> = self
            .entries
            .iter()
            .filter(|(key, _)| invalidated(key))
            .map(|(key, _)| EdgeKey::clone(&key))
            .collect();
        for key in &keys {
            self.entries.invalidate(key);
        }
        keys.len() as u64
    }

    /// How many entries are stored.
    pub fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    /// The weighted size of what is stored, bytes (never above [`EdgeCache::max_bytes`] once
    /// eviction has run).
    pub fn weighted_bytes(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.weighted_size()
    }

    /// The byte budget.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::fixtures::caching_policy as policy;
    use crate::distribution::CustomErrorResponse;
    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue};

    fn errors() -> ErrorCaching {
        ErrorCaching {
            default_min_ttl_secs: 10,
            custom: vec![CustomErrorResponse {
                status: 503,
                min_ttl_secs: 0,
            }],
        }
    }

    fn decide(status: u16, cc: &str) -> Storing {
        storing(
            StatusCode::from_u16(status).unwrap(),
            &CacheControl::parse([cc]),
            &policy(),
            &errors(),
        )
    }

    fn ttl(s: Storing) -> Option<u64> {
        match s {
            Storing::Store { lifetime, .. } => Some(lifetime.ttl),
            Storing::Skip(_) => None,
        }
    }

    #[test]
    fn answers_are_kept_as_the_freshness_model_says() {
        assert_eq!(ttl(decide(200, "s-maxage=30, max-age=5")), Some(30));
        assert_eq!(ttl(decide(200, "")), Some(60));
        assert_eq!(
            decide(200, "private, max-age=60"),
            Storing::Skip(NotStored::ForbidsSharing)
        );
        assert!(
            !decide(200, "no-cache").collapses(),
            "stored, revalidated every time, never shared"
        );
        assert_eq!(ttl(decide(200, "no-cache")), Some(0));
        assert!(decide(200, "max-age=0, s-maxage=60").collapses());
        let off = CachePolicy {
            caching: false,
            ..policy()
        };
        let s = storing(StatusCode::OK, &CacheControl::parse(["s-maxage=60"]), &off, &errors());
        assert_eq!(s, Storing::Skip(NotStored::CachingDisabled));
    }

    #[test]
    fn errors_follow_the_error_caching_settings() {
        assert_eq!(
            ttl(decide(400, "no-store")),
            Some(10),
            "even no-store, for the minimum TTL"
        );
        assert_eq!(ttl(decide(403, "private")), Some(10));
        assert_eq!(
            ttl(decide(404, "public, s-maxage=60")),
            Some(60),
            "a directive raises it"
        );
        assert_eq!(decide(404, "no-store"), Storing::Skip(NotStored::ForbidsSharing));
        assert_eq!(decide(503, "no-store"), Storing::Skip(NotStored::ErrorCachingOff));
        assert_eq!(
            decide(401, "public, s-maxage=60"),
            Storing::Skip(NotStored::StatusNotCached)
        );
        assert_eq!(decide(416, ""), Storing::Skip(NotStored::StatusNotCached));
        match decide(500, "s-maxage=5, stale-if-error=60") {
            Storing::Store { lifetime, error } => {
                assert!(error);
                assert_eq!((lifetime.ttl, lifetime.stale_if_error), (10, 0));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_error_saying_no_cache_is_kept_for_the_minimum_ttl_only() {
        // ARCHITECTURE.md, "Choices": `no-cache` asks for validation before every reuse, so
        // its `s-maxage` never raises an error's lifetime above the Error Caching Minimum
        // TTL (which CloudFront applies whatever the directives say).
        assert_eq!(ttl(decide(403, "no-cache, s-maxage=60")), Some(10));
        assert_eq!(ttl(decide(500, "no-cache, max-age=60")), Some(10));
        assert_eq!(ttl(decide(403, "s-maxage=60")), Some(60), "without no-cache it raises");
        assert_eq!(
            decide(404, "no-cache, s-maxage=60"),
            Storing::Skip(NotStored::ForbidsSharing)
        );
        assert_eq!(
            decide(503, "no-cache, s-maxage=60"),
            Storing::Skip(NotStored::ErrorCachingOff),
            "503's minimum is 0 here"
        );
    }

    fn entry(etag: &'static str, stored_at_ms: u64, header: &str) -> Entry {
        let mut headers = HeaderMap::new();
        headers.insert("etag", HeaderValue::from_static(etag));
        Entry {
            response: Arc::new(EdgeResponse {
                status: StatusCode::OK,
                headers,
                body: Bytes::from_static(b"body"),
            }),
            stamp: Stamp::new(
                stored_at_ms,
                Lifetime::from_cache_control(&CacheControl::parse([header]), policy().ttl_bounds()).unwrap(),
            ),
            error: false,
        }
    }

    fn key(path: &str) -> EdgeKey {
        EdgeKey {
            head: false,
            host: "h".into(),
            path: path.into(),
            query: String::new(),
            headers: vec![],
            cookies: vec![],
            accept_encoding: None,
        }
    }

    #[test]
    fn lookups_ask_the_freshness_model() {
        let cache = EdgeCache::new(10, 1 << 20);
        cache.store(
            key("/a"),
            entry("\"1\"", 0, "s-maxage=10, stale-while-revalidate=5, stale-if-error=20"),
        );
        let state = |now| cache.lookup(&key("/a"), now).map(|(_, s)| s);
        assert_eq!(state(9_999), Some(FreshnessState::Fresh));
        assert_eq!(state(10_000), Some(FreshnessState::StaleWhileRevalidate));
        assert_eq!(state(15_000), Some(FreshnessState::StaleIfError));
        assert_eq!(state(30_000), Some(FreshnessState::Expired));
        assert!(cache.lookup(&key("/b"), 0).is_none());
    }

    #[test]
    fn an_error_never_replaces_a_copy_inside_stale_if_error() {
        let cache = EdgeCache::new(10, 1 << 20);
        cache.store(key("/a"), entry("\"1\"", 0, "s-maxage=10, stale-if-error=20"));
        let error = Entry {
            error: true,
            ..entry("\"e\"", 15_000, "s-maxage=10")
        };
        assert!(!cache.store_error(key("/a"), error.clone(), 15_000));
        assert_eq!(cache.lookup(&key("/a"), 15_000).unwrap().0.etag(), Some("\"1\""));
        assert!(cache.store_error(key("/a"), error, 30_000), "past the window it may");
        assert_eq!(cache.lookup(&key("/a"), 30_000).unwrap().0.etag(), Some("\"e\""));
    }

    fn tag(etag: &str) -> Validators<'_> {
        Validators {
            etag: Some(etag),
            last_modified: None,
        }
    }

    #[test]
    fn a_304_refreshes_only_the_copy_it_validates() {
        let cache = EdgeCache::new(10, 1 << 20);
        cache.store(key("/a"), entry("\"new\"", 5_000, "s-maxage=10"));
        let none = Validators::default();
        let stale = cache.refresh(key("/a"), tag("\"old\""), none, |e| (e.clone(), true));
        assert!(
            stale.is_none(),
            "a 304 for an older copy must not re-mark the newer one"
        );
        let other = cache.refresh(key("/a"), tag("\"new\""), tag("\"other\""), |e| (e.clone(), true));
        assert!(other.is_none(), "a 304 naming another representation refreshes nothing");
        let fresh = cache.refresh(key("/a"), tag("\"new\""), none, |e| {
            (
                Entry {
                    stamp: Stamp::new(99_000, e.stamp.lifetime),
                    ..e.clone()
                },
                true,
            )
        });
        assert_eq!(fresh.unwrap().stamp.stored_at_ms, 99_000);
        assert_eq!(cache.lookup(&key("/a"), 99_000).unwrap().1, FreshnessState::Fresh);
        cache.refresh(key("/a"), tag("\"new\""), none, |e| (e.clone(), false));
        assert!(cache.lookup(&key("/a"), 0).is_none(), "no longer storable: removed");
    }

    #[test]
    fn the_least_recently_used_entry_is_evicted_at_capacity() {
        let cache = EdgeCache::new(2, 1 << 20);
        for (i, k) in ["/a", "/b", "/c"].iter().enumerate() {
            cache.store(key(k), entry("\"x\"", i as u64, "s-maxage=10"));
            cache.len();
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.lookup(&key("/a"), 0).is_none());
    }

    #[test]
    fn the_byte_budget_holds_whatever_the_entry_count() {
        let cache = EdgeCache::new(10_000, 64 * 1024);
        for i in 0..100 {
            let long = format!("/{i}/{}", "x".repeat(4_000));
            cache.store(key(&long), entry("\"x\"", 0, "s-maxage=10"));
        }
        let (entries, bytes) = (cache.len(), cache.weighted_bytes());
        assert!(bytes <= 64 * 1024, "weighted {bytes} over the budget");
        assert!((10..=16).contains(&entries), "about 64 KiB / 4.3 KB: {entries}");
    }
}
