//! The edge policy on Cloudflare Workers (workers.md): a `workers-rs` fetch handler that
//! moves bytes between the runtime's types and [`edge_policy::cache_api`], where every rule
//! lives. The same `rules.toml`, the same canonical key and the same one `Cache-Control` as
//! the Lambda@Edge handler; the Cache API (`caches.default`) as the store, with the policy's
//! freshness model deciding what a stored copy may do.
//!
//! - [`flow`]: one request: lookup or bypass, then fresh / stale-while-revalidate /
//!   stale-if-error / miss.
//! - [`store`], [`revalidate`], [`origin`], [`respond`]: the Cache API, revalidation, the
//!   origin call, the responses.
//! - [`invalidate`]: what this isolate invalidated after an unsafe method, so that no store
//!   in flight puts it back.
//! - [`fallback`]: an internal failure forwards the request unchanged to the origin.
//! - [`outcome`]: how a request was answered, rendered as `Cache-Status` and in the log.
#![warn(missing_docs)]

pub mod config;
pub mod error;
pub mod fallback;
pub mod flow;
pub mod header_list;
pub mod invalidate;
pub mod origin;
pub mod outcome;
pub mod request_url;
pub mod respond;
pub mod revalidate;
pub mod runtime;
pub mod store;

use worker::{event, Context, Env, Request};

use crate::config::Config;

/// The Worker's `fetch` handler. It never throws to the runtime: a failure of the glue
/// forwards the request unchanged to the origin and logs one line.
#[event(fetch)]
pub async fn fetch(request: Request, env: Env, ctx: Context) -> worker::Result<web_sys::Response> {
    let now_ms = runtime::now_ms();
    let raw = request.inner();
    let config = match Config::from_env(&env) {
        Ok(config) => config,
        Err(error) => {
            runtime::log(
                "error",
                "misconfigured: cannot reach the origin",
                &[("reason", &error.to_string())],
            );
            return fallback::unavailable(None).map_err(worker::Error::from);
        }
    };
    // The request as received, for the fallback (a body is teed; GET/HEAD have none).
    let spare = raw.clone();
    match flow::handle(raw, &config, &ctx, now_ms).await {
        Ok(response) => Ok(response),
        Err(error) => {
            let reason = error.to_string();
            runtime::log(
                "error",
                "internal failure: forwarded to the origin",
                &[("reason", &reason)],
            );
            let forwarded = match spare {
                Ok(spare) => fallback::forward(&spare, &config).await,
                Err(e) => Err(e),
            };
            forwarded
                .or_else(|_| fallback::unavailable(None))
                .map_err(worker::Error::from)
        }
    }
}
