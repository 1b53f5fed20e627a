//! Cache-key normalization and `Cache-Control` policy for CloudFront + Lambda@Edge.
//!
//! Pure Rust: no I/O, no clock, no JS types. The Wasm handler (`edge-worker`), the origin
//! and the local edge link this one crate, so every rule exists once.
//!
//! - [`viewer_request`]: the request in canonical form (cache-key.md).
//! - [`origin_response`]: the one `Cache-Control` a response leaves with (cache-control.md).
//! - [`canonical_request`]: the same normalization plus the canonical [`CacheKey`], for the
//!   origin's caches.
//! - [`RuleSet::embedded`]: the route rules from `rules.toml`, embedded at build time.
//! - [`cloudfront`]: what CloudFront accepts from a function.
//! - `event` (feature `events`): serde types for Lambda@Edge events and a native handler.
//! - `http_views` (feature `http`): the views from `http` types, edits applied back.
//! - [`cache_control::freshness`]: how long a cache keeps a response; fresh, stale or gone.
//! - `oracle` (feature `oracle`): the promises above as checks that can fail, for the
//!   property tests and the fuzz targets.
//! - [`cache_api`]: the same policy over Cloudflare's Cache API (the Worker, workers.md).
//! - [`validation`]: `If-None-Match`, the validator a revalidation sends, and a `304`'s merge
//!   (RFC 9110 §13.1.2, RFC 9111 §4.3), for every host.
//! - [`percent`]: percent-encoding, the policy's own, for a host that writes URLs.
//!
//! The vocabulary every module shares (header fields, edits, the request and response views)
//! sits on the ground floor, in `view`; the triggers sit on top.
//!
//! # Stages stay out of line
//!
//! Each trigger's stages (the header rules, `Accept-Encoding`, cookies, the URL check, the
//! response's facts, the decision, the `Cache-Control` parse and write) and each rewrite that
//! canonical input never needs (percent-normalizing, merging slashes, removing dot-segments,
//! a query's items, a path's framework reading, sorting past eight keys) are
//! `#[inline(never)]`; the checks that leave canonical input as it is stay inline, and the
//! Wasm build tells `wasm-opt` not to inline a function back (Makefile `wasm`). V8 compiles
//! each Wasm function at its first call (Liftoff), whole, in time that grows faster than the
//! function. With everything inlined the viewer-request core was one 11–14 KB function and the
//! first event of a cold start compiled ~28 KB; now it compiles 18.5 KB in 32 functions on the
//! benchmark's realistic first request and 21.9 KB on its simple one, and the first core call
//! takes ~1.3 ms instead of 2.0–2.7 (2026-11-29, `make bench`). Per event the calls cost
//! nothing measurable.
#![warn(missing_docs)]

pub mod cache_api;
pub mod cache_control;
pub mod cloudfront;
mod error;
#[cfg(feature = "events")]
pub mod event;
pub mod explain;
pub mod headers;
#[cfg(feature = "http")]
pub mod http_views;
mod key;
#[cfg(feature = "oracle")]
pub mod oracle;
mod path;
pub mod percent;
pub mod query;
mod request_headers;
pub mod rules;
mod text;
pub mod trace;
mod trigger;
pub mod validation;
mod view;

pub use error::PolicyError;
pub use key::{canonical_request, CacheKey, CanonicalRequest};
pub use path::normalize_path;
pub use query::normalize_query;
pub use rules::{Route, RouteKind, RuleSet};
pub use trigger::{
    origin_response, viewer_request, viewer_request_reads, Passthrough, RequestRewrite, ResponseRewrite, ViewerOutcome,
    ORIGIN_RESPONSE_READS, ORIGIN_RESPONSE_REQUEST_READS, SURROGATE_KEY,
};
pub use view::{header_fields, HeaderEdit, HeaderField, HeaderSource, HeaderStore, RequestView, ResponseView};
