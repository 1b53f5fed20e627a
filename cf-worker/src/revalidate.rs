//! Asking the origin about a stale copy with its validators (RFC 9111 §4.3.1: its `ETag` as
//! `If-None-Match` and its `Last-Modified` as `If-Modified-Since`): a `304` refreshes the copy
//! (RFC 9111 §4.3.4), another answer replaces it, a failure leaves it. In the background for
//! `stale-while-revalidate` (at most one per URL in flight per isolate), in the foreground for
//! `stale-if-error` and for a copy past its windows kept for its validators.

use std::cell::RefCell;
use std::collections::HashSet;

use edge_policy::cache_api::{NotStored, Received, StoredCopy};
use edge_policy::validation::Validators;
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
    /// The origin failed (its `5xx`, when it answered one); the stale copy stands.
    Failed(OriginFailure, Option<web_sys::Response>),
}

/// The origin request's headers for revalidating `found` (the lookup's, plus its validators).
pub fn conditional_headers(
    config: &Config,
    viewer: &HeaderList,
    request: &edge_policy::cache_api::OriginRequest<'_, '_>,
    found: &Found,
) -> Result<Headers, JsValue> {
    let stored_fields = found.headers.fields();
    let validators = Validators::of(&stored_fields).conditional_headers();
    origin::headers(config, viewer, request, &validators)
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
    let request_ms = crate::runtime::now_ms();
    let answered = origin::ask(config, "GET", target.0, target.1, headers, None).await?;
    let received = Received {
        request_ms,
        response_ms: crate::runtime::now_ms(),
    };
    Ok(match answered {
        Answered::Response(response) if response.status() == 304 => {
            let not_modified = HeaderList::of(&response.headers())?;
            let mut decided = respond::refresh(route, &found.headers, &not_modified, request_fields, received);
            decided.status = found.status;
            Revalidated::Refreshed(decided, found.body())
        }
        Answered::Response(response) => {
            let headers = HeaderList::of(&response.headers())?;
            let decided = respond::decide(Some(route), response.status(), headers, request_fields, true, received);
            Revalidated::Replaced(decided, response)
        }
        Answered::Failed(failure, response) => Revalidated::Failed(failure, response),
    })
}

/// Stores what a revalidation that began at epoch `started` decided (no-op when it may not be
/// stored, or when the URL was invalidated since: [`crate::invalidate`]).
pub async fn store_result(
    url: String,
    copy: &Result<(StoredCopy, HeaderList), NotStored>,
    status: u16,
    body: Option<ReadableStream>,
    started: u64,
) {
    if let Ok((_, headers)) = copy {
        store::put(url, status, headers.clone(), body, started).await;
    }
}
