//! CloudFront's request flow, behaviour by behaviour:
//!
//! ```text
//! behaviour (raw path) ─► method allowed? (else 403) ─► viewer-request (if associated)
//!   ├─ cached method on a caching policy: key ─► fresh: Hit
//!   │                                        ├─ stale-while-revalidate: Hit + background revalidation
//!   │                                        └─ else: collapsed fetch (edge's validator only) ─► store
//!   │                                              (stale-if-error: the stale copy answers a failure)
//!   └─ otherwise: the viewer's own fetch, nothing looked up or stored
//! ─► the viewer's If-None-Match answered from what is served ─► viewer-response (if
//!    associated and status < 400; may not change the status)
//! ```
//!
//! **Collapsing never shares a private answer.** Concurrent misses for one key wait on one
//! fetch, which runs in its own task (a leader that hangs up cancels nothing). Its answer is
//! handed to the waiters only when it is shareable: stored with a computed TTL above 0
//! ([`Storing::collapses`]), or CloudFront's own failure page. Otherwise every waiter
//! fetches its own answer.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use edge_policy::cache_control::{CacheControl, FreshnessState, Stamp};
use edge_policy::cloudfront::Trigger;
use http::StatusCode;
use tokio::sync::watch;

use crate::cache::{storing, Entry, Storing};
use crate::cache_key::{cache_key, EdgeKey};
use crate::conditional::{merge_not_modified, not_modified_for};
use crate::distribution::Behaviour;
use crate::edge::State;
use crate::fetch::{fetch, EdgeFailure, Fetched};
use crate::message::{first, values, EdgeRequest, EdgeResponse};
use crate::stats::XCache;
use crate::triggers::RequestOutcome;

/// What the viewer gets, before the edge's own headers (`X-Cache`, `Age`, `Via`, …).
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub(crate) response: Arc<EdgeResponse>,
    pub(crate) x_cache: XCache,
    pub(crate) age: Option<u64>,
}

impl Answer {
    fn fetched(response: Arc<EdgeResponse>, x_cache: XCache) -> Answer {
        let x_cache = if response.status.as_u16() >= 400 {
            XCache::Error
        } else {
            x_cache
        };
        Answer {
            response,
            x_cache,
            // A copy the origin just confirmed is 0 s old again.
            age: (x_cache == XCache::RefreshHit).then_some(0),
        }
    }

    fn failure(failure: &EdgeFailure) -> Answer {
        Answer {
            response: Arc::new(failure.response()),
            x_cache: failure.x_cache,
            age: None,
        }
    }

    fn stored(entry: &Entry, now_ms: u64) -> Answer {
        Answer {
            response: entry.response.clone(),
            x_cache: if entry.error { XCache::Error } else { XCache::Hit },
            age: Some(entry.stamp.age_secs(now_ms)),
        }
    }
}

/// The result of one fetch as waiters see it.
#[derive(Debug)]
pub(crate) struct Outcome {
    result: Result<(Arc<EdgeResponse>, XCache), EdgeFailure>,
    /// Whether a waiter may take it as its own answer.
    shareable: bool,
}

/// A fetch in flight, awaited by every request for its key.
pub(crate) type Flight = watch::Receiver<Option<Arc<Outcome>>>;

/// CloudFront's answer to a method the behaviour does not allow.
fn method_not_allowed() -> Answer {
    Answer {
        response: Arc::new(EdgeResponse::json(
            StatusCode::FORBIDDEN,
            r#"{"message":"This distribution is not configured to allow the HTTP request method that was used for this request."}"#.into(),
        )),
        x_cache: XCache::Error,
        age: None,
    }
}

