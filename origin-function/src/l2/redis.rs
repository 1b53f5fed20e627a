//! L2 on Redis (ElastiCache for Redis or Valkey, cluster mode disabled): the same entry, the
//! same judgement on read ([`crate::entry::Found::judge`]) and the same fail-open as the
//! DynamoDB table.
//!
//! Entry: one hash per digest key, with the DynamoDB item's attribute names and values
//! (`fullKey`, `status`, `body` (bytes; gzip when `gz` is `1`), `gz`, `contentType`, `etag`,
//! `cacheControl`, `storedAt`, `freshUntil`, `delta`, `expiresAt`), written by one script
//! that first compares `storedAt` (a newer entry is never replaced). Lease: `SET
//! lease#<digest> <owner> NX PX <ms>`, given back with a compare-and-delete script. Reads
//! are always consistent (one primary).
//!
//! Deliberate differences from the DynamoDB backend, each because Redis keeps time itself:
//! - The key expires after `expiresAt × 1000 − storedAt` ms (`PEXPIRE`, relative), not at
//!   the absolute `expiresAt` (`PEXPIREAT`): the entry's times are in the writer's clock, and
//!   a relative expiry carries the stale window across any skew between that clock and the
//!   server's (and lets tests move their clock). `expiresAt` is stored and checked on read.
//! - The lease lapses on the server's clock (`PX`), not at `leaseUntil` on the callers'
//!   clocks, so the store that ends a load also gives its lease back (same script, one round
//!   trip): a lease that outlived its load would only hold back the next XFetch refresh.
//!
//! Deadlines: one multiplexed connection, opened ahead of requests (at init and on warm-up,
//! by [`L2::connect`], which also sends a `PING`) with the connect deadline and reused by
//! every invocation; each L2 call (its retries and a reconnect
//! included) runs under `tokio::time::timeout(command_timeout)`; at most `retries` retries
//! (10–50 ms backoff) for errors Redis calls retryable. A connection that failed or timed out
//! is dropped, and the next call (a retry, or the breaker's probe) opens a new one.
//!
//! Authentication: the URL's own user and password if it has them, or ElastiCache IAM
//! authentication (`ORIGIN_REDIS_IAM_USER`, [`super::redis_iam`]): each new connection
//! authenticates with a token signed just before it, with the credentials of the function's
//! role (the SDK's provider, which renews them), so no password is configured anywhere.

use std::borrow::Cow;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, RedisResult, RetryMethod, Script};
use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::Mutex;

use super::item::{field, Attribute, Encoded, Fields, RawEntry};
use super::{lease_key, redis_iam, L2Future, WriteOutcome, L2};
use crate::config::{Config, RedisIam};
use crate::error::{L2Fault, OriginError};

/// Deletes the lease only while `owner` still holds it.
const RELEASE: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Replaces the entry unless the stored one is at least as new (`storedAt`) or is a purge
/// marker above the writer's `S₀` (purge.md), sets its relative expiry, and gives back the
/// writer's lease either way. Returns 1 when written, 2 when a marker kept it out.
/// KEYS: entry, lease. ARGV: expiry ms, owner, storedAt, S₀, then field/value pairs.
const STORE: &str = r"
local stored = tonumber(redis.call('HGET', KEYS[1], 'storedAt'))
local marker = tonumber(redis.call('HGET', KEYS[1], 'purgedBy'))
local written = 0
if marker and marker > tonumber(ARGV[4]) then
  written = 2
elseif not stored or stored < tonumber(ARGV[3]) then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], unpack(ARGV, 5))
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  written = 1
end
if redis.call('GET', KEYS[2]) == ARGV[2] then
  redis.call('DEL', KEYS[2])
end
return written
";

/// Replaces the entry with a purge marker (`purgedBy` = ARGV[1], expiring after ARGV[2] ms)
/// unless it was loaded after that purge (`purgeSeq` >= ARGV[1]) or a later marker is there.
/// Returns 1 when marked. KEYS: entry.
const MARK: &str = r"
local seq = tonumber(ARGV[1])
local loaded = tonumber(redis.call('HGET', KEYS[1], 'purgeSeq'))
local marker = tonumber(redis.call('HGET', KEYS[1], 'purgedBy'))
if (loaded and loaded >= seq) or (marker and marker >= seq) then
  return 0
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'purgedBy', ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
";

/// No connection was used yet (the generation of a connection is never this).
const NO_GENERATION: u64 = u64::MAX;

/// The Redis L2.
pub struct RedisL2 {
    client: Client,
    /// IAM authentication: the user and cache, and the credentials each token is signed with.
    iam: Option<(RedisIam, SharedCredentialsProvider)>,
    /// The shared connection and its generation (bumped on each new connection).
    connection: Mutex<Option<(u64, MultiplexedConnection)>>,
    generations: AtomicU64,
    connect_timeout: Duration,
    command_timeout: Duration,
    retries: u32,
    release: Script,
    store: Script,
    mark: Script,
}

