//! The purge data on the Redis L2's server ([`super::store`] describes the keys), through the
//! L2's own connection, deadlines and retries ([`RedisL2`]).

use std::time::Duration;

use ::redis::Script;

use super::store::{IndexWrite, PrefixScan, PurgeStore};
use super::PurgeRecord;
use crate::error::OriginError;
use crate::l2::redis::RedisL2;
use crate::l2::L2Future;

const HEAD: &str = "purge:log:head";
const NEXT: &str = "purge:log:next";
const PATH: &str = "purge:path:";
const TAG: &str = "purge:tag:";

fn log_key(seq: u64) -> String {
    format!("purge:log:{seq}")
}

/// Adds ARGV[2] to KEYS[1] and ARGV[3] to every other key, and makes each set live at least
/// ARGV[1] ms (never shortened: a set lives as long as its longest-lived member).
const INDEX: &str = r"
for i, key in ipairs(KEYS) do
  local member = ARGV[3]
  if i == 1 then member = ARGV[2] end
  redis.call('SADD', key, member)
  if redis.call('PTTL', key) < tonumber(ARGV[1]) then
    redis.call('PEXPIRE', key, ARGV[1])
  end
end
return 1
";

/// Logs a purge: the record (expiring after the retention), then the head, raised only.
/// KEYS: record, head. ARGV: record JSON, retention ms, seq.
const LOG_SCRIPT: &str = r"
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
local head = tonumber(redis.call('GET', KEYS[2]) or '0')
if head < tonumber(ARGV[3]) then
  redis.call('SET', KEYS[2], ARGV[3])
end
return 1
";

/// A `SCAN … MATCH` pattern matching keys that begin with `literal` (glob characters escaped).
fn glob_prefix(literal: &str) -> String {
    let mut out = String::with_capacity(literal.len() + 1);
    for c in literal.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('*');
    out
}

impl PurgeStore for RedisL2 {
    fn index<'a>(&'a self, write: &'a IndexWrite) -> L2Future<'a, ()> {
        Box::pin(async move {
            let mut keys = vec![format!("{PATH}{}", write.path)];
            keys.extend(write.tags.iter().map(|t| format!("{TAG}{t}")));
            let (keys, script) = (&keys, Script::new(INDEX));
            let script = &script;
            self.call("EVALSHA(purge index)", |mut conn, _| async move {
                let mut invocation = script.prepare_invoke();
                for key in keys {
                    invocation.key(key);
                }
                invocation
                    .arg(write.ttl_ms.max(1))
                    .arg(&write.key)
                    .arg(&write.path_and_query);
                invocation.invoke_async::<i64>(&mut conn).await
            })
            .await
            .map(|_| ())
        })
    }

    fn head(&self) -> L2Future<'_, u64> {
        Box::pin(async move {
            let head: Option<u64> = self
                .call("GET(purge head)", |mut conn, _| async move {
                    ::redis::cmd("GET").arg(HEAD).query_async(&mut conn).await
                })
                .await?;
            Ok(head.unwrap_or(0))
        })
    }

    fn records(&self, after: u64, upto: u64) -> L2Future<'_, Vec<PurgeRecord>> {
        Box::pin(async move {
            if upto <= after {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = (after + 1..=upto).map(log_key).collect();
            let keys = &keys;
            let values: Vec<Option<String>> = self
                .call("MGET(purge log)", |mut conn, _| async move {
                    ::redis::cmd("MGET").arg(keys).query_async(&mut conn).await
                })
                .await?;
            Ok(values
                .into_iter()
                .flatten()
                .filter_map(|json| serde_json::from_str(&json).ok())
                .collect())
        })
    }

    fn allocate(&self) -> L2Future<'_, u64> {
        Box::pin(self.call("INCR(purge next)", |mut conn, _| async move {
            ::redis::cmd("INCR").arg(NEXT).query_async(&mut conn).await
        }))
    }

    fn log<'a>(&'a self, record: &'a PurgeRecord, _now_ms: u64, retention: Duration) -> L2Future<'a, ()> {
        Box::pin(async move {
            let json = serde_json::to_string(record).map_err(|e| OriginError::L2Item(e.to_string()))?;
            let (json, key, script) = (&json, log_key(record.seq), Script::new(LOG_SCRIPT));
            let (key, script) = (&key, &script);
            self.call("EVALSHA(purge log)", |mut conn, _| async move {
                script
                    .key(key)
                    .key(HEAD)
                    .arg(json)
                    .arg(retention.as_millis().max(1) as u64)
                    .arg(record.seq)
                    .invoke_async::<i64>(&mut conn)
                    .await
            })
            .await
            .map(|_| ())
        })
    }

    fn keys_for_path<'a>(&'a self, path: &'a str, _now_ms: u64) -> L2Future<'a, Vec<String>> {
        Box::pin(async move {
            let key = format!("{PATH}{path}");
            let key = &key;
            self.call("SMEMBERS(purge path)", |mut conn, _| async move {
                ::redis::cmd("SMEMBERS").arg(key).query_async(&mut conn).await
            })
            .await
        })
    }

    fn paths_for_tag<'a>(&'a self, tag: &'a str, _now_ms: u64) -> L2Future<'a, Vec<String>> {
        Box::pin(async move {
            let key = format!("{TAG}{tag}");
            let key = &key;
            self.call("SMEMBERS(purge tag)", |mut conn, _| async move {
                ::redis::cmd("SMEMBERS").arg(key).query_async(&mut conn).await
            })
            .await
        })
    }

    fn prefix_scan<'a>(&'a self, prefix: &'a str, now_ms: u64) -> L2Future<'a, PrefixScan> {
        Box::pin(async move {
            let pattern = glob_prefix(&format!("{PATH}{prefix}"));
            let pattern = &pattern;
            let mut scan = PrefixScan::default();
            let mut cursor: u64 = 0;
            let mut paths = Vec::new();
            loop {
                let (next, keys): (u64, Vec<String>) = self
                    .call("SCAN(purge path)", |mut conn, _| async move {
                        ::redis::cmd("SCAN")
                            .arg(cursor)
                            .arg("MATCH")
                            .arg(pattern)
                            .arg("COUNT")
                            .arg(1000)
                            .query_async(&mut conn)
                            .await
                    })
                    .await?;
                scan.pages += 1;
                scan.scanned += keys.len() as u64;
                paths.extend(keys);
                cursor = next;
                if cursor == 0 {
                    break;
                }
            }
            paths.sort();
            paths.dedup();
            for key in paths {
                if let Some(path) = key.strip_prefix(PATH) {
                    scan.keys.extend(self.keys_for_path(path, now_ms).await?);
                }
            }
            Ok(scan)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_is_matched_literally() {
        assert_eq!(glob_prefix("purge:path:/a*[b]?"), r"purge:path:/a\*\[b\]\?*");
    }
}
