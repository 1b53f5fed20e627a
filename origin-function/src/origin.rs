//! The origin of one execution environment ([`Origin`]): built once, it answers every
//! invocation. This file routes a request — the secret check, the canonical key, and the
//! three ways an HTTP request is served: private (the source, never cached), with an
//! unkeyed input (the source, never cached, `private, no-store`), or shared (the read path,
//! [`ReadPath`]) — and builds its one response.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use edge_policy::cache_control::ResponseFacts;
use edge_policy::{origin_response, HeaderField, Passthrough, ResponseView, RuleSet};
use lambda_http::http::header::{HeaderValue, ALLOW};
use serde_json::json;

use crate::cache_status::{CacheStatus, Detail, Fwd};
use crate::clock::Now;
use crate::config::{Config, L2Backend};
use crate::error::OriginError;
use crate::event::{HttpRequest, HttpResponse, Invocation, Via};
use crate::l2::redis::RedisL2;
use crate::l2::{DynamoL2, L2};
use crate::metrics::{millis, EmfFormat, Metrics};
use crate::policy::{Decided, Policies};
use crate::prepared::Prepared;
use crate::purge::command::{PurgeReply, PurgeSteps};
use crate::purge::store::{DynamoPurgeStore, PurgeStore};
use crate::read_path::{ReadPath, Served};
use crate::respond::{respond, Answer, Conditions};
use crate::source::{Catalogue, Source, SourceResponse};
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
    /// A purge step's answer (an operator's direct invoke, purge.md "Interfaces").
    Purge(PurgeReply),
}

/// What the demo source says on answers that depend on more than the key (a viewer's
/// credential, an unkeyed input): never share.
const SOURCE_PRIVATE: &[HeaderField<'static>] = &[("cache-control", "private, no-store")];

/// Why a request is refused before any cache or the source is touched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// A function-URL request without CloudFront's secret.
    Unverified,
    /// A header, the method or the path could not be represented.
    Malformed,
    /// A method the policy does not key (only `GET` and `HEAD` are).
    Method,
    /// A URI that is not absolute.
    UriNotAbsolute,
}

impl Refusal {
    /// The status, the error the body names, and the `Cache-Status`.
    fn answer(self) -> (u16, &'static str, CacheStatus) {
        match self {
            Refusal::Unverified => (
                403,
                "forbidden",
                CacheStatus::fwd(Fwd::Request).detail(Detail::Unverified),
            ),
            Refusal::Malformed => (
                400,
                "bad_request",
                CacheStatus::fwd(Fwd::Request).detail(Detail::Malformed),
            ),
            Refusal::Method => (405, "method_not_allowed", CacheStatus::fwd(Fwd::Method)),
            Refusal::UriNotAbsolute => (400, "bad_request", CacheStatus::fwd(Fwd::Request)),
        }
    }
}

