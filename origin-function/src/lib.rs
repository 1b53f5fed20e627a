//! The origin Lambda behind CloudFront: the demo API, answered through an execution-context
//! L1, an L2 (a DynamoDB table, or Redis) and the source of truth (origin-cache.md).
//!
//! - The canonical key and every `Cache-Control` come from [`edge_policy`], the library the
//!   edge runs: the key from `canonical_request`, the header from `cache_control::decide`
//!   (once per load, [`policy`]), every freshness question from
//!   `cache_control::freshness` ([`entry`], [`l1`]).
//! - Private routes and requests with the viewer's credential never touch L1 or L2.
//! - An L2 fault never fails a request, and no layer makes an answer worse than the layer
//!   below it would ([`layers`], [`read_path`], [`load`]).
//! - Time is a parameter: [`Origin::invoke`] takes one reading of the clocks ([`clock::Now`]:
//!   the wall clock for what other environments read, a monotonic one for L1 and the
//!   breaker), read once by the caller.
//!
//! Files by job, from the top down: [`origin`] (the origin: routing a request, building its
//! one response), [`read_path`] (the shared read path: L1 → L2 → one coalesced load),
//! [`load`] (the coalesced load: lease or wait, source, decision, writes, fail-open),
//! [`layers`] (L1 + L2 under one budget, one invocation's session), [`prepared`] (a request
//! after normalization), [`respond`] (building the answer), [`source`] (the demo API over
//! the catalogue table), [`event`] (payloads in, responses out, in `http` types), [`verify`]
//! (the secret check), [`entry`] (the stored entry), [`l2`] (the backends, and the item
//! schema in [`l2::item`]), [`purge`] (purge.md: selectors, tags, the purge table, this
//! environment's view of the purge log, the steps an operator's direct invoke runs), [`l1`], [`policy`], [`cache_status`] (RFC 9211, as a value),
//! [`coalesce`], [`breaker`], [`clock`], [`xfetch`], [`tables`], [`config`], [`sdk`], [`metrics`],
//! [`error`] (the error enum and the typed L2 fault).
#![warn(missing_docs)]

pub mod breaker;
pub mod cache_status;
pub mod clock;
pub mod coalesce;
pub mod config;
pub mod entry;
pub mod error;
pub mod event;
pub mod l1;
pub mod l2;
pub mod layers;
pub mod load;
pub mod metrics;
pub mod origin;
pub mod policy;
pub mod prepared;
pub mod purge;
pub mod read_path;
pub mod respond;
pub mod sdk;
pub mod source;
pub mod tables;
pub mod verify;
pub mod xfetch;

pub use error::OriginError;
pub use event::{HttpRequest, HttpResponse, Invocation};
pub use origin::{InvocationResponse, Invoked, Origin};
pub use sdk::{l2_client_config, source_client_config};
