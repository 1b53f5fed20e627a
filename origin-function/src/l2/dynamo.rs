//! L2 on a DynamoDB table (the default): one item per entry, the lease as a second item in
//! the same table. Deadlines and retries come from the client's configuration
//! ([`crate::sdk::l2_client_config`]); the connection is opened ahead of requests by
//! [`L2::connect`] with the longer connect deadline ([`crate::sdk::connect_override`]).
//!
//! - Reads: `GetItem`, strongly consistent when asked (a waiter re-reading what another
//!   environment just wrote); the item's fields are moved out of the SDK's output.
//! - Writes: `PutItem` conditional on `storedAt` — written when no entry exists, when the
//!   stored one has no readable `storedAt`, or when it is older than this one (or is this very
//!   entry, written by an attempt whose answer was lost before a retry) — and on purge
//!   markers: never over a marker whose `purgedBy` is above the writer's `S₀`.
//! - Markers: `PutItem` of `{pk, purgedBy, expiresAt}` unless the stored entry was loaded
//!   after that purge or a later marker is there.
//! - Lease: conditional `PutItem` of `lease#<digest>` (`attribute_not_exists(pk) OR
//!   leaseUntil < :now`), given back with a conditional `DeleteItem` (`owner = :owner`).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::item::{field, Attribute, Encoded, Fields, RawEntry};
use super::{lease_key, L2Future, WriteOutcome, L2};
use crate::config::Config;
use crate::error::{L2Fault, OriginError};

/// The key `connect` reads: never written, so the read is cheap and finds nothing.
const CONNECT_PROBE: &str = "connect#probe";

/// The DynamoDB L2.
#[derive(Debug, Clone)]
pub struct DynamoL2 {
    client: Client,
    table: String,
    connect: aws_sdk_dynamodb::config::Builder,
}

fn fault<E: std::fmt::Debug, R: std::fmt::Debug>(op: &'static str, err: SdkError<E, R>) -> OriginError {
    let fault = match &err {
        SdkError::TimeoutError(_) => L2Fault::Timeout,
        SdkError::DispatchFailure(_) => L2Fault::Dispatch,
        SdkError::ResponseError(_) => L2Fault::Response,
        SdkError::ServiceError(_) => L2Fault::Service,
        _ => L2Fault::Other,
    };
    OriginError::L2 {
        op,
        fault,
        message: format!("{err:?}").chars().take(300).collect(),
    }
}

/// A conditional put's outcome: `true` when written, `false` when its condition failed.
fn conditional<E, R>(op: &'static str, result: Result<E, SdkError<PutItemError, R>>) -> Result<bool, OriginError>
where
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(fault(op, e)),
    }
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// An attribute's value as a DynamoDB type.
fn attribute_value(value: Attribute<'_>) -> AttributeValue {
    match value {
        Attribute::Text(text) => AttributeValue::S(text.into_owned()),
        Attribute::Number(number) => n(number),
        Attribute::Bytes(bytes) => AttributeValue::B(Blob::new(bytes)),
        Attribute::Flag(flag) => AttributeValue::Bool(flag),
    }
}

/// The item written for `entry` under `digest`.
fn item(digest: &str, entry: Encoded<'_>) -> HashMap<String, AttributeValue> {
    let stored = entry.entry;
    let purge: Vec<(String, AttributeValue)> = Encoded::purge_attributes(stored)
        .into_iter()
        .map(|(name, value)| (name.to_owned(), attribute_value(value)))
        .collect();
    let attributes = entry
        .into_attributes()
        .map(|(name, value)| (name.to_owned(), attribute_value(value)));
    std::iter::once((field::PK.to_owned(), s(digest)))
        .chain(attributes)
        .chain(purge)
        .collect()
}

/// An item's attributes, taken one at a time.
struct Item(HashMap<String, AttributeValue>);

