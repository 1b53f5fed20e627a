//! L2: a cache shared by every environment, behind one trait ([`L2`]) with two backends:
//! the DynamoDB table ([`dynamo::DynamoL2`], the default) and Redis ([`redis::RedisL2`], for
//! ElastiCache). Both store the same entry ([`item`]: field names, body encoding, size
//! guard and the judgement on read live there, once) and differ only in how they move
//! bytes.
//!
//! The item's partition key is the hex SHA-256 of the canonical key ([`digest`]); the full
//! key is stored beside the value and compared on read, so a digest collision can never
//! serve another key's value. Lease items: `lease#<digest>`.
//!
//! Every write is conditional on `storedAt`: a load that outlived its lease never replaces
//! a newer entry ([`WriteOutcome::Superseded`]); and on purge markers (purge.md, "Order of a
//! purge", step 2): a marker carrying a sequence above the writer's `S₀` keeps a load that
//! began before the purge out of L2 ([`WriteOutcome::Purged`]).

use std::future::Future;
use std::pin::Pin;

use sha2::{Digest, Sha256};

use crate::error::OriginError;
use item::{Encoded, RawEntry};

pub mod dynamo;
pub mod item;
pub mod redis;
pub mod redis_iam;

pub use dynamo::DynamoL2;

/// A boxed future, so [`L2`] stays object-safe.
pub type L2Future<'a, T> = Pin<Box<dyn Future<Output = Result<T, OriginError>> + Send + 'a>>;

/// The L2 item's partition key: hex SHA-256 of the canonical key.
pub fn digest(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// The lease item's key for an entry's digest.
pub fn lease_key(digest: &str) -> String {
    format!("lease#{digest}")
}

/// What a write did. Neither outcome is a fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The entry was written.
    Written,
    /// An entry at least as new (`storedAt`) is already stored: nothing was written, and the
    /// writer's lease was given back.
    Superseded,
    /// A purge marker with a sequence above the entry's `S₀` is stored: the load began before
    /// that purge, so it is neither stored nor kept in L1 (it still answers its own viewer).
    Purged,
}

/// The L2 operations the layered read needs.
pub trait L2: Send + Sync {
    /// Reads the item stored under `digest`; `consistent` asks for a strongly consistent
    /// read (a waiter re-reading what another environment just wrote). `Err(L2Item)` for an
    /// item that cannot be read.
    fn get<'a>(&'a self, digest: &'a str, consistent: bool) -> L2Future<'a, Option<RawEntry>>;
    /// Writes `entry` under `digest` unless an entry at least as new is stored. `owner` is
    /// the caller's lease owner id: the lease is given back when nothing was written, and
    /// also after a write on a backend whose lease runs on its own clock (Redis); DynamoDB's
    /// lease otherwise lapses at `leaseUntil` on the callers' clock.
    fn put<'a>(&'a self, digest: &'a str, entry: Encoded<'a>, owner: &'a str) -> L2Future<'a, WriteOutcome>;
    /// Takes the load lease for `digest` unless another owner holds an unexpired one.
    fn try_lease<'a>(&'a self, digest: &'a str, owner: &'a str, now_ms: u64, lease_ms: u64) -> L2Future<'a, bool>;
    /// Gives the lease back if `owner` still holds it.
    fn release_lease<'a>(&'a self, digest: &'a str, owner: &'a str) -> L2Future<'a, ()>;
    /// Opens the connection ahead of requests (init and warm-up), under the connect deadline.
    fn connect(&self) -> L2Future<'_, ()>;
    /// Replaces the entry under `digest` with a purge marker carrying `seq`, kept until
    /// `until_ms` (after the longest invocation), unless the entry was loaded after that purge
    /// (`S₀ >= seq`) or a later purge's marker is there. `true` when the marker was written.
    /// `now_ms` is the caller's clock (Redis expires relatively).
    fn mark<'a>(&'a self, digest: &'a str, seq: u64, until_ms: u64, now_ms: u64) -> L2Future<'a, bool>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_hex_sha256() {
        assert_eq!(
            digest("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(lease_key("ab"), "lease#ab");
    }
}
