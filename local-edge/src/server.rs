//! The edge: CloudFront's request flow around the handler, the cache and the origin.
//!
//! viewer-request → cache (fresh: hit; in stale-while-revalidate: stale hit + background
//! revalidation; else: collapsed origin fetch) → origin-request → origin → origin-response
//! → store → viewer-response, with CloudFront's validation of every handler answer.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use edge_policy::cloudfront::Trigger;
use edge_policy::event::{fields, Headers, Request, Response};
use edge_policy::headers::normalize_accept_encoding;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::OnceCell;

use crate::cache::{lifetime, EdgeCache, Entry, Lookup, StoredResponse, TtlBounds};
use crate::events::{self, function_url_event, push_header, read_function_url_response};
use crate::handler_host::EdgeHandler;
use crate::origin::{InvokeError, OriginConfig, OriginPool};
use crate::validate::{self, RequestAnswer};
use crate::EdgeError;

/// How to run the edge.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Where to listen (`127.0.0.1:8080`; port 0 picks a free one).
    pub listen: SocketAddr,
    /// The Lambda@Edge package directory (`wasm-pkg`); `None` links the policy natively.
    pub edge_package: Option<std::path::PathBuf>,
    /// The origin.
    pub origin: OriginConfig,
    /// The cache policy's TTL bounds.
    pub ttl: TtlBounds,
    /// Most entries the cache holds.
    pub cache_capacity: usize,
    /// The distribution's domain, as in `config.distributionDomainName`.
    pub distribution_domain: String,
    /// The origin's (function URL's) domain.
    pub origin_domain: String,
    /// Print one access-log line per request.
    pub access_log: bool,
    /// Accept `POST /__edge/clock?advance=SECONDS` (tests move the edge's clock).
    pub test_clock: bool,
}

impl EdgeConfig {
    /// Defaults for everything but the origin.
    pub fn new(origin: OriginConfig) -> Self {
        EdgeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            edge_package: None,
            origin,
            ttl: TtlBounds::default(),
            cache_capacity: 10_000,
            distribution_domain: "d111111abcdef8.cloudfront.net".into(),
            origin_domain: "localorigin.lambda-url.us-east-1.on.aws".into(),
            access_log: true,
            test_clock: false,
        }
    }
}

#[derive(Default)]
struct Stats {
    requests: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
    refresh_hits: AtomicU64,
    stale_serves: AtomicU64,
    origin_requests: AtomicU64,
    origin_errors: AtomicU64,
    validation_errors: AtomicU64,
    execution_errors: AtomicU64,
}

type Fetch = Arc<Result<Arc<StoredResponse>, OriginFailure>>;

struct State {
    config: EdgeConfig,
    handler: EdgeHandler,
    origin: Arc<OriginPool>,
    cache: EdgeCache,
    in_flight: std::sync::Mutex<HashMap<String, Arc<OnceCell<Fetch>>>>,
    stats: Stats,
    clock_offset_ms: AtomicU64,
    ids: AtomicU64,
}

impl State {
    /// Calls the handler for one trigger within its time limit (5 s viewer, 30 s origin); a
    /// throw, a trap or no answer is CloudFront's `LambdaExecutionError`.
    async fn run_trigger(&self, event: &Value, limit: Duration) -> Result<Value, OriginFailure> {
        self.handler.invoke(event, limit).await.map_err(|e| {
            self.stats.execution_errors.fetch_add(1, Ordering::Relaxed);
            OriginFailure::Edge(502, "LambdaExecutionError from cloudfront", e.0)
        })
    }

    /// An answer CloudFront rejects: `LambdaValidationError`.
    fn invalid(&self, violation: String) -> OriginFailure {
        self.stats.validation_errors.fetch_add(1, Ordering::Relaxed);
        OriginFailure::Edge(502, "LambdaValidationError from cloudfront", violation)
    }
}