impl std::fmt::Debug for RedisL2 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The connection info may hold a password: never printed.
        f.debug_struct("RedisL2")
            .field("command_timeout", &self.command_timeout)
            .field("retries", &self.retries)
            .finish_non_exhaustive()
    }
}

/// A hash's fields, taken one at a time.
struct Hash(HashMap<String, Vec<u8>>);

impl Fields for Hash {
    fn text(&mut self, name: &str) -> Option<String> {
        String::from_utf8(self.0.remove(name)?).ok()
    }

    fn number(&mut self, name: &str) -> Option<u64> {
        std::str::from_utf8(&self.0.remove(name)?).ok()?.parse().ok()
    }

    fn body(&mut self) -> Option<Vec<u8>> {
        self.0.remove(field::BODY)
    }

    fn gz(&mut self) -> bool {
        self.0.remove(field::GZ).is_some_and(|v| v == b"1")
    }
}

/// An attribute's value as the bytes of a hash field.
fn hash_value<'v>(value: &'v Attribute<'_>) -> Cow<'v, [u8]> {
    match value {
        Attribute::Text(text) => Cow::Borrowed(text.as_bytes()),
        Attribute::Number(number) => Cow::Owned(number.to_string().into_bytes()),
        Attribute::Bytes(bytes) => Cow::Borrowed(bytes),
        Attribute::Flag(flag) => Cow::Borrowed(if *flag { b"1" } else { b"0" }),
    }
}

fn fault(op: &'static str, err: &RedisError) -> OriginError {
    let fault = if err.is_timeout() {
        L2Fault::Timeout
    } else if err.is_io_error() {
        L2Fault::Dispatch
    } else {
        match err.kind() {
            ErrorKind::Parse | ErrorKind::UnexpectedReturnType => L2Fault::Response,
            ErrorKind::Server(_) => L2Fault::Service,
            _ => L2Fault::Other,
        }
    };
    OriginError::L2 {
        op,
        fault,
        message: err.to_string().chars().take(300).collect(),
    }
}

fn backoff(retry: u32) -> Duration {
    Duration::from_millis((10u64 << retry.saturating_sub(1).min(3)).min(50))
}

impl RedisL2 {
    /// A Redis L2 on `config.redis_url`, authenticated by the URL alone; nothing is connected
    /// yet ([`L2::connect`] opens the connection). Only an unreadable URL is an error, and an
    /// IAM configuration (it needs credentials: [`RedisL2::with_credentials`]).
    pub fn new(config: &Config) -> Result<Self, OriginError> {
        Self::with_credentials(config, None)
    }

    /// A Redis L2 on `config.redis_url` that signs an IAM token with `credentials` for each
    /// connection when `config.redis_iam` is set.
    pub fn with_credentials(
        config: &Config,
        credentials: Option<SharedCredentialsProvider>,
    ) -> Result<Self, OriginError> {
        let iam = match (&config.redis_iam, credentials) {
            (None, _) => None,
            (Some(iam), Some(credentials)) => Some((iam.clone(), credentials)),
            (Some(_), None) => {
                return Err(OriginError::Config {
                    name: "ORIGIN_REDIS_IAM_USER".into(),
                    value: "<set, but there are no AWS credentials to sign the token with>".into(),
                })
            }
        };
        let url = config.redis_url.as_deref().unwrap_or_default();
        let client = Client::open(url).map_err(|e| OriginError::Config {
            name: "ORIGIN_REDIS_URL".into(),
            // The URL may carry a password: name the problem, not the value.
            value: format!("<unreadable: {}>", e.category()),
        })?;
        Ok(RedisL2 {
            client,
            iam,
            connection: Mutex::new(None),
            generations: AtomicU64::new(0),
            connect_timeout: config.l2_connect_timeout,
            command_timeout: config.redis_command_timeout,
            retries: config.redis_retries,
            release: Script::new(RELEASE),
            store: Script::new(STORE),
            mark: Script::new(MARK),
        })
    }

    /// The shared connection, opened if there is none (one opener at a time).
    async fn connection(&self) -> RedisResult<(u64, MultiplexedConnection)> {
        let mut slot = self.connection.lock().await;
        if let Some((generation, conn)) = slot.as_ref() {
            return Ok((*generation, conn.clone()));
        }
        let options = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            // Each call has its own deadline (`command_timeout`), retries included.
            .set_response_timeout(None);
        let conn = self
            .authenticated_client()
            .await?
            .get_multiplexed_async_connection_with_config(&options)
            .await?;
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        *slot = Some((generation, conn.clone()));
        Ok((generation, conn))
    }

