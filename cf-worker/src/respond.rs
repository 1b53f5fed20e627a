//! Responses: an origin answer decided once into what the viewer gets and what is stored;
//! a stored copy turned back into a viewer's response; the Worker's own error answers.
//!
//! Every response a viewer gets has exactly one `Cache-Control` (the policy's), no private
//! freshness header, and this cache's `Cache-Status` member appended to the origin's.

use edge_policy::cache_api::{dropped_from_stored, is_private_header, kept_over_304, NotStored, StoredCopy};
use edge_policy::cache_control::decide_response;
use edge_policy::validation::merge_not_modified;
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
/// the route carried from the request. `storable`: the request was a lookup (a bypass never
/// stores, whatever the answer says).
pub fn decide(
    route: Option<&Route>,
    status: u16,
    mut headers: HeaderList,
    request_fields: &[HeaderField<'_>],
    storable: bool,
    now_ms: u64,
) -> Decided {
    let decision = decide_response(route, Some(status), &headers.fields(), request_fields, now_ms);
    // Private freshness headers and purge tags (cache-control.md, "Writing") never reach a
    // viewer or a stored copy.
    headers.remove_where(|n| is_private_header(n) || n == SURROGATE_KEY);
    if decision.strip_set_cookie {
        headers.remove_where(|n| n == "set-cookie");
    }
    headers.set("cache-control", decision.header_value());
    let copy = if storable {
        StoredCopy::new(&decision, status, headers.has("set-cookie"), now_ms).map(|copy| {
            let stored = stored_headers(&headers, &copy);
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

/// The headers a copy is stored with: the answer's, less `Age` and `Set-Cookie`, with the
/// storage `Cache-Control` and the private freshness headers.
fn stored_headers(viewer: &HeaderList, copy: &StoredCopy) -> HeaderList {
    let mut stored = viewer.clone();
    stored.remove_where(dropped_from_stored);
    for (name, value) in copy.storage_headers() {
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
    now_ms: u64,
) -> Decided {
    let mut merged = stored.clone();
    merged.remove_where(is_private_header);
    merge_not_modified(&mut merged, not_modified, kept_over_304);
    // The stored `Cache-Control` is the storage line: decide from the policy's header.
    merged.remove_where(|n| n == "cache-control");
    if let Some(policy) = stored.get(edge_policy::cache_api::POLICY_CACHE_CONTROL) {
        merged.set("cache-control", policy);
    }
    if let Some(cc) = not_modified.get("cache-control") {
        merged.set("cache-control", cc);
    }
    decide(Some(route), 304, merged, request_fields, true, now_ms)
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
/// and its `Age`.
pub fn stored_to_viewer(found: &Found, outcome: Outcome, head: bool, now_ms: u64) -> Result<Response, JsValue> {
    let mut headers = found.headers.clone();
    headers.set("cache-control", found.copy.viewer_cache_control());
    headers.set("age", found.copy.stamp.age_secs(now_ms).to_string());
    to_viewer(found.status, headers, found.body().as_ref(), outcome, head)
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
    let mut headers = decide(route, status, HeaderList::default(), request_fields, false, now_ms).viewer;
    headers.set("content-type", "text/plain; charset=utf-8");
    headers.append("cache-status", Outcome::MissFailed(failure).to_string());
    let headers = headers.to_headers(|_| true)?;
    if head {
        runtime::response(status, &headers, None)
    } else {
        runtime::text_response(status, &headers, text)
    }
}
