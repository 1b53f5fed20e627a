//! Responses: an origin answer decided once into what the viewer gets and what is stored;
//! a stored copy turned back into a viewer's response; the Worker's own error answers.
//!
//! Every response a viewer gets has exactly one `Cache-Control` (the policy's, for a viewer:
//! never the edge lifetime `CDN-Cache-Control` set), no private freshness header, no
//! hop-by-hop field of the origin's, and this cache's `Cache-Status` member appended to the
//! origin's.

use edge_policy::cache_api::{
    dropped_from_stored, is_private_header, kept_over_304, NotStored, Received, StoredCopy, POLICY_CACHE_CONTROL,
    VIEWER_CACHE_CONTROL,
};
use edge_policy::cache_control::{decide_response_targeted, WORKER_TARGETS};
use edge_policy::validation::{kept_in_304, merge_not_modified};
use edge_policy::{HeaderField, Route, SURROGATE_KEY};
use wasm_bindgen::JsValue;
use web_sys::{ReadableStream, Response};

use crate::header_list::HeaderList;
use crate::outcome::{OriginFailure, Outcome};
use crate::runtime;
use crate::store::Found;

/// An origin answer, decided once.
#[derive(Debug)]
pub struct Decided {
    /// The status.
    pub status: u16,
    /// What the viewer gets (before `Cache-Status`).
    pub viewer: HeaderList,
    /// The copy to store and its headers, or why there is none.
    pub copy: Result<(StoredCopy, HeaderList), NotStored>,
}

