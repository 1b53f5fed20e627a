//! One request through the Worker (workers.md "What the Worker does with a request"): the
//! policy decides once (lookup or bypass), then the stored copy's state picks the path —
//! fresh (a viewer's matching conditional answered `304`), stale-while-revalidate,
//! stale-if-error, past its windows but kept for its validators (revalidated, never served
//! unasked), or a miss. A bypassed unsafe method's non-error answer invalidates what it
//! names (RFC 9111 §4.4).

use edge_policy::cache_api::{
    cache_api_request, invalidated_urls, BypassReason, CacheApiRequest, OriginRequest, Received,
};
use edge_policy::cache_control::FreshnessState;
use edge_policy::validation::not_modified;
use edge_policy::{HeaderField, RequestView, Route, RuleSet};
use wasm_bindgen::JsValue;
use web_sys::{Request, Response};
use worker::Context;

use crate::config::Config;
use crate::error::GlueError;
use crate::header_list::HeaderList;
use crate::origin::{self, Answered};
use crate::outcome::{OriginFailure, Outcome, Stored};
use crate::request_url::RequestUrl;
use crate::respond::{self, Decided};
use crate::revalidate::{self, Claim, Revalidated};
use crate::store::{self, Found};
use crate::{invalidate, runtime};

/// What every path of one request reads.
struct Exchange<'x> {
    config: &'x Config,
    ctx: &'x Context,
    viewer: HeaderList,
    head: bool,
    now_ms: u64,
    /// The invalidation epoch when the request began: what it fetched is never stored over
    /// an invalidation that came later ([`crate::invalidate`]).
    epoch: u64,
}

/// Answers one viewer request. `now_ms` is read once, at the top of the handler.
pub async fn handle(request: &Request, config: &Config, ctx: &Context, now_ms: u64) -> Result<Response, GlueError> {
    let raw_url = request.url();
    let url = RequestUrl::split(&raw_url).ok_or_else(|| GlueError::Config(format!("request URL {raw_url:?}")))?;
    let method = request.method();
    let exchange = Exchange {
        config,
        ctx,
        viewer: HeaderList::of(&request.headers())?,
        head: method == "HEAD",
        now_ms,
        epoch: invalidate::epoch(),
    };
    let fields = exchange.viewer.fields();
    let view = RequestView {
        method: &method,
        uri: url.path,
        querystring: url.query,
        headers: &fields,
    };
    let response = match cache_api_request(RuleSet::embedded(), url.authority, &view) {
        CacheApiRequest::Bypass { origin, reason } => {
            exchange.bypass(request, &origin, reason, &view, &raw_url).await?
        }
        CacheApiRequest::Lookup { origin, url, .. } => exchange.lookup(&origin, url, &fields).await?,
    };
    Ok(response)
}

/// The wall-clock times of one origin exchange (RFC 9111 §4.2.3): `request_ms`, and now.
fn received_since(request_ms: u64) -> Received {
    Received {
        request_ms,
        response_ms: runtime::now_ms().max(request_ms),
    }
}