impl Fields for Item {
    fn text(&mut self, name: &str) -> Option<String> {
        match self.0.remove(name)? {
            AttributeValue::S(v) => Some(v),
            _ => None,
        }
    }

    fn number(&mut self, name: &str) -> Option<u64> {
        match self.0.remove(name)? {
            AttributeValue::N(v) => v.parse().ok(),
            _ => None,
        }
    }

    fn body(&mut self) -> Option<Vec<u8>> {
        match self.0.remove(field::BODY)? {
            AttributeValue::B(blob) => Some(blob.into_inner()),
            _ => None,
        }
    }

    fn gz(&mut self) -> bool {
        matches!(self.0.remove(field::GZ), Some(AttributeValue::Bool(true)))
    }
}

impl DynamoL2 {
    /// An L2 on `config.cache_table` through `client` (whose timeouts and retries bound every
    /// call; [`crate::sdk::l2_client_config`]).
    pub fn new(client: Client, config: &Config) -> Self {
        DynamoL2 {
            client,
            table: config.cache_table.clone(),
            connect: crate::sdk::connect_override(config),
        }
    }

    async fn release(&self, digest: &str, owner: &str) -> Result<(), OriginError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key(field::PK, AttributeValue::S(lease_key(digest)))
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
    }
}

impl L2 for DynamoL2 {
    fn get<'a>(&'a self, digest: &'a str, consistent: bool) -> L2Future<'a, Option<RawEntry>> {
        Box::pin(async move {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key(field::PK, s(digest))
                .consistent_read(consistent)
                .send()
                .await
                .map_err(|e| fault("GetItem", e))?;
            match out.item {
                None => Ok(None),
                Some(item) => RawEntry::read(&mut Item(item)).map(Some),
            }
        })
    }

    fn put<'a>(&'a self, digest: &'a str, entry: Encoded<'a>, owner: &'a str) -> L2Future<'a, WriteOutcome> {
        Box::pin(async move {
            let (stored_at_ms, seq) = (entry.entry.stamp.stored_at_ms, entry.entry.seq);
            let etag = entry.entry.etag.clone();
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item(digest, entry)))
                // `#at = :at AND #et = :et`: this very entry, already written by an attempt
                // whose answer was lost (the SDK retries after a timeout): written, not
                // superseded.
                .condition_expression(
                    "(attribute_not_exists(#pk) OR attribute_not_exists(#at) OR NOT attribute_type(#at, :n) \
                     OR #at < :at OR (#at = :at AND #et = :et)) AND (attribute_not_exists(#pb) OR #pb <= :seq)",
                )
                .expression_attribute_names("#pk", field::PK)
                .expression_attribute_names("#at", field::STORED_AT)
                .expression_attribute_names("#et", field::ETAG)
                .expression_attribute_names("#pb", field::PURGED_BY)
                .expression_attribute_values(":n", s("N"))
                .expression_attribute_values(":at", n(stored_at_ms))
                .expression_attribute_values(":et", s(&etag))
                .expression_attribute_values(":seq", n(seq))
                .send()
                .await;
            match result {
                Ok(_) => Ok(WriteOutcome::Written),
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    self.release(digest, owner).await?;
                    // Which condition failed: a marker of a later purge, or a newer entry.
                    let stored = self
                        .client
                        .get_item()
                        .table_name(&self.table)
                        .key(field::PK, s(digest))
                        .projection_expression("#pb")
                        .expression_attribute_names("#pb", field::PURGED_BY)
                        .consistent_read(true)
                        .send()
                        .await
                        .map_err(|e| fault("GetItem(marker)", e))?;
                    let marked = stored.item.as_ref().and_then(|i| i.get(field::PURGED_BY)).is_some();
                    Ok(if marked {
                        WriteOutcome::Purged
                    } else {
                        WriteOutcome::Superseded
                    })
                }
                Err(err) => Err(fault("PutItem", err)),
            }
        })
    }

    fn try_lease<'a>(&'a self, digest: &'a str, owner: &'a str, now_ms: u64, lease_ms: u64) -> L2Future<'a, bool> {
        Box::pin(async move {
            let until = now_ms.saturating_add(lease_ms);
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(field::PK, AttributeValue::S(lease_key(digest)))
                .item("owner", s(owner))
                .item("leaseUntil", n(until))
                .item(field::EXPIRES_AT, n(until.div_ceil(1000) + 1))
                .condition_expression("attribute_not_exists(pk) OR leaseUntil < :now")
                .expression_attribute_values(":now", n(now_ms))
                .send()
                .await;
            conditional("PutItem(lease)", result)
        })
    }

    fn release_lease<'a>(&'a self, digest: &'a str, owner: &'a str) -> L2Future<'a, ()> {
        Box::pin(self.release(digest, owner))
    }

    fn mark<'a>(&'a self, digest: &'a str, seq: u64, until_ms: u64, _now_ms: u64) -> L2Future<'a, bool> {
        Box::pin(async move {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(field::PK, s(digest))
                .item(field::PURGED_BY, n(seq))
                .item(field::EXPIRES_AT, n(until_ms.div_ceil(1000)))
                .condition_expression(
                    "(attribute_not_exists(#ps) OR #ps < :seq) AND (attribute_not_exists(#pb) OR #pb < :seq)",
                )
                .expression_attribute_names("#ps", field::PURGE_SEQ)
                .expression_attribute_names("#pb", field::PURGED_BY)
                .expression_attribute_values(":seq", n(seq))
                .send()
                .await;
            conditional("PutItem(marker)", result)
        })
    }

    fn connect(&self) -> L2Future<'_, ()> {
        Box::pin(async move {
            self.client
                .get_item()
                .table_name(&self.table)
                .key(field::PK, s(CONNECT_PROBE))
                .customize()
                .config_override(self.connect.clone())
                .send()
                .await
                .map(|_| ())
                .map_err(|e| fault("connect(GetItem)", e))
        })
    }
}

