//! How to run the edge: where it listens, what it runs, the distribution it emulates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::connection::ConnectionLimits;
use crate::distribution::Distribution;
use crate::http_origin::HttpOriginSettings;

/// The distribution's domain name the edge answers as (`config.distributionDomainName`, the
/// cache key's host), unless configured otherwise.
pub const DISTRIBUTION_DOMAIN: &str = "d111111abcdef8.cloudfront.net";

/// The edge cache's default byte budget: 256 MiB, which a laptop running `make run` spares.
pub const CACHE_BYTES: u64 = 256 * 1024 * 1024;

/// How to run the edge.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    /// Where to listen (port 0 picks a free one; [`crate::Edge::addr`] reports it).
    pub listen: SocketAddr,
    /// The Lambda@Edge package directory (`wasm-pkg`); `None` links the policy natively.
    pub edge_package: Option<PathBuf>,
    /// The distribution: behaviours, policies, function timeout, error caching.
    pub distribution: Arc<Distribution>,
    /// The secret the origin custom header carries (the environments check it).
    pub origin_secret: String,
    /// Most entries the cache holds.
    pub cache_capacity: u64,
    /// Most bytes the cache holds, by its own weighing (key, headers, body).
    pub cache_bytes: u64,
    /// Node processes running the Lambda@Edge package (instances of the function).
    pub handler_instances: usize,
    /// Timeouts, the connection cap and CloudFront's request-size limit for viewer
    /// connections.
    pub connections: ConnectionLimits,
    /// The distribution's domain, as in `config.distributionDomainName`.
    pub distribution_domain: String,
    /// The origin's (function URL's) domain.
    pub origin_domain: String,
    /// Print one access-log line per request.
    pub access_log: bool,
    /// Accept `POST /__edge/clock?advance=SECONDS` (tests move the edge's clock).
    pub test_clock: bool,
    /// Serve the live page (`/__edge/`) and record requests for it. `/__edge/*` answers
    /// only loopback, whatever this says.
    pub debug_page: bool,
    /// Where CloudFront's invalidation API (and Lambda's `Invoke`) is served, on loopback
    /// (`None`: not served; port 0 picks a free one, [`crate::Edge::aws_api_addr`]).
    pub aws_api_listen: Option<SocketAddr>,
    /// How long an invalidation takes to complete (0: at once).
    pub invalidation_delay: Duration,
    /// Front this HTTP origin instead of the origin function (`--http-origin`).
    pub http_origin: Option<HttpOriginSettings>,
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
            cache_bytes: CACHE_BYTES,
            handler_instances: 2,
            connections: ConnectionLimits::viewer(),
            distribution_domain: DISTRIBUTION_DOMAIN.into(),
            origin_domain: "localorigin.lambda-url.us-east-1.on.aws".into(),
            access_log: true,
            test_clock: false,
            debug_page: true,
            aws_api_listen: None,
            invalidation_delay: Duration::ZERO,
            http_origin: None,
        }
    }
}
