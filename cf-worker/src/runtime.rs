//! The runtime calls the glue makes, each answering a `Result`: `fetch`, the Cache API's
//! default cache, and building messages. (The `worker` crate's own wrappers `unwrap` in
//! places; a panic is a trap, which the runtime turns into an error for the viewer.)

use std::time::Duration;

use futures_util::future::{select, Either};
use js_sys::{Promise, Reflect};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    AbortController, Cache, Headers, ReadableStream, Request, RequestInit, RequestRedirect, Response, ResponseInit,
};

#[wasm_bindgen]
extern "C" {
    /// The global `fetch` (Fetch standard; Workers' subrequest).
    #[wasm_bindgen(js_name = fetch, catch)]
    fn global_fetch(request: &Request) -> Result<Promise, JsValue>;
}

/// What a `fetch` with a deadline came back with.
#[derive(Debug)]
pub enum Fetched {
    /// An answer (any status).
    Answer(Response),
    /// The connection failed.
    Unreachable(JsValue),
    /// No answer before the deadline; the request was aborted.
    TimedOut,
}

/// A request to send: method, URL, headers and an optional body stream. Redirects are never
/// followed (a CDN passes them on, and may cache a `301`), and the request can be aborted.
pub fn request(
    method: &str,
    url: &str,
    headers: &Headers,
    body: Option<&ReadableStream>,
    controller: &AbortController,
) -> Result<Request, JsValue> {
    let init = RequestInit::new();
    init.set_method(method);
    init.set_headers(headers);
    init.set_redirect(RequestRedirect::Manual);
    init.set_signal(Some(&controller.signal()));
    if let Some(body) = body {
        init.set_body(body);
    }
    Request::new_with_str_and_init(url, &init)
}

/// Sends `request`, aborting it through `controller` when no answer came within `timeout`
/// (the deadline covers the response head; the body then streams).
pub async fn fetch(request: &Request, controller: &AbortController, timeout: Duration) -> Fetched {
    let promise = match global_fetch(request) {
        Ok(promise) => promise,
        Err(e) => return Fetched::Unreachable(e),
    };
    let answer = JsFuture::from(promise);
    match select(answer, worker::Delay::from(timeout)).await {
        Either::Left((Ok(value), _)) => match value.dyn_into::<Response>() {
            Ok(response) => Fetched::Answer(response),
            Err(other) => Fetched::Unreachable(other),
        },
        Either::Left((Err(e), _)) => Fetched::Unreachable(e),
        Either::Right(((), _)) => {
            controller.abort();
            Fetched::TimedOut
        }
    }
}

/// `caches.default`, the data centre's cache (Cloudflare's extension of the Cache API).
pub fn default_cache() -> Result<Cache, JsValue> {
    let caches = Reflect::get(&js_sys::global(), &JsValue::from_str("caches"))?;
    let cache = Reflect::get(&caches, &JsValue::from_str("default"))?;
    if cache.is_undefined() || cache.is_null() {
        return Err(JsValue::from_str("caches.default is not available"));
    }
    Ok(cache.unchecked_into())
}

/// `cache.match(url)`: the stored `GET` answer for `url`, if any.
pub async fn cache_match(cache: &Cache, url: &str) -> Result<Option<Response>, JsValue> {
    let value = JsFuture::from(cache.match_with_str(url)).await?;
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    value.dyn_into::<Response>().map(Some)
}

/// `cache.put(url, response)`.
pub async fn cache_put(cache: &Cache, url: &str, response: &Response) -> Result<(), JsValue> {
    JsFuture::from(cache.put_with_str(url, response)).await.map(|_| ())
}

/// `cache.delete(url)`: whether a copy was there.
pub async fn cache_delete(cache: &Cache, url: &str) -> Result<bool, JsValue> {
    let deleted = JsFuture::from(cache.delete_with_str(url)).await?;
    Ok(deleted.as_bool().unwrap_or(false))
}

/// A response with `status`, `headers` and a body stream (`None`: no body).
pub fn response(status: u16, headers: &Headers, body: Option<&ReadableStream>) -> Result<Response, JsValue> {
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(headers);
    Response::new_with_opt_readable_stream_and_init(body, &init)
}

/// A response with a short text body.
pub fn text_response(status: u16, headers: &Headers, body: &str) -> Result<Response, JsValue> {
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(headers);
    Response::new_with_opt_str_and_init(Some(body), &init)
}

/// The current time, ms since the Unix epoch (in Workers it advances only with I/O).
pub fn now_ms() -> u64 {
    let now = js_sys::Date::now();
    if now.is_finite() && now > 0.0 {
        now as u64
    } else {
        0
    }
}

/// One JSON log line (`{"level":…,"msg":…,…}`), as the Lambda@Edge glue logs.
pub fn log(level: &str, msg: &str, fields: &[(&str, &str)]) {
    let mut line = format!("{{\"level\":{},\"msg\":{}", json_string(level), json_string(msg));
    for (name, value) in fields {
        line.push(',');
        line.push_str(&json_string(name));
        line.push(':');
        line.push_str(&json_string(value));
    }
    line.push('}');
    web_sys::console::log_1(&JsValue::from_str(&line));
}

fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
