//! L2: a cache shared by every environment, behind one trait ([`L2`]) with two backends:
//! the DynamoDB table ([`DynamoL2`], the default) and Redis ([`redis::RedisL2`], for
//! ElastiCache). Both store the same entry and are judged by the same [`classify`].
//!
//! Item schema (README.md, "L2 item schema"): `pk` = hex SHA-256 of the canonical key,
//! `fullKey`, `status`, `body` (binary; gzip when `gz` is true), `contentType`, `etag`,
//! `storedAt` (ms), `freshUntil` (ms), `delta` (ms of the last load), `expiresAt` (epoch
//! **seconds**, the TTL attribute, end of the stale window). Lease items: `pk` =
//! `lease#<digest>`, `owner`, `leaseUntil` (ms), `expiresAt` (s).
//!
//! DynamoDB deletes expired items late (typically within days), so expiry is checked on
//! read, and the full key is compared on read so a digest collision can never serve another
//! key's value.

use std::future::Future;
use std::io::{Read, Write};
use std::pin::Pin;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use sha2::{Digest, Sha256};

use crate::l1::CachedResponse;
use crate::OriginError;

pub mod redis;

/// A boxed future, so [`L2`] stays object-safe.
pub type L2Future<'a, T> = Pin<Box<dyn Future<Output = Result<T, OriginError>> + Send + 'a>>;

/// The L2 item's partition key: hex SHA-256 of the canonical key.
pub fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// One stored L2 value with the key it was stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct L2Item {
    /// The full canonical key (compared on read).
    pub full_key: String,
    /// The response and its freshness facts.
    pub response: CachedResponse,
}

impl L2Item {
    /// Reads an entry from its stored fields, whatever the backend's representation: the field
    /// names here are the schema (ARCHITECTURE.md), shared by the DynamoDB item and the Redis
    /// hash. `text`/`number` read one field; `body` and `gz` are the stored body and its flag.
    fn from_fields(
        text: impl Fn(&str) -> Option<String>,
        number: impl Fn(&str) -> Option<u64>,
        body: Option<&[u8]>,
        gz: bool,
    ) -> Result<L2Item, OriginError> {
        let bad = |what: &str| OriginError::L2Item(format!("field {what} missing or malformed"));
        let get_s = |name: &str| text(name).ok_or_else(|| bad(name));
        let get_n = |name: &str| number(name).ok_or_else(|| bad(name));
        Ok(L2Item {
            full_key: get_s("fullKey")?,
            response: CachedResponse {
                status: u16::try_from(get_n("status")?).map_err(|_| bad("status"))?,
                content_type: get_s("contentType")?,
                etag: get_s("etag")?,
                body: decode_body(body.ok_or_else(|| bad("body"))?, gz)?,
                stored_at_ms: get_n("storedAt")?,
                fresh_until_ms: get_n("freshUntil")?,
                expires_at_s: get_n("expiresAt")?,
                delta_ms: get_n("delta")?,
            },
        })
    }
}

/// What a write did. Too large is a decision, not a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The item was written.
    Written,
    /// The item would exceed the item limit: never attempted.
    TooLarge {
        /// The estimated item size.
        bytes: usize,
    },
}

/// What a read found, judged at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L2Read {
    /// Fresh: serve it.
    Fresh(CachedResponse),
    /// Past `freshUntil`, inside the stale window.
    Stale(CachedResponse),
    /// Nothing usable.
    Missing(MissReason),
}

/// Why a read found nothing usable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MissReason {
    /// No item.
    Absent,
    /// An item under the same digest holds another key.
    KeyMismatch,
    /// Past the stale window (DynamoDB has not deleted it yet).
    Expired,
}

/// Judges an item read for `key` at `now_ms`.
pub fn classify(item: Option<L2Item>, key: &str, now_ms: u64) -> L2Read {
    match item {
        None => L2Read::Missing(MissReason::Absent),
        Some(item) if item.full_key != key => L2Read::Missing(MissReason::KeyMismatch),
        Some(item) if now_ms >= item.response.expires_at_s.saturating_mul(1000) => L2Read::Missing(MissReason::Expired),
        Some(item) if now_ms < item.response.fresh_until_ms => L2Read::Fresh(item.response),
        Some(item) => L2Read::Stale(item.response),
    }
}

