//! CloudFront on one machine.
//!
//! The local edge runs the **deployed artifacts**: the built Lambda@Edge package in a
//! pool of long-lived Node processes ([`handler_host`]), and the real origin binary as Lambda runs it,
//! each execution environment a child process behind a local Lambda Runtime API
//! ([`origin`]). Around them it does what CloudFront does, behaviour by behaviour, as the
//! behaviour table says ([`distribution`]).
//!
//! A request goes down the files in one direction, each using only those below it:
//!
//! ```text
//! edge.rs      Edge::start / stop: binds, builds the State, serves the listener
//! listener.rs  HTTP/1.1 in (accept.rs, connection.rs: timeouts, cap, the head's size),
//!              CloudFront's limits (request_limits.rs), access log, CloudFront's headers and
//!              error pages (error_page.rs) out; `/__edge/*` to page.rs
//! page.rs      /__edge/*: loopback only; stats, test clock, the live page, its JSON, the records
//! flow.rs      behaviour, method, viewer-request, lookup, collapsing, viewer-response
//! fill.rs      one cache fill: fetch, then store (or refresh on a 304)
//! fetch.rs     one origin fetch: forwarded request, origin-request, the origin, origin-response
//! state.rs     what every request shares (config, triggers, origin, cache, flights, stats)
//! answer.rs    the words they answer in: EdgeFailure, Outcome, Answer
//! below        triggers.rs (events.rs, validate.rs, handler_host.rs over handler_process.rs),
//!              cache.rs, cache_key.rs, forward.rs, conditional.rs, collapse.rs, stats.rs,
//!              config.rs, distribution/, explain.rs (one request explained natively: the
//!              page's and the CLI's), http_origin/ (any HTTP origin, `--http-origin`)
//! ```
//!
//! The triggers run as CloudFront runs them ([`triggers`], their events built and read back
//! by [`events`], their answers validated by [`validate`]); the cache is keyed like the
//! behaviour's cache policy ([`cache_key`]) and timed by the project's freshness model
//! ([`cache`]); concurrent misses for one key share one fill (`collapse.rs`); only what the
//! policies name is forwarded ([`forward`]).
//!
//! CloudFront's invalidation API (and Lambda's `Invoke`, the purge's Redis path) is served on
//! a loopback port of its own (`aws_api.rs`, over [`invalidation`]), for the purge CLI.
//!
//! [`Stack::builder`] starts the whole stack (dynalite, seeding, origin, edge) for the CLI,
//! `replay` and the tests. The contract is `shared/spec/local-edge.md`.
#![warn(missing_docs)]

mod accept;
mod answer;
mod aws_api;
pub mod cache;
pub mod cache_key;
pub mod clock;
mod collapse;
pub mod conditional;
mod config;
pub mod connection;
pub mod distribution;
pub mod dynalite;
mod edge;
mod error;
mod error_page;
pub mod events;
pub mod explain;
mod fetch;
mod fill;
mod flow;
pub mod forward;
pub mod function_url;
pub mod handler_host;
mod handler_process;
pub mod http_origin;
pub mod invalidation;
mod listener;
pub mod message;
pub mod origin;
mod page;
pub mod procfs;
pub mod request_limits;
pub mod stack;
mod state;
pub mod stats;
pub mod triggers;
pub mod validate;

pub use config::{EdgeConfig, CACHE_BYTES, DISTRIBUTION_DOMAIN};
pub use distribution::Distribution;
pub use edge::Edge;
pub use error::EdgeError;
pub use stack::{Stack, StackBuilder};