#[cfg(test)]
mod tests {
    use edge_policy::cache_control::{CacheControl, Lifetime, Stamp, TtlBounds};

    use super::*;
    use crate::entry::StoredEntry;

    /// The item old and new environments read from each other, in DynamoDB's types.
    #[test]
    fn the_item_is_written_in_these_dynamodb_types() {
        let cache_control = CacheControl::parse(["public, s-maxage=10, stale-if-error=20"]);
        let lifetime = Lifetime::from_cache_control(&cache_control, TtlBounds::ORIGIN).unwrap();
        let entry = StoredEntry {
            key: "h/a".into(),
            status: 200,
            content_type: "text/plain".into(),
            etag: "\"e\"".into(),
            body: "b".into(),
            cache_control,
            stamp: Stamp::new(1_000, lifetime),
            delta_ms: 3,
            seq: 4,
            tags: vec!["product:42".into(), "category:books".into()],
        };
        let written = item("d1", Encoded::new(&entry, 4096, 400 * 1024).unwrap());
        let expected: HashMap<String, AttributeValue> = [
            ("pk", s("d1")),
            ("fullKey", s("h/a")),
            ("status", AttributeValue::N("200".into())),
            ("body", AttributeValue::B(Blob::new(b"b".to_vec()))),
            ("gz", AttributeValue::Bool(false)),
            ("contentType", s("text/plain")),
            ("etag", s("\"e\"")),
            ("cacheControl", s("public, s-maxage=10, stale-if-error=20")),
            ("storedAt", AttributeValue::N("1000".into())),
            ("freshUntil", AttributeValue::N("11000".into())),
            ("delta", AttributeValue::N("3".into())),
            ("expiresAt", AttributeValue::N("31".into())),
            // purge.md: new attributes only; the eleven above stay byte for byte.
            ("purgeSeq", AttributeValue::N("4".into())),
            ("tags", s("product:42 category:books")),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect();
        assert_eq!(written, expected);
    }
}
