//! Where the purge data lives (purge.md, "Where the purge data lives"), behind one trait
//! ([`PurgeStore`]) with two backends beside the two L2 backends:
//!
//! - **DynamoDB**: a second table (`pk`, `sk`; the cache table keeps its key schema). The
//!   path index is `path#<canonical path>` / `<full key>`, the tag index `tag#<tag>` /
//!   `<path?query>`, each with `expiresAt` (epoch s, the table's TTL attribute, also
//!   checked on read); the log is `log` / `head` (`seq`: the latest logged purge,
//!   `allocated`: the last sequence handed out) and `log` / `seq#<20 digits>` (`selector`,
//!   `at`, `expiresAt` = retention).
//! - **Redis** (the L2 server): a set per path (`purge:path:<path>`, members full keys) and
//!   per tag (`purge:tag:<tag>`, members `path?query`), each expiring no earlier than its
//!   longest-lived member; `purge:log:head`, `purge:log:next` (`INCR`) and
//!   `purge:log:<seq>` (JSON, expiring after the retention).
//!
//! A prefix resolves by a paginated scan (`Scan` with `begins_with`, or `SCAN … MATCH`),
//! whose cost [`PrefixScan`] reports.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnConsumedCapacity, WriteRequest};
use aws_sdk_dynamodb::Client;

use super::{PurgeRecord, Selector};
use crate::error::{L2Fault, OriginError};
use crate::l2::L2Future;

/// What one source load adds to the indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexWrite {
    /// The entry's full canonical key (path index member).
    pub key: String,
    /// Its canonical path (path index).
    pub path: String,
    /// Its `path?query` (tag index member).
    pub path_and_query: String,
    /// The tags the answer carried.
    pub tags: Vec<String>,
    /// When the answer's last possible serve at the edge ends, epoch s.
    pub expires_at_s: u64,
    /// The same moment from now, ms (Redis expires relatively: immune to clock skew).
    pub ttl_ms: u64,
}

/// What a prefix scan found, and what it cost.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PrefixScan {
    /// The full keys of every path beginning with the prefix.
    pub keys: Vec<String>,
    /// Pages read.
    pub pages: u32,
    /// Items (or keys) examined.
    pub scanned: u64,
    /// Read capacity consumed (DynamoDB; 0 where the server does not say).
    pub capacity_units: f64,
}

/// The indexes and the log.
pub trait PurgeStore: Send + Sync {
    /// Records an answer in the path index and the tag index.
    fn index<'a>(&'a self, write: &'a IndexWrite) -> L2Future<'a, ()>;
    /// The latest logged purge (0 when none), read strongly consistent.
    fn head(&self) -> L2Future<'_, u64>;
    /// The logged purges with `after < seq <= upto`, in order (a missing one is a gap).
    fn records(&self, after: u64, upto: u64) -> L2Future<'_, Vec<PurgeRecord>>;
    /// A new purge sequence number.
    fn allocate(&self) -> L2Future<'_, u64>;
    /// Logs `record` (kept `retention`) and raises the head to it.
    fn log<'a>(&'a self, record: &'a PurgeRecord, now_ms: u64, retention: Duration) -> L2Future<'a, ()>;
    /// The full keys the path index holds for `path`, unexpired at `now_ms`.
    fn keys_for_path<'a>(&'a self, path: &'a str, now_ms: u64) -> L2Future<'a, Vec<String>>;
    /// The `path?query` the tag index holds for `tag`, unexpired at `now_ms`.
    fn paths_for_tag<'a>(&'a self, tag: &'a str, now_ms: u64) -> L2Future<'a, Vec<String>>;
    /// The full keys of every indexed path beginning with `prefix`.
    fn prefix_scan<'a>(&'a self, prefix: &'a str, now_ms: u64) -> L2Future<'a, PrefixScan>;
}

/// The log's partition and the head's sort key.
const LOG: &str = "log";
const HEAD: &str = "head";
const PATH_PREFIX: &str = "path#";
const TAG_PREFIX: &str = "tag#";

