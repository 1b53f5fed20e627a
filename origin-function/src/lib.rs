//! The origin Lambda behind CloudFront: the demo API, answered through an execution-context
//! L1, an L2 (a DynamoDB table, or Redis) and the source of truth (origin-cache.md).
//!
//! - The canonical key and every `Cache-Control` come from [`edge_policy`], the library the
//!   edge runs: no second implementation of a rule.
//! - Private routes and requests with `Authorization` never touch L1 or L2.
//! - An L2 fault never fails a request: deadlines, a [`breaker::Breaker`], the source answers.
//! - Time is a parameter: [`Origin::invoke`] takes `now_ms`, read once by the caller.
#![warn(missing_docs)]

pub mod breaker;
pub mod config;
pub mod event;
pub mod l1;
pub mod l2;
pub mod metrics;
pub mod source;
pub mod tables;
pub mod xfetch;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use edge_policy::cache_control::Rule;
use edge_policy::{
    canonical_request, origin_response, CanonicalRequest, Passthrough, RequestView, ResponseView, RuleSet,
};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::breaker::{Breaker, Permit};
use crate::config::{Config, L2Backend};
use crate::event::{FunctionUrlRequest, FunctionUrlResponse, Invocation};
use crate::l1::{CachedResponse, L1Entry, LoadRole, L1};
use crate::l2::redis::RedisL2;
use crate::l2::{classify, digest, DynamoL2, L2Item, L2Read, MissReason, WriteOutcome, L2};
use crate::metrics::{EmfFormat, Metrics};
use crate::source::{Catalogue, SourceRequest, SourceResponse};

/// The origin's errors.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OriginError {
    /// An environment variable holds a value that cannot be read.
    #[error("environment variable {name} has an invalid value {value:?}")]
    Config {
        /// The variable.
        name: String,
        /// Its value.
        value: String,
    },
    /// An L2 call failed (counted by the breaker).
    #[error("L2 {op} failed ({kind}): {message}")]
    L2 {
        /// The operation.
        op: &'static str,
        /// `timeout`, `dispatch`, `response`, `service` or `other`.
        kind: &'static str,
        /// The SDK's description.
        message: String,
    },
    /// An L2 item could not be read (treated as a miss, not a fault).
    #[error("L2 item unreadable: {0}")]
    L2Item(String),
    /// The catalogue failed.
    #[error("source failed: {0}")]
    Source(String),
    /// The payload is neither a Function URL event nor a warm-up event.
    #[error("unsupported event: {0}")]
    Event(String),
}

impl OriginError {
    /// A stable `errorType` for the Lambda boundary.
    pub fn error_type(&self) -> &'static str {
        match self {
            OriginError::Config { .. } => "ConfigError",
            OriginError::L2 { .. } | OriginError::L2Item(_) => "CacheError",
            OriginError::Source(_) => "SourceError",
            OriginError::Event(_) => "InvalidEvent",
        }
    }
}

/// Applies the configured deadlines and retries to a DynamoDB client configuration for L2.
pub fn l2_client_config(builder: aws_sdk_dynamodb::config::Builder, config: &Config) -> aws_sdk_dynamodb::Config {
    let mut builder = builder
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(config.l2_connect_timeout)
                .operation_attempt_timeout(config.l2_attempt_timeout)
                .operation_timeout(config.l2_operation_timeout)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(config.l2_retries + 1)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(50)),
        );
    if let Some(endpoint) = &config.cache_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