/// Decides an answer with `status` and `headers` to a request with `request_fields`, for
/// the route carried from the request, as `received` says (the wall-clock times of the
/// origin request and its answer: the copy's age at receipt, RFC 9111 §4.2.3). `storable`:
/// the request was a lookup (a bypass never stores, whatever the answer says).
pub fn decide(
    route: Option<&Route>,
    status: u16,
    mut headers: HeaderList,
    request_fields: &[HeaderField<'_>],
    storable: bool,
    received: Received,
) -> Decided {
    // RFC 9110 §7.6.1: the runtime's `fetch` shows `Connection` and what it names.
    headers.strip_hop_by_hop();
    let fields = headers.fields();
    let decision = decide_response_targeted(
        route,
        Some(status),
        &fields,
        request_fields,
        received.response_ms,
        WORKER_TARGETS,
    );
    // Private freshness headers and purge tags (cache-control.md, "Writing") never reach a
    // viewer or a stored copy; nor do targeted fields on an answer not shared (or on a route
    // that removes them).
    headers.remove_where(|n| is_private_header(n) || n == SURROGATE_KEY || decision.strips(n));
    if decision.strip_set_cookie {
        headers.remove_where(|n| n == "set-cookie");
    }
    headers.set("cache-control", decision.viewer_cache_control().to_header_value());
    let copy = if storable {
        StoredCopy::new(&decision, status, &headers.fields(), received).map(|copy| {
            let stored = stored_headers(&headers, &copy, received.response_ms);
            (copy, stored)
        })
    } else {
        Err(NotStored::ForbidsSharing)
    };
    Decided {
        status,
        viewer: headers,
        copy,
    }
}

/// The headers a copy is stored with at `now_ms`: the answer's, less `Age` and `Set-Cookie`,
/// with the storage `Cache-Control` and the private freshness headers.
fn stored_headers(viewer: &HeaderList, copy: &StoredCopy, now_ms: u64) -> HeaderList {
    let mut stored = viewer.clone();
    stored.remove_where(dropped_from_stored);
    for (name, value) in copy.storage_headers(now_ms) {
        stored.set(name, value);
    }
    stored
}

/// A stored copy refreshed by a `304` (RFC 9111 §4.3.4): the stored headers, updated with
/// the `304`'s, decided again (its `copy` is `Err` when the refreshed answer may no longer be
/// stored: the old copy is then left to expire). Its status is the `304`'s: the caller puts
/// the stored one back.
pub fn refresh(
    route: &Route,
    stored: &HeaderList,
    not_modified: &HeaderList,
    request_fields: &[HeaderField<'_>],
    received: Received,
) -> Decided {
    let mut merged = stored.clone();
    // A stored copy never holds the origin's `Age` (`dropped_from_stored`): one there is the
    // Cache API's own, and the refreshed copy's age at receipt is the `304`'s.
    merged.remove_where(|n| is_private_header(n) || n == "age");
    let mut not_modified = not_modified.clone();
    not_modified.strip_hop_by_hop();
    merge_not_modified(&mut merged, &not_modified, kept_over_304);
    // The stored `Cache-Control` is the storage line: decide again from what the viewer was
    // given (the policy's line, without an edge lifetime `CDN-Cache-Control` set, which the
    // field still on the copy sets again), unless the `304` sends its own.
    merged.remove_where(|n| n == "cache-control");
    if let Some(policy) = stored
        .get(VIEWER_CACHE_CONTROL)
        .or_else(|| stored.get(POLICY_CACHE_CONTROL))
    {
        merged.set("cache-control", policy);
    }
    if let Some(cc) = not_modified.get("cache-control") {
        merged.set("cache-control", cc);
    }
    decide(Some(route), 304, merged, request_fields, true, received)
}

/// The viewer's response: `headers` plus the `Cache-Status` member; no body for `HEAD` (or
/// for a status that has none).
pub fn to_viewer(
    status: u16,
    mut headers: HeaderList,
    body: Option<&ReadableStream>,
    outcome: Outcome,
    head: bool,
) -> Result<Response, JsValue> {
    headers.remove_where(is_private_header);
    headers.append("cache-status", outcome.to_string());
    let body = if head || matches!(status, 204 | 205 | 304) {
        None
    } else {
        body
    };
    runtime::response(status, &headers.to_headers(|_| true)?, body)
}

/// A stored copy as the viewer gets it: the policy's header instead of the storage line,
/// and its `Age` (RFC 9111 §5.1, counting the age it arrived with).
pub fn stored_to_viewer(found: &Found, outcome: Outcome, head: bool, now_ms: u64) -> Result<Response, JsValue> {
    let mut headers = found.headers.clone();
    headers.set("cache-control", found.copy.viewer_cache_control());
    headers.set("age", found.copy.stamp.age_secs(now_ms).to_string());
    to_viewer(found.status, headers, found.body().as_ref(), outcome, head)
}

/// A fresh stored copy answering a viewer's matching conditional: `304 Not Modified` with the
/// fields the `200` would carry that RFC 9110 §15.4.5 lists (`ETag`, `Cache-Control`, `Date`,
/// `Expires`, `Vary`, `Content-Location`; `Last-Modified` without an `ETag`), its `Age`, no body.
pub fn not_modified_to_viewer(found: &Found, outcome: Outcome, now_ms: u64) -> Result<Response, JsValue> {
    let mut headers = found.headers.clone();
    let has_etag = headers.has("etag");
    headers.remove_where(|n| !kept_in_304(n, has_etag));
    headers.set("cache-control", found.copy.viewer_cache_control());
    headers.set("age", found.copy.stamp.age_secs(now_ms).to_string());
    to_viewer(304, headers, None, outcome, false)
}

/// The Worker's own answer when the origin failed and nothing stale may stand in: `504` on a
/// timeout, `502` otherwise, decided like any server error (`no-store`).
pub fn origin_failed(
    failure: OriginFailure,
    route: Option<&Route>,
    request_fields: &[HeaderField<'_>],
    head: bool,
    now_ms: u64,
) -> Result<Response, JsValue> {
    let (status, text) = match failure {
        OriginFailure::TimedOut => (504, "origin timed out\n"),
        _ => (502, "origin unreachable\n"),
    };
    let mut headers = decide(
        route,
        status,
        HeaderList::default(),
        request_fields,
        false,
        Received::at(now_ms),
    )
    .viewer;
    headers.set("content-type", "text/plain; charset=utf-8");
    headers.append("cache-status", Outcome::MissFailed(failure).to_string());
    let headers = headers.to_headers(|_| true)?;
    if head {
        runtime::response(status, &headers, None)
    } else {
        runtime::text_response(status, &headers, text)
    }
}