fn log_sk(seq: u64) -> String {
    format!("seq#{seq:020}")
}

fn fault<E: std::fmt::Debug>(op: &'static str, err: E) -> OriginError {
    OriginError::L2 {
        op,
        fault: L2Fault::Service,
        message: format!("{err:?}").chars().take(300).collect(),
    }
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<u64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn text<'i>(item: &'i HashMap<String, AttributeValue>, name: &str) -> Option<&'i str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

/// The sort keys of index `items` whose `expiresAt` is not past `now_ms` (DynamoDB deletes
/// late: expiry is checked on read).
fn live_sort_keys(items: &[HashMap<String, AttributeValue>], now_ms: u64) -> impl Iterator<Item = String> + '_ {
    items.iter().filter_map(move |item| {
        let live = number(item, "expiresAt").is_none_or(|at| at.saturating_mul(1000) > now_ms);
        text(item, "sk").filter(|_| live).map(str::to_owned)
    })
}

/// A record's selector as stored: JSON (`{"kind":"tag","value":"product:42"}`).
fn selector_json(selector: &Selector) -> String {
    serde_json::to_string(selector).unwrap_or_default()
}

/// The purge table on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoPurgeStore {
    client: Client,
    table: String,
}

impl DynamoPurgeStore {
    /// The purge table `table` through `client` (the L2 client: its deadlines bound every call).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoPurgeStore {
            client,
            table: table.into(),
        }
    }

    /// The sort keys of partition `pk` whose `expiresAt` is not past `now_ms`, every page.
    async fn sort_keys(&self, pk: String, now_ms: u64) -> Result<Vec<String>, OriginError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(&pk))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| fault("Query(purge index)", e))?;
            out.extend(live_sort_keys(page.items(), now_ms));
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }
}

impl PurgeStore for DynamoPurgeStore {
    fn index<'a>(&'a self, write: &'a IndexWrite) -> L2Future<'a, ()> {
        Box::pin(async move {
            let item = |pk: String, sk: &str| -> Result<WriteRequest, OriginError> {
                let put = PutRequest::builder()
                    .item("pk", AttributeValue::S(pk))
                    .item("sk", s(sk))
                    .item("expiresAt", n(write.expires_at_s))
                    .build()
                    .map_err(|e| fault("PutRequest", e))?;
                Ok(WriteRequest::builder().put_request(put).build())
            };
            let mut requests = vec![item(format!("{PATH_PREFIX}{}", write.path), &write.key)?];
            for tag in &write.tags {
                requests.push(item(format!("{TAG_PREFIX}{tag}"), &write.path_and_query)?);
            }
            // An answer has at most 64 tags: a few calls; three rounds for what DynamoDB
            // leaves unprocessed (the invocation's L2 budget bounds them anyway).
            crate::sdk::batch_write(&self.client, &self.table, requests, 3)
                .await
                .map_err(|e| fault("BatchWriteItem(purge index)", e))
        })
    }

