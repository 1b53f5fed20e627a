//! L2 on a DynamoDB table (the default): one item per entry, the lease as a second item in
//! the same table. Deadlines and retries come from the client's configuration
//! ([`crate::sdk::l2_client_config`]); the connection is opened ahead of requests by
//! [`L2::connect`] with the longer connect deadline ([`crate::sdk::connect_override`]).
//!
//! - Reads: `GetItem`, strongly consistent when asked (a waiter re-reading what another
//!   environment just wrote); the item's fields are moved out of the SDK's output.
//! - Writes: `PutItem` conditional on `storedAt` — written when no entry exists, when the
//!   stored one has no readable `storedAt`, or when it is older than this one.
//! - Lease: conditional `PutItem` of `lease#<digest>` (`attribute_not_exists(pk) OR
//!   leaseUntil < :now`), given back with a conditional `DeleteItem` (`owner = :owner`).

use std::collections::HashMap;

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;

use super::{lease_key, L2Future, WriteOutcome, L2};
use crate::config::Config;
use crate::entry::{field, Encoded, Fields, RawEntry};
use crate::error::OriginError;

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
            let e = entry.entry;
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item(field::PK, s(digest))
                .item(field::FULL_KEY, s(&e.key))
                .item(field::STATUS, n(u64::from(e.status)))
                .item(field::BODY, AttributeValue::B(Blob::new(entry.body)))
                .item(field::GZ, AttributeValue::Bool(entry.gz))
                .item(field::CONTENT_TYPE, s(&e.content_type))
                .item(field::ETAG, s(&e.etag))
                .item(field::CACHE_CONTROL, AttributeValue::S(entry.cache_control))
                .item(field::STORED_AT, n(e.stamp.stored_at_ms))
                .item(field::FRESH_UNTIL, n(e.stamp.fresh_until_ms()))
                .item(field::DELTA, n(e.delta_ms))
                .item(field::EXPIRES_AT, n(e.expires_at_s()))
                .condition_expression(
                    "attribute_not_exists(#pk) OR attribute_not_exists(#at) OR NOT attribute_type(#at, :n) \
                     OR #at < :at",
                )
                .expression_attribute_names("#pk", field::PK)
                .expression_attribute_names("#at", field::STORED_AT)
                .expression_attribute_values(":n", s("N"))
                .expression_attribute_values(":at", n(e.stamp.stored_at_ms))
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
                    Ok(WriteOutcome::Superseded)
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
        Box::pin(self.release(digest, owner))
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
