//! The stored entry: an answer the origin's layers keep, with the decision it leaves with
//! and the moment it was loaded. Its freshness is asked of the one freshness model
//! (`edge_policy::cache_control::freshness`): nothing here does window arithmetic.
//!
//! The L2 schema lives here too, once for both backends (README.md, "L2 item schema"): the
//! field names, the body encoding (gzip above a threshold, when smaller), the item-size
//! guard, and reading an item back — cheap checks (full key, expiry, decision) before the
//! body is decompressed, and decompression capped, so a hostile or corrupt item is a miss,
//! never an error or an allocation bomb.

use std::io::{Read, Write};
use std::sync::Arc;

use edge_policy::cache_control::{CacheControl, FreshnessState, Lifetime, Stamp, TtlBounds};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use crate::error::OriginError;
use crate::policy::Decided;
use crate::source::SourceResponse;

/// Field names of an L2 entry, the same in the DynamoDB item and the Redis hash.
pub mod field {
    /// Partition key (DynamoDB) / key (Redis): hex SHA-256 of the canonical key.
    pub const PK: &str = "pk";
    /// The canonical key, compared on read.
    pub const FULL_KEY: &str = "fullKey";
    /// The HTTP status.
    pub const STATUS: &str = "status";
    /// The body (gzip when [`GZ`] is set).
    pub const BODY: &str = "body";
    /// Whether [`BODY`] is gzip.
    pub const GZ: &str = "gz";
    /// `Content-Type`.
    pub const CONTENT_TYPE: &str = "contentType";
    /// The strong `ETag`.
    pub const ETAG: &str = "etag";
    /// The decided `Cache-Control` line: the entry's lifetime is read from it.
    pub const CACHE_CONTROL: &str = "cacheControl";
    /// Epoch ms of the load.
    pub const STORED_AT: &str = "storedAt";
    /// Epoch ms when freshness ends (for operators; the lifetime decides).
    pub const FRESH_UNTIL: &str = "freshUntil";
    /// Epoch **seconds** when the last stale window ends (DynamoDB's TTL attribute).
    pub const EXPIRES_AT: &str = "expiresAt";
    /// Ms the load took (XFetch's delta).
    pub const DELTA: &str = "delta";
}

/// The largest body read back from L2, decompressed: Lambda's 6 MB response payload limit
/// (nothing larger could be answered anyway).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// Attribute names and a margin for the per-attribute overhead (DynamoDB's item format; the
/// same estimate guards the Redis hash).
const ITEM_OVERHEAD_BYTES: usize = 256;

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
}

impl StoredEntry {
    /// The entry for the source's `response` to `key`, decided as `decided` with `lifetime`
    /// (its storable lifetime), loaded at `now_ms` in `delta_ms`.
    pub fn new(
        key: &str,
        response: SourceResponse,
        decided: &Decided,
        lifetime: Lifetime,
        now_ms: u64,
        delta_ms: u64,
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

    /// The entry in its stored form, unless it would exceed `max_item_bytes`.
    pub fn encode(&self, compress_min_bytes: usize, max_item_bytes: usize) -> Result<Encoded<'_>, TooLarge> {
        let (body, gz) = encode_body(&self.body, compress_min_bytes);
        let cache_control = self.cache_control.to_header_value();
        let bytes = body.len()
            + self.key.len()
            + self.content_type.len()
            + self.etag.len()
            + cache_control.len()
            + ITEM_OVERHEAD_BYTES;
        if bytes > max_item_bytes {
            return Err(TooLarge { bytes });
        }
        Ok(Encoded {
            entry: self,
            body,
            gz,
            cache_control,
        })
    }
}

/// An entry that would exceed the item limit: never written (a decision, not a fault).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    /// The estimated item size.
    pub bytes: usize,
}

/// An entry in its stored form, size-checked: what a backend writes.
#[derive(Debug)]
pub struct Encoded<'a> {
    /// The entry.
    pub entry: &'a StoredEntry,
    /// The stored body: UTF-8 bytes, or their gzip when `gz`.
    pub body: Vec<u8>,
    /// Whether `body` is gzip.
    pub gz: bool,
    /// The decided `Cache-Control` line.
    pub cache_control: String,
}

/// The stored form of a body: `(bytes, compressed)`. Bodies of at least
/// `compress_min_bytes` are gzip-compressed when that makes them smaller.
fn encode_body(body: &str, compress_min_bytes: usize) -> (Vec<u8>, bool) {
    if body.len() < compress_min_bytes {
        return (body.as_bytes().to_vec(), false);
    }
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 3), Compression::new(6));
    // Writing into a Vec cannot fail.
    if enc.write_all(body.as_bytes()).is_ok() {
        if let Ok(gz) = enc.finish() {
            if gz.len() < body.len() {
                return (gz, true);
            }
        }
    }
    (body.as_bytes().to_vec(), false)
}