    fn head(&self) -> L2Future<'_, u64> {
        Box::pin(async move {
            let out = self
                .client
                .get_item()
                .table_name(&self.table)
                .key("pk", s(LOG))
                .key("sk", s(HEAD))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| fault("GetItem(purge head)", e))?;
            Ok(out.item.as_ref().and_then(|i| number(i, "seq")).unwrap_or(0))
        })
    }

    fn records(&self, after: u64, upto: u64) -> L2Future<'_, Vec<PurgeRecord>> {
        Box::pin(async move {
            let mut records = Vec::new();
            if upto <= after {
                return Ok(records);
            }
            let mut start = None;
            loop {
                let page = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                    .expression_attribute_values(":pk", s(LOG))
                    .expression_attribute_values(":from", s(&log_sk(after + 1)))
                    .expression_attribute_values(":to", s(&log_sk(upto)))
                    .consistent_read(true)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| fault("Query(purge log)", e))?;
                for item in page.items() {
                    let selector = text(item, "selector").and_then(|j| serde_json::from_str(j).ok());
                    if let (Some(seq), Some(selector)) = (number(item, "seq"), selector) {
                        records.push(PurgeRecord { seq, selector });
                    }
                }
                start = page.last_evaluated_key;
                if start.is_none() {
                    return Ok(records);
                }
            }
        })
    }

    fn allocate(&self) -> L2Future<'_, u64> {
        Box::pin(async move {
            let out = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(LOG))
                .key("sk", s(HEAD))
                .update_expression("ADD allocated :one")
                .expression_attribute_values(":one", n(1))
                .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
                .send()
                .await
                .map_err(|e| fault("UpdateItem(purge allocate)", e))?;
            out.attributes
                .as_ref()
                .and_then(|a| number(a, "allocated"))
                .ok_or_else(|| fault("UpdateItem(purge allocate)", "no sequence returned"))
        })
    }

    fn log<'a>(&'a self, record: &'a PurgeRecord, now_ms: u64, retention: Duration) -> L2Future<'a, ()> {
        Box::pin(async move {
            let expires = (now_ms + retention.as_millis() as u64).div_ceil(1000);
            self.client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(LOG))
                .item("sk", s(&log_sk(record.seq)))
                .item("seq", n(record.seq))
                .item("selector", s(&selector_json(&record.selector)))
                .item("at", n(now_ms))
                .item("expiresAt", n(expires))
                .send()
                .await
                .map_err(|e| fault("PutItem(purge log)", e))?;
            // The head only moves up: a purge logged late never lowers it.
            let raised = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("pk", s(LOG))
                .key("sk", s(HEAD))
                .update_expression("SET #seq = :seq")
                .condition_expression("attribute_not_exists(#seq) OR #seq < :seq")
                .expression_attribute_names("#seq", "seq")
                .expression_attribute_values(":seq", n(record.seq))
                .send()
                .await;
            match raised {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
                {
                    Ok(())
                }
                Err(e) => Err(fault("UpdateItem(purge head)", e)),
            }
        })
    }

    fn keys_for_path<'a>(&'a self, path: &'a str, now_ms: u64) -> L2Future<'a, Vec<String>> {
        Box::pin(self.sort_keys(format!("{PATH_PREFIX}{path}"), now_ms))
    }

    fn paths_for_tag<'a>(&'a self, tag: &'a str, now_ms: u64) -> L2Future<'a, Vec<String>> {
        Box::pin(self.sort_keys(format!("{TAG_PREFIX}{tag}"), now_ms))
    }

    fn prefix_scan<'a>(&'a self, prefix: &'a str, now_ms: u64) -> L2Future<'a, PrefixScan> {
        Box::pin(async move {
            let mut scan = PrefixScan::default();
            let mut start = None;
            loop {
                let page = self
                    .client
                    .scan()
                    .table_name(&self.table)
                    .filter_expression("begins_with(pk, :p)")
                    .expression_attribute_values(":p", s(&format!("{PATH_PREFIX}{prefix}")))
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| fault("Scan(purge index)", e))?;
                scan.pages += 1;
                scan.scanned += u64::try_from(page.scanned_count.max(0)).unwrap_or(0);
                scan.capacity_units += page
                    .consumed_capacity
                    .as_ref()
                    .and_then(|c| c.capacity_units)
                    .unwrap_or(0.0);
                scan.keys.extend(live_sort_keys(page.items(), now_ms));
                start = page.last_evaluated_key;
                if start.is_none() {
                    return Ok(scan);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_items_sort_by_sequence() {
        assert!(log_sk(9) < log_sk(10));
        assert_eq!(log_sk(42), "seq#00000000000000000042");
        assert_eq!(
            selector_json(&Selector::Tag("product:42".into())),
            r#"{"kind":"tag","value":"product:42"}"#
        );
    }
}
