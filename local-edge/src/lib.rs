//! CloudFront on one machine.
//!
//! The local edge runs the **deployed artifacts**: the built Lambda@Edge package in a
//! long-lived Node process ([`handler_host`]), and the real origin binary as Lambda runs it,
//! each execution environment a child process behind a local Lambda Runtime API
//! ([`origin`]). Around them it does what CloudFront does, behaviour by behaviour, as the
//! behaviour table says ([`distribution`]): the request flow of the four triggers
//! ([`flow`], [`fetch`], [`triggers`], validated by [`validate`]), a cache keyed like the
//! behaviour's cache policy ([`cache_key`]) and timed by the project's freshness model
//! ([`cache`]), forwarding only what the policies name ([`forward`]).
//!
//! [`Stack::builder`] starts the whole stack (dynalite, seeding, origin, edge) for the CLI,
//! `replay` and the tests. The contract is `shared/spec/local-edge.md`.
#![warn(missing_docs)]

pub mod cache;
pub mod cache_key;
pub mod clock;
pub mod conditional;
pub mod distribution;
pub mod dynalite;
mod edge;
mod error;
pub mod events;
mod fetch;
mod flow;
pub mod forward;
pub mod function_url;
pub mod handler_host;
mod listener;
pub mod message;
pub mod origin;
pub mod procfs;
pub mod stack;
pub mod stats;
pub mod triggers;
pub mod validate;

pub use distribution::Distribution;
pub use edge::{Edge, EdgeConfig};
pub use error::EdgeError;
pub use stack::{Stack, StackBuilder};