    /// The client a new connection opens with: the URL's, or with IAM authentication, the
    /// user and a token signed now.
    async fn authenticated_client(&self) -> RedisResult<Client> {
        let Some((iam, provider)) = &self.iam else {
            return Ok(self.client.clone());
        };
        let credentials = provider.provide_credentials().await.map_err(|e| {
            RedisError::from((
                ErrorKind::AuthenticationFailed,
                "no AWS credentials for the IAM token",
                e.to_string(),
            ))
        })?;
        let token = redis_iam::auth_token(iam, &credentials, SystemTime::now())
            .map_err(|e| RedisError::from((ErrorKind::AuthenticationFailed, "IAM token not signed", e.to_string())))?;
        let info = self.client.get_connection_info().clone();
        let settings = info
            .redis_settings()
            .clone()
            .set_username(&iam.user)
            .set_password(token);
        Client::open(info.set_redis_settings(settings))
    }

    /// Drops the connection of `generation` (not a newer one another caller opened since).
    async fn forget(&self, generation: u64) {
        let mut slot = self.connection.lock().await;
        if slot.as_ref().is_some_and(|(g, _)| *g == generation) {
            *slot = None;
        }
    }

    /// Runs `command` (given the connection and the retry number) under the call's deadline
    /// and retry budget.
    pub(crate) async fn call<T, F, Fut>(&self, op: &'static str, command: F) -> Result<T, OriginError>
    where
        F: Fn(MultiplexedConnection, u32) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let used = AtomicU64::new(NO_GENERATION);
        let attempts = async {
            let mut retry = 0;
            loop {
                let result = match self.connection().await {
                    Ok((generation, conn)) => {
                        used.store(generation, Ordering::Relaxed);
                        command(conn, retry).await
                    }
                    Err(e) => Err(e),
                };
                let err = match result {
                    Ok(value) => return Ok(value),
                    Err(err) => err,
                };
                let method = err.retry_method();
                if err.is_io_error() || err.is_unrecoverable_error() {
                    let generation = used.load(Ordering::Relaxed);
                    if generation != NO_GENERATION {
                        self.forget(generation).await;
                    }
                }
                if retry >= self.retries || matches!(method, RetryMethod::NoRetry) {
                    return Err(err);
                }
                retry += 1;
                tokio::time::sleep(backoff(retry)).await;
            }
        };
        match tokio::time::timeout(self.command_timeout, attempts).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(fault(op, &err)),
            Err(_) => {
                // A connection that let a deadline pass (a silently dead peer after a
                // failover, a black hole) is replaced rather than trusted again.
                let generation = used.load(Ordering::Relaxed);
                if generation != NO_GENERATION {
                    self.forget(generation).await;
                }
                Err(OriginError::L2 {
                    op,
                    fault: L2Fault::Timeout,
                    message: format!("no answer within {} ms", self.command_timeout.as_millis()),
                })
            }
        }
    }
}

impl L2 for RedisL2 {
    fn get<'a>(&'a self, digest: &'a str, _consistent: bool) -> L2Future<'a, Option<RawEntry>> {
        Box::pin(async move {
            let fields: HashMap<String, Vec<u8>> = self
                .call("HGETALL", |mut conn, _| async move {
                    ::redis::cmd("HGETALL").arg(digest).query_async(&mut conn).await
                })
                .await?;
            if fields.is_empty() {
                return Ok(None);
            }
            RawEntry::read(&mut Hash(fields)).map(Some)
        })
    }

    fn put<'a>(&'a self, digest: &'a str, entry: Encoded<'a>, owner: &'a str) -> L2Future<'a, WriteOutcome> {
        Box::pin(async move {
            let (stored_at_ms, expires_at_s) = (entry.entry.stamp.stored_at_ms, entry.entry.expires_at_s());
            let seq = entry.entry.seq;
            let expire_ms = expires_at_s.saturating_mul(1000).saturating_sub(stored_at_ms).max(1);
            let purge = Encoded::purge_attributes(entry.entry);
            let (attributes, lease) = (entry.into_attributes(), lease_key(digest));
            let (attributes, purge, lease) = (&attributes, &purge, &lease);
            let written = self
                .call("EVALSHA(store)", |mut conn, _| async move {
                    let mut store = self.store.key(digest);
                    store.key(lease).arg(expire_ms).arg(owner).arg(stored_at_ms).arg(seq);
                    for (name, value) in attributes.iter().chain(purge.iter()) {
                        store.arg(*name).arg(hash_value(value).as_ref());
                    }
                    store.invoke_async::<i64>(&mut conn).await
                })
                .await?;
            Ok(match written {
                1 => WriteOutcome::Written,
                2 => WriteOutcome::Purged,
                _ => WriteOutcome::Superseded,
            })
        })
    }

