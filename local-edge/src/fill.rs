//! A cache fill: one origin fetch ([`crate::fetch`]), then stored as the behaviour's cache
//! policy and the distribution's error-caching settings say ([`storing`]). A `304` to the
//! edge's own validators refreshes the copy it validates instead (RFC 9111 §4.3.4, through
//! [`crate::cache::EdgeCache::refresh`]). The [`Outcome`] says whether a collapsed waiter may
//! share the answer: only when it is stored with a TTL above 0, or is CloudFront's own
//! failure page.

use std::sync::Arc;

use edge_policy::cache_control::{CacheControl, Stamp};
use edge_policy::validation::Validators;
use http::StatusCode;

use crate::answer::Outcome;
use crate::cache::{storing, Entry, Storing};
use crate::cache_key::EdgeKey;
use crate::conditional::refreshed_headers;
use crate::distribution::Behaviour;
use crate::fetch::{fetch, Fetched};
use crate::message::{values, EdgeRequest, EdgeResponse};
use crate::state::State;
use crate::stats::XCache;

/// Fetches and stores as the behaviour's cache policy and the error-caching settings say.
/// `validators` are the edge's own conditional headers for the copy it holds (none on a
/// plain miss); a `304` to them refreshes the copy it validates.
pub(crate) async fn fetch_and_store(
    state: &State,
    behaviour: &Behaviour,
    request: &EdgeRequest,
    key: EdgeKey,
    validators: Vec<(&'static str, String)>,
    request_id: &str,
) -> Outcome {
    let sent: Vec<(&'static str, &str)> = validators.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let fetched = fetch(state, behaviour, request, &sent, request_id).await;
    let now = state.clock.now_ms();
    let policy = &behaviour.cache_policy;
    let errors = &state.distribution().error_caching;
    let response = match fetched {
        Ok(Fetched::Origin(r)) | Ok(Fetched::Generated(r)) => r,
        Err(failure) => {
            // CloudFront caches its own origin-failure pages as errors too (5xx), as the
            // error-caching settings say.
            if failure.origin {
                let page = failure.response(request_id);
                if let Storing::Store { lifetime, .. } = storing(page.status, &CacheControl::default(), policy, errors)
                {
                    let entry = Entry {
                        response: Arc::new(page),
                        stamp: Stamp::new(now, lifetime),
                        error: true,
                    };
                    if state.cache.store_error(key, entry, now) {
                        state.stats.add(|s| &s.errors_cached);
                    }
                }
            }
            return Outcome {
                result: Err(failure),
                shareable: true,
            };
        }
    };
    if response.status == StatusCode::NOT_MODIFIED {
        let sent = Validators {
            etag: sent.iter().find(|(n, _)| *n == "if-none-match").map(|(_, v)| *v),
            last_modified: sent.iter().find(|(n, _)| *n == "if-modified-since").map(|(_, v)| *v),
        };
        if !sent.is_empty() {
            return refresh(state, behaviour, request, key, sent, response, request_id).await;
        }
        // A 304 the edge did not ask for is never stored or shared.
        return Outcome {
            result: Ok((Arc::new(response), XCache::Miss)),
            shareable: false,
        };
    }
    // The response's one Cache-Control, parsed once, decides storing and sharing.
    let cache_control = CacheControl::parse(values(&response.headers, "cache-control"));
    let decision = storing(response.status, &cache_control, policy, errors);
    let response = Arc::new(response);
    if let Storing::Store { lifetime, error } = decision {
        let entry = Entry {
            response: response.clone(),
            stamp: Stamp::new(now, lifetime),
            error,
        };
        if !error {
            state.cache.store(key, entry);
        } else if state.cache.store_error(key, entry, now) {
            state.stats.add(|s| &s.errors_cached);
        }
    }
    Outcome {
        result: Ok((response, XCache::Miss)),
        shareable: decision.collapses(),
    }
}

/// A `304` to the edge's own validators: origin-response has run on it; its headers and the
/// lifetime they give replace the stored copy's, if that copy is still the one validated.
async fn refresh(
    state: &State,
    behaviour: &Behaviour,
    request: &EdgeRequest,
    key: EdgeKey,
    sent: Validators<'_>,
    not_modified: EdgeResponse,
    request_id: &str,
) -> Outcome {
    let now = state.clock.now_ms();
    let policy = &behaviour.cache_policy;
    let errors = &state.distribution().error_caching;
    let answered_fields = edge_policy::header_fields(&not_modified.headers);
    let answered = Validators::of(&answered_fields);
    let refreshed = state.cache.refresh(key.clone(), sent, answered, |old| {
        let headers = refreshed_headers(&old.response.headers, &not_modified.headers);
        let cache_control = CacheControl::parse(values(&headers, "cache-control"));
        let decision = storing(old.response.status, &cache_control, policy, errors);
        let response = Arc::new(EdgeResponse {
            status: old.response.status,
            headers,
            body: old.response.body.clone(),
        });
        match decision {
            Storing::Store { lifetime, error } => (
                Entry {
                    response,
                    stamp: Stamp::new(now, lifetime),
                    error,
                },
                true,
            ),
            Storing::Skip(_) => (
                Entry {
                    response,
                    ..old.clone()
                },
                false,
            ),
        }
    });
    match refreshed {
        Some(entry) => {
            let kept = state
                .cache
                .lookup(&key, now)
                .is_some_and(|(e, _)| Arc::ptr_eq(&e, &entry));
            Outcome {
                result: Ok((entry.response.clone(), XCache::RefreshHit)),
                shareable: kept && entry.stamp.lifetime.collapses(),
            }
        }
        // The copy changed or went meanwhile: a 304 cannot be served without it.
        None => Box::pin(fetch_and_store(state, behaviour, request, key, Vec::new(), request_id)).await,
    }
}