/// The way a request is served.
enum Routed<'r> {
    /// Refused.
    Refused(Refusal),
    /// From the source, never a cache, said with this `Cache-Status`.
    Private(Prepared<'r>, CacheStatus),
    /// Through the shared read path.
    Shared(Prepared<'r>),
}

/// What answers one request.
enum Reply {
    /// A refusal, or the source's answer to a request kept out of the caches: the answer,
    /// its decided `Cache-Control` line and its `Cache-Status`.
    Direct(SourceResponse, String, CacheStatus),
    /// The shared read path's answer.
    Shared(Served),
}

impl Reply {
    fn answer(&self) -> (Answer<'_>, CacheStatus) {
        match self {
            Reply::Direct(response, cache_control, status) => (
                Answer::Source {
                    response,
                    cache_control,
                },
                *status,
            ),
            Reply::Shared(served) => served.answer(),
        }
    }
}

/// The origin: configuration, rules, the secret check and the read path, built once per
/// execution environment.
pub struct Origin {
    config: Config,
    rules: &'static RuleSet,
    verifier: Verifier,
    read: ReadPath,
    /// The purge steps an operator's direct invoke runs (`None`: purging off).
    purge: Option<PurgeSteps>,
    invocations: AtomicU64,
    emf: EmfFormat,
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
        type Stores = (Option<Arc<dyn L2>>, Option<Arc<dyn PurgeStore>>);
        let (l2, purge): Stores = match (config.l2_enabled, config.l2_backend) {
            (false, _) => (None, None),
            (true, L2Backend::DynamoDb) => match cache {
                Some(client) => (
                    Some(Arc::new(DynamoL2::new(client.clone(), &config))),
                    Some(Arc::new(DynamoPurgeStore::new(client, &config.purge_table))),
                ),
                None => (None, None),
            },
            (true, L2Backend::Redis) => {
                // The purge data lives on the Redis server too, through the same connection.
                let redis = Arc::new(RedisL2::with_credentials(&config, credentials)?);
                (Some(redis.clone()), Some(redis))
            }
        };
        let catalogue = Catalogue::new(catalogue, &config.catalogue_table);
        Self::with_parts(config, catalogue, l2, purge)
    }

    /// An origin over explicit parts (tests wrap the L2 to count its calls). The purge store
    /// is used only while `config.purge_enabled`.
    pub fn with_parts(
        config: Config,
        catalogue: Catalogue,
        l2: Option<Arc<dyn L2>>,
        purge: Option<Arc<dyn PurgeStore>>,
    ) -> Result<Self, OriginError> {
        let rules = RuleSet::embedded();
        let purge = purge.filter(|_| config.purge_enabled && l2.is_some());
        Ok(Origin {
            purge: purge.clone().map(|store| PurgeSteps::new(store, l2.clone())),
            read: ReadPath::new(&config, Source::new(catalogue), Policies::new(rules), l2, purge),
            rules,
            verifier: Verifier::new(&config)?,
            invocations: AtomicU64::new(0),
            emf: EmfFormat::new(
                &config.metrics_namespace,
                &std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "origin-function".into()),
            ),
            config,
        })
    }

    /// Replaces the random source of XFetch (uniform in `(0, 1]`).
    pub fn with_rand(mut self, rand: impl Fn() -> f64 + Send + Sync + 'static) -> Self {
        self.read = self.read.with_rand(rand);
        self
    }

    /// Opens the L2 connection now (the init phase, under the connect deadline) rather than
    /// on the first request. A failure is only reported: the first L2 call tries again, and
    /// requests fail open meanwhile.
    pub async fn connect_l2(&self) -> Result<(), OriginError> {
        self.read.layers().connect_l2().await
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Source loads since the environment started.
    pub fn source_loads(&self) -> u64 {
        self.read.source().loads()
    }

    /// The breaker in front of L2 (tests read its state).
    pub fn breaker(&self) -> &crate::breaker::Breaker {
        self.read.layers().breaker()
    }

    /// The L1 cache (tests read its usage).
    pub fn l1(&self) -> &crate::l1::L1 {
        self.read.layers().l1()
    }

    /// Handles one invocation at `now` (both clocks, read once by the caller; a plain
    /// number puts both at that value).
    pub async fn invoke(&self, invocation: Invocation, now: impl Into<Now>) -> Result<Invoked, OriginError> {
        let now = now.into();
        let now_ms = now.wall_ms;
        let started = Instant::now();
        let mut m = Metrics::default();
        if self.invocations.fetch_add(1, Ordering::Relaxed) == 0 {
            m.cold_start = 1;
        } else {
            m.context_reused = 1;
        }
        let response = match invocation {
            Invocation::Invalid(why) => return Err(OriginError::Event(why)),
            Invocation::Warmup => self.warm_up(now, &mut m).await,
            Invocation::Purge(command) => match &self.purge {
                Some(steps) => InvocationResponse::Purge(steps.run(command).await?),
                None => {
                    return Err(OriginError::Event(
                        "purging is off (ORIGIN_PURGE_ENABLED, or no L2)".into(),
                    ))
                }
            },
            Invocation::Http(request) => InvocationResponse::Http(self.handle(&request, now, &mut m).await),
        };
        m.breaker_state = self.breaker().state(now.monotonic_ms).as_metric();
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
    async fn warm_up(&self, now: Now, m: &mut Metrics) -> InvocationResponse {
        m.warmup = 1;
        if let Err(e) = self.connect_l2().await {
            log_warning("L2 connect at warm-up failed", &e);
        }
        let mut preloaded = 0;
        if let Some(host) = &self.config.origin_host {
            for hot in &self.config.hot_paths {
                let request = HttpRequest::internal(host, hot);
                let r = self.handle(&request, now, &mut Metrics::default()).await;
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

    /// Handles one HTTP request at `now`: routes it, then builds its one response.
    pub async fn handle(&self, request: &HttpRequest, now: impl Into<Now>, m: &mut Metrics) -> HttpResponse {
        let now = now.into();
        let now_ms = now.wall_ms;
        let routed = self.route(request, m);
        let allow = matches!(routed, Routed::Refused(Refusal::Method));
        let (reply, when) = match routed {
            Routed::Refused(refusal) => (self.refusal(request, refusal, now_ms), Conditions::default()),
            Routed::Private(p, status) => (self.private(&p, status, now_ms, m).await, p.when),
            Routed::Shared(p) => (Reply::Shared(self.read.serve(&p, now, m).await), p.when),
        };
        let (answer, status) = reply.answer();
        let mut response = respond(answer, status, when, now_ms, m);
        if allow {
            response.headers.insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        }
        response
    }

    /// The way `request` is served: refused, private or shared.
    fn route<'r>(&self, request: &'r HttpRequest, m: &mut Metrics) -> Routed<'r> {
        // Only CloudFront knows the secret: a direct call to the function URL is refused
        // before any cache or source is touched. API Gateway and internal requests cannot
        // come through the function URL.
        if request.via == Via::FunctionUrl && !self.verifier.accepts(&request.parts.headers) {
            return Routed::Refused(Refusal::Unverified);
        }
        if request.malformed {
            return Routed::Refused(Refusal::Malformed);
        }
        let prepared = match Prepared::read(self.rules, request) {
            Ok(p) => p,
            Err(Passthrough::MethodNotNormalized) => return Routed::Refused(Refusal::Method),
            Err(Passthrough::UriNotAbsolute) => return Routed::Refused(Refusal::UriNotAbsolute),
        };
        m.route.clone_from(&prepared.canonical.route.name);
        if prepared.canonical.bypass {
            return Routed::Private(prepared, CacheStatus::fwd(Fwd::Bypass));
        }
        // A request still carrying the unkeyed header the demo source reads (the edge deletes
        // it, so this is a direct call or a broken edge) is answered from the source, never
        // read from or written to L1/L2, and said `private, no-store` so no cache downstream
        // keeps it. (Function URLs add `x-forwarded-port`/`-proto` themselves; the source
        // reads neither.)
        if prepared.forwarded_host.is_some() {
            let status = CacheStatus::fwd(Fwd::Request).detail(Detail::UnkeyedInput);
            return Routed::Private(prepared, status);
        }
        Routed::Shared(prepared)
    }

    /// A refusal, its `Cache-Control` decided by the edge's policy as origin-response would
    /// write it over an answer without directives (cache-control.md: a `400`/`403` is not
    /// heuristically cacheable and a method other than `GET`/`HEAD` is never cached, so both
    /// leave `no-store`).
    fn refusal(&self, request: &HttpRequest, refusal: Refusal, now_ms: u64) -> Reply {
        let (code, error, status) = refusal.answer();
        let code_text = code.to_string();
        let decided = origin_response(
            self.rules,
            &ResponseView {
                status: &code_text,
                request_method: request.parts.method.as_str(),
                request_uri: request.parts.uri.path(),
                request_headers: &[],
                headers: &[],
                now_ms,
            },
        );
        Reply::Direct(SourceResponse::error(code, error), decided.cache_control, status)
    }

    /// A private answer: the source, never a cache, `private, no-store` (decided with the
    /// edge's policy over what the source says).
    async fn private(&self, p: &Prepared<'_>, status: CacheStatus, now_ms: u64, m: &mut Metrics) -> Reply {
        let response = self.read.source().load(&p.source_request(), m).await;
        let facts = ResponseFacts::read(Some(response.status), SOURCE_PRIVATE, &p.fields, now_ms);
        let decided = Decided::new(&facts, p.canonical.route);
        Reply::Direct(response, decided.header, status)
    }
}

/// One JSON warning line on stderr (the EMF line owns stdout).
fn log_warning(message: &str, error: &OriginError) {
    let line = json!({"level": "warn", "message": message, "error": error.to_string()});
    eprintln!("{line}");
}
