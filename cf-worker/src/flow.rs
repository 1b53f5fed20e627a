//! One request through the Worker (workers.md "What the Worker does with a request"): the
//! policy decides once (lookup or bypass), then the stored copy's state picks the path —
//! fresh, stale-while-revalidate, stale-if-error, or a miss.

use edge_policy::cache_api::{cache_api_request, BypassReason, CacheApiRequest, OriginRequest};
use edge_policy::cache_control::FreshnessState;
use edge_policy::{HeaderField, RequestView, RuleSet};
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
use crate::runtime;
use crate::store::{self, Found};

/// What every path of one request reads.
struct Exchange<'x> {
    config: &'x Config,
    ctx: &'x Context,
    viewer: HeaderList,
    head: bool,
    now_ms: u64,
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
    };
    let fields = exchange.viewer.fields();
    let view = RequestView {
        method: &method,
        uri: url.path,
        querystring: url.query,
        headers: &fields,
    };
    let response = match cache_api_request(RuleSet::embedded(), url.authority, &view) {
        CacheApiRequest::Bypass { origin, reason } => exchange.bypass(request, &origin, reason, &fields).await?,
        CacheApiRequest::Lookup { origin, url, .. } => exchange.lookup(&origin, url, &fields).await?,
    };
    Ok(response)
}

impl Exchange<'_> {
    /// Never looked up nor stored: forwarded (with its body, for methods that have one).
    async fn bypass(
        &self,
        request: &Request,
        origin: &OriginRequest<'_, '_>,
        reason: BypassReason,
        fields: &[HeaderField<'_>],
    ) -> Result<Response, JsValue> {
        let safe = matches!(origin.method, "GET" | "HEAD");
        let body = if safe { None } else { request.body() };
        let response = match self.ask_origin(origin, body.as_ref(), fields).await? {
            Ok(response) => response,
            Err(failed) => return Ok(failed),
        };
        let passed_on = HeaderList::of(&response.headers()).and_then(|headers| {
            let decided = respond::decide(origin.route, response.status(), headers, fields, false, self.now_ms);
            let outcome = Outcome::Bypass(reason);
            respond::to_viewer(decided.status, decided.viewer, response.body().as_ref(), outcome, false)
        });
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
                respond::stored_to_viewer(&found, outcome, self.head, self.now_ms)
            }
            FreshnessState::StaleWhileRevalidate => {
                let revalidating = self.revalidate_in_background(origin, &url, &found)?;
                let outcome = Outcome::StaleWhileRevalidate { ttl, revalidating };
                respond::stored_to_viewer(&found, outcome, self.head, self.now_ms)
            }
            FreshnessState::StaleIfError => self.stale_if_error(origin, url, found, fields).await,
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
        let headers = origin::headers(self.config, &self.viewer, origin, None)?;
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
        let response = match self.ask_origin(origin, None, fields).await? {
            Ok(response) => response,
            Err(failed) => return Ok(failed),
        };
        let headers = HeaderList::of(&response.headers())?;
        let decided = respond::decide(origin.route, response.status(), headers, fields, true, self.now_ms);
        self.serve_and_store(url, decided, &response, |status, stored| Outcome::Miss {
            status,
            stored,
        })
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
        let headers = revalidate::conditional_headers(self.config, &self.viewer, origin, &found)?;
        let stale = found.tee()?;
        let target = (origin.uri.as_str(), origin.querystring.as_str());
        match revalidate::revalidate(self.config, route, target, &headers, found, fields).await? {
            Revalidated::Refreshed(decided, body) => {
                let outcome = |status, stored| Outcome::Revalidated { status, stored };
                self.serve_and_store_stream(url, decided, body, 304, outcome)
            }
            Revalidated::Replaced(decided, response) => {
                self.serve_and_store(url, decided, &response, |status, stored| Outcome::Revalidated {
                    status,
                    stored,
                })
            }
            Revalidated::Failed(failure) => {
                let outcome = Outcome::StaleIfError {
                    ttl: stale.copy.stamp.ttl_secs(self.now_ms),
                    failure,
                };
                respond::stored_to_viewer(&stale, outcome, self.head, self.now_ms)
            }
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
        let (uri, querystring) = (origin.uri.clone(), origin.querystring.clone());
        let viewer = self.viewer.clone();
        self.ctx.wait_until(async move {
            let _claim = claim;
            let fields = viewer.fields();
            let result = revalidate::revalidate(&config, route, (&uri, &querystring), &headers, found, &fields).await;
            match result {
                Ok(Revalidated::Refreshed(decided, body)) => {
                    revalidate::store_result(url, &decided.copy, decided.status, body).await;
                }
                Ok(Revalidated::Replaced(decided, response)) => {
                    revalidate::store_result(url, &decided.copy, decided.status, response.body()).await;
                }
                Ok(Revalidated::Failed(_)) => {}
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
                    .wait_until(store::put(url, status, headers.clone(), copy.body()));
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
                self.ctx.wait_until(store::put(url, status, headers.clone(), for_store));
                (wasm_bindgen::JsCast::dyn_into(for_viewer).ok(), Stored::Yes)
            }
            (Ok((_, headers)), None) => {
                self.ctx.wait_until(store::put(url, status, headers.clone(), None));
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
