//! CloudFront's request flow, behaviour by behaviour:
//!
//! ```text
//! behaviour (raw path) ─► method allowed? (else 403) ─► viewer-request (if associated)
//!   ├─ cached method on a caching policy: key ─► fresh: Hit
//!   │                                        ├─ stale-while-revalidate: Hit + background revalidation
//!   │                                        └─ else: collapsed fetch (edge's validators only) ─► store
//!   │                                              (stale-if-error: the stale copy answers a failure)
//!   └─ otherwise: the viewer's own fetch, nothing looked up or stored
//! ─► the viewer's If-None-Match / If-Modified-Since answered from what is served ─►
//!    viewer-response (if associated and status < 400; may not change the status)
//! ```
//!
//! The viewer's hop-by-hop fields (`Connection` and what it names) are dropped before any
//! trigger sees the request (CloudFront shows no `Connection` to a function).
//!
//! **Collapsing never shares a private answer.** Concurrent misses for one key wait on one
//! cache fill ([`crate::collapse`]), which runs in its own task (a leader that hangs up
//! cancels nothing). Its answer is handed to the waiters only when it is shareable ([`crate::fill`]:
//! stored with a computed TTL above 0, or CloudFront's own failure page). Otherwise every
//! waiter fetches its own answer.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use edge_policy::cache_control::FreshnessState;
use edge_policy::cloudfront::Trigger;
use http::StatusCode;

use crate::answer::{Answer, EdgeFailure, Outcome};
use crate::cache_key::{cache_key, EdgeKey};
use crate::collapse::Role;
use crate::conditional::not_modified_for;
use crate::distribution::Behaviour;
use crate::fetch::fetch;
use crate::fill::fetch_and_store;
use crate::message::{strip_hop_by_hop, EdgeRequest, EdgeResponse};
use crate::state::State;
use crate::stats::XCache;
use crate::triggers::RequestOutcome;

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
pub(crate) async fn serve(state: &Arc<State>, mut viewer: EdgeRequest, request_id: &str) -> Answer {
    strip_hop_by_hop(&mut viewer.headers);
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
            Ok(RequestOutcome::Continue(r)) => {
                crate::page::record::note_rewrite(&r);
                r
            }
            // A viewer-request generated response goes straight back: not cached, no
            // viewer-response.
            Ok(RequestOutcome::Generated(g)) => {
                return Answer {
                    response: Arc::new(g),
                    x_cache: XCache::LambdaGeneratedResponse,
                    age: None,
                }
            }
            Err(failure) => return Answer::failure(&failure.into(), request_id),
        }
    } else {
        viewer
    };
    let answer = if behaviour.caches(&request.method) {
        let answer = cached(state, &behaviour, &request, request_id).await;
        // The viewer's conditional is answered from what is served, never by the origin.
        match not_modified_for(&request.headers, &answer.response, answer.age) {
            Some(not_modified) => Answer {
                response: Arc::new(not_modified),
                ..answer
            },
            None => answer,
        }
    } else {
        match fetch(state, &behaviour, &request, &[], request_id).await {
            Ok(fetched) => Answer::fetched(Arc::new(fetched.into_response()), XCache::Miss),
            Err(failure) => Answer::failure(&failure, request_id),
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
        Err(failure) => Answer::failure(&failure.into(), request_id),
    }
}

/// A cached method on a caching behaviour.
async fn cached(state: &Arc<State>, behaviour: &Arc<Behaviour>, request: &EdgeRequest, request_id: &str) -> Answer {
    let key = cache_key(&behaviour.cache_policy, request, &state.identity.distribution_domain);
    let now = state.clock.now_ms();
    let stale = match state.cache.lookup(&key, now) {
        Some((entry, FreshnessState::Fresh)) => return Answer::stored(&entry, now),
        Some((entry, FreshnessState::StaleWhileRevalidate)) => {
            state.stats.add(|s| &s.stale_serves);
            let validators = entry.conditional_headers();
            let (state, behaviour, request, id) = (
                state.clone(),
                behaviour.clone(),
                request.clone(),
                format!("{request_id}-swr"),
            );
            state.stats.add(|s| &s.revalidations_in_flight);
            tokio::spawn(async move {
                let (_, leader) = collapsed(&state, &behaviour, &request, key, validators, &id).await;
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
    let validators = stale.as_ref().map(|e| e.conditional_headers()).unwrap_or_default();
    let (outcome, leader) = collapsed(state, behaviour, request, key.clone(), validators.clone(), request_id).await;
    let outcome = if leader {
        outcome
    } else if outcome.shareable {
        state.stats.add(|s| &s.collapsed_waiters);
        outcome
    } else {
        // Not shareable (private, no-store, a TTL of 0): this viewer gets its own fetch.
        state.stats.add(|s| &s.uncollapsed);
        Arc::new(fetch_and_store(state, behaviour, request, key, validators, request_id).await)
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
        (Err(failure), _) => Answer::failure(failure, request_id),
    }
}

/// Joins the cache fill in flight for `key`, or leads one in its own task. Whether this
/// request led it (the leader keeps its answer even when it is not shareable).
async fn collapsed(
    state: &Arc<State>,
    behaviour: &Arc<Behaviour>,
    request: &EdgeRequest,
    key: EdgeKey,
    validators: Vec<(&'static str, String)>,
    request_id: &str,
) -> (Arc<Outcome>, bool) {
    let (flight, leader) = match state.flights.join_or_lead(key.clone()) {
        Role::Join(flight) => (flight, false),
        Role::Lead(leader) => {
            let flight = leader.flight();
            let (state, behaviour, request, id) =
                (state.clone(), behaviour.clone(), request.clone(), request_id.to_owned());
            tokio::spawn(async move {
                let outcome = fetch_and_store(&state, &behaviour, &request, key, validators, &id).await;
                leader.finish(Arc::new(outcome));
            });
            (flight, true)
        }
    };
    let outcome = flight.outcome().await.unwrap_or_else(|| {
        // The fill's task ended without an outcome (it panicked): CloudFront's own failure.
        Arc::new(Outcome {
            result: Err(EdgeFailure::origin(
                StatusCode::BAD_GATEWAY,
                "the origin fetch ended without an answer".into(),
            )),
            shareable: true,
        })
    });
    (outcome, leader)
}