/// The L2 operations the layered read needs.
pub trait L2: Send + Sync {
    /// Reads the item stored under `digest`.
    fn get<'a>(&'a self, digest: &'a str) -> L2Future<'a, Option<L2Item>>;
    /// Writes `item` under `digest`, unless it is too large. `owner` is the caller's lease
    /// owner id: a backend whose lease runs on its own clock (Redis) gives the lease back in
    /// the same call; DynamoDB's lease lapses at `leaseUntil` on the callers' clock.
    fn put<'a>(&'a self, digest: &'a str, item: &'a L2Item, owner: &'a str) -> L2Future<'a, WriteOutcome>;
    /// Takes the load lease for `digest` unless another owner holds an unexpired one.
    fn try_lease<'a>(&'a self, digest: &'a str, owner: &'a str, now_ms: u64, lease_ms: u64) -> L2Future<'a, bool>;
    /// Gives the lease back if `owner` still holds it.
    fn release_lease<'a>(&'a self, digest: &'a str, owner: &'a str) -> L2Future<'a, ()>;
    /// Opens the connection ahead of the first request (init phase). The default does
    /// nothing: the SDK connects on first use.
    fn connect(&self) -> L2Future<'_, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// Attribute names and a margin for the per-attribute overhead (DynamoDB's item format; the
/// same estimate guards the Redis hash).
const ITEM_OVERHEAD_BYTES: usize = 256;

