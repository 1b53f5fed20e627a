//! The catalogue table: reading one item (`GetItem`), reading a listing (`Query`, page after
//! page), and writing items (`BatchWriteItem`).
//!
//! Catalogue schema (`pk` hash, `sk` range, both strings):
//! - `product#<id>` / `#`: `id`, `name`, `category`, `price` (cents), `stock`, `description`;
//! - `list#all` and `list#<category>` / `id#<id:07>` and `price#<cents:09>#<id:07>`: a
//!   product summary, one per listing order;
//! - `config` / `#`: `body` (the JSON of `/api/config`);
//! - `static#<name>` / `#`: `contentType`, `body`, or `generatedBytes` for a generated body;
//! - `user#<n>` / `#`: `id`, `name`, `email`, `plan`.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};
use aws_sdk_dynamodb::Client;

use crate::error::OriginError;

/// One catalogue item.
pub type Item = HashMap<String, AttributeValue>;

/// A text attribute.
pub fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

/// A number attribute.
pub fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The text attribute `name` of `item` (empty when absent).
pub fn attr_s<'i>(item: &'i Item, name: &str) -> &'i str {
    item.get(name).and_then(|v| v.as_s().ok()).map_or("", String::as_str)
}

/// The number attribute `name` of `item` (0 when absent).
pub fn attr_n(item: &Item, name: &str) -> u64 {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// A listing to read: one partition, the sort keys under one prefix, in one direction.
#[derive(Debug, Clone, Copy)]
pub struct Listing<'a> {
    /// The listing's partition (`list#all`, `list#<category>`).
    pub pk: &'a str,
    /// The order's sort-key prefix (`id#`, `price#`).
    pub prefix: &'a str,
    /// Ascending.
    pub forward: bool,
    /// Only names containing this (lower-case) text.
    pub name_contains: Option<&'a str>,
}

/// The catalogue: the demo API's data.
#[derive(Debug, Clone)]
pub struct Catalogue {
    client: Client,
    table: String,
}

impl Catalogue {
    /// The catalogue in `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Catalogue {
            client,
            table: table.into(),
        }
    }

    /// The item `pk` / `#`, if any.
    pub async fn get(&self, pk: &str) -> Result<Option<Item>, OriginError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s("#"))
            .send()
            .await
            .map_err(|e| OriginError::Source(format!("GetItem: {e}")))?;
        Ok(out.item)
    }

    /// The first `wanted` items of `listing` (fewer when it has fewer). Reads pages until
    /// enough items matched: a filter applies after the read limit.
    pub async fn list(&self, listing: Listing<'_>, wanted: usize) -> Result<Vec<Item>, OriginError> {
        let mut found: Vec<Item> = Vec::new();
        let mut start: Option<Item> = None;
        for _ in 0..50 {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                .expression_attribute_values(":pk", s(listing.pk))
                .expression_attribute_values(":prefix", s(listing.prefix))
                .scan_index_forward(listing.forward)
                .limit(i32::try_from(wanted - found.len()).unwrap_or(1000).clamp(1, 1000))
                .set_exclusive_start_key(start.take());
            if let Some(q) = listing.name_contains {
                query = query
                    .filter_expression("contains(nameLc, :q)")
                    .expression_attribute_values(":q", s(q));
            }
            let out = query
                .send()
                .await
                .map_err(|e| OriginError::Source(format!("Query: {e}")))?;
            found.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if found.len() >= wanted || start.is_none() {
                break;
            }
        }
        Ok(found)
    }

    /// Deletes the item `pk` / `sk`.
    pub async fn delete(&self, pk: &str, sk: &str) -> Result<(), OriginError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .send()
            .await
            .map_err(|e| OriginError::Source(format!("DeleteItem: {e}")))?;
        Ok(())
    }

    /// Writes `items` with BatchWriteItem (25 per call), retrying unprocessed items.
    pub async fn write_items(&self, items: Vec<Item>) -> Result<(), OriginError> {
        let pending: Vec<WriteRequest> = items
            .into_iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| OriginError::Source(format!("PutRequest: {e}")))
            })
            .collect::<Result<_, _>>()?;
        crate::sdk::batch_write(&self.client, &self.table, pending, 100)
            .await
            .map_err(|e| OriginError::Source(format!("BatchWriteItem: {e}")))
    }
}