/// The catalogue client configuration: a longer deadline (the source of truth is worth waiting for).
pub fn source_client_config(builder: aws_sdk_dynamodb::config::Builder, config: &Config) -> aws_sdk_dynamodb::Config {
    let mut builder = builder
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(config.l2_connect_timeout)
                .operation_timeout(config.source_operation_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(endpoint) = &config.catalogue_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

/// The answer of one invocation: the response payload and the EMF line to print.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The response payload (a Function URL response, or the warm-up summary).
    pub response: InvocationResponse,
    /// The one EMF line of this invocation.
    pub metrics_line: String,
    /// The same numbers, for tests.
    pub metrics: Metrics,
}

/// What an invocation answers; serialized as the Lambda response payload.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum InvocationResponse {
    /// A Function URL response.
    Http(FunctionUrlResponse),
    /// The warm-up summary.
    Warmup {
        /// Always `true`.
        warmup: bool,
        /// Hot keys now in L1.
        preloaded: u32,
    },
}

/// A response the caches may not store, handed to every coalesced caller.
#[derive(Debug)]
struct Uncached(SourceResponseOrStale);

#[derive(Debug)]
enum SourceResponseOrStale {
    Source(SourceResponse),
    Stale(CachedResponse),
}

/// The request after normalization, for one invocation.
struct Prepared<'a> {
    method: &'a str,
    canonical: CanonicalRequest<'static>,
    fields: Vec<(&'a str, &'a str)>,
    link_host: &'a str,
    authorization: Option<&'a str>,
    if_none_match: Option<&'a str>,
}

impl Prepared<'_> {
    /// The request as the source sees it (the canonical path and query).
    fn source_request(&self) -> SourceRequest<'_> {
        SourceRequest {
            path: &self.canonical.uri,
            query: &self.canonical.querystring,
            link_host: self.link_host,
            authorization: self.authorization,
        }
    }
}

/// What answered a shared request, for `Cache-Status` and the metrics.
#[derive(Debug, Default)]
struct Outcome {
    cache_status: String,
}

/// The origin: configuration, clients, L1 and breaker, built once per execution environment.
pub struct Origin {
    config: Config,
    rules: &'static RuleSet,
    l1: L1,
    l2: Option<Arc<dyn L2>>,
    breaker: Breaker,
    catalogue: Catalogue,
    owner: String,
    invocations: AtomicU64,
    source_loads: AtomicU64,
    rand: Box<dyn Fn() -> f64 + Send + Sync>,
    emf: EmfFormat,
}

fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

/// RFC 9110 §13.1.2: "A recipient MUST use the weak comparison function when comparing
/// entity tags for If-None-Match"; `*` matches any current representation.
fn if_none_match_matches(header: &str, etag: &str) -> bool {
    let weak = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let ours = weak(etag);
    header.split(',').any(|t| t.trim() == "*" || weak(t) == ours)
}

fn strong_etag(body: &str) -> String {
    let d = Sha256::digest(body.as_bytes());
    format!("\"{}\"", hex::encode(&d[..16]))
}

impl Origin {
    /// An origin over a catalogue client and the configured L2 (`config.l2_backend`): the
    /// DynamoDB table through `cache` (no L2 when `None`), or Redis at `config.redis_url`
    /// (`cache` unused; nothing is connected until [`Origin::connect_l2`] or the first call).
    /// Only an unreadable Redis URL is an error.
    pub fn new(
        config: Config,
        catalogue: aws_sdk_dynamodb::Client,
        cache: Option<aws_sdk_dynamodb::Client>,
    ) -> Result<Self, OriginError> {
        let l2: Option<Arc<dyn L2>> = match (config.l2_enabled, config.l2_backend) {
            (false, _) => None,
            (true, L2Backend::DynamoDb) => cache.map(|client| {
                Arc::new(DynamoL2::new(
                    client,
                    &config.cache_table,
                    config.l2_compress_min_bytes,
                    config.l2_max_item_bytes,
                )) as Arc<dyn L2>
            }),
            (true, L2Backend::Redis) => Some(Arc::new(RedisL2::new(&config)?)),
        };
        let catalogue = Catalogue::new(catalogue, &config.catalogue_table);
        Ok(Self::with_parts(config, catalogue, l2))
    }