impl Exchange<'_> {
    /// Never looked up nor stored: forwarded (with its body, for methods that have one). A
    /// non-error answer to an unsafe method invalidates its target (and same-origin
    /// `Location`/`Content-Location`) in this data centre before the viewer gets it.
    async fn bypass(
        &self,
        request: &Request,
        origin: &OriginRequest<'_, '_>,
        reason: BypassReason,
        view: &RequestView<'_>,
        request_url: &str,
    ) -> Result<Response, JsValue> {
        let fields = view.headers;
        let safe = matches!(origin.method, "GET" | "HEAD");
        let body = if safe { None } else { request.body() };
        let asked_ms = runtime::now_ms();
        let response = match self.ask_origin(origin, body.as_ref(), fields).await? {
            Ok(response) => response,
            Err(failed) => return Ok(failed),
        };
        let received = received_since(asked_ms);
        let passed_on = HeaderList::of(&response.headers()).and_then(|headers| {
            let urls = invalidated_urls(
                RuleSet::embedded(),
                request_url,
                view,
                response.status(),
                headers.get("location"),
                headers.get("content-location"),
            );
            let decided = respond::decide(origin.route, response.status(), headers, fields, false, received);
            let outcome = Outcome::Bypass(reason);
            let viewer = respond::to_viewer(decided.status, decided.viewer, response.body().as_ref(), outcome, false)?;
            Ok((viewer, urls))
        });
        let passed_on = match passed_on {
            Ok((viewer, urls)) if !urls.is_empty() => store::invalidate(&urls).await.map(|()| viewer),
            Ok((viewer, _)) => Ok(viewer),
            Err(e) => Err(e),
        };
        match passed_on {
            Ok(response) => Ok(response),
            // The origin has the request already: a method that isn't safe is never sent twice
            // (the fallback would), so a failure from here on is the Worker's own 502.
            Err(e) if !safe => {
                let reason = e.as_string().unwrap_or_else(|| format!("{e:?}"));
                runtime::log(
                    "error",
                    "internal failure after the origin answered",
                    &[("reason", &reason)],
                );
                crate::fallback::unavailable(None)
            }
            Err(e) => Err(e),
        }
    }

    /// A lookup: the stored copy's state decides.
    async fn lookup(
        &self,
        origin: &OriginRequest<'_, 'static>,
        url: String,
        fields: &[HeaderField<'_>],
    ) -> Result<Response, JsValue> {
        let cache = runtime::default_cache()?;
        let Some(found) = store::lookup(&cache, &url).await? else {
            return self.miss(origin, url, fields).await;
        };
        let ttl = found.copy.stamp.ttl_secs(self.now_ms);
        match found.copy.stamp.state(self.now_ms) {
            FreshnessState::Fresh => {
                let outcome = Outcome::Hit { ttl };
                // Evaluated here, after the policy called the copy fresh: the viewer's
                // conditionals never reach `cache.match`, which would answer `304` for a copy
                // the policy calls stale.
                let stored = found.headers.fields();
                if not_modified(fields, found.status, &stored, found.copy.stamp.stored_at_ms) {
                    return respond::not_modified_to_viewer(&found, outcome, self.now_ms);
                }
                respond::stored_to_viewer(&found, outcome, self.head, self.now_ms)
            }
            FreshnessState::StaleWhileRevalidate => {
                let revalidating = self.revalidate_in_background(origin, &url, &found)?;
                let outcome = Outcome::StaleWhileRevalidate { ttl, revalidating };
                respond::stored_to_viewer(&found, outcome, self.head, self.now_ms)
            }
            FreshnessState::StaleIfError => self.stale_if_error(origin, url, found, fields).await,
            // Past every window, kept for its validators: revalidated, never served unasked
            // (a `must-revalidate` copy included).
            FreshnessState::Expired if found.copy.validated => {
                self.revalidate_expired(origin, url, found, fields).await
            }
            FreshnessState::Expired => self.miss(origin, url, fields).await,
        }
    }

    /// Sends the policy's origin request: `Ok` the origin's answer (a 5xx included), `Err` the
    /// Worker's own `502`/`504` when there was none.
    async fn ask_origin(
        &self,
        origin: &OriginRequest<'_, '_>,
        body: Option<&web_sys::ReadableStream>,
        fields: &[HeaderField<'_>],
    ) -> Result<Result<Response, Response>, JsValue> {
        let headers = origin::headers(self.config, &self.viewer, origin, &[])?;
        let answered = origin::ask(
            self.config,
            origin.method,
            &origin.uri,
            &origin.querystring,
            &headers,
            body,
        )
        .await?;
        Ok(match answered {
            Answered::Response(response) | Answered::Failed(OriginFailure::Status(_), Some(response)) => Ok(response),
            Answered::Failed(failure, _) => Err(respond::origin_failed(
                failure,
                origin.route,
                fields,
                self.head,
                self.now_ms,
            )?),
        })
    }

    /// Not stored (or expired): ask the origin, store a shareable answer, pass it on.
    async fn miss(
        &self,
        origin: &OriginRequest<'_, 'static>,
        url: String,
        fields: &[HeaderField<'_>],
    ) -> Result<Response, JsValue> {
        let asked_ms = runtime::now_ms();
        let response = match self.ask_origin(origin, None, fields).await? {
            Ok(response) => response,
            Err(failed) => return Ok(failed),
        };
        let headers = HeaderList::of(&response.headers())?;
        // A `304` the Worker did not ask for is never stored (the viewer's conditionals never
        // reach a shared fetch).
        let storable = response.status() != 304;
        let decided = respond::decide(
            origin.route,
            response.status(),
            headers,
            fields,
            storable,
            received_since(asked_ms),
        );
        self.serve_and_store(url, decided, &response, |status, stored| Outcome::Miss {
            status,
            stored,
        })
    }

    /// Past its windows, kept for its validators (RFC 9111 §4.3.1): the origin is asked with
    /// them; a `304` refreshes the copy, another answer replaces it, and a failure is the
    /// viewer's answer (the copy is never served stale past its windows).
    async fn revalidate_expired(
        &self,
        origin: &OriginRequest<'_, 'static>,
        url: String,
        found: Found,
        fields: &[HeaderField<'_>],
    ) -> Result<Response, JsValue> {
        let Some(route) = origin.route else {
            return self.miss(origin, url, fields).await;
        };
        let answered = self.ask_with_validators(origin, route, found, fields).await?;
        match self.serve_revalidated(url, answered) {
            Ok(served) => served,
            Err((OriginFailure::Status(status), Some(response))) => {
                let headers = HeaderList::of(&response.headers())?;
                let received = Received::at(runtime::now_ms());
                let decided = respond::decide(origin.route, status, headers, fields, false, received);
                let stored = Stored::No(edge_policy::cache_api::NotStored::ServerError);
                respond::to_viewer(
                    status,
                    decided.viewer,
                    response.body().as_ref(),
                    Outcome::Revalidated { status, stored },
                    self.head,
                )
            }
            Err((failure, _)) => respond::origin_failed(failure, origin.route, fields, self.head, self.now_ms),
        }
    }

    /// Inside `stale-if-error` only: the origin is asked (with the copy's validator); on a
    /// failure the stale copy is served.
    async fn stale_if_error(
        &self,
        origin: &OriginRequest<'_, 'static>,
        url: String,
        found: Found,
        fields: &[HeaderField<'_>],
    ) -> Result<Response, JsValue> {
        let Some(route) = origin.route else {
            return self.miss(origin, url, fields).await;
        };
        let stale = found.tee()?;
        let answered = self.ask_with_validators(origin, route, found, fields).await?;
        match self.serve_revalidated(url, answered) {
            Ok(served) => served,
            Err((failure, _)) => {
                let outcome = Outcome::StaleIfError {
                    ttl: stale.copy.stamp.ttl_secs(self.now_ms),
                    failure,
                };
                respond::stored_to_viewer(&stale, outcome, self.head, self.now_ms)
            }
        }
    }

    /// Asks the origin about `found` with its validators (RFC 9111 §4.3.1) and decides the
    /// answer on `route`'s rules.
    async fn ask_with_validators(
        &self,
        origin: &OriginRequest<'_, 'static>,
        route: &Route,
        found: Found,
        fields: &[HeaderField<'_>],
    ) -> Result<Revalidated, JsValue> {
        let headers = revalidate::conditional_headers(self.config, &self.viewer, origin, &found)?;
        let target = (origin.uri.as_str(), origin.querystring.as_str());
        revalidate::revalidate(self.config, route, target, &headers, found, fields).await
    }

    /// A revalidation the origin answered: a `304` refreshes the copy, another answer
    /// replaces it; either is served and stored. A failure is handed back, the caller's to
    /// answer (its `5xx`, when the origin sent one).
    fn serve_revalidated(
        &self,
        url: String,
        answered: Revalidated,
    ) -> Result<Result<Response, JsValue>, (OriginFailure, Option<web_sys::Response>)> {
        let outcome = |status, stored| Outcome::Revalidated { status, stored };
        match answered {
            Revalidated::Refreshed(decided, body) => Ok(self.serve_and_store_stream(url, decided, body, 304, outcome)),
            Revalidated::Replaced(decided, response) => Ok(self.serve_and_store(url, decided, &response, outcome)),
            Revalidated::Failed(failure, response) => Err((failure, response)),
        }
    }

    /// Starts one background revalidation of `url` unless one is in flight in this isolate.
    fn revalidate_in_background(
        &self,
        origin: &OriginRequest<'_, 'static>,
        url: &str,
        found: &Found,
    ) -> Result<bool, JsValue> {
        let (Some(route), Some(claim)) = (origin.route, Claim::take(url)) else {
            return Ok(false);
        };
        let headers = revalidate::conditional_headers(self.config, &self.viewer, origin, found)?;
        let found = found.tee()?;
        let (config, url) = (self.config.clone(), url.to_owned());
        // Recorded now: an invalidation after this point wins over what it brings back.
        let started = invalidate::epoch();
        let (uri, querystring) = (origin.uri.clone(), origin.querystring.clone());
        let viewer = self.viewer.clone();
        self.ctx.wait_until(async move {
            let _claim = claim;
            let fields = viewer.fields();
            let result = revalidate::revalidate(&config, route, (&uri, &querystring), &headers, found, &fields).await;
            match result {
                Ok(Revalidated::Refreshed(decided, body)) => {
                    revalidate::store_result(url, &decided.copy, decided.status, body, started).await;
                }
                Ok(Revalidated::Replaced(decided, response)) => {
                    revalidate::store_result(url, &decided.copy, decided.status, response.body(), started).await;
                }
                Ok(Revalidated::Failed(..)) => {}
                Err(e) => {
                    let reason = e.as_string().unwrap_or_else(|| format!("{e:?}"));
                    runtime::log(
                        "warn",
                        "background revalidation failed",
                        &[("url", &url), ("reason", &reason)],
                    );
                }
            }
        });
        Ok(true)
    }

    /// Passes a decided origin answer on, putting a copy when it may be stored.
    fn serve_and_store(
        &self,
        url: String,
        decided: Decided,
        response: &web_sys::Response,
        outcome: impl Fn(u16, Stored) -> Outcome,
    ) -> Result<Response, JsValue> {
        let status = decided.status;
        let stored = match &decided.copy {
            Ok((_, headers)) => {
                // `clone()` tees the body: one branch is stored, the other goes to the viewer.
                let copy = response.clone()?;
                self.ctx
                    .wait_until(store::put(url, status, headers.clone(), copy.body(), self.epoch));
                Stored::Yes
            }
            Err(reason) => Stored::No(*reason),
        };
        respond::to_viewer(
            status,
            decided.viewer,
            response.body().as_ref(),
            outcome(status, stored),
            self.head,
        )
    }

    /// The same for a refreshed copy whose body is a stream (the stored one).
    fn serve_and_store_stream(
        &self,
        url: String,
        decided: Decided,
        body: Option<web_sys::ReadableStream>,
        origin_status: u16,
        outcome: impl Fn(u16, Stored) -> Outcome,
    ) -> Result<Response, JsValue> {
        let status = decided.status;
        let (viewer_body, stored) = match (&decided.copy, body) {
            (Ok((_, headers)), Some(body)) => {
                let branches = body.tee();
                let (for_store, for_viewer) = (branches.get(0), branches.get(1));
                let for_store: Option<web_sys::ReadableStream> = wasm_bindgen::JsCast::dyn_into(for_store).ok();
                self.ctx
                    .wait_until(store::put(url, status, headers.clone(), for_store, self.epoch));
                (wasm_bindgen::JsCast::dyn_into(for_viewer).ok(), Stored::Yes)
            }
            (Ok((_, headers)), None) => {
                self.ctx
                    .wait_until(store::put(url, status, headers.clone(), None, self.epoch));
                (None, Stored::Yes)
            }
            (Err(reason), body) => (body, Stored::No(*reason)),
        };
        respond::to_viewer(
            status,
            decided.viewer,
            viewer_body.as_ref(),
            outcome(origin_status, stored),
            self.head,
        )
    }
}
