//! Asking the origin for what the policy decided: the request's headers (edited and filtered
//! by the policy, never a viewer-sent secret header, the Worker's secret when it has one) and
//! the call with its deadline.

use edge_policy::cache_api::OriginRequest;
use wasm_bindgen::JsValue;
use web_sys::{AbortController, Headers, ReadableStream};

use crate::config::Config;
use crate::header_list::HeaderList;
use crate::outcome::OriginFailure;
use crate::runtime::{self, Fetched};

/// The headers an origin request carries: never a hop-by-hop field of the viewer's (RFC 9110
/// §7.6.1). `validators` (the Worker's own conditional headers, RFC 9111 §4.3.1) are added
/// last.
pub fn headers(
    config: &Config,
    viewer: &HeaderList,
    request: &OriginRequest<'_, '_>,
    validators: &[(&str, &str)],
) -> Result<Headers, JsValue> {
    let mut list = viewer.clone();
    list.strip_hop_by_hop();
    list.apply(&request.edits);
    let secret_header = config.verify_header.as_str();
    let headers = list.to_headers(|name| request.forwards(name) && name != secret_header)?;
    if let Some(secret) = &config.verify_secret {
        headers.set(secret_header, secret)?;
    }
    for (name, value) in validators {
        headers.set(name, value)?;
    }
    Ok(headers)
}

/// What the origin came back with.
#[derive(Debug)]
pub enum Answered {
    /// A response that is not an RFC 5861 error.
    Response(web_sys::Response),
    /// A server error (the response is kept: with no stale copy it is passed on), or no
    /// answer at all.
    Failed(OriginFailure, Option<web_sys::Response>),
}

/// Sends `method uri?query` to the origin with `headers` (and `body`, for methods that have
/// one), within the configured timeout.
pub async fn ask(
    config: &Config,
    method: &str,
    uri: &str,
    querystring: &str,
    headers: &Headers,
    body: Option<&ReadableStream>,
) -> Result<Answered, JsValue> {
    let controller = AbortController::new()?;
    let request = runtime::request(method, &config.origin_url(uri, querystring), headers, body, &controller)?;
    Ok(match runtime::fetch(&request, &controller, config.timeout).await {
        Fetched::Answer(response) if edge_policy::cache_api::is_origin_error(response.status()) => {
            Answered::Failed(OriginFailure::Status(response.status()), Some(response))
        }
        Fetched::Answer(response) => Answered::Response(response),
        Fetched::Unreachable(_) => Answered::Failed(OriginFailure::Unreachable, None),
        Fetched::TimedOut => Answered::Failed(OriginFailure::TimedOut, None),
    })
}
