//! The Cache API (`caches.default`) as the policy's store: a copy is found only when its
//! private freshness headers read back (an unreadable copy is a miss), and put with the
//! headers the policy decided.

use edge_policy::cache_api::StoredCopy;
use wasm_bindgen::JsValue;
use web_sys::{Cache, ReadableStream, Response};

use crate::header_list::HeaderList;
use crate::{invalidate, runtime};

/// A stored copy the policy can read.
#[derive(Debug)]
pub struct Found {
    /// The stored response (its body is the copy's).
    pub response: Response,
    /// Its status.
    pub status: u16,
    /// Its headers, as stored (storage `Cache-Control`, private headers).
    pub headers: HeaderList,
    /// Its freshness facts.
    pub copy: StoredCopy,
}

impl Found {
    /// A second handle on the same copy; the body is teed between the two.
    pub fn tee(&self) -> Result<Found, JsValue> {
        Ok(Found {
            response: self.response.clone()?,
            status: self.status,
            headers: self.headers.clone(),
            copy: self.copy.clone(),
        })
    }

    /// The body stream.
    pub fn body(&self) -> Option<ReadableStream> {
        self.response.body()
    }
}

/// The copy stored under `url`, if any and readable.
pub async fn lookup(cache: &Cache, url: &str) -> Result<Option<Found>, JsValue> {
    let Some(response) = runtime::cache_match(cache, url).await? else {
        return Ok(None);
    };
    let headers = HeaderList::of(&response.headers())?;
    let Some(copy) = StoredCopy::read(headers.iter()) else {
        return Ok(None);
    };
    Ok(Some(Found {
        status: response.status(),
        response,
        headers,
        copy,
    }))
}

/// Puts a copy under `url` (run in `ctx.wait_until`; a failure is logged, never seen),
/// unless `url` was invalidated in this isolate after `started` (the [`invalidate::epoch`]
/// when the request or revalidation that fetched it began): checked before the `put` and
/// again after it, deleting what it put, so a copy fetched before an unsafe method's answer
/// never outlives it.
pub async fn put(url: String, status: u16, headers: HeaderList, body: Option<ReadableStream>, started: u64) {
    if invalidate::since(&url, started) {
        return;
    }
    let result = async {
        let cache = runtime::default_cache()?;
        let response = runtime::response(status, &headers.to_headers(|_| true)?, body.as_ref())?;
        runtime::cache_put(&cache, &url, &response).await?;
        if invalidate::since(&url, started) {
            runtime::cache_delete(&cache, &url).await?;
        }
        Ok::<(), JsValue>(())
    }
    .await;
    if let Err(e) = result {
        let reason = e.as_string().unwrap_or_else(|| format!("{e:?}"));
        runtime::log("warn", "cache put failed", &[("url", &url), ("reason", &reason)]);
    }
}

/// Deletes the copies under `urls` (an unsafe method's invalidation, RFC 9111 §4.4), after
/// recording each in this isolate's [`invalidate`] record so that no store already in flight
/// puts it back. `cache.delete` reaches this data centre only.
pub async fn invalidate(urls: &[String]) -> Result<(), JsValue> {
    for url in urls {
        invalidate::record(url);
    }
    let cache = runtime::default_cache()?;
    for url in urls {
        runtime::cache_delete(&cache, url).await?;
    }
    Ok(())
}
