//! When the glue fails (workers.md, "Never"): the request goes to the origin unchanged —
//! fail open to the origin, never to the cache — with one log line. Nothing is looked up or
//! stored; the answer passes as the origin sent it, less the private freshness headers.

use edge_policy::cache_api::is_private_header;
use wasm_bindgen::JsValue;
use web_sys::{Request, Response};

use crate::config::Config;
use crate::header_list::HeaderList;
use crate::origin::{self, Answered};
use crate::outcome::{OriginFailure, Outcome};
use crate::request_url::RequestUrl;
use crate::runtime;

/// Forwards `request` (the viewer's, as received) to the origin. `Err` only when not even
/// that is possible; the caller then answers `502` itself.
pub async fn forward(request: &Request, config: &Config) -> Result<Response, JsValue> {
    let raw_url = request.url();
    let url = RequestUrl::split(&raw_url).ok_or_else(|| JsValue::from_str("unusable request URL"))?;
    let viewer = HeaderList::of(&request.headers())?;
    let secret_header = config.verify_header.as_str();
    let headers = viewer.to_headers(|name| name != "host" && name != secret_header)?;
    if let Some(secret) = &config.verify_secret {
        headers.set(secret_header, secret)?;
    }
    let method = request.method();
    let body = if matches!(method.as_str(), "GET" | "HEAD") {
        None
    } else {
        request.body()
    };
    let answered = origin::ask(config, &method, url.path, url.query, &headers, body.as_ref()).await?;
    match answered {
        Answered::Response(response) | Answered::Failed(OriginFailure::Status(_), Some(response)) => {
            let mut headers = HeaderList::of(&response.headers())?;
            headers.remove_where(is_private_header);
            headers.append("cache-status", Outcome::Fallback.to_string());
            runtime::response(
                response.status(),
                &headers.to_headers(|_| true)?,
                response.body().as_ref(),
            )
        }
        Answered::Failed(failure, _) => unavailable(Some(failure)),
    }
}

/// `502` (or `504` after a timeout) with `no-store`, when the origin can't be asked at all.
pub fn unavailable(failure: Option<OriginFailure>) -> Result<Response, JsValue> {
    let status = if failure == Some(OriginFailure::TimedOut) {
        504
    } else {
        502
    };
    let headers = web_sys::Headers::new()?;
    headers.set("cache-control", "no-store")?;
    headers.set("content-type", "text/plain; charset=utf-8")?;
    headers.set("cache-status", &Outcome::Fallback.to_string())?;
    runtime::text_response(status, &headers, "origin unavailable\n")
}