/// The stored form of a body: `(bytes, compressed)`. Bodies of at least
/// `compress_min_bytes` are gzip-compressed when that makes them smaller.
pub fn encode_body(body: &str, compress_min_bytes: usize) -> (Vec<u8>, bool) {
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

/// The body back from its stored form; an unreadable body is an unreadable item (a miss).
pub fn decode_body(raw: &[u8], gz: bool) -> Result<String, OriginError> {
    let bytes = if gz {
        let mut out = Vec::with_capacity(raw.len() * 3);
        GzDecoder::new(raw)
            .read_to_end(&mut out)
            .map_err(|_| OriginError::L2Item("attribute body (gzip) malformed".into()))?;
        out
    } else {
        raw.to_vec()
    };
    String::from_utf8(bytes).map_err(|_| OriginError::L2Item("attribute body (utf-8) malformed".into()))
}

/// The estimated stored size of `item` with its body encoded to `encoded_body_len` bytes,
/// compared with the item limit before any write.
pub fn estimated_item_bytes(item: &L2Item, encoded_body_len: usize) -> usize {
    let r = &item.response;
    encoded_body_len + item.full_key.len() + r.content_type.len() + r.etag.len() + ITEM_OVERHEAD_BYTES
}

/// The DynamoDB L2.
#[derive(Debug, Clone)]
pub struct DynamoL2 {
    client: Client,
    table: String,
    compress_min_bytes: usize,
    max_item_bytes: usize,
}

fn fault<E: std::fmt::Debug, R: std::fmt::Debug>(op: &'static str, err: SdkError<E, R>) -> OriginError {
    let kind = match &err {
        SdkError::TimeoutError(_) => "timeout",
        SdkError::DispatchFailure(_) => "dispatch",
        SdkError::ResponseError(_) => "response",
        SdkError::ServiceError(_) => "service",
        _ => "other",
    };
    OriginError::L2 {
        op,
        kind,
        message: format!("{err:?}").chars().take(300).collect(),
    }
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

impl DynamoL2 {
    /// An L2 on `table` through `client` (whose timeouts and retries bound every call).
    pub fn new(client: Client, table: impl Into<String>, compress_min_bytes: usize, max_item_bytes: usize) -> Self {
        DynamoL2 {
            client,
            table: table.into(),
            compress_min_bytes,
            max_item_bytes,
        }
    }

    fn decode(item: &std::collections::HashMap<String, AttributeValue>) -> Result<L2Item, OriginError> {
        L2Item::from_fields(
            |name| item.get(name).and_then(|v| v.as_s().ok()).cloned(),
            |name| item.get(name).and_then(|v| v.as_n().ok()).and_then(|v| v.parse().ok()),
            item.get("body").and_then(|v| v.as_b().ok()).map(|b| b.as_ref()),
            item.get("gz").and_then(|v| v.as_bool().ok()).copied().unwrap_or(false),
        )
    }
}

impl L2 for DynamoL2 {
    fn get<'a>(&'a self, digest: &'a str) -> L2Future<'a, Option<L2Item>> {
        Box::pin(async move {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(digest))
                .send()
                .await
                .map_err(|e| fault("GetItem", e))?;
            match out.item() {
                None => Ok(None),
                Some(item) => Self::decode(item).map(Some),
            }
        })
    }

    fn put<'a>(&'a self, digest: &'a str, item: &'a L2Item, _owner: &'a str) -> L2Future<'a, WriteOutcome> {
        Box::pin(async move {
            let r = &item.response;
            let (body, gz) = encode_body(&r.body, self.compress_min_bytes);
            let bytes = estimated_item_bytes(item, body.len());
            if bytes > self.max_item_bytes {
                return Ok(WriteOutcome::TooLarge { bytes });
            }
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(digest))
                .item("fullKey", s(&item.full_key))
                .item("status", n(u64::from(r.status)))
                .item("body", AttributeValue::B(Blob::new(body)))
                .item("gz", AttributeValue::Bool(gz))
                .item("contentType", s(&r.content_type))
                .item("etag", s(&r.etag))
                .item("storedAt", n(r.stored_at_ms))
                .item("freshUntil", n(r.fresh_until_ms))
                .item("delta", n(r.delta_ms))
                .item("expiresAt", n(r.expires_at_s))
                .send()
                .await
                .map_err(|e| fault("PutItem", e))?;
            Ok(WriteOutcome::Written)
        })
    }

    fn try_lease<'a>(&'a self, digest: &'a str, owner: &'a str, now_ms: u64, lease_ms: u64) -> L2Future<'a, bool> {
        Box::pin(async move {
            let until = now_ms.saturating_add(lease_ms);
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(&format!("lease#{digest}")))
                .item("owner", s(owner))
                .item("leaseUntil", n(until))
                .item("expiresAt", n(until.div_ceil(1000) + 1))
                .condition_expression("attribute_not_exists(pk) OR leaseUntil < :now")
                .expression_attribute_values(":now", n(now_ms))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    Ok(false)
                }
                Err(e) => Err(fault("PutItem(lease)", e)),
            }
        })
    }

    fn release_lease<'a>(&'a self, digest: &'a str, owner: &'a str) -> L2Future<'a, ()> {
        Box::pin(async move {
            let result = self
                .client
                .delete_item()
                .table_name(&self.table)
                .key("pk", s(&format!("lease#{digest}")))
                .condition_expression("#o = :owner")
                .expression_attribute_names("#o", "owner")
                .expression_attribute_values(":owner", s(owner))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    Ok(())
                }
                Err(e) => Err(fault("DeleteItem(lease)", e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(key: &str, fresh_until_ms: u64, expires_at_s: u64) -> L2Item {
        L2Item {
            full_key: key.into(),
            response: CachedResponse {
                status: 200,
                content_type: "text/plain".into(),
                etag: "\"e\"".into(),
                body: "b".into(),
                stored_at_ms: 0,
                fresh_until_ms,
                expires_at_s,
                delta_ms: 3,
            },
        }
    }

    #[test]
    fn reads_are_judged_by_key_and_clock() {
        let it = || Some(item("h/a", 10_000, 20));
        assert!(matches!(classify(it(), "h/a", 9_999), L2Read::Fresh(_)));
        assert!(matches!(classify(it(), "h/a", 10_000), L2Read::Stale(_)));
        assert_eq!(classify(it(), "h/a", 20_000), L2Read::Missing(MissReason::Expired));
        assert_eq!(classify(it(), "h/b", 0), L2Read::Missing(MissReason::KeyMismatch));
        assert_eq!(classify(None, "h/a", 0), L2Read::Missing(MissReason::Absent));
    }

    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
