//! Configuration from environment variables, each with a default (README.md lists them).

use std::time::Duration;

use crate::error::OriginError;

/// Which store holds L2 (`ORIGIN_L2_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum L2Backend {
    /// `dynamodb`: the `ORIGIN_CACHE_TABLE` table (the default).
    #[default]
    DynamoDb,
    /// `redis`: the Redis server at `ORIGIN_REDIS_URL` (ElastiCache for Redis or Valkey).
    Redis,
}

/// ElastiCache IAM authentication: the user the origin connects as, with a token it signs
/// (`ORIGIN_REDIS_IAM_USER` and `ORIGIN_REDIS_IAM_CACHE`, both or neither).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisIam {
    /// `ORIGIN_REDIS_IAM_USER`: the ElastiCache user id (IAM authentication: its name too).
    pub user: String,
    /// `ORIGIN_REDIS_IAM_CACHE`: the replication group id the token is signed for.
    pub cache: String,
    /// `AWS_REGION` (set by Lambda): the region the token is signed for.
    pub region: String,
}

/// Everything the origin reads from its environment, read once at init.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `ORIGIN_CATALOGUE_TABLE`: the source-of-truth table.
    pub catalogue_table: String,
    /// `ORIGIN_CACHE_TABLE`: the L2 table.
    pub cache_table: String,
    /// `ORIGIN_CATALOGUE_ENDPOINT`: endpoint override for the catalogue (a local server).
    pub catalogue_endpoint: Option<String>,
    /// `ORIGIN_CACHE_ENDPOINT`: endpoint override for the L2 table (a local server).
    pub cache_endpoint: Option<String>,
    /// `ORIGIN_L2_ENABLED`: `false` skips L2 entirely.
    pub l2_enabled: bool,
    /// `ORIGIN_L2_BACKEND`: `dynamodb` or `redis`.
    pub l2_backend: L2Backend,
    /// `ORIGIN_REDIS_URL`: `redis://host:port` or `rediss://host:port` (TLS); required for `redis`.
    pub redis_url: Option<String>,
    /// ElastiCache IAM authentication, when its two variables are set.
    pub redis_iam: Option<RedisIam>,
    /// `ORIGIN_REDIS_COMMAND_TIMEOUT_MS`: deadline of one Redis L2 call, retries (and a
    /// reconnect) included.
    pub redis_command_timeout: Duration,
    /// `ORIGIN_REDIS_RETRIES`: retries after the first attempt of a Redis command.
    pub redis_retries: u32,
    /// `ORIGIN_L1_MAX_ENTRIES`: L1 entry bound.
    pub l1_max_entries: u64,
    /// `ORIGIN_L1_MAX_BYTES`: L1 weighted-bytes bound.
    pub l1_max_bytes: u64,
    /// `ORIGIN_L1_TTL_SECONDS`: L1 TTL cap; the route's `s-maxage` caps it further.
    pub l1_ttl_seconds: u64,
    /// `ORIGIN_L2_CONNECT_TIMEOUT_MS`: L2 connect deadline (DynamoDB and Redis).
    pub l2_connect_timeout: Duration,
    /// `ORIGIN_L2_ATTEMPT_TIMEOUT_MS`: deadline of one L2 attempt.
    pub l2_attempt_timeout: Duration,
    /// `ORIGIN_L2_OPERATION_TIMEOUT_MS`: deadline of one L2 call, retries included.
    pub l2_operation_timeout: Duration,
    /// `ORIGIN_L2_RETRIES`: retries after the first L2 attempt.
    pub l2_retries: u32,
    /// `ORIGIN_L2_BUDGET_MS`: the time one invocation may spend in L2 altogether (get,
    /// lease, waits, write and release); past it, the invocation goes on without L2.
    pub l2_budget: Duration,
    /// `ORIGIN_L2_SLOW_MS`: an L2 answer slower than this counts as a fault (the breaker
    /// hears of it, and the rest of the invocation goes on without L2).
    pub l2_slow: Duration,
    /// `ORIGIN_SOURCE_OPERATION_TIMEOUT_MS`: deadline of one catalogue call.
    pub source_operation_timeout: Duration,
    /// `ORIGIN_L2_COMPRESS_MIN_BYTES`: bodies at least this large are gzip-compressed in L2.
    pub l2_compress_min_bytes: usize,
    /// `ORIGIN_L2_MAX_ITEM_BYTES`: items estimated larger are never written (DynamoDB's 400 KB;
    /// the same guard for Redis).
    pub l2_max_item_bytes: usize,
    /// `ORIGIN_LEASE_MS`: how long a load lease holds.
    pub lease_ms: u64,
    /// `ORIGIN_LEASE_WAIT_MS`: how long a caller without the lease waits for L2 to fill.
    pub lease_wait_ms: u64,
    /// `ORIGIN_LEASE_POLL_MS`: interval of the re-reads while waiting.
    pub lease_poll_ms: u64,
    /// `ORIGIN_BREAKER_FAILURES`: consecutive L2 failures that open the breaker.
    pub breaker_failures: u32,
    /// `ORIGIN_BREAKER_COOLDOWN_MS`: time the breaker stays open before a probe.
    pub breaker_cooldown_ms: u64,
    /// `ORIGIN_XFETCH_BETA`: XFetch's beta (`0` turns early refresh off).
    pub xfetch_beta: f64,
    /// `ORIGIN_HOST`: the host the origin is reached at (its Function URL domain), for warm-up keys.
    pub origin_host: Option<String>,
    /// `ORIGIN_HOT_PATHS`: comma-separated paths (with optional `?query`) preloaded by warm-up.
    pub hot_paths: Vec<String>,
    /// `ORIGIN_METRICS_NAMESPACE`: the CloudWatch namespace of the EMF line.
    pub metrics_namespace: String,
    /// `ORIGIN_VERIFY_HEADER`: the header CloudFront adds with the shared secret.
    pub verify_header: String,
    /// `ORIGIN_VERIFY_SECRET`: comma-separated accepted secrets (several during a rotation).
    /// Empty means the check is off, which only happens when neither `ORIGIN_VERIFY_HEADER`
    /// nor `ORIGIN_VERIFY_SECRET` is set (local runs): with either set, an empty list refuses
    /// to start.
    pub verify_secrets: Vec<String>,
    /// `ORIGIN_PURGE_ENABLED`: `false` turns purging off (no index writes, no log reads).
    pub purge_enabled: bool,
    /// `ORIGIN_PURGE_TABLE`: the purge table (path index, tag index, log) with the DynamoDB
    /// L2, on the L2's endpoint; the Redis L2 keeps the same data on its own server.
    pub purge_table: String,
    /// `ORIGIN_PURGE_POLL_MS`: purge.md's `PURGE_POLL_MS`, the longest an environment goes on
    /// serving L1 without reading the purge log's head.
    pub purge_poll: Duration,
    /// `ORIGIN_PURGE_LOG_RETENTION_SECONDS`: purge.md's `PURGE_LOG_RETENTION`; an
    /// environment whose last log read is older clears its L1.
    pub purge_log_retention: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            catalogue_table: "edge-cache-catalogue".into(),
            cache_table: "edge-cache-origin".into(),
            catalogue_endpoint: None,
            cache_endpoint: None,
            l2_enabled: true,
            l2_backend: L2Backend::DynamoDb,
            redis_url: None,
            redis_iam: None,
            redis_command_timeout: Duration::from_millis(300),
            redis_retries: 2,
            l1_max_entries: 10_000,
            l1_max_bytes: 64 * 1024 * 1024,
            l1_ttl_seconds: 30,
            l2_connect_timeout: Duration::from_millis(1000),
            l2_attempt_timeout: Duration::from_millis(100),
            l2_operation_timeout: Duration::from_millis(300),
            l2_retries: 2,
            l2_budget: Duration::from_millis(500),
            l2_slow: Duration::from_millis(100),
            source_operation_timeout: Duration::from_millis(3000),
            l2_compress_min_bytes: 4096,
            l2_max_item_bytes: 400 * 1024,
            lease_ms: 3000,
            lease_wait_ms: 300,
            lease_poll_ms: 25,
            breaker_failures: 5,
            breaker_cooldown_ms: 10_000,
            xfetch_beta: 1.0,
            origin_host: None,
            hot_paths: Vec::new(),
            metrics_namespace: "EdgeCache/Origin".into(),
            verify_header: "x-origin-verify".into(),
            verify_secrets: Vec::new(),
            purge_enabled: true,
            purge_table: "edge-cache-purge".into(),
            purge_poll: Duration::from_millis(1000),
            purge_log_retention: Duration::from_secs(3600),
        }
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, OriginError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map); unset or empty means default.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, OriginError> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let d = Config::default();
        let string = |name: &str, default: String| get(name).unwrap_or(default);
        let number = |name: &str, default: u64| -> Result<u64, OriginError> {
            get(name).map_or(Ok(default), |v| {
                v.parse().map_err(|_| OriginError::Config {
                    name: name.into(),
                    value: v,
                })
            })
        };
        let millis = |name: &str, default: Duration| -> Result<Duration, OriginError> {
            number(name, default.as_millis() as u64).map(Duration::from_millis)
        };
        let flag = |name: &str, default: bool| -> Result<bool, OriginError> {
            match get(name).as_deref().map(str::to_ascii_lowercase).as_deref() {
                None => Ok(default),
                Some("1" | "true" | "yes" | "on") => Ok(true),
                Some("0" | "false" | "no" | "off") => Ok(false),
                Some(v) => Err(OriginError::Config {
                    name: name.into(),
                    value: v.into(),
                }),
            }
        };
        let beta = match get("ORIGIN_XFETCH_BETA") {
            None => d.xfetch_beta,
            Some(v) => match v.parse::<f64>() {
                Ok(b) if b.is_finite() && b >= 0.0 => b,
                _ => {
                    return Err(OriginError::Config {
                        name: "ORIGIN_XFETCH_BETA".into(),
                        value: v,
                    })
                }
            },
        };
        let l2_backend = match get("ORIGIN_L2_BACKEND").map(|v| v.to_ascii_lowercase()).as_deref() {
            None | Some("dynamodb") => L2Backend::DynamoDb,
            Some("redis") => L2Backend::Redis,
            Some(v) => {
                return Err(OriginError::Config {
                    name: "ORIGIN_L2_BACKEND".into(),
                    value: v.into(),
                })
            }
        };
        // The secret check is on as soon as either variable is set, even to an empty value (a
        // deploy that forgot the secret must not silently turn the check off).
        let verify_on = lookup("ORIGIN_VERIFY_HEADER").is_some() || lookup("ORIGIN_VERIFY_SECRET").is_some();
        let verify_secrets: Vec<String> = get("ORIGIN_VERIFY_SECRET")
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        if verify_on && verify_secrets.is_empty() {
            // Named, never echoed: the value is a secret.
            return Err(OriginError::config(
                "ORIGIN_VERIFY_SECRET",
                "<empty while the secret check is on: refusing to start>",
            ));
        }
        let redis_url = get("ORIGIN_REDIS_URL");
        if l2_backend == L2Backend::Redis && redis_url.is_none() {
            return Err(OriginError::Config {
                name: "ORIGIN_REDIS_URL".into(),
                value: String::new(),
            });
        }
        let redis_iam = match (get("ORIGIN_REDIS_IAM_USER"), get("ORIGIN_REDIS_IAM_CACHE")) {
            (None, None) => None,
            (Some(user), Some(cache)) => Some(RedisIam {
                user,
                cache,
                region: get("AWS_REGION").ok_or_else(|| {
                    OriginError::config("AWS_REGION", "<unset: the Redis IAM token is signed for a region>")
                })?,
            }),
            (None, Some(_)) => {
                return Err(OriginError::config(
                    "ORIGIN_REDIS_IAM_USER",
                    "<unset, with ORIGIN_REDIS_IAM_CACHE>",
                ))
            }
            (Some(_), None) => {
                return Err(OriginError::config(
                    "ORIGIN_REDIS_IAM_CACHE",
                    "<unset, with ORIGIN_REDIS_IAM_USER>",
                ))
            }
        };
        Ok(Config {
            catalogue_table: string("ORIGIN_CATALOGUE_TABLE", d.catalogue_table),
            cache_table: string("ORIGIN_CACHE_TABLE", d.cache_table),
            catalogue_endpoint: get("ORIGIN_CATALOGUE_ENDPOINT"),
            cache_endpoint: get("ORIGIN_CACHE_ENDPOINT"),
            l2_enabled: flag("ORIGIN_L2_ENABLED", d.l2_enabled)?,
            l2_backend,
            redis_url,
            redis_iam,
            redis_command_timeout: millis("ORIGIN_REDIS_COMMAND_TIMEOUT_MS", d.redis_command_timeout)?,
            redis_retries: number("ORIGIN_REDIS_RETRIES", u64::from(d.redis_retries))?.min(10) as u32,
            l1_max_entries: number("ORIGIN_L1_MAX_ENTRIES", d.l1_max_entries)?.max(1),
            l1_max_bytes: number("ORIGIN_L1_MAX_BYTES", d.l1_max_bytes)?.max(1),
            l1_ttl_seconds: number("ORIGIN_L1_TTL_SECONDS", d.l1_ttl_seconds)?,
            l2_connect_timeout: millis("ORIGIN_L2_CONNECT_TIMEOUT_MS", d.l2_connect_timeout)?,
            l2_attempt_timeout: millis("ORIGIN_L2_ATTEMPT_TIMEOUT_MS", d.l2_attempt_timeout)?,
            l2_operation_timeout: millis("ORIGIN_L2_OPERATION_TIMEOUT_MS", d.l2_operation_timeout)?,
            l2_retries: number("ORIGIN_L2_RETRIES", u64::from(d.l2_retries))?.min(10) as u32,
            l2_budget: millis("ORIGIN_L2_BUDGET_MS", d.l2_budget)?,
            l2_slow: millis("ORIGIN_L2_SLOW_MS", d.l2_slow)?,
            source_operation_timeout: millis("ORIGIN_SOURCE_OPERATION_TIMEOUT_MS", d.source_operation_timeout)?,
            l2_compress_min_bytes: number("ORIGIN_L2_COMPRESS_MIN_BYTES", d.l2_compress_min_bytes as u64)? as usize,
            l2_max_item_bytes: number("ORIGIN_L2_MAX_ITEM_BYTES", d.l2_max_item_bytes as u64)? as usize,
            lease_ms: number("ORIGIN_LEASE_MS", d.lease_ms)?,
            lease_wait_ms: number("ORIGIN_LEASE_WAIT_MS", d.lease_wait_ms)?,
            lease_poll_ms: number("ORIGIN_LEASE_POLL_MS", d.lease_poll_ms)?.max(1),
            breaker_failures: number("ORIGIN_BREAKER_FAILURES", u64::from(d.breaker_failures))?.clamp(1, 1000) as u32,
            breaker_cooldown_ms: number("ORIGIN_BREAKER_COOLDOWN_MS", d.breaker_cooldown_ms)?,
            xfetch_beta: beta,
            origin_host: get("ORIGIN_HOST").map(|h| h.to_ascii_lowercase()),
            verify_header: string("ORIGIN_VERIFY_HEADER", d.verify_header.clone()).to_ascii_lowercase(),
            verify_secrets,
            hot_paths: get("ORIGIN_HOT_PATHS")
                .map(|v| {
                    v.split(',')
                        .map(str::trim)
                        .filter(|p| p.starts_with('/'))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
            metrics_namespace: string("ORIGIN_METRICS_NAMESPACE", d.metrics_namespace),
            purge_enabled: flag("ORIGIN_PURGE_ENABLED", d.purge_enabled)?,
            purge_table: string("ORIGIN_PURGE_TABLE", d.purge_table),
            purge_poll: millis("ORIGIN_PURGE_POLL_MS", d.purge_poll)?,
            purge_log_retention: Duration::from_secs(number(
                "ORIGIN_PURGE_LOG_RETENTION_SECONDS",
                d.purge_log_retention.as_secs(),
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, OriginError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|n| map.get(n).cloned())
    }

    #[test]
    fn unset_means_default() {
        assert_eq!(from(&[]).unwrap(), Config::default());
    }

    #[test]
    fn values_are_read_and_bad_ones_named() {
        let c = from(&[
            ("ORIGIN_L2_OPERATION_TIMEOUT_MS", "250"),
            ("ORIGIN_HOT_PATHS", "/api/config, /a?b=1,x"),
        ])
        .unwrap();
        assert_eq!(c.l2_operation_timeout, Duration::from_millis(250));
        assert_eq!(c.hot_paths, vec!["/api/config".to_string(), "/a?b=1".to_string()]);
        let err = from(&[("ORIGIN_L1_MAX_BYTES", "lots")]).unwrap_err();
        assert!(err.to_string().contains("ORIGIN_L1_MAX_BYTES"));
        assert!(from(&[("ORIGIN_L2_ENABLED", "maybe")]).is_err());
    }

    #[test]
    fn the_redis_backend_is_chosen_by_name_and_needs_a_url() {
        assert_eq!(from(&[]).unwrap().l2_backend, L2Backend::DynamoDb);
        let c = from(&[
            ("ORIGIN_L2_BACKEND", "Redis"),
            ("ORIGIN_REDIS_URL", "rediss://cache.example:6379"),
            ("ORIGIN_REDIS_COMMAND_TIMEOUT_MS", "150"),
            ("ORIGIN_REDIS_RETRIES", "1"),
        ])
        .unwrap();
        assert_eq!(c.l2_backend, L2Backend::Redis);
        assert_eq!(c.redis_url.as_deref(), Some("rediss://cache.example:6379"));
        assert_eq!(
            (c.redis_command_timeout, c.redis_retries),
            (Duration::from_millis(150), 1)
        );
        let err = from(&[("ORIGIN_L2_BACKEND", "redis")]).unwrap_err();
        assert!(err.to_string().contains("ORIGIN_REDIS_URL"));
        assert!(from(&[("ORIGIN_L2_BACKEND", "memcached")]).is_err());
    }

    #[test]
    fn redis_iam_takes_the_user_the_cache_and_the_region_together() {
        assert_eq!(from(&[]).unwrap().redis_iam, None);
        let c = from(&[
            ("ORIGIN_REDIS_IAM_USER", "edge-cache-l2-origin"),
            ("ORIGIN_REDIS_IAM_CACHE", "edge-cache-l2"),
            ("AWS_REGION", "us-east-1"),
        ])
        .unwrap();
        assert_eq!(
            c.redis_iam,
            Some(RedisIam {
                user: "edge-cache-l2-origin".into(),
                cache: "edge-cache-l2".into(),
                region: "us-east-1".into(),
            })
        );
        for (pairs, named) in [
            (
                &[("ORIGIN_REDIS_IAM_USER", "u"), ("AWS_REGION", "us-east-1")][..],
                "ORIGIN_REDIS_IAM_CACHE",
            ),
            (
                &[("ORIGIN_REDIS_IAM_CACHE", "c"), ("AWS_REGION", "us-east-1")][..],
                "ORIGIN_REDIS_IAM_USER",
            ),
            (
                &[("ORIGIN_REDIS_IAM_USER", "u"), ("ORIGIN_REDIS_IAM_CACHE", "c")][..],
                "AWS_REGION",
            ),
        ] {
            let err = from(pairs).unwrap_err();
            assert!(err.to_string().contains(named), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn the_secret_check_refuses_to_start_without_a_secret() {
        assert!(from(&[]).unwrap().verify_secrets.is_empty(), "off when nothing is set");
        for pairs in [
            &[("ORIGIN_VERIFY_HEADER", "x-origin-verify")][..],
            &[
                ("ORIGIN_VERIFY_HEADER", "x-origin-verify"),
                ("ORIGIN_VERIFY_SECRET", ""),
            ][..],
            &[("ORIGIN_VERIFY_SECRET", " , ")][..],
            &[("ORIGIN_VERIFY_SECRET", "")][..],
        ] {
            let err = from(pairs).unwrap_err();
            assert!(err.to_string().contains("ORIGIN_VERIFY_SECRET"), "{pairs:?}: {err}");
        }
        let c = from(&[("ORIGIN_VERIFY_SECRET", "new-one, old-one")]).unwrap();
        assert_eq!(c.verify_secrets, ["new-one", "old-one"]);
        let err = from(&[("ORIGIN_VERIFY_SECRET", "")]).unwrap_err().to_string();
        assert!(!err.contains("new-one"));
    }
}