/// The body back from its stored form, at most `max_bytes` long. An unreadable or oversized
/// body is an unreadable item (a miss).
fn decode_body(raw: Vec<u8>, gz: bool, max_bytes: usize) -> Result<String, OriginError> {
    let bytes = if gz {
        let mut out = Vec::with_capacity(raw.len().saturating_mul(3).min(max_bytes));
        let cap = u64::try_from(max_bytes).unwrap_or(u64::MAX).saturating_add(1);
        GzDecoder::new(raw.as_slice())
            .take(cap)
            .read_to_end(&mut out)
            .map_err(|_| OriginError::L2Item("body: malformed gzip".into()))?;
        out
    } else {
        raw
    };
    if bytes.len() > max_bytes {
        return Err(OriginError::L2Item(format!("body: over {max_bytes} bytes")));
    }
    String::from_utf8(bytes).map_err(|_| OriginError::L2Item("body: not UTF-8".into()))
}

/// An item as a backend read it, its fields moved out of the backend's representation and
/// not yet judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    full_key: String,
    status: u64,
    content_type: String,
    etag: String,
    cache_control: String,
    body: Vec<u8>,
    gz: bool,
    stored_at: u64,
    expires_at: u64,
    delta: u64,
}

/// A backend's item, read one field at a time; each field is moved out (never cloned).
pub trait Fields {
    /// Takes a text field.
    fn text(&mut self, name: &str) -> Option<String>;
    /// Takes a number field.
    fn number(&mut self, name: &str) -> Option<u64>;
    /// Takes the stored body.
    fn body(&mut self) -> Option<Vec<u8>>;
    /// Whether the stored body is gzip.
    fn gz(&mut self) -> bool;
}

impl RawEntry {
    /// Moves the fields out of a backend's item. A missing or malformed field makes the item
    /// unreadable (a miss).
    pub fn read(fields: &mut impl Fields) -> Result<RawEntry, OriginError> {
        let bad = |what: &str| OriginError::L2Item(format!("field {what} missing or malformed"));
        let mut text = |name: &str| fields.text(name).ok_or_else(|| bad(name));
        let full_key = text(field::FULL_KEY)?;
        let content_type = text(field::CONTENT_TYPE)?;
        let etag = text(field::ETAG)?;
        let cache_control = text(field::CACHE_CONTROL)?;
        let mut number = |name: &str| fields.number(name).ok_or_else(|| bad(name));
        let status = number(field::STATUS)?;
        let stored_at = number(field::STORED_AT)?;
        let expires_at = number(field::EXPIRES_AT)?;
        let delta = number(field::DELTA)?;
        Ok(RawEntry {
            full_key,
            status,
            content_type,
            etag,
            cache_control,
            body: fields.body().ok_or_else(|| bad(field::BODY))?,
            gz: fields.gz(),
            stored_at,
            expires_at,
            delta,
        })
    }
}

/// Why a read found nothing usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissReason {
    /// No item.
    Absent,
    /// An item under the same digest holds another key.
    KeyMismatch,
    /// Past every window (DynamoDB has not deleted it yet).
    Expired,
    /// The item could not be read (missing field, corrupt or oversized body, a decision
    /// that forbids storing).
    Unreadable,
}

/// What a read found for a key, judged at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// A usable entry (fresh or inside a stale window: ask [`StoredEntry::state`]).
    Entry(Arc<StoredEntry>),
    /// Nothing usable.
    Missing(MissReason),
}

