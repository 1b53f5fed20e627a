//! CloudFront on one machine.
//!
//! The local edge runs the **deployed artifacts**: the built Lambda@Edge package in a
//! long-lived Node process ([`handler_host`]), and the real origin binary as Lambda runs it,
//! each execution environment a child process behind a local Lambda Runtime API
//! ([`origin`]). Around them it does what CloudFront does ([`server`]): Lambda@Edge events for
//! all four triggers, validation of every answer ([`validate`]), a cache keyed like a cache
//! policy with `stale-while-revalidate`, `stale-if-error` and collapsed misses ([`cache`]).
//! The contract is `shared/spec/local-edge.md`.
#![warn(missing_docs)]

pub mod cache;
mod error;
pub mod events;
pub mod handler_host;
pub mod origin;
pub mod server;
pub mod stack;
pub mod validate;

pub use error::EdgeError;
pub use server::{Edge, EdgeConfig};