/// A running edge.
pub struct Edge {
    state: Arc<State>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Edge {
    /// Binds, starts the origin pool and serves until [`Edge::stop`].
    pub async fn start(config: EdgeConfig) -> Result<Edge, EdgeError> {
        let listener = TcpListener::bind(config.listen)
            .await
            .map_err(|source| EdgeError::Bind {
                addr: config.listen.to_string(),
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| EdgeError::Bind {
            addr: config.listen.to_string(),
            source,
        })?;
        let origin = OriginPool::start(config.origin.clone()).await?;
        let handler = match &config.edge_package {
            Some(dir) => EdgeHandler::node(dir),
            None => EdgeHandler::native(),
        };
        let state = Arc::new(State {
            cache: EdgeCache::new(config.cache_capacity),
            config,
            handler,
            origin,
            in_flight: Default::default(),
            stats: Stats::default(),
            clock_offset_ms: AtomicU64::new(0),
            ids: AtomicU64::new(1),
        });
        let serving = state.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, peer)) = listener.accept().await {
                let state = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(state, req, peer).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Ok(Edge { state, addr, server })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and ends every origin environment.
    pub async fn stop(self) {
        self.server.abort();
        self.state.origin.shutdown().await;
    }
}

/// Why the origin gave no usable answer.
#[derive(Debug, Clone)]
enum OriginFailure {
    /// CloudFront's own error page: status and `X-Cache` value.
    Edge(u16, &'static str, String),
}

fn now_ms(state: &State) -> u64 {
    let real = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    real + state.clock_offset_ms.load(Ordering::Relaxed)
}

fn cf_id(state: &State) -> String {
    format!(
        "LOCAL{:016X}==",
        state
            .ids
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
    )
}

/// A response to the viewer before the edge's own headers.
struct ViewerResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Bytes,
    x_cache: String,
    age: Option<u64>,
}

impl OriginFailure {
    /// CloudFront's error page for it.
    fn to_viewer(&self) -> ViewerResponse {
        let OriginFailure::Edge(status, x_cache, detail) = self;
        error_response(*status, x_cache, detail)
    }
}

fn error_response(status: u16, x_cache: &str, detail: &str) -> ViewerResponse {
    let body = json!({"message": detail}).to_string();
    ViewerResponse {
        status,
        headers: vec![
            ("content-type".into(), "application/json".into()),
            ("cache-control".into(), "no-store".into()),
        ],
        body: Bytes::from(body),
        x_cache: x_cache.to_owned(),
        age: None,
    }
}

fn to_headers(list: &[(String, String)]) -> Headers {
    let mut headers = Headers::new();
    for (n, v) in list {
        push_header(&mut headers, n, v);
    }
    headers
}

fn from_headers(headers: &Option<Headers>) -> Vec<(String, String)> {
    headers
        .as_ref()
        .map(|h| {
            fields(h)
                .into_iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

async fn handle(state: Arc<State>, req: hyper::Request<Incoming>, peer: SocketAddr) -> hyper::Response<Full<Bytes>> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let request_id = cf_id(&state);
    if path == "/__edge/stats" {
        return json_response(stats_json(&state));
    }
    if path == "/__edge/clock" && method == "POST" && state.config.test_clock {
        let seconds: u64 = query.strip_prefix("advance=").and_then(|s| s.parse().ok()).unwrap_or(0);
        state.clock_offset_ms.fetch_add(seconds * 1000, Ordering::Relaxed);
        return json_response(json!({"advanced": seconds}));
    }
    state.stats.requests.fetch_add(1, Ordering::Relaxed);
    let mut headers = Headers::new();
    for (name, value) in req.headers() {
        push_header(&mut headers, name.as_str(), &String::from_utf8_lossy(value.as_bytes()));
    }
    // A body on GET/HEAD is never forwarded: it is not part of any cache key ("fat GET").
    let viewer = Request {
        client_ip: peer.ip().to_string(),
        method: method.clone(),
        uri: path.clone(),
        querystring: query.clone(),
        headers: Some(headers),
        origin: None,
        body: None,
        extra: Default::default(),
    };
    let response = serve(&state, viewer, &request_id).await;
    let elapsed = started.elapsed();
    let cache_status = response
        .headers
        .iter()
        .find(|(n, _)| n == "cache-status")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    if state.config.access_log {
        let target = if query.is_empty() {
            path
        } else {
            format!("{path}?{query}")
        };
        println!(
            "{method} {target} {} {} \"{cache_status}\" {:.1}ms",
            response.status,
            response.x_cache.trim_end_matches(" from cloudfront"),
            elapsed.as_secs_f64() * 1000.0
        );
    }
    to_hyper(response, &request_id, &state.config.distribution_domain)
}

fn json_response(value: Value) -> hyper::Response<Full<Bytes>> {
    hyper::Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .expect("valid response")
}

fn to_hyper(response: ViewerResponse, request_id: &str, distribution: &str) -> hyper::Response<Full<Bytes>> {
    let mut builder = hyper::Response::builder().status(response.status);
    for (name, value) in &response.headers {
        if matches!(name.as_str(), "content-length" | "transfer-encoding" | "connection") {
            continue;
        }
        builder = builder.header(name.as_str(), value.as_str());
    }
    if let Some(age) = response.age {
        builder = builder.header("age", age.to_string());
    }
    builder
        .header("x-cache", response.x_cache)
        .header(
            "via",
            format!(
                "1.1 {}.cloudfront.net (CloudFront)",
                distribution.split('.').next().unwrap_or("local")
            ),
        )
        .header("x-amz-cf-pop", "LOCAL1-P1")
        .header("x-amz-cf-id", request_id)
        .body(Full::new(response.body))
        .unwrap_or_else(|_| {
            hyper::Response::builder()
                .status(502)
                .body(Full::new(Bytes::new()))
                .expect("valid")
        })
}

async fn serve(state: &Arc<State>, viewer: Request, request_id: &str) -> ViewerResponse {
    // 1. viewer-request.
    let event = events::request_event(
        events::config(&state.config.distribution_domain, "viewer-request", request_id),
        &viewer,
    );
    let answer = match state.run_trigger(&event, Duration::from_secs(5)).await {
        Ok(answer) => answer,
        Err(failure) => return failure.to_viewer(),
    };
    let request = match validate::request_answer(Trigger::ViewerRequest, &viewer, answer) {
        Ok(RequestAnswer::Request(r)) => r,
        // A viewer-request generated response goes straight back, uncached, without viewer-response.
        Ok(RequestAnswer::Generated(g)) => {
            return ViewerResponse {
                status: g.status.parse().unwrap_or(502),
                headers: from_headers(&g.headers),
                body: Bytes::from(g.body.unwrap_or_default()),
                x_cache: "LambdaGeneratedResponse from cloudfront".into(),
                age: None,
            }
        }
        Err(violation) => return state.invalid(violation).to_viewer(),
    };

    // 2. Cache (GET and HEAD only), keyed like a cache policy: host, URI, every query
    //    parameter, and Accept-Encoding as CloudFront's compression setting normalizes it.
    let response = if request.method == "GET" || request.method == "HEAD" {
        from_cache_or_origin(state, &request, request_id).await
    } else {
        match fetch(state, &request, request_id, None).await {
            Ok(stored) => stored_response(&stored, "Miss from cloudfront", None),
            Err(failure) => failure.to_viewer(),
        }
    };

    // 3. viewer-response.
    viewer_response(state, &request, response, request_id).await
}

fn cache_key(request: &Request) -> String {
    let headers = request.headers.as_ref();
    let host = headers
        .and_then(|h| h.get("host"))
        .and_then(|v| v.first())
        .map_or("", |v| v.value.as_str());
    let encodings = headers
        .and_then(|h| h.get("accept-encoding"))
        .into_iter()
        .flatten()
        .map(|v| v.value.as_str());
    let encoding = normalize_accept_encoding(encodings).unwrap_or("identity");
    let head = if request.method == "HEAD" { "HEAD " } else { "" };
    format!(
        "{head}{}{}?{}|{encoding}",
        host.to_ascii_lowercase(),
        request.uri,
        request.querystring
    )
}

fn stored_response(stored: &StoredResponse, x_cache: &str, age: Option<u64>) -> ViewerResponse {
    ViewerResponse {
        status: stored.status,
        headers: stored.headers.clone(),
        body: stored.body.clone(),
        x_cache: x_cache.into(),
        age,
    }
}

async fn from_cache_or_origin(state: &Arc<State>, request: &Request, request_id: &str) -> ViewerResponse {
    let key = cache_key(request);
    let now = now_ms(state);
    match state.cache.lookup(&key, now) {
        Lookup::Fresh(entry) => {
            state.stats.hits.fetch_add(1, Ordering::Relaxed);
            stored_response(&entry.response, "Hit from cloudfront", Some(entry.age(now)))
        }
        Lookup::StaleWhileRevalidate(entry) => {
            state.stats.hits.fetch_add(1, Ordering::Relaxed);
            state.stats.stale_serves.fetch_add(1, Ordering::Relaxed);
            let (state, request, key, id) = (state.clone(), request.clone(), key.clone(), format!("{request_id}-swr"));
            let etag = entry.response.header("etag").map(str::to_owned);
            tokio::spawn(async move {
                let _ = collapsed_fetch(&state, &request, &key, &id, etag).await;
            });
            stored_response(&entry.response, "Hit from cloudfront", Some(entry.age(now)))
        }
        Lookup::Stale(entry) => {
            let etag = entry.response.header("etag").map(str::to_owned);
            match collapsed_fetch(state, request, &key, request_id, etag).await.as_ref() {
                Ok(fresh) if Arc::ptr_eq(fresh, &entry.response) => {
                    state.stats.refresh_hits.fetch_add(1, Ordering::Relaxed);
                    stored_response(fresh, "RefreshHit from cloudfront", Some(0))
                }
                Ok(fresh) => {
                    state.stats.misses.fetch_add(1, Ordering::Relaxed);
                    stored_response(fresh, "Miss from cloudfront", None)
                }
                Err(failure) if EdgeCache::usable_on_error(&entry, now_ms(state)) => {
                    // stale-if-error: the last good copy answers the origin's failure.
                    let _ = failure;
                    state.stats.stale_serves.fetch_add(1, Ordering::Relaxed);
                    stored_response(&entry.response, "Hit from cloudfront", Some(entry.age(now)))
                }
                Err(failure) => failure.to_viewer(),
            }
        }
        Lookup::Miss => {
            state.stats.misses.fetch_add(1, Ordering::Relaxed);
            match collapsed_fetch(state, request, &key, request_id, None).await.as_ref() {
                Ok(stored) => stored_response(stored, "Miss from cloudfront", None),
                Err(failure) => failure.to_viewer(),
            }
        }
    }
}

/// Concurrent misses for one key share one origin request; the leader stores the result.
async fn collapsed_fetch(
    state: &Arc<State>,
    request: &Request,
    key: &str,
    request_id: &str,
    etag: Option<String>,
) -> Fetch {
    let cell = state
        .in_flight
        .lock()
        .expect("in-flight lock")
        .entry(key.to_owned())
        .or_default()
        .clone();
    let result = cell
        .get_or_init(|| async {
            let fetched = fetch(state, request, request_id, etag.as_deref()).await;
            let result = match fetched {
                Ok(stored) => Ok(store(state, key, stored)),
                Err(e) => Err(e),
            };
            Arc::new(result)
        })
        .await
        .clone();
    let mut in_flight = state.in_flight.lock().expect("in-flight lock");
    if in_flight.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
        in_flight.remove(key);
    }
    result
}

/// Stores a fresh answer (or re-stamps the stored one on a `304`), returning what to serve.
fn store(state: &State, key: &str, stored: Arc<StoredResponse>) -> Arc<StoredResponse> {
    let now = now_ms(state);
    if stored.status == 304 {
        if let Lookup::Fresh(e) | Lookup::StaleWhileRevalidate(e) | Lookup::Stale(e) = state.cache.lookup(key, now) {
            let response = e.response.clone();
            state.cache.store(
                key,
                Entry {
                    response: response.clone(),
                    stored_at_ms: now,
                    lifetime: e.lifetime,
                },
            );
            return response;
        }
        return stored;
    }
    match stored
        .header("cache-control")
        .and_then(|cc| lifetime(cc, state.config.ttl))
        .or_else(|| {
            stored
                .header("cache-control")
                .is_none()
                .then_some(crate::cache::Lifetime {
                    ttl: state.config.ttl.default,
                    stale_while_revalidate: 0,
                    stale_if_error: 0,
                })
        }) {
        // A 5xx is never stored, so the last good copy stays for stale-if-error.
        Some(lifetime) if stored.status < 500 => {
            state.cache.store(
                key,
                Entry {
                    response: stored.clone(),
                    stored_at_ms: now,
                    lifetime,
                },
            );
        }
        _ => {}
    }
    stored
}

/// origin-request → origin → origin-response. A 5xx from the origin is a failure the cache
/// may answer with a stale copy; it is returned as-is when nothing stale is usable.
async fn fetch(
    state: &State,
    request: &Request,
    request_id: &str,
    etag: Option<&str>,
) -> Result<Arc<StoredResponse>, OriginFailure> {
    let mut origin_request = request.clone();
    origin_request.origin = Some(events::custom_origin(&state.config.origin_domain));
    let event = events::request_event(
        events::config(&state.config.distribution_domain, "origin-request", request_id),
        &origin_request,
    );
    let answer = state.run_trigger(&event, Duration::from_secs(30)).await?;
    let mut origin_request = match validate::request_answer(Trigger::OriginRequest, &origin_request, answer) {
        Ok(RequestAnswer::Request(r)) => r,
        Ok(RequestAnswer::Generated(g)) => {
            return Ok(Arc::new(StoredResponse {
                status: g.status.parse().unwrap_or(502),
                headers: from_headers(&g.headers),
                body: Bytes::from(g.body.unwrap_or_default()),
            }))
        }
        Err(violation) => return Err(state.invalid(violation)),
    };
    if let Some(etag) = etag {
        push_header(
            origin_request.headers.get_or_insert_with(Headers::new),
            "if-none-match",
            etag,
        );
    }
    state.stats.origin_requests.fetch_add(1, Ordering::Relaxed);
    let payload = function_url_event(&origin_request, &state.config.origin_domain, request_id, now_ms(state));
    let answer = match state.origin.invoke(Bytes::from(payload.to_string())).await {
        Ok(bytes) => read_function_url_response(&bytes).map_err(|e| {
            state.stats.origin_errors.fetch_add(1, Ordering::Relaxed);
            OriginFailure::Edge(502, "Error from cloudfront", format!("origin answer unreadable: {e}"))
        })?,
        Err(e) => {
            state.stats.origin_errors.fetch_add(1, Ordering::Relaxed);
            let (status, detail) = match e {
                InvokeError::Timeout => (504, "origin timed out".to_owned()),
                other => (502, format!("origin failed: {other:?}")),
            };
            return Err(OriginFailure::Edge(status, "Error from cloudfront", detail));
        }
    };
    // A 304 to our conditional request refreshes the stored copy; it is not run through
    // origin-response (nothing is stored from it).
    if answer.status == 304 && etag.is_some() {
        return Ok(Arc::new(StoredResponse {
            status: 304,
            headers: vec![],
            body: Bytes::new(),
        }));
    }
    let response = Response {
        status: answer.status.to_string(),
        status_description: None,
        headers: Some(answer.headers),
        body: None,
        body_encoding: None,
    };
    let event = events::response_event(
        events::config(&state.config.distribution_domain, "origin-response", request_id),
        &origin_request,
        &response,
    );
    let answer_value = state.run_trigger(&event, Duration::from_secs(30)).await?;
    let after = validate::response_answer(Trigger::OriginResponse, &response, answer_value)
        .map_err(|violation| state.invalid(violation))?;
    let stored = StoredResponse {
        status: after.status.parse().unwrap_or(answer.status),
        headers: from_headers(&after.headers),
        body: Bytes::from(answer.body),
    };
    if stored.status >= 500 {
        state.stats.origin_errors.fetch_add(1, Ordering::Relaxed);
        let detail = String::from_utf8_lossy(&stored.body).into_owned();
        return Err(OriginFailure::Edge(stored.status, "Error from cloudfront", detail));
    }
    Ok(Arc::new(stored))
}

async fn viewer_response(
    state: &State,
    request: &Request,
    response: ViewerResponse,
    request_id: &str,
) -> ViewerResponse {
    let before = Response {
        status: response.status.to_string(),
        status_description: None,
        headers: Some(to_headers(&response.headers)),
        body: None,
        body_encoding: None,
    };
    let event = events::response_event(
        events::config(&state.config.distribution_domain, "viewer-response", request_id),
        request,
        &before,
    );
    let answer = match state.run_trigger(&event, Duration::from_secs(5)).await {
        Ok(answer) => answer,
        Err(failure) => return failure.to_viewer(),
    };
    match validate::response_answer(Trigger::ViewerResponse, &before, answer) {
        Ok(after) => ViewerResponse {
            status: after.status.parse().unwrap_or(response.status),
            headers: from_headers(&after.headers),
            ..response
        },
        Err(violation) => state.invalid(violation).to_viewer(),
    }
}

fn stats_json(state: &State) -> Value {
    let s = &state.stats;
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let environments: Vec<Value> = state
        .origin
        .environments()
        .iter()
        .map(|e| {
            json!({"invocations": get(&e.stats.invocations), "cold_starts": get(&e.stats.cold_starts), "crashes": get(&e.stats.crashes), "pid": get(&e.stats.pid)})
        })
        .collect();
    json!({
        "requests": get(&s.requests),
        "hits": get(&s.hits),
        "misses": get(&s.misses),
        "refresh_hits": get(&s.refresh_hits),
        "stale_serves": get(&s.stale_serves),
        "origin_requests": get(&s.origin_requests),
        "origin_errors": get(&s.origin_errors),
        "validation_errors": get(&s.validation_errors),
        "execution_errors": get(&s.execution_errors),
        "cache_entries": state.cache.len(),
        "environments": environments,
    })
}
