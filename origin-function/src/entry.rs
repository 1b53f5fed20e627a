//! The stored entry: an answer the origin's layers keep, with the decision it leaves with
//! and the moment it was loaded ([`Stamp`]). Its freshness is asked of the one freshness
//! model (`edge_policy::cache_control::freshness`): nothing here does window arithmetic.
//! How it is written to and read back from L2 is the item schema's job ([`crate::l2::item`]).

use edge_policy::cache_control::{CacheControl, Lifetime, Stamp, TtlBounds};
use sha2::{Digest, Sha256};

use crate::policy::Decided;
use crate::source::SourceResponse;

/// The strong `ETag` of a body: the first 128 bits of its SHA-256, quoted.
pub fn strong_etag(body: &str) -> String {
    let d = Sha256::digest(body.as_bytes());
    format!("\"{}\"", hex::encode(&d[..16]))
}

/// One answer the layers keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEntry {
    /// The canonical key it answers.
    pub key: String,
    /// The status (200, or another shared-cacheable one such as 404).
    pub status: u16,
    /// `Content-Type`.
    pub content_type: String,
    /// The strong `ETag`, quoted.
    pub etag: String,
    /// The body.
    pub body: String,
    /// The decided directives it leaves with (before aging).
    pub cache_control: CacheControl,
    /// When the source answered (epoch ms: other environments read it) and how long it is
    /// kept, read from `cache_control`.
    pub stamp: Stamp,
    /// How long the load took, ms (XFetch's delta).
    pub delta_ms: u64,
    /// `S₀`: the highest purge its environment had read before the source load began
    /// (purge.md, "Sequence numbers"; 0 for an entry written by an older build).
    pub seq: u64,
    /// The tags the source attached (`Surrogate-Key`), kept for purges by tag.
    pub tags: Vec<String>,
}

impl StoredEntry {
    /// The entry for the source's `response` to `key`, decided as `decided` with `lifetime`
    /// (its storable lifetime), loaded at `now_ms` in `delta_ms` after its environment had
    /// read purges up to `seq`, carrying `tags`.
    pub fn new(
        key: &str,
        response: SourceResponse,
        decided: &Decided,
        lifetime: Lifetime,
        (now_ms, delta_ms): (u64, u64),
        (seq, tags): (u64, Vec<String>),
    ) -> Self {
        StoredEntry {
            key: key.to_owned(),
            status: response.status,
            etag: strong_etag(&response.body),
            content_type: response.content_type,
            body: response.body,
            cache_control: decided.cache_control().clone(),
            stamp: Stamp::new(now_ms, lifetime),
            delta_ms,
            seq,
            tags,
        }
    }

    /// The directives an answer from this entry carries at `now_ms`: `max-age` and
    /// `s-maxage` lowered by its age (origin-cache.md, "What it says about itself").
    pub fn aged_cache_control(&self, now_ms: u64) -> CacheControl {
        self.cache_control.aged(self.stamp.age_secs(now_ms))
    }

    /// When the last stale window ends, epoch seconds rounded up: the longer of
    /// `stale-while-revalidate` and `stale-if-error` counts (the L2 item's TTL attribute).
    pub fn expires_at_s(&self) -> u64 {
        self.stamp.usable_until_ms().div_ceil(1000)
    }

    /// When the answer's last possible serve **at the edge** ends, epoch ms: its decided
    /// `s-maxage` (else `max-age`) plus its longest stale window, from its load — the tag
    /// index keeps it at least that long (purge.md, "Tags"). The origin's own lifetime can be
    /// shorter (a negative answer), never longer.
    pub fn edge_usable_until_ms(&self) -> u64 {
        let edge = Lifetime::from_cache_control(&self.cache_control, TtlBounds::ORIGIN)
            .map_or(0, |l| l.keep_secs().saturating_mul(1000));
        self.stamp
            .stored_at_ms
            .saturating_add(edge)
            .max(self.stamp.usable_until_ms())
    }
}
