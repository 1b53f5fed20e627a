//! The origin of one execution environment ([`Origin`]): built once, it answers every
//! invocation. This file routes a request — the secret check, the canonical key, and the
//! three ways an HTTP request is served: private (never cached), with an unkeyed input
//! (never cached, `private, no-store`), or shared (through the layers, `crate::shared`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use edge_policy::cache_control::ResponseFacts;
use edge_policy::header_fields;
use edge_policy::headers::viewer_credential;
use edge_policy::http_views::request_view;
use edge_policy::{
    canonical_request, origin_response, CanonicalRequest, HeaderField, Passthrough, ResponseView, RuleSet,
};
use lambda_http::http::header::{HeaderValue, ALLOW};
use lambda_http::http::Method;
use serde_json::json;

use crate::cache_status::{CacheStatus, Detail, Fwd};
use crate::config::{Config, L2Backend};
use crate::error::OriginError;
use crate::event::{HttpRequest, HttpResponse, Invocation, Via};
use crate::l2::redis::RedisL2;
use crate::l2::{DynamoL2, L2};
use crate::layers::Layers;
use crate::metrics::{EmfFormat, Metrics};
use crate::policy::{Decided, Policies};
use crate::respond::{respond, Answer, Conditions};
use crate::shared::Loaded;
use crate::source::{Catalogue, SourceRequest, SourceResponse};
use crate::verify::Verifier;

/// The answer of one invocation: the response payload and the EMF line to print.
#[derive(Debug, Clone)]
pub struct Invoked {
    /// The response payload (an HTTP response, or the warm-up summary).
    pub response: InvocationResponse,
    /// The one EMF line of this invocation.
    pub metrics_line: String,
    /// The same numbers, for tests.
    pub metrics: Metrics,
}

/// What an invocation answers; serialized as the Lambda response payload.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum InvocationResponse {
    /// An HTTP response (function URL or REST proxy payload).
    Http(HttpResponse),
    /// The warm-up summary.
    Warmup {
        /// Always `true`.
        warmup: bool,
        /// Hot keys now in L1.
        preloaded: u32,
    },
}

/// A request after normalization, for one invocation.
pub(crate) struct Prepared<'a> {
    /// The canonical request and its key.
    pub canonical: CanonicalRequest<'static>,
    /// The request's header fields (lower-case names, one per value).
    pub fields: Vec<HeaderField<'a>>,
    /// The host the demo source builds links from.
    pub link_host: &'a str,
    /// The viewer's credential (`edge_policy::headers::viewer_credential`).
    pub credential: Option<&'a str>,
    /// What shapes the answer (`HEAD`, `If-None-Match`).
    pub when: Conditions<'a>,
}

impl Prepared<'_> {
    /// The request as the source sees it (the canonical path and query).
    pub fn source_request(&self) -> SourceRequest<'_> {
        SourceRequest {
            path: &self.canonical.uri,
            query: &self.canonical.querystring,
            link_host: self.link_host,
            authorization: self.credential,
        }
    }
}

