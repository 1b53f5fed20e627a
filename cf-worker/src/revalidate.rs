//! Asking the origin about a stale copy with its validator (RFC 9111 §4.3.1): a `304`
//! refreshes the copy (RFC 9111 §4.3.4), another answer replaces it, a failure leaves it.
//! In the background for `stale-while-revalidate` (at most one per URL in flight per isolate),
//! in the foreground for `stale-if-error`.

use std::cell::RefCell;
use std::collections::HashSet;

use edge_policy::cache_api::{NotStored, StoredCopy};
use edge_policy::validation::validator;
use edge_policy::{HeaderField, Route};
use wasm_bindgen::JsValue;
use web_sys::{Headers, ReadableStream};

use crate::config::Config;
use crate::header_list::HeaderList;
use crate::origin::{self, Answered};
use crate::outcome::OriginFailure;
use crate::respond::{self, Decided};
use crate::store::{self, Found};

thread_local! {
    /// The URLs being revalidated in the background by this isolate (Wasm in Workers is
    /// single-threaded: one set per isolate).
    static IN_FLIGHT: RefCell<HashSet<String>> = RefCell::new(HashSet::new());
}

/// The right to revalidate one URL in the background; released when dropped.
#[derive(Debug)]
pub struct Claim(String);

impl Claim {
    /// Takes the claim on `url`, or `None` when a revalidation of it is already in flight.
    pub fn take(url: &str) -> Option<Claim> {
        IN_FLIGHT.with(|set| set.borrow_mut().insert(url.to_owned()).then(|| Claim(url.to_owned())))
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        IN_FLIGHT.with(|set| {
            set.borrow_mut().remove(&self.0);
        });
    }
}

/// The origin's answer about a stale copy.
#[derive(Debug)]
pub enum Revalidated {
    /// `304`: the copy, refreshed (its status, body from the stored copy) and maybe stored.
    Refreshed(Decided, Option<ReadableStream>),
    /// Another answer that is not an error: it replaces the copy.
    Replaced(Decided, web_sys::Response),
    /// The origin failed; the stale copy stands.
    Failed(OriginFailure),
}

/// The origin request's headers for revalidating `found` (the lookup's, plus its validator).
pub fn conditional_headers(
    config: &Config,
    viewer: &HeaderList,
    request: &edge_policy::cache_api::OriginRequest<'_, '_>,
    found: &Found,
) -> Result<Headers, JsValue> {
    let stored_fields = found.headers.fields();
    origin::headers(config, viewer, request, validator(&stored_fields))
}

/// Asks the origin (`GET uri?query` with `headers`) about `found` and decides the answer.
pub async fn revalidate(
    config: &Config,
    route: &Route,
    target: (&str, &str),
    headers: &Headers,
    found: Found,
    request_fields: &[HeaderField<'_>],
) -> Result<Revalidated, JsValue> {
    let answered = origin::ask(config, "GET", target.0, target.1, headers, None).await?;
    let now_ms = crate::runtime::now_ms();
    Ok(match answered {
        Answered::Response(response) if response.status() == 304 => {
            let not_modified = HeaderList::of(&response.headers())?;
            let mut decided = respond::refresh(route, &found.headers, &not_modified, request_fields, now_ms);
            decided.status = found.status;
            Revalidated::Refreshed(decided, found.body())
        }
        Answered::Response(response) => {
            let headers = HeaderList::of(&response.headers())?;
            let decided = respond::decide(Some(route), response.status(), headers, request_fields, true, now_ms);
            Revalidated::Replaced(decided, response)
        }
        Answered::Failed(failure, _) => Revalidated::Failed(failure),
    })
}

/// Stores what a revalidation decided (no-op when it may not be stored).
pub async fn store_result(
    url: String,
    copy: &Result<(StoredCopy, HeaderList), NotStored>,
    status: u16,
    body: Option<ReadableStream>,
) {
    if let Ok((_, headers)) = copy {
        store::put(url, status, headers.clone(), body).await;
    }
}