impl Found {
    /// Judges an item read for `key` at `now_ms`: the full key, the expiry and the stored
    /// decision first, then the body, decompressed to at most `max_body_bytes`.
    pub fn judge(raw: Option<RawEntry>, key: &str, now_ms: u64, max_body_bytes: usize) -> Found {
        let Some(raw) = raw else {
            return Found::Missing(MissReason::Absent);
        };
        if raw.full_key != key {
            return Found::Missing(MissReason::KeyMismatch);
        }
        // DynamoDB deletes late: the TTL attribute is checked on read.
        if now_ms >= raw.expires_at.saturating_mul(1000) {
            return Found::Missing(MissReason::Expired);
        }
        let cache_control = CacheControl::parse([raw.cache_control.as_str()]);
        let (Some(lifetime), Ok(status)) = (
            Lifetime::from_cache_control(&cache_control, TtlBounds::ORIGIN),
            u16::try_from(raw.status),
        ) else {
            return Found::Missing(MissReason::Unreadable);
        };
        let stamp = Stamp::new(raw.stored_at, lifetime);
        if stamp.state(now_ms) == FreshnessState::Expired {
            return Found::Missing(MissReason::Expired);
        }
        let Ok(body) = decode_body(raw.body, raw.gz, max_body_bytes) else {
            return Found::Missing(MissReason::Unreadable);
        };
        Found::Entry(Arc::new(StoredEntry {
            key: raw.full_key,
            status,
            content_type: raw.content_type,
            etag: raw.etag,
            body,
            cache_control,
            stamp,
            delta_ms: raw.delta,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CC: &str = "public, max-age=60, s-maxage=10, stale-while-revalidate=5, stale-if-error=20";

    fn raw(key: &str, body: Vec<u8>, gz: bool) -> RawEntry {
        RawEntry {
            full_key: key.into(),
            status: 200,
            content_type: "text/plain".into(),
            etag: "\"e\"".into(),
            cache_control: CC.into(),
            body,
            gz,
            stored_at: 1_000,
            expires_at: 31,
            delta: 3,
        }
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn reads_are_judged_by_key_then_by_the_freshness_model() {
        let found = |now| Found::judge(Some(raw("h/a", b"b".to_vec(), false)), "h/a", now, 100);
        let Found::Entry(e) = found(10_999) else { panic!() };
        assert_eq!(e.stamp.state(10_999), FreshnessState::Fresh);
        assert_eq!(e.stamp.state(11_000), FreshnessState::StaleWhileRevalidate);
        assert_eq!(e.stamp.state(16_000), FreshnessState::StaleIfError);
        assert_eq!(found(31_000), Found::Missing(MissReason::Expired));
        assert_eq!(
            Found::judge(Some(raw("h/b", vec![], false)), "h/a", 0, 100),
            Found::Missing(MissReason::KeyMismatch)
        );
        assert_eq!(Found::judge(None, "h/a", 0, 100), Found::Missing(MissReason::Absent));
    }

    #[test]
    fn a_corrupt_or_oversized_body_is_unreadable_not_an_error() {
        let judge = |r| Found::judge(Some(r), "h/a", 2_000, 1_000);
        assert_eq!(
            judge(raw("h/a", b"not gzip".to_vec(), true)),
            Found::Missing(MissReason::Unreadable)
        );
        assert_eq!(
            judge(raw("h/a", vec![0xff, 0xfe], false)),
            Found::Missing(MissReason::Unreadable)
        );
        // A gzip bomb: 1 MB of zeros in about a kilobyte.
        let bomb = gzip(&vec![b'0'; 1_000_000]);
        assert!(bomb.len() < 5_000);
        assert_eq!(judge(raw("h/a", bomb, true)), Found::Missing(MissReason::Unreadable));
        assert_eq!(
            judge(raw("h/a", vec![b'x'; 1_001], false)),
            Found::Missing(MissReason::Unreadable)
        );
        let Found::Entry(e) = judge(raw("h/a", gzip(&[b'y'; 1_000]), true)) else {
            panic!()
        };
        assert_eq!(e.body.len(), 1_000);
    }

    #[test]
    fn a_stored_decision_that_forbids_storing_is_unreadable() {
        let mut r = raw("h/a", b"b".to_vec(), false);
        r.cache_control = "private, max-age=60".into();
        assert_eq!(
            Found::judge(Some(r), "h/a", 2_000, 100),
            Found::Missing(MissReason::Unreadable)
        );
    }

    #[test]
    fn the_item_lives_until_the_longer_stale_window_and_answers_aged() {
        let Found::Entry(e) = Found::judge(Some(raw("h/a", b"b".to_vec(), false)), "h/a", 1_000, 100) else {
            panic!()
        };
        assert_eq!(e.stamp.fresh_until_ms(), 11_000);
        assert_eq!(
            e.expires_at_s(),
            31,
            "s-maxage 10 + stale-if-error 20 (longer than swr 5)"
        );
        assert_eq!(e.stamp.ttl_secs(4_500), 7);
        assert_eq!(e.stamp.ttl_secs(13_000), -2);
        assert_eq!(
            e.aged_cache_control(4_500).to_header_value(),
            "public, max-age=57, s-maxage=7, stale-while-revalidate=5, stale-if-error=20"
        );
        assert_eq!(
            e.aged_cache_control(90_000).to_header_value(),
            "public, max-age=0, s-maxage=0, stale-while-revalidate=5, stale-if-error=20"
        );
    }

    #[test]
    fn encoding_compresses_large_bodies_and_refuses_oversized_items() {
        let Found::Entry(e) = Found::judge(Some(raw("h/a", vec![b'a'; 10_000], false)), "h/a", 1_000, 1 << 20) else {
            panic!()
        };
        let enc = e.encode(4096, 400 * 1024).unwrap();
        assert!(enc.gz && enc.body.len() < 1_000);
        assert_eq!(enc.cache_control, CC);
        let plain = e.encode(20_000, 400 * 1024).unwrap();
        assert!(!plain.gz && plain.body.len() == 10_000);
        assert!(matches!(e.encode(20_000, 10_000), Err(TooLarge { .. })));
    }
}