/// What the demo source says on answers that depend on more than the key (a viewer's
/// credential, an unkeyed input): never share.
const SOURCE_PRIVATE: &[HeaderField<'static>] = &[("cache-control", "private, no-store")];

/// The origin: configuration, policy, layers, clients, built once per execution environment.
pub struct Origin {
    pub(crate) config: Config,
    pub(crate) policies: Policies,
    pub(crate) layers: Layers<Loaded>,
    verifier: Verifier,
    catalogue: Catalogue,
    invocations: AtomicU64,
    source_loads: AtomicU64,
    pub(crate) rand: Box<dyn Fn() -> f64 + Send + Sync>,
    emf: EmfFormat,
}

pub(crate) fn millis(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

impl Origin {
    /// An origin over a catalogue client and the configured L2 (`config.l2_backend`): the
    /// DynamoDB table through `cache` (no L2 when `None`), or Redis at `config.redis_url`
    /// (`cache` unused; with IAM authentication, its tokens signed with `credentials`, the
    /// SDK's provider). Nothing is connected until [`Origin::connect_l2`] or the first
    /// call. An unreadable Redis URL or verify header is an error.
    pub fn new(
        config: Config,
        catalogue: aws_sdk_dynamodb::Client,
        cache: Option<aws_sdk_dynamodb::Client>,
        credentials: Option<aws_credential_types::provider::SharedCredentialsProvider>,
    ) -> Result<Self, OriginError> {
        let l2: Option<Arc<dyn L2>> = match (config.l2_enabled, config.l2_backend) {
            (false, _) => None,
            (true, L2Backend::DynamoDb) => cache.map(|client| Arc::new(DynamoL2::new(client, &config)) as Arc<dyn L2>),
            (true, L2Backend::Redis) => Some(Arc::new(RedisL2::with_credentials(&config, credentials)?)),
        };
        let catalogue = Catalogue::new(catalogue, &config.catalogue_table);
        Self::with_parts(config, catalogue, l2)
    }

    /// An origin over explicit parts (tests wrap the L2 to count its calls).
    pub fn with_parts(config: Config, catalogue: Catalogue, l2: Option<Arc<dyn L2>>) -> Result<Self, OriginError> {
        Ok(Origin {
            layers: Layers::new(&config, l2),
            policies: Policies::new(RuleSet::embedded()),
            verifier: Verifier::new(&config)?,
            catalogue,
            invocations: AtomicU64::new(0),
            source_loads: AtomicU64::new(0),
            rand: Box::new(|| 1.0 - rand::random::<f64>()),
            emf: EmfFormat::new(
                &config.metrics_namespace,
                &std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "origin-function".into()),
            ),
            config,
        })
    }

    /// Replaces the random source of XFetch (uniform in `(0, 1]`).
    pub fn with_rand(mut self, rand: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.rand = Box::new(rand);
        self
    }

    /// Opens the L2 connection now (the init phase, under the connect deadline) rather than
    /// on the first request. A failure is only reported: the first L2 call tries again, and
    /// requests fail open meanwhile.
    pub async fn connect_l2(&self) -> Result<(), OriginError> {
        self.layers.connect_l2().await
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Source loads since the environment started.
    pub fn source_loads(&self) -> u64 {
        self.source_loads.load(Ordering::Relaxed)
    }

    /// The breaker in front of L2 (tests read its state).
    pub fn breaker(&self) -> &crate::breaker::Breaker {
        self.layers.breaker()
    }

    /// The L1 cache (tests read its usage).
    pub fn l1(&self) -> &crate::l1::L1 {
        &self.layers.l1
    }

    /// Handles one invocation at `now_ms` (epoch ms, read once by the caller).
    pub async fn invoke(&self, invocation: Invocation, now_ms: u64) -> Result<Invoked, OriginError> {
        let started = Instant::now();
        let mut m = Metrics::default();
        if self.invocations.fetch_add(1, Ordering::Relaxed) == 0 {
            m.cold_start = 1;
        } else {
            m.context_reused = 1;
        }
        let response = match invocation {
            Invocation::Invalid(why) => return Err(OriginError::Event(why)),
            Invocation::Warmup => self.warm_up(now_ms, &mut m).await,
            Invocation::Http(request) => InvocationResponse::Http(self.handle(&request, now_ms, &mut m).await),
        };
        m.breaker_state = self.layers.breaker().state(now_ms).as_metric();
        m.total_ms = millis(started);
        let metrics_line = m.emf_line(&self.emf, now_ms);
        Ok(Invoked {
            response,
            metrics_line,
            metrics: m,
        })
    }

    /// Warm-up: opens the L2 connection, preloads the configured hot paths into L1 (internal
    /// requests: no secret needed) and returns.
    async fn warm_up(&self, now_ms: u64, m: &mut Metrics) -> InvocationResponse {
        m.warmup = 1;
        if let Err(e) = self.connect_l2().await {
            log_warning("L2 connect at warm-up failed", &e);
        }
        let mut preloaded = 0;
        if let Some(host) = &self.config.origin_host {
            for hot in &self.config.hot_paths {
                let request = HttpRequest::internal(host, hot);
                let r = self.handle(&request, now_ms, &mut Metrics::default()).await;
                if r.status == 200 {
                    preloaded += 1;
                }
            }
        }
        m.preloaded = preloaded;
        m.count(&CacheStatus::warmup());
        InvocationResponse::Warmup {
            warmup: true,
            preloaded,
        }
    }

    /// Handles one HTTP request at `now_ms`.
    pub async fn handle(&self, request: &HttpRequest, now_ms: u64, m: &mut Metrics) -> HttpResponse {
        // Only CloudFront knows the secret: a direct call to the function URL is refused
        // before any cache or source is touched. API Gateway and internal requests cannot
        // come through the function URL.
        if request.via == Via::FunctionUrl && !self.verifier.accepts(&request.parts.headers) {
            let status = CacheStatus::fwd(Fwd::Request).detail(Detail::Unverified);
            return refuse(self.policies.rules(), request, 403, "forbidden", status, now_ms, m);
        }
        if request.malformed {
            let status = CacheStatus::fwd(Fwd::Request).detail(Detail::Malformed);
            return refuse(self.policies.rules(), request, 400, "bad_request", status, now_ms, m);
        }
        let fields = header_fields(&request.parts.headers);
        let first = |name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let host = first("host").unwrap_or(&request.domain_name);
        let canonical = match canonical_request(self.policies.rules(), host, &request_view(&request.parts, &fields)) {
            Ok(c) => c,
            Err(Passthrough::MethodNotNormalized) => {
                let mut r = refuse(
                    self.policies.rules(),
                    request,
                    405,
                    "method_not_allowed",
                    CacheStatus::fwd(Fwd::Method),
                    now_ms,
                    m,
                );
                r.headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
                return r;
            }
            Err(Passthrough::UriNotAbsolute) => {
                return refuse(
                    self.policies.rules(),
                    request,
                    400,
                    "bad_request",
                    CacheStatus::fwd(Fwd::Request),
                    now_ms,
                    m,
                )
            }
        };
        m.route.clone_from(&canonical.route.name);
        // The demo source builds links from `X-Forwarded-Host` when present, as many
        // frameworks do (reference-rules.md): that is what makes a poisoning attempt visible
        // when an edge fails to strip it.
        let forwarded_host = first("x-forwarded-host");
        let prepared = Prepared {
            link_host: forwarded_host.unwrap_or(host),
            credential: viewer_credential(fields.iter().copied()),
            when: Conditions {
                head: request.parts.method == Method::HEAD,
                if_none_match: first("if-none-match"),
            },
            canonical,
            fields,
        };
        if prepared.canonical.bypass {
            return self
                .serve_from_source(&prepared, CacheStatus::fwd(Fwd::Bypass), now_ms, m)
                .await;
        }
        // A request still carrying the unkeyed header the demo source reads (the edge deletes
        // it, so this is a direct call or a broken edge) is answered from the source, never
        // read from or written to L1/L2, and said `private, no-store` so no cache downstream
        // keeps it. (Function URLs add `x-forwarded-port`/`-proto` themselves; the source
        // reads neither.)
        if forwarded_host.is_some() {
            let status = CacheStatus::fwd(Fwd::Request).detail(Detail::UnkeyedInput);
            return self.serve_from_source(&prepared, status, now_ms, m).await;
        }
        self.serve_shared(&prepared, now_ms, m).await
    }

    /// A private answer: the source, never a cache, `private, no-store` (decided with the
    /// edge's policy over what the source says).
    async fn serve_from_source(
        &self,
        p: &Prepared<'_>,
        status: CacheStatus,
        now_ms: u64,
        m: &mut Metrics,
    ) -> HttpResponse {
        let response = self.load_source(&p.source_request(), m).await;
        let facts = ResponseFacts::read(Some(response.status), SOURCE_PRIVATE, &p.fields, now_ms);
        let decided = Decided::new(&facts, p.canonical.route);
        let answer = Answer::Source {
            response: &response,
            cache_control: &decided.header,
        };
        respond(answer, status, p.when, now_ms, m)
    }

    /// One source load; a failure is a `503` (never stored: the policy writes `no-store`).
    pub(crate) async fn load_source(&self, request: &SourceRequest<'_>, m: &mut Metrics) -> SourceResponse {
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
}

/// A refusal, its `Cache-Control` decided by the edge's policy as origin-response would
/// write it over an answer without directives (cache-control.md: a `400`/`403` is not
/// heuristically cacheable and a method other than `GET`/`HEAD` is never cached, so both
/// leave `no-store`).
fn refuse(
    rules: &RuleSet,
    request: &HttpRequest,
    code: u16,
    error: &str,
    status: CacheStatus,
    now_ms: u64,
    m: &mut Metrics,
) -> HttpResponse {
    let response = SourceResponse {
        status: code,
        content_type: "application/json".into(),
        body: json!({ "error": error }).to_string(),
    };
    let code = code.to_string();
    let decided = origin_response(
        rules,
        &ResponseView {
            status: &code,
            request_method: request.parts.method.as_str(),
            request_uri: request.parts.uri.path(),
            request_headers: &[],
            headers: &[],
            now_ms,
        },
    );
    let answer = Answer::Source {
        response: &response,
        cache_control: &decided.cache_control,
    };
    respond(answer, status, Conditions::default(), now_ms, m)
}

/// One JSON warning line on stderr (the EMF line owns stdout).
pub(crate) fn log_warning(message: &str, error: &OriginError) {
    let line = json!({"level": "warn", "message": message, "error": error.to_string()});
    eprintln!("{line}");
}