/// Serves one viewer request.
pub(crate) async fn serve(state: &Arc<State>, viewer: EdgeRequest, request_id: &str) -> Answer {
    let behaviour = state.distribution().behaviour_for(&viewer.uri).clone();
    if !behaviour.allows(&viewer.method) {
        state.stats.add(|s| &s.methods_refused);
        return method_not_allowed();
    }
    let request = if behaviour.runs(Trigger::ViewerRequest) {
        match state
            .triggers
            .request(Trigger::ViewerRequest, request_id, viewer, None)
            .await
        {
            Ok(RequestOutcome::Continue(r)) => r,
            // A viewer-request generated response goes straight back: not cached, no
            // viewer-response.
            Ok(RequestOutcome::Generated(g)) => {
                return Answer {
                    response: Arc::new(g),
                    x_cache: XCache::LambdaGeneratedResponse,
                    age: None,
                }
            }
            Err(failure) => return Answer::failure(&failure.into()),
        }
    } else {
        viewer
    };
    let answer = if behaviour.caches(&request.method) {
        let answer = cached(state, &behaviour, &request, request_id).await;
        // The viewer's conditional is answered from what is served, never by the origin.
        match not_modified_for(&request.headers, &answer.response) {
            Some(not_modified) => Answer {
                response: Arc::new(not_modified),
                ..answer
            },
            None => answer,
        }
    } else {
        match fetch(state, &behaviour, &request, None, request_id).await {
            Ok(fetched) => Answer::fetched(Arc::new(fetched.into_response()), XCache::Miss),
            Err(failure) => Answer::failure(&failure),
        }
    };
    viewer_response(state, &behaviour, &request, answer, request_id).await
}

/// viewer-response: only when associated and the status is below 400.
async fn viewer_response(
    state: &State,
    behaviour: &Behaviour,
    request: &EdgeRequest,
    answer: Answer,
    request_id: &str,
) -> Answer {
    if !behaviour.runs(Trigger::ViewerResponse) || answer.response.status.as_u16() >= 400 {
        return answer;
    }
    let response = Arc::unwrap_or_clone(answer.response.clone());
    match state
        .triggers
        .response(Trigger::ViewerResponse, request_id, request, None, response)
        .await
    {
        Ok(response) => Answer {
            response: Arc::new(response),
            ..answer
        },
        Err(failure) => Answer::failure(&failure.into()),
    }
}

/// A cached method on a caching behaviour.
async fn cached(state: &Arc<State>, behaviour: &Arc<Behaviour>, request: &EdgeRequest, request_id: &str) -> Answer {
    let key = cache_key(&behaviour.cache_policy, request);
    let now = state.clock.now_ms();
    let stale = match state.cache.lookup(&key, now) {
        Some((entry, FreshnessState::Fresh)) => return Answer::stored(&entry, now),
        Some((entry, FreshnessState::StaleWhileRevalidate)) => {
            state.stats.add(|s| &s.stale_serves);
            let validator = entry.etag().map(str::to_owned);
            let (state, behaviour, request, id) = (
                state.clone(),
                behaviour.clone(),
                request.clone(),
                format!("{request_id}-swr"),
            );
            state.stats.add(|s| &s.revalidations_in_flight);
            tokio::spawn(async move {
                let (_, leader) = collapsed(&state, &behaviour, &request, key, validator, &id).await;
                if leader {
                    state.stats.add(|s| &s.background_fetches);
                }
                state.stats.revalidations_in_flight.fetch_sub(1, Ordering::Relaxed);
            });
            return Answer::stored(&entry, now);
        }
        Some((entry, _)) => Some(entry),
        None => None,
    };
    let validator = stale.as_ref().and_then(|e| e.etag()).map(str::to_owned);
    let (outcome, leader) = collapsed(state, behaviour, request, key.clone(), validator.clone(), request_id).await;
    let outcome = if leader {
        outcome
    } else if outcome.shareable {
        state.stats.add(|s| &s.collapsed_waiters);
        outcome
    } else {
        // Not shareable (private, no-store, a TTL of 0): this viewer gets its own fetch.
        state.stats.add(|s| &s.uncollapsed);
        Arc::new(fetch_and_store(state, behaviour, request, key, validator, request_id).await)
    };
    let now = state.clock.now_ms();
    let stale_usable = stale.as_ref().filter(|e| e.stamp.state(now).usable_on_error());
    match (&outcome.result, stale_usable) {
        // stale-if-error: the last good copy answers the origin's failure.
        (Ok((response, _)), Some(entry)) if response.status.is_server_error() => {
            state.stats.add(|s| &s.stale_serves);
            Answer::stored(entry, now)
        }
        (Err(failure), Some(entry)) if failure.origin => {
            state.stats.add(|s| &s.stale_serves);
            Answer::stored(entry, now)
        }
        (Ok((response, x_cache)), _) => Answer::fetched(response.clone(), *x_cache),
        (Err(failure), _) => Answer::failure(failure),
    }
}