    fn try_lease<'a>(&'a self, digest: &'a str, owner: &'a str, _now_ms: u64, lease_ms: u64) -> L2Future<'a, bool> {
        Box::pin(async move {
            let key = lease_key(digest);
            let key = &key;
            self.call("SET(lease)", |mut conn, retry| async move {
                let set: Option<String> = ::redis::cmd("SET")
                    .arg(key)
                    .arg(owner)
                    .arg("NX")
                    .arg("PX")
                    .arg(lease_ms.max(1))
                    .query_async(&mut conn)
                    .await?;
                if set.is_some() {
                    return Ok(true);
                }
                // A retry after a lost answer may find the lease its first attempt took.
                if retry > 0 {
                    let holder: Option<String> = ::redis::cmd("GET").arg(key).query_async(&mut conn).await?;
                    return Ok(holder.as_deref() == Some(owner));
                }
                Ok(false)
            })
            .await
        })
    }

    fn release_lease<'a>(&'a self, digest: &'a str, owner: &'a str) -> L2Future<'a, ()> {
        Box::pin(async move {
            let key = lease_key(digest);
            let key = &key;
            self.call("EVALSHA(release)", |mut conn, _| async move {
                self.release.key(key).arg(owner).invoke_async::<i64>(&mut conn).await
            })
            .await?;
            Ok(())
        })
    }

    fn mark<'a>(&'a self, digest: &'a str, seq: u64, until_ms: u64, now_ms: u64) -> L2Future<'a, bool> {
        Box::pin(async move {
            let keep_ms = until_ms.saturating_sub(now_ms).max(1);
            let marked = self
                .call("EVALSHA(mark)", |mut conn, _| async move {
                    self.mark
                        .key(digest)
                        .arg(seq)
                        .arg(keep_ms)
                        .invoke_async::<i64>(&mut conn)
                        .await
                })
                .await?;
            Ok(marked == 1)
        })
    }

    fn connect(&self) -> L2Future<'_, ()> {
        Box::pin(async move {
            let attempt = async {
                let (_, mut conn) = self.connection().await?;
                ::redis::cmd("PING").query_async::<String>(&mut conn).await
            };
            match tokio::time::timeout(self.connect_timeout + self.command_timeout, attempt).await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(fault("connect", &e)),
                Err(_) => Err(OriginError::L2 {
                    op: "connect",
                    fault: L2Fault::Timeout,
                    message: format!(
                        "no answer within {} ms",
                        (self.connect_timeout + self.command_timeout).as_millis()
                    ),
                }),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(url: &str) -> Config {
        Config {
            redis_url: Some(url.into()),
            ..Config::default()
        }
    }

    #[test]
    fn plain_and_tls_urls_are_accepted_and_a_bad_one_is_named_without_its_value() {
        assert!(RedisL2::new(&config("redis://127.0.0.1:6379")).is_ok());
        assert!(RedisL2::new(&config("rediss://master.cache.example.amazonaws.com:6379")).is_ok());
        let err = RedisL2::new(&config("http://user:secret@host")).unwrap_err();
        assert!(err.to_string().contains("ORIGIN_REDIS_URL"));
        assert!(!err.to_string().contains("secret"));
    }

    /// The hash old and new environments read from each other, as bytes.
    #[test]
    fn attributes_are_written_as_these_bytes() {
        let bytes = |value: Attribute<'_>| hash_value(&value).into_owned();
        assert_eq!(bytes(Attribute::Text(Cow::Borrowed("h/a"))), b"h/a");
        assert_eq!(bytes(Attribute::Number(1_700_000_000_123)), b"1700000000123");
        assert_eq!(bytes(Attribute::Bytes(vec![0x1f, 0x8b])), [0x1f, 0x8b]);
        assert_eq!(bytes(Attribute::Flag(true)), b"1");
        assert_eq!(bytes(Attribute::Flag(false)), b"0");
    }

    #[test]
    fn backoff_is_10_to_50_ms() {
        assert_eq!(backoff(1), Duration::from_millis(10));
        assert_eq!(backoff(2), Duration::from_millis(20));
        assert_eq!(backoff(3), Duration::from_millis(40));
        assert_eq!(backoff(9), Duration::from_millis(50));
    }

    #[tokio::test]
    async fn nothing_listening_is_a_fault_within_the_deadline() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let mut cfg = config(&format!("redis://127.0.0.1:{port}"));
        cfg.redis_command_timeout = Duration::from_millis(200);
        let l2 = RedisL2::new(&cfg).unwrap();
        let started = std::time::Instant::now();
        let err = l2.get("d", false).await.unwrap_err();
        assert!(matches!(err, OriginError::L2 { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_millis(400));
    }
}
