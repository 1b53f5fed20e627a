//! The invocation payloads, read in one pass from their JSON into the `http` crate's types
//! (`lambda_http` re-exports `http`): Lambda function URL events (payload format 2.0), API
//! Gateway REST proxy events (payload format 1.0: the optional stage-cache stack in
//! `deploy/`), and the payloads that are not HTTP — warm-up (`{"warmup": true}`) and
//! EventBridge `Scheduled Event`. Both HTTP payloads take the same response shape
//! (`statusCode`, `headers`, `body`, `isBase64Encoded`).
//!
//! Files by job: [`payload`] (the payloads' JSON shapes, read in one pass into an
//! [`Invocation`]), [`request`] (an HTTP request in `http` types, and carrying what an event
//! received into them), [`response`] (the response payload).

pub mod payload;
pub mod request;
pub mod response;

pub use payload::Invocation;
pub use request::{HttpRequest, Via};
pub use response::HttpResponse;