    /// Opens the L2 connection now (the init phase, under the connect deadline) rather than
    /// on the first request. A failure is only reported: the first L2 call tries again, and
    /// the request fails open as usual.
    pub async fn connect_l2(&self) -> Result<(), OriginError> {
        match &self.l2 {
            Some(l2) => l2.connect().await,
            None => Ok(()),
        }
    }

    /// An origin over explicit parts (tests substitute the L2).
    pub fn with_parts(config: Config, catalogue: Catalogue, l2: Option<Arc<dyn L2>>) -> Self {
        let owner = format!("{:016x}", rand::random::<u64>());
        Origin {
            l1: L1::new(config.l1_max_entries, config.l1_max_bytes),
            breaker: Breaker::new(config.breaker_failures, config.breaker_cooldown_ms),
            rules: RuleSet::embedded(),
            l2,
            catalogue,
            owner,
            invocations: AtomicU64::new(0),
            source_loads: AtomicU64::new(0),
            rand: Box::new(|| 1.0 - rand::random::<f64>()),
            emf: EmfFormat::new(
                &config.metrics_namespace,
                &std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "origin-function".into()),
            ),
            config,
        }
    }

    /// Replaces the random source of XFetch (uniform in `(0, 1]`).
    pub fn with_rand(mut self, rand: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.rand = Box::new(rand);
        self
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Source loads since the environment started.
    pub fn source_loads(&self) -> u64 {
        self.source_loads.load(Ordering::Relaxed)
    }

    /// The breaker (tests read its state).
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// The L1 cache (tests read its usage).
    pub fn l1(&self) -> &L1 {
        &self.l1
    }

    /// Handles one invocation payload at `now_ms` (epoch ms, read once by the caller).
    pub async fn invoke(&self, payload: Value, now_ms: u64) -> Result<Invoked, OriginError> {
        let started = Instant::now();
        let mut m = Metrics::default();
        if self.invocations.fetch_add(1, Ordering::Relaxed) == 0 {
            m.cold_start = 1;
        } else {
            m.context_reused = 1;
        }
        let response = match Invocation::from_payload(payload).map_err(|e| OriginError::Event(e.to_string()))? {
            Invocation::Warmup => self.warm_up(now_ms, &mut m).await,
            Invocation::Http(request) => InvocationResponse::Http(self.handle(&request, now_ms, &mut m).await),
        };
        m.breaker_state = self.breaker.state(now_ms).as_metric();
        m.total_ms = millis(started);
        let metrics_line = m.emf_line(&self.emf, now_ms);
        Ok(Invoked {
            response,
            metrics_line,
            metrics: m,
        })
    }

    /// Warm-up: preloads the configured hot paths into L1 and returns.
    async fn warm_up(&self, now_ms: u64, m: &mut Metrics) -> InvocationResponse {
        m.warmup = 1;
        let mut preloaded = 0;
        if let Some(host) = &self.config.origin_host {
            for hot in &self.config.hot_paths {
                let (path, query) = hot.split_once('?').unwrap_or((hot.as_str(), ""));
                let headers = BTreeMap::from([("host".to_owned(), host.clone())]);
                let request = FunctionUrlRequest {
                    version: "2.0".into(),
                    route_key: "$default".into(),
                    raw_path: path.into(),
                    raw_query_string: query.into(),
                    cookies: Vec::new(),
                    headers,
                    request_context: event::RequestContext {
                        domain_name: host.clone(),
                        http: event::HttpContext {
                            method: "GET".into(),
                            path: path.into(),
                            protocol: "HTTP/1.1".into(),
                            source_ip: String::new(),
                            user_agent: "warmup".into(),
                        },
                        request_id: String::new(),
                        time_epoch: now_ms,
                    },
                    body: None,
                    is_base64_encoded: false,
                };
                let mut hot_metrics = Metrics::default();
                let r = self.handle(&request, now_ms, &mut hot_metrics).await;
                if r.status_code == 200 {
                    preloaded += 1;
                }
            }
        }
        m.preloaded = preloaded;
        m.cache_status = "origin; detail=warmup".into();
        InvocationResponse::Warmup {
            warmup: true,
            preloaded,
        }
    }

    /// Handles one Function URL request at `now_ms`.
    pub async fn handle(&self, request: &FunctionUrlRequest, now_ms: u64, m: &mut Metrics) -> FunctionUrlResponse {
        let cookie_line = (!request.cookies.is_empty()).then(|| request.cookies.join("; "));
        let mut fields: Vec<(&str, &str)> = request.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        if let Some(c) = &cookie_line {
            fields.push(("cookie", c.as_str()));
        }
        let header = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| *v)
        };
        let method = request.request_context.http.method.as_str();
        // Only CloudFront knows the secret: a direct call to the Function URL is refused
        // before any cache or source is touched.
        if !self.config.verify_secrets.is_empty() {
            let presented = header(&self.config.verify_header).unwrap_or("");
            if !self
                .config
                .verify_secrets
                .iter()
                .any(|s| constant_time_eq(s.as_bytes(), presented.as_bytes()))
            {
                return self.forbidden(method, &request.raw_path, m);
            }
        }
        let host = header("host").unwrap_or(&request.request_context.domain_name);
        let view = RequestView {
            method,
            uri: &request.raw_path,
            querystring: &request.raw_query_string,
            headers: &fields,
        };
        let canonical = match canonical_request(self.rules, host, &view) {
            Ok(c) => c,
            Err(p) => return self.refuse(method, &request.raw_path, &fields, p, m),
        };
        m.route = canonical.route.name.clone();
        let authorization = header("authorization");
        let prepared = Prepared {
            method,
            // The demo source builds links from `X-Forwarded-Host` when present, as many
            // frameworks do (reference-rules.md): that is what makes a poisoning attempt
            // visible when an edge fails to strip it.
            link_host: header("x-forwarded-host").unwrap_or(host),
            authorization,
            if_none_match: header("if-none-match"),
            canonical,
            fields: fields.clone(),
        };
        if prepared.canonical.bypass {
            return self.serve_private(&prepared, m).await;
        }
        // A request still carrying the unkeyed header the demo source reads (the edge deletes
        // it, so this is a direct call or a broken edge) is answered from the source and never
        // read from or written to L1/L2: its answer depends on input the key doesn't hold.
        // (Function URLs add `x-forwarded-port`/`-proto` themselves; the source reads neither.)
        if header("x-forwarded-host").is_some() {
            return self.serve_unkeyed(&prepared, m).await;
        }
        self.serve_shared(&prepared, now_ms, m).await
    }

    fn forbidden(&self, method: &str, uri: &str, m: &mut Metrics) -> FunctionUrlResponse {
        let response = SourceResponse {
            status: 403,
            content_type: "application/json".into(),
            body: json!({ "error": "forbidden" }).to_string(),
        };
        m.bypass = 1;
        self.respond(
            method,
            uri,
            &[],
            None,
            &response,
            None,
            "origin; fwd=request; detail=unverified",
            m,
        )
    }

    fn refuse(
        &self,
        method: &str,
        uri: &str,
        fields: &[(&str, &str)],
        why: Passthrough,
        m: &mut Metrics,
    ) -> FunctionUrlResponse {
        let (status, error) = match why {
            Passthrough::MethodNotNormalized => (405, "method_not_allowed"),
            Passthrough::UriNotAbsolute => (400, "bad_request"),
        };
        let response = SourceResponse {
            status,
            content_type: "application/json".into(),
            body: json!({ "error": error }).to_string(),
        };
        m.bypass = 1;
        let cache_status = if status == 405 {
            "origin; fwd=method"
        } else {
            "origin; fwd=request"
        };
        let mut r = self.respond(method, uri, fields, None, &response, None, cache_status, m);
        if status == 405 {
            r.headers.insert("allow".into(), "GET, HEAD".into());
        }
        r
    }

    async fn serve_private(&self, p: &Prepared<'_>, m: &mut Metrics) -> FunctionUrlResponse {
        m.bypass = 1;
        let response = self.load_source(&p.source_request(), m).await;
        self.respond_private(p, &response, m)
    }

    async fn serve_unkeyed(&self, p: &Prepared<'_>, m: &mut Metrics) -> FunctionUrlResponse {
        let response = self.load_source(&p.source_request(), m).await;
        let etag = (response.status == 200).then(|| strong_etag(&response.body));
        let cache_status = "origin; fwd=request; detail=unkeyed-input";
        self.respond(
            p.method,
            &p.canonical.uri,
            &p.fields,
            p.if_none_match,
            &response,
            etag.as_deref(),
            cache_status,
            m,
        )
    }

    fn respond_private(&self, p: &Prepared<'_>, response: &SourceResponse, m: &mut Metrics) -> FunctionUrlResponse {
        let etag = (response.status == 200).then(|| strong_etag(&response.body));
        let private = [("cache-control", "private, no-store")];
        let view = ResponseView {
            status: &response.status.to_string(),
            request_method: p.method,
            request_uri: &p.canonical.uri,
            request_headers: &p.fields,
            headers: &private,
            now_ms: 0, // only `Expires` reads the clock, and these headers hold none
        };
        let cache_control = origin_response(self.rules, &view).cache_control;
        self.build(
            p.method,
            Body::of(response),
            etag.as_deref(),
            cache_control,
            p.if_none_match,
            "origin; fwd=bypass",
            m,
        )
    }

    async fn load_source(&self, request: &SourceRequest<'_>, m: &mut Metrics) -> SourceResponse {
        let started = Instant::now();
        m.source_loads += 1;
        self.source_loads.fetch_add(1, Ordering::Relaxed);
        let result = self.catalogue.load(request).await;
        m.source_ms += millis(started);
        match result {
            Ok(r) => r,
            Err(_) => {
                m.source_errors += 1;
                SourceResponse {
                    status: 503,
                    content_type: "application/json".into(),
                    body: r#"{"error":"source_unavailable"}"#.into(),
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn respond(
        &self,
        method: &str,
        uri: &str,
        fields: &[(&str, &str)],
        if_none_match: Option<&str>,
        response: &SourceResponse,
        etag: Option<&str>,
        cache_status: &str,
        m: &mut Metrics,
    ) -> FunctionUrlResponse {
        let view = ResponseView {
            status: &response.status.to_string(),
            request_method: method,
            request_uri: uri,
            request_headers: fields,
            headers: &[],
            now_ms: 0, // only `Expires` reads the clock, and these headers hold none
        };
        let cache_control = origin_response(self.rules, &view).cache_control;
        self.build(
            method,
            Body::of(response),
            etag,
            cache_control,
            if_none_match,
            cache_status,
            m,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn build(
        &self,
        method: &str,
        response: Body<'_>,
        etag: Option<&str>,
        cache_control: String,
        if_none_match: Option<&str>,
        cache_status: &str,
        m: &mut Metrics,
    ) -> FunctionUrlResponse {
        let mut headers = BTreeMap::new();
        headers.insert("cache-control".to_owned(), cache_control);
        headers.insert("cache-status".to_owned(), cache_status.to_owned());
        let not_modified = match (etag, if_none_match) {
            (Some(e), Some(inm)) => response.status == 200 && if_none_match_matches(inm, e),
            _ => false,
        };
        if let Some(e) = etag {
            headers.insert("etag".to_owned(), e.to_owned());
        }
        let (status, body) = if not_modified {
            (304, String::new())
        } else {
            headers.insert("content-type".to_owned(), response.content_type.to_owned());
            (
                response.status,
                if method == "HEAD" {
                    String::new()
                } else {
                    response.body.to_owned()
                },
            )
        };
        m.status = status;
        m.cache_status = cache_status.to_owned();
        FunctionUrlResponse {
            status_code: status,
            headers,
            body,
            is_base64_encoded: false,
        }
    }

    fn respond_cached(
        &self,
        p: &Prepared<'_>,
        c: &CachedResponse,
        cache_status: &str,
        m: &mut Metrics,
    ) -> FunctionUrlResponse {
        let view = ResponseView {
            status: &c.status.to_string(),
            request_method: p.method,
            request_uri: &p.canonical.uri,
            request_headers: &p.fields,
            headers: &[],
            now_ms: 0, // only `Expires` reads the clock, and these headers hold none
        };
        let cache_control = origin_response(self.rules, &view).cache_control;
        let body = Body {
            status: c.status,
            content_type: &c.content_type,
            body: &c.body,
        };
        self.build(
            p.method,
            body,
            Some(&c.etag),
            cache_control,
            p.if_none_match,
            cache_status,
            m,
        )
    }

    async fn serve_shared(&self, p: &Prepared<'_>, now_ms: u64, m: &mut Metrics) -> FunctionUrlResponse {
        let key = p.canonical.key.as_str();
        let started = Instant::now();
        if let Some(entry) = self.l1.get_fresh(key, now_ms).await {
            m.l1_ms += millis(started);
            m.l1_hits = 1;
            let status = format!("origin; hit; ttl={}; detail=l1", entry.ttl_seconds(now_ms));
            return self.respond_cached(p, &entry.response, &status, m);
        }
        m.l1_ms += millis(started);
        let mut outcome = Outcome::default();
        let (result, role) = {
            let init = self.load_shared(p, now_ms, m, &mut outcome);
            self.l1.get_or_load(key, now_ms, init).await
        };
        if role == LoadRole::Collapsed {
            m.coalesced_waits += 1;
            outcome.cache_status = "origin; fwd=miss; collapsed".into();
        }
        match result {
            Ok(entry) => self.respond_cached(p, &entry.response, &outcome.cache_status, m),
            Err(uncached) => match &uncached.0 {
                SourceResponseOrStale::Stale(c) => self.respond_cached(p, c, &outcome.cache_status, m),
                SourceResponseOrStale::Source(r) => {
                    let etag = (r.status == 200).then(|| strong_etag(&r.body));
                    self.respond(
                        p.method,
                        &p.canonical.uri,
                        &p.fields,
                        p.if_none_match,
                        r,
                        etag.as_deref(),
                        &outcome.cache_status,
                        m,
                    )
                }
            },
        }
    }

    /// One L2 call under the breaker: `None` when skipped or failed (the request goes on
    /// without L2, which `l2_down` remembers for the rest of the invocation).
    async fn l2_call<T>(
        &self,
        now_ms: u64,
        m: &mut Metrics,
        l2_down: &mut bool,
        call: impl std::future::Future<Output = Result<T, OriginError>>,
    ) -> Option<Result<T, OriginError>> {
        if *l2_down {
            return None;
        }
        if self.breaker.permit(now_ms) == Permit::Skip {
            m.l2_skipped = 1;
            *l2_down = true;
            return None;
        }
        let started = Instant::now();
        let result = call.await;
        m.l2_ms += millis(started);
        match &result {
            Err(OriginError::L2 { .. }) => {
                self.breaker.record_failure(now_ms);
                m.l2_errors += 1;
                *l2_down = true;
                None
            }
            _ => {
                self.breaker.record_success();
                Some(result)
            }
        }
    }

    /// The lease for a load: `true` when this caller should load (it holds the lease, or
    /// L2 cannot tell: fail open).
    async fn lease(&self, l2: &dyn L2, digest: &str, now_ms: u64, m: &mut Metrics, l2_down: &mut bool) -> bool {
        let call = l2.try_lease(digest, &self.owner, now_ms, self.config.lease_ms);
        !matches!(self.l2_call(now_ms, m, l2_down, call).await, Some(Ok(false)))
    }

    /// L2, then the source (under the lease), then the writes. `Ok` goes into L1.
    async fn load_shared(
        &self,
        p: &Prepared<'_>,
        now_ms: u64,
        m: &mut Metrics,
        outcome: &mut Outcome,
    ) -> Result<L1Entry, Uncached> {
        let key = p.canonical.key.as_str();
        let digest = digest(key);
        let mut l2_down = false;
        let l2 = self.l2.as_deref();
        let read = match l2 {
            Some(l2) => match self.l2_call(now_ms, m, &mut l2_down, l2.get(&digest)).await {
                Some(Ok(item)) => Some(classify(item, key, now_ms)),
                Some(Err(_)) => Some(L2Read::Missing(MissReason::Absent)),
                None => None,
            },
            None => None,
        };
        let mut stale: Option<CachedResponse> = None;
        let mut detail = "";
        match (read, l2) {
            (Some(L2Read::Fresh(c)), Some(l2)) => {
                let early = xfetch::should_refresh_early(
                    now_ms,
                    c.delta_ms,
                    self.config.xfetch_beta,
                    c.fresh_until_ms,
                    (self.rand)(),
                );
                if !early || !self.lease(l2, &digest, now_ms, m, &mut l2_down).await {
                    m.l2_hits = 1;
                    outcome.cache_status = "origin; hit; detail=l2".into();
                    return Ok(self.l1_entry(p, Arc::new(c), now_ms));
                }
                detail = "; detail=xfetch";
            }
            (Some(L2Read::Stale(c)), Some(l2)) => {
                if !self.lease(l2, &digest, now_ms, m, &mut l2_down).await {
                    m.stale_served = 1;
                    let ttl = (now_ms.saturating_sub(c.fresh_until_ms) / 1000) as i64;
                    outcome.cache_status = format!("origin; hit; ttl={}; detail=l2-stale", -ttl);
                    return Err(Uncached(SourceResponseOrStale::Stale(c)));
                }
                stale = Some(c);
            }
            (Some(L2Read::Missing(reason)), Some(l2)) => {
                if reason == MissReason::KeyMismatch {
                    m.l2_key_mismatch = 1;
                }
                if !self.lease(l2, &digest, now_ms, m, &mut l2_down).await {
                    if let Some(c) = self.wait_for_fill(l2, key, &digest, now_ms, m, &mut l2_down).await {
                        m.coalesced_waits += 1;
                        m.l2_hits = 1;
                        outcome.cache_status = "origin; fwd=miss; collapsed; detail=l2".into();
                        return Ok(self.l1_entry(p, Arc::new(c), now_ms));
                    }
                }
            }
            _ => {
                detail = if self.l2.is_some() {
                    "; detail=l2-unavailable"
                } else {
                    ""
                }
            }
        }

        m.misses = 1;
        let request = SourceRequest {
            path: &p.canonical.uri,
            query: &p.canonical.querystring,
            link_host: p.link_host,
            authorization: None,
        };
        let started = Instant::now();
        let response = self.load_source(&request, m).await;
        let delta_ms = started.elapsed().as_millis() as u64;
        let fwd = if stale.is_some() { "stale" } else { "miss" };

        let view = ResponseView {
            status: &response.status.to_string(),
            request_method: p.method,
            request_uri: &p.canonical.uri,
            request_headers: &p.fields,
            headers: &[],
            now_ms,
        };
        let decision = origin_response(self.rules, &view);
        let s_maxage = u64::from(p.canonical.route.freshness.s_maxage.unwrap_or(0));
        if decision.rule != Some(Rule::RoutePolicy) || s_maxage == 0 {
            if let (Some(l2), false) = (l2, l2_down) {
                let _ = self
                    .l2_call(now_ms, m, &mut l2_down, l2.release_lease(&digest, &self.owner))
                    .await;
            }
            // RFC 5861 §4: stale-if-error lets a stale response answer when the origin errs.
            let sie = u64::from(p.canonical.route.freshness.stale_if_error.unwrap_or(0)) * 1000;
            if let Some(c) = stale.filter(|c| response.status >= 500 && now_ms < c.fresh_until_ms.saturating_add(sie)) {
                m.stale_served = 1;
                outcome.cache_status = "origin; fwd=stale; detail=stale-if-error".into();
                return Err(Uncached(SourceResponseOrStale::Stale(c)));
            }
            outcome.cache_status = format!("origin; fwd={fwd}{detail}");
            return Err(Uncached(SourceResponseOrStale::Source(response)));
        }

        let fresh_until_ms = now_ms.saturating_add(s_maxage * 1000);
        let swr = u64::from(p.canonical.route.freshness.stale_while_revalidate.unwrap_or(0)) * 1000;
        let cached = CachedResponse {
            etag: strong_etag(&response.body),
            status: response.status,
            content_type: response.content_type,
            body: response.body,
            stored_at_ms: now_ms,
            fresh_until_ms,
            expires_at_s: fresh_until_ms.saturating_add(swr).div_ceil(1000),
            delta_ms,
        };
        let item = L2Item {
            full_key: key.to_owned(),
            response: cached,
        };
        if let Some(l2) = l2 {
            match self
                .l2_call(now_ms, m, &mut l2_down, l2.put(&digest, &item, &self.owner))
                .await
            {
                Some(Ok(WriteOutcome::TooLarge { .. })) => {
                    m.l2_oversize = 1;
                    detail = "; detail=l2-oversize";
                    let _ = self
                        .l2_call(now_ms, m, &mut l2_down, l2.release_lease(&digest, &self.owner))
                        .await;
                }
                Some(_) => {}
                None if detail.is_empty() => detail = "; detail=l2-unavailable",
                None => {}
            }
        }
        outcome.cache_status = format!("origin; fwd={fwd}; stored{detail}");
        Ok(self.l1_entry(p, Arc::new(item.response), now_ms))
    }

    /// Re-reads L2 while another environment holds the lease, until the item is fresh or the
    /// wait is over.
    async fn wait_for_fill(
        &self,
        l2: &dyn L2,
        key: &str,
        digest: &str,
        now_ms: u64,
        m: &mut Metrics,
        l2_down: &mut bool,
    ) -> Option<CachedResponse> {
        let deadline = Instant::now() + Duration::from_millis(self.config.lease_wait_ms);
        while Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(self.config.lease_poll_ms)).await;
            match self.l2_call(now_ms, m, l2_down, l2.get(digest)).await {
                Some(Ok(item)) => {
                    if let L2Read::Fresh(c) = classify(item, key, now_ms) {
                        return Some(c);
                    }
                }
                Some(Err(_)) => {}
                None => return None,
            }
        }
        None
    }

    fn l1_entry(&self, p: &Prepared<'_>, response: Arc<CachedResponse>, now_ms: u64) -> L1Entry {
        let s_maxage = u64::from(p.canonical.route.freshness.s_maxage.unwrap_or(0));
        L1Entry::new(response, now_ms, self.config.l1_ttl_seconds.min(s_maxage) * 1000)
    }
}

/// What a response carries, whether it comes from the source or from a cache.
#[derive(Clone, Copy)]
struct Body<'a> {
    status: u16,
    content_type: &'a str,
    body: &'a str,
}

impl<'a> Body<'a> {
    fn of(response: &'a SourceResponse) -> Self {
        Body {
            status: response.status,
            content_type: &response.content_type,
            body: &response.body,
        }
    }
}

/// Compares secrets without an early exit on the first differing byte (only the length leaks).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_none_match_uses_weak_comparison() {
        assert!(if_none_match_matches("\"a\"", "\"a\""));
        assert!(if_none_match_matches("W/\"a\", \"b\"", "\"a\""));
        assert!(if_none_match_matches("*", "\"a\""));
        assert!(!if_none_match_matches("\"b\"", "\"a\""));
    }
}