/// Joins the fetch in flight for `key`, or starts one in its own task. Whether this request
/// started it (the leader keeps its answer even when it is not shareable).
async fn collapsed(
    state: &Arc<State>,
    behaviour: &Arc<Behaviour>,
    request: &EdgeRequest,
    key: EdgeKey,
    validator: Option<String>,
    request_id: &str,
) -> (Arc<Outcome>, bool) {
    let (mut flight, leader) = {
        let mut in_flight = match state.in_flight.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match in_flight.get(&key) {
            Some(flight) => (flight.clone(), false),
            None => {
                let (tx, rx) = watch::channel(None);
                in_flight.insert(key.clone(), rx.clone());
                let (state, behaviour, request, id, mine) = (
                    state.clone(),
                    behaviour.clone(),
                    request.clone(),
                    request_id.to_owned(),
                    rx.clone(),
                );
                tokio::spawn(async move {
                    let outcome = fetch_and_store(&state, &behaviour, &request, key.clone(), validator, &id).await;
                    if let Ok(mut in_flight) = state.in_flight.lock() {
                        if in_flight.get(&key).is_some_and(|f| f.same_channel(&mine)) {
                            in_flight.remove(&key);
                        }
                    }
                    let _ = tx.send(Some(Arc::new(outcome)));
                });
                (rx, true)
            }
        }
    };
    let outcome = match flight.wait_for(Option::is_some).await {
        Ok(done) => done.clone(),
        Err(_) => None,
    };
    let outcome = outcome.unwrap_or_else(|| {
        Arc::new(Outcome {
            result: Err(EdgeFailure {
                status: StatusCode::BAD_GATEWAY,
                x_cache: XCache::Error,
                detail: "the origin fetch ended without an answer".into(),
                origin: true,
            }),
            shareable: true,
        })
    });
    (outcome, leader)
}

/// Fetches and stores as the behaviour's cache policy and the error-caching settings say.
/// A `304` to the edge's validator refreshes the copy it validates.
async fn fetch_and_store(
    state: &State,
    behaviour: &Behaviour,
    request: &EdgeRequest,
    key: EdgeKey,
    validator: Option<String>,
    request_id: &str,
) -> Outcome {
    let fetched = fetch(state, behaviour, request, validator.as_deref(), request_id).await;
    let now = state.clock.now_ms();
    let policy = &behaviour.cache_policy;
    let errors = &state.distribution().error_caching;
    let response = match fetched {
        Ok(Fetched::Origin(r)) | Ok(Fetched::Generated(r)) => r,
        Err(failure) => {
            // CloudFront caches its own origin-failure pages as errors too (5xx), as the
            // error-caching settings say.
            if failure.origin {
                let page = failure.response();
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
        if let Some(sent) = validator.as_deref() {
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

/// A `304` to the edge's own validator: origin-response has run on it; its headers and the
/// lifetime they give replace the stored copy's, if that copy is still the one validated.
async fn refresh(
    state: &State,
    behaviour: &Behaviour,
    request: &EdgeRequest,
    key: EdgeKey,
    sent: &str,
    not_modified: EdgeResponse,
    request_id: &str,
) -> Outcome {
    let now = state.clock.now_ms();
    let policy = &behaviour.cache_policy;
    let errors = &state.distribution().error_caching;
    let answered = first(&not_modified.headers, "etag");
    let refreshed = state.cache.refresh(key.clone(), sent, answered, |old| {
        let headers = merge_not_modified(&old.response.headers, &not_modified.headers);
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
        None => Box::pin(fetch_and_store(state, behaviour, request, key, None, request_id)).await,
    }
}
