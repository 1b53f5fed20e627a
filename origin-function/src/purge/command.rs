//! The purge steps that touch the origin's stores (purge.md, "Order of a purge", steps 1–3
//! and 5): allocate `S`, resolve a selector through the indexes, replace selected L2 entries
//! with markers, log `S`. The purge CLI runs them itself on DynamoDB, and — with the Redis
//! L2, reachable only inside its VPC — by invoking the origin function directly with a
//! [`PurgeCommand`] (an internal event like warm-up: a function URL or API Gateway event
//! never is one, so no viewer can send it).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::store::{PrefixScan, PurgeStore};
use super::{KeyParts, PurgeRecord, Selector};
use crate::error::OriginError;
use crate::l2::{digest, L2};

/// One step, as the internal event's `purge` member carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PurgeCommand {
    /// Hand out a new sequence number.
    Allocate,
    /// Resolve a selector through the indexes.
    Resolve {
        /// What to resolve.
        selector: Selector,
        /// The caller's clock, epoch ms (expired index entries are skipped).
        now_ms: u64,
    },
    /// Replace the entries of `keys` with markers carrying `seq`.
    Mark {
        /// The purge's sequence.
        seq: u64,
        /// Full canonical keys.
        keys: Vec<String>,
        /// When the markers may go, epoch ms (after the longest invocation).
        until_ms: u64,
        /// The caller's clock, epoch ms.
        now_ms: u64,
    },
    /// Log the purge.
    Log {
        /// The purge.
        record: PurgeRecord,
        /// The caller's clock, epoch ms.
        now_ms: u64,
        /// How long the log keeps it, ms.
        retention_ms: u64,
    },
}

/// What a selector resolved to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Resolved {
    /// Full canonical keys of L1/L2 entries (every host).
    pub keys: Vec<String>,
    /// Canonical `path?query` the indexes know (what the edge invalidates exactly).
    pub paths: Vec<String>,
    /// For a prefix: the scan's pages, items examined and read capacity.
    pub scan: Option<ScanCost>,
}

/// What a prefix scan cost.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanCost {
    /// Pages read.
    pub pages: u32,
    /// Items or keys examined.
    pub scanned: u64,
    /// DynamoDB read capacity consumed (0 where the server does not say).
    pub capacity_units: f64,
}

/// A step's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum PurgeReply {
    /// The new sequence.
    Allocate {
        /// `S`.
        seq: u64,
    },
    /// The resolution.
    Resolve(Resolved),
    /// Markers written.
    Mark {
        /// Entries replaced (or keys marked where nothing was stored).
        marked: u32,
        /// Entries loaded after the purge, kept.
        kept: u32,
    },
    /// Logged.
    Log,
}

/// The steps over the origin's stores.
#[derive(Clone)]
pub struct PurgeSteps {
    store: Arc<dyn PurgeStore>,
    l2: Option<Arc<dyn L2>>,
}

impl PurgeSteps {
    /// The steps over the purge `store` and the cache `l2` (`None`: no L2 to mark).
    pub fn new(store: Arc<dyn PurgeStore>, l2: Option<Arc<dyn L2>>) -> Self {
        PurgeSteps { store, l2 }
    }

    /// Runs one step.
    pub async fn run(&self, command: PurgeCommand) -> Result<PurgeReply, OriginError> {
        Ok(match command {
            PurgeCommand::Allocate => PurgeReply::Allocate {
                seq: self.store.allocate().await?,
            },
            PurgeCommand::Resolve { selector, now_ms } => PurgeReply::Resolve(self.resolve(&selector, now_ms).await?),
            PurgeCommand::Mark {
                seq,
                keys,
                until_ms,
                now_ms,
            } => {
                let (marked, kept) = self.mark(&keys, seq, until_ms, now_ms).await?;
                PurgeReply::Mark { marked, kept }
            }
            PurgeCommand::Log {
                record,
                now_ms,
                retention_ms,
            } => {
                self.store
                    .log(&record, now_ms, Duration::from_millis(retention_ms))
                    .await?;
                PurgeReply::Log
            }
        })
    }

    /// Step 1 (and 5): the selector's entries and paths.
    pub async fn resolve(&self, selector: &Selector, now_ms: u64) -> Result<Resolved, OriginError> {
        let mut resolved = Resolved::default();
        match selector {
            Selector::Url(path) => resolved.keys = self.store.keys_for_path(path, now_ms).await?,
            Selector::Prefix(prefix) => {
                let PrefixScan {
                    keys,
                    pages,
                    scanned,
                    capacity_units,
                } = self.store.prefix_scan(prefix, now_ms).await?;
                resolved.keys = keys;
                resolved.scan = Some(ScanCost {
                    pages,
                    scanned,
                    capacity_units,
                });
            }
            Selector::Tag(tag) => {
                let tagged: BTreeSet<String> = self.store.paths_for_tag(tag, now_ms).await?.into_iter().collect();
                let paths: BTreeSet<&str> = tagged.iter().map(|pq| KeyParts::of(pq).path).collect();
                for path in paths {
                    for key in self.store.keys_for_path(path, now_ms).await? {
                        if tagged.contains(&KeyParts::of(&key).path_and_query()) {
                            resolved.keys.push(key);
                        }
                    }
                }
                resolved.paths = tagged.into_iter().collect();
            }
        }
        resolved.keys.sort();
        resolved.keys.dedup();
        let mut paths: BTreeSet<String> = resolved.paths.drain(..).collect();
        paths.extend(resolved.keys.iter().map(|k| KeyParts::of(k).path_and_query()));
        resolved.paths = paths.into_iter().collect();
        Ok(resolved)
    }

    /// Step 2: a marker carrying `seq` in place of every entry of `keys` loaded before the
    /// purge. `(marked, kept)`.
    pub async fn mark(&self, keys: &[String], seq: u64, until_ms: u64, now_ms: u64) -> Result<(u32, u32), OriginError> {
        let Some(l2) = &self.l2 else {
            return Ok((0, 0));
        };
        let (mut marked, mut kept) = (0, 0);
        for key in keys {
            if l2.mark(&digest(key), seq, until_ms, now_ms).await? {
                marked += 1;
            } else {
                kept += 1;
            }
        }
        Ok((marked, kept))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_read_as_the_cli_writes_them() {
        let command: PurgeCommand =
            serde_json::from_str(r#"{"op":"resolve","selector":{"kind":"tag","value":"product:42"},"now_ms":5}"#)
                .unwrap();
        assert_eq!(
            command,
            PurgeCommand::Resolve {
                selector: Selector::Tag("product:42".into()),
                now_ms: 5
            }
        );
        let reply = serde_json::to_value(PurgeReply::Allocate { seq: 7 }).unwrap();
        assert_eq!(reply, serde_json::json!({"op": "allocate", "seq": 7}));
    }
}
