//! The edge as one running thing: its configuration, the state every request shares, and
//! the start and stop of the listener ([`crate::listener`]) around the request flow
//! ([`crate::flow`]).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;

use crate::cache::EdgeCache;
use crate::cache_key::EdgeKey;
use crate::clock::Clock;
use crate::distribution::{CustomHeader, Distribution, SECRET_PLACEHOLDER};
use crate::flow::Flight;
use crate::forward::EdgeIdentity;
use crate::handler_host::NodeHost;
use crate::origin::OriginPool;
use crate::stats::Stats;
use crate::triggers::{Handler, Triggers};
use crate::EdgeError;

/// How to run the edge.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Where to listen (port 0 picks a free one; [`Edge::addr`] reports it).
    pub listen: SocketAddr,
    /// The Lambda@Edge package directory (`wasm-pkg`); `None` links the policy natively.
    pub edge_package: Option<PathBuf>,
    /// The distribution: behaviours, policies, function timeout, error caching.
    pub distribution: Arc<Distribution>,
    /// The secret the origin custom header carries (the environments check it).
    pub origin_secret: String,
    /// Most entries the cache holds.
    pub cache_capacity: u64,
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
    /// Defaults for everything but the distribution and the secret.
    pub fn new(distribution: Arc<Distribution>, origin_secret: String) -> Self {
        EdgeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            edge_package: None,
            distribution,
            origin_secret,
            cache_capacity: 10_000,
            distribution_domain: "d111111abcdef8.cloudfront.net".into(),
            origin_domain: "localorigin.lambda-url.us-east-1.on.aws".into(),
            access_log: true,
            test_clock: false,
        }
    }
}

/// What every request shares.
pub(crate) struct State {
    pub(crate) config: EdgeConfig,
    pub(crate) identity: EdgeIdentity,
    /// The origin custom headers with the secret filled in.
    pub(crate) custom_headers: Vec<(CustomHeader, String)>,
    pub(crate) triggers: Triggers,
    pub(crate) origin: Arc<OriginPool>,
    pub(crate) cache: EdgeCache,
    pub(crate) in_flight: Mutex<HashMap<EdgeKey, Flight>>,
    pub(crate) stats: Stats,
    pub(crate) clock: Clock,
    ids: AtomicU64,
}

impl State {
    pub(crate) fn distribution(&self) -> &Distribution {
        &self.config.distribution
    }

    /// A new `X-Amz-Cf-Id`-like request id.
    pub(crate) fn request_id(&self) -> String {
        format!(
            "LOCAL{:016X}==",
            self.ids
                .fetch_add(1, Ordering::Relaxed)
                .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        )
    }

    /// The counters as JSON.
    pub(crate) fn stats_json(&self) -> serde_json::Value {
        let handler_starts = self.triggers.node().map_or(0, |n| n.starts.load(Ordering::Relaxed));
        self.stats.to_json(self.cache.len(), handler_starts, &self.origin)
    }
}

/// A running edge.
pub struct Edge {
    state: Arc<State>,
    addr: SocketAddr,
    server: tokio::task::JoinHandle<()>,
}

impl Edge {
    /// Binds and serves, in front of `origin`, until [`Edge::stop`].
    pub async fn start(config: EdgeConfig, origin: Arc<OriginPool>) -> Result<Edge, EdgeError> {
        let bind_error = |source| EdgeError::Bind {
            addr: config.listen.to_string(),
            source,
        };
        let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let handler = match &config.edge_package {
            Some(dir) => Handler::Node(NodeHost::new(dir)),
            None => Handler::Native,
        };
        let limit = Duration::from_secs(config.distribution.function.timeout_secs);
        let custom_headers = config
            .distribution
            .origin
            .custom_headers
            .iter()
            .map(|h| (h.clone(), h.value.replace(SECRET_PLACEHOLDER, &config.origin_secret)))
            .collect();
        let state = Arc::new(State {
            identity: EdgeIdentity {
                distribution_domain: config.distribution_domain.clone(),
                origin_domain: config.origin_domain.clone(),
            },
            custom_headers,
            triggers: Triggers::new(handler, config.distribution_domain.clone(), limit),
            cache: EdgeCache::new(config.cache_capacity),
            config,
            origin,
            in_flight: Mutex::default(),
            stats: Stats::default(),
            clock: Clock::default(),
            ids: AtomicU64::new(1),
        });
        let server = crate::listener::serve(listener, state.clone());
        Ok(Edge { state, addr, server })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops serving and ends the handler's process (the origin pool is its owner's).
    pub async fn stop(self) {
        self.server.abort();
        self.state.triggers.shutdown().await;
    }
}
