//! The L2 item schema, once for both backends (README.md, "L2 item schema"): the field
//! names, the stored form of an entry ([`Encoded`]: the body gzip above a threshold when
//! that is smaller, the item-size guard, and the attributes in order), and reading an item
//! back ([`Found::judge`]) — cheap checks (full key, expiry, decision) before the body is
//! decompressed, and decompression capped, so a hostile or corrupt item is a miss, never an
//! error or an allocation bomb.
//!
//! During a deploy old and new environments read each other's items: the names and the
//! encoding are pinned by `the_encoded_item_is_pinned_byte_for_byte` below, and by each
//! backend's own test of its types.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::sync::Arc;

use edge_policy::cache_control::{CacheControl, FreshnessState, Lifetime, Stamp, TtlBounds};
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;

use crate::entry::StoredEntry;
use crate::error::OriginError;

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
    /// `S₀` of the load (purge.md; absent in an older build's item: 0). Added after the
    /// attributes above, which stay byte for byte.
    pub const PURGE_SEQ: &str = "purgeSeq";
    /// The answer's tags, space-separated (absent when none).
    pub const TAGS: &str = "tags";
    /// On a purge marker only: the sequence of the purge that replaced the entry.
    pub const PURGED_BY: &str = "purgedBy";
}

/// The largest body read back from L2, decompressed: Lambda's 6 MB response payload limit
/// (nothing larger could be answered anyway).
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// Attribute names and a margin for the per-attribute overhead (DynamoDB's item format; the
/// same estimate guards the Redis hash).
const ITEM_OVERHEAD_BYTES: usize = 256;

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

/// One attribute's value, before a backend gives it its own type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attribute<'a> {
    /// Text: DynamoDB `S`; its UTF-8 bytes in Redis.
    Text(Cow<'a, str>),
    /// A number: DynamoDB `N`; its decimal digits in Redis.
    Number(u64),
    /// Bytes: DynamoDB `B`; as they are in Redis.
    Bytes(Vec<u8>),
    /// A flag: DynamoDB `BOOL`; `1` or `0` in Redis.
    Flag(bool),
}

impl<'a> Encoded<'a> {
    /// `entry` in its stored form (bodies of at least `compress_min_bytes` gzip-compressed
    /// when that makes them smaller), unless the item would exceed `max_item_bytes`.
    pub fn new(entry: &'a StoredEntry, compress_min_bytes: usize, max_item_bytes: usize) -> Result<Self, TooLarge> {
        let (body, gz) = encode_body(&entry.body, compress_min_bytes);
        let cache_control = entry.cache_control.to_header_value();
        let bytes = body.len()
            + entry.key.len()
            + entry.content_type.len()
            + entry.etag.len()
            + cache_control.len()
            + ITEM_OVERHEAD_BYTES;
        if bytes > max_item_bytes {
            return Err(TooLarge { bytes });
        }
        Ok(Encoded {
            entry,
            body,
            gz,
            cache_control,
        })
    }

    /// The item's attributes besides the key ([`field::PK`]), in the order both backends
    /// write them.
    pub fn into_attributes(self) -> [(&'static str, Attribute<'a>); 11] {
        let e = self.entry;
        [
            (field::FULL_KEY, Attribute::Text(Cow::Borrowed(&e.key))),
            (field::STATUS, Attribute::Number(u64::from(e.status))),
            (field::BODY, Attribute::Bytes(self.body)),
            (field::GZ, Attribute::Flag(self.gz)),
            (field::CONTENT_TYPE, Attribute::Text(Cow::Borrowed(&e.content_type))),
            (field::ETAG, Attribute::Text(Cow::Borrowed(&e.etag))),
            (field::CACHE_CONTROL, Attribute::Text(Cow::Owned(self.cache_control))),
            (field::STORED_AT, Attribute::Number(e.stamp.stored_at_ms)),
            (field::FRESH_UNTIL, Attribute::Number(e.stamp.fresh_until_ms())),
            (field::DELTA, Attribute::Number(e.delta_ms)),
            (field::EXPIRES_AT, Attribute::Number(e.expires_at_s())),
        ]
    }

    /// The attributes purge added (purge.md, "Sequence numbers"), after the eleven above:
    /// `purgeSeq`, and `tags` when there are any.
    pub fn purge_attributes(entry: &StoredEntry) -> Vec<(&'static str, Attribute<'_>)> {
        let mut attributes = vec![(field::PURGE_SEQ, Attribute::Number(entry.seq))];
        if !entry.tags.is_empty() {
            attributes.push((field::TAGS, Attribute::Text(Cow::Owned(entry.tags.join(" ")))));
        }
        attributes
    }
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
    seq: u64,
    tags: Vec<String>,
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
    /// unreadable (a miss), and so does a purge marker (an item holding only `purgedBy`).
    pub fn read(fields: &mut impl Fields) -> Result<RawEntry, OriginError> {
        if let Some(by) = fields.number(field::PURGED_BY) {
            return Err(OriginError::L2Item(format!("purged by purge {by}")));
        }
        let seq = fields.number(field::PURGE_SEQ).unwrap_or(0);
        let tags = fields
            .text(field::TAGS)
            .map(|t| t.split_ascii_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
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
            seq,
            tags,
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
    /// A usable entry (fresh or inside a stale window: ask its [`Stamp`]).
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
            seq: raw.seq,
            tags: raw.tags,
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
            seq: 0,
            tags: Vec::new(),
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
        let enc = Encoded::new(&e, 4096, 400 * 1024).unwrap();
        assert!(enc.gz && enc.body.len() < 1_000);
        assert_eq!(enc.cache_control, CC);
        let plain = Encoded::new(&e, 20_000, 400 * 1024).unwrap();
        assert!(!plain.gz && plain.body.len() == 10_000);
        assert!(matches!(Encoded::new(&e, 20_000, 10_000), Err(TooLarge { .. })));
    }

    /// Old and new environments read each other's items during a deploy: these names,
    /// this order and these values are the schema.
    #[test]
    fn the_encoded_item_is_pinned_byte_for_byte() {
        let Found::Entry(e) = Found::judge(Some(raw("h/a", b"b".to_vec(), false)), "h/a", 1_000, 100) else {
            panic!()
        };
        let text = |s: &'static str| Attribute::Text(Cow::Borrowed(s));
        assert_eq!(
            Encoded::new(&e, 4096, 400 * 1024).unwrap().into_attributes(),
            [
                ("fullKey", text("h/a")),
                ("status", Attribute::Number(200)),
                ("body", Attribute::Bytes(b"b".to_vec())),
                ("gz", Attribute::Flag(false)),
                ("contentType", text("text/plain")),
                ("etag", text("\"e\"")),
                ("cacheControl", text(CC)),
                ("storedAt", Attribute::Number(1_000)),
                ("freshUntil", Attribute::Number(11_000)),
                ("delta", Attribute::Number(3)),
                ("expiresAt", Attribute::Number(31)),
            ]
        );
        let Found::Entry(large) = Found::judge(Some(raw("h/a", vec![b'a'; 5_000], false)), "h/a", 1_000, 1 << 20)
        else {
            panic!()
        };
        let attributes = Encoded::new(&large, 4096, 400 * 1024).unwrap().into_attributes();
        assert_eq!(attributes[3], ("gz", Attribute::Flag(true)));
        let Attribute::Bytes(body) = &attributes[2].1 else {
            panic!()
        };
        let mut back = String::new();
        GzDecoder::new(body.as_slice()).read_to_string(&mut back).unwrap();
        assert_eq!(back, "a".repeat(5_000), "gzip (RFC 1952) of the UTF-8 body");
    }
}
