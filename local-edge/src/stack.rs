//! The whole local stack, built one way for the CLI (`make run`), `replay` and the tests:
//! dynalite for the catalogue and for L2, the seeded tables, the origin's execution
//! environments (with a fresh secret per stack, as the deployed origin checks one), and in
//! front of them either the edge (CloudFront as the behaviour table says) or the origin
//! alone as a Lambda function URL. Or the edge alone in front of any HTTP origin
//! ([`StackBuilder::http_origin`]): nothing else is started.
//!
//! ```no_run
//! # async fn run() -> Result<(), local_edge::EdgeError> {
//! let stack = local_edge::Stack::builder()
//!     .root("/path/to/workspace")
//!     .environments(2)
//!     .start()
//!     .await?;
//! println!("{}", stack.url());
//! stack.stop().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::EdgeConfig;
use crate::connection::ConnectionLimits;
use crate::distribution::AccessControl;
use crate::distribution::{Distribution, SECRET_PLACEHOLDER};
use crate::dynalite::{origin_env, seed, Dynalite};
use crate::edge::Edge;
use crate::error::EdgeError;
use crate::function_url::FunctionUrl;
use crate::http_origin::behaviours::{table_for, OriginTable};
use crate::http_origin::HttpOriginSettings;
use crate::origin::{OriginConfig, OriginPool};

/// The function URL's domain the origin is called under.
pub const ORIGIN_DOMAIN: &str = "localorigin.lambda-url.us-east-1.on.aws";

/// The behaviour table to emulate.
#[derive(Debug, Clone)]
enum Behaviours {
    /// `<root>/deploy/behaviours.toml`.
    Deployed,
    /// A table file.
    Path(PathBuf),
    /// A table already read.
    Table(Arc<Distribution>),
}

/// What answers in front of the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Edge,
    FunctionUrl,
}

/// Options of a [`Stack`]; [`StackBuilder::start`] starts it.
#[derive(Debug, Clone)]
pub struct StackBuilder {
    root: PathBuf,
    package: Option<PathBuf>,
    native: bool,
    origin_bin: Option<PathBuf>,
    seed_bin: Option<PathBuf>,
    environments: usize,
    products: u32,
    invocation_timeout: Duration,
    environment_wait: Duration,
    origin_env: Vec<(String, String)>,
    behaviours: Behaviours,
    dynamodb: Option<(String, String)>,
    listen: SocketAddr,
    log_dir: Option<PathBuf>,
    access_log: bool,
    test_clock: bool,
    mode: Mode,
    secret: Option<String>,
    cache_capacity: u64,
    debug_page: Option<bool>,
    aws_api: SocketAddr,
    invalidation_delay: Duration,
    http_origin: Option<String>,
    origin_table: OriginTable,
    cache_bytes: u64,
    handler_instances: usize,
    connections: ConnectionLimits,
}

/// A running stack.
pub struct Stack {
    edge: Option<Edge>,
    function_url: Option<FunctionUrl>,
    /// The seed binary and the catalogue's environment, to seed again ([`Stack::seed`]).
    seeding: Option<(PathBuf, Vec<(String, String)>)>,
    origin: Arc<OriginPool>,
    catalogue: Option<Dynalite>,
    cache: Option<Dynalite>,
    secret: String,
    addr: SocketAddr,
    endpoints: (String, String),
}

fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

impl StackBuilder {
    /// The workspace root: `node_modules` (dynalite), `wasm-pkg`, `deploy/behaviours.toml`
    /// and `target/debug` binaries are found under it unless set. Default: the current
    /// directory.
    pub fn root(mut self, root: impl Into<PathBuf>) -> Self {
        self.root = root.into();
        self
    }

    /// The Lambda@Edge package run in Node (default `<root>/wasm-pkg`).
    pub fn edge_package(mut self, dir: impl Into<PathBuf>) -> Self {
        self.package = Some(dir.into());
        self.native = false;
        self
    }

    /// Link the policy crate instead of running the package in Node.
    pub fn native(mut self) -> Self {
        self.native = true;
        self
    }

    /// The origin binary (default `<target>/debug/origin-function`).
    pub fn origin_bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.origin_bin = Some(path.into());
        self
    }

    /// The seed binary (default `<target>/debug/seed`).
    pub fn seed_bin(mut self, path: impl Into<PathBuf>) -> Self {
        self.seed_bin = Some(path.into());
        self
    }

    /// Origin execution environments (default 2).
    pub fn environments(mut self, count: usize) -> Self {
        self.environments = count;
        self
    }

    /// Products to seed (default 10,000).
    pub fn products(mut self, count: u32) -> Self {
        self.products = count;
        self
    }

    /// The origin function's timeout (default 10 s).
    pub fn invocation_timeout(mut self, timeout: Duration) -> Self {
        self.invocation_timeout = timeout;
        self
    }

    /// How long a request waits for a free environment before CloudFront's 503 (default 10 s).
    pub fn environment_wait(mut self, wait: Duration) -> Self {
        self.environment_wait = wait;
        self
    }

    /// One more origin environment variable (after the stack's own, so it wins).
    pub fn origin_env(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.origin_env.push((name.into(), value.into()));
        self
    }

    /// The behaviour table to emulate (default `<root>/deploy/behaviours.toml`).
    pub fn behaviours(mut self, path: impl Into<PathBuf>) -> Self {
        self.behaviours = Behaviours::Path(path.into());
        self
    }

    /// A behaviour table already read (tests change one setting of the deployed table).
    pub fn distribution(mut self, distribution: Distribution) -> Self {
        self.behaviours = Behaviours::Table(Arc::new(distribution));
        self
    }

    /// Use these DynamoDB endpoints (catalogue, L2) instead of starting dynalite.
    pub fn dynamodb(mut self, catalogue: impl Into<String>, cache: impl Into<String>) -> Self {
        self.dynamodb = Some((catalogue.into(), cache.into()));
        self
    }

    /// Where to listen (default `127.0.0.1:0`: a port the OS picks).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = addr;
        self
    }

    /// Where each origin environment logs (`env-N.log`); default: discarded.
    pub fn log_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.log_dir = Some(dir.into());
        self
    }

    /// Print one access-log line per request (default off).
    pub fn access_log(mut self, on: bool) -> Self {
        self.access_log = on;
        self
    }

    /// Accept `POST /__edge/clock?advance=N` (default off).
    pub fn test_clock(mut self, on: bool) -> Self {
        self.test_clock = on;
        self
    }

    /// The origin alone as a Lambda function URL: no edge function, no edge cache.
    pub fn function_url_only(mut self) -> Self {
        self.mode = Mode::FunctionUrl;
        self
    }

    /// The origin secret (default: a random one per stack).
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secret = Some(secret.into());
        self
    }

    /// Serve the live page (`/__edge/`) and record requests for it (default: only when
    /// listening on loopback). `/__edge/*` answers only loopback either way.
    pub fn debug_page(mut self, on: bool) -> Self {
        self.debug_page = Some(on);
        self
    }

    /// Most entries the edge cache holds (default 10,000).
    pub fn cache_capacity(mut self, entries: u64) -> Self {
        self.cache_capacity = entries;
        self
    }

    /// Where CloudFront's invalidation API (and Lambda's `Invoke`) listens, on loopback
    /// (default `127.0.0.1:0`: a port the OS picks).
    pub fn aws_api(mut self, addr: SocketAddr) -> Self {
        self.aws_api = addr;
        self
    }

    /// How long an invalidation takes to complete (default 0: at once).
    pub fn invalidation_delay(mut self, delay: Duration) -> Self {
        self.invalidation_delay = delay;
        self
    }

    /// Front an HTTP origin (`http://host[:port][/path]`, CloudFront's custom origin) instead
    /// of the origin function: no dynalite, no origin binary. Unless [`StackBuilder::behaviours`]
    /// or [`StackBuilder::distribution`] names one, the behaviour table is written from the
    /// route rules in force ([`table_for`]), with the origin settings below.
    pub fn http_origin(mut self, url: impl Into<String>) -> Self {
        self.http_origin = Some(url.into());
        self
    }

    /// With an HTTP origin and a written table: an origin custom header.
    pub fn origin_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.origin_table.custom_headers.push((name.into(), value.into()));
        self
    }

    /// With an HTTP origin and a written table: the origin read and keep-alive timeouts
    /// (CloudFront's defaults: 30 s and 5 s).
    pub fn origin_timeouts(mut self, read: Duration, keepalive: Duration) -> Self {
        self.origin_table.read_timeout_secs = read.as_secs().max(1);
        self.origin_table.keepalive_timeout_secs = keepalive.as_secs();
        self
    }

    /// The edge alone, in front of the HTTP origin at `url`.
    async fn start_in_front_of(self, url: &str) -> Result<Stack, EdgeError> {
        let settings = HttpOriginSettings::parse(url)?;
        let distribution = match &self.behaviours {
            Behaviours::Deployed => {
                let table = table_for(edge_policy::RuleSet::embedded(), &self.origin_table);
                if let Some(dir) = &self.log_dir {
                    let _ = std::fs::create_dir_all(dir);
                    let _ = std::fs::write(dir.join("behaviours.toml"), &table);
                }
                Arc::new(Distribution::from_toml(&table).map_err(EdgeError::Behaviours)?)
            }
            _ => self.distribution_table()?,
        };
        if distribution.origin.access_control == AccessControl::Always {
            return Err(EdgeError::Setup(
                "access_control = \"always\" with an HTTP origin: CloudFront offers Origin Access Control \
                 only for S3, Lambda function URL and media origins; set it to \"never\""
                    .into(),
            ));
        }
        let secret = self.secret.clone().unwrap_or_else(random_secret);
        // Never started: the edge sends its origin requests to the HTTP origin.
        let origin = OriginPool::start(OriginConfig::new(PathBuf::from("(an HTTP origin: no function)")));
        let mut config = self.edge_config(distribution, &secret, settings.authority.clone())?;
        config.http_origin = Some(settings);
        let edge = Edge::start(config, origin.clone()).await?;
        let addr = edge.addr();
        Ok(Stack {
            edge: Some(edge),
            function_url: None,
            origin,
            catalogue: None,
            cache: None,
            secret,
            addr,
            // No catalogue, no L2: an HTTP origin keeps its own data.
            seeding: None,
            endpoints: (String::new(), String::new()),
        })
    }

    /// The edge's configuration: the handler package (checked to exist unless native), the
    /// listener, the cache and the clock as set, in front of `origin_domain`.
    fn edge_config(
        &self,
        distribution: Arc<Distribution>,
        secret: &str,
        origin_domain: String,
    ) -> Result<EdgeConfig, EdgeError> {
        let package = match (self.native, &self.package) {
            (true, _) => None,
            (false, Some(p)) => Some(p.clone()),
            (false, None) => Some(self.root.join("wasm-pkg")),
        };
        if let Some(p) = &package {
            if !p.join("index.js").exists() {
                return Err(EdgeError::Setup(format!("{}/index.js is missing", p.display())));
            }
        }
        let mut config = EdgeConfig::new(distribution, secret.to_owned());
        config.listen = self.listen;
        config.edge_package = package;
        config.access_log = self.access_log;
        config.test_clock = self.test_clock;
        config.cache_capacity = self.cache_capacity;
        config.cache_bytes = self.cache_bytes;
        config.handler_instances = self.handler_instances;
        config.connections = self.connections;
        config.debug_page = self.debug_page.unwrap_or_else(|| self.listen.ip().is_loopback());
        config.origin_domain = origin_domain;
        config.aws_api_listen = Some(self.aws_api);
        config.invalidation_delay = self.invalidation_delay;
        Ok(config)
    }

    /// Most bytes the edge cache holds by its own weighing (default [`crate::CACHE_BYTES`]).
    pub fn cache_bytes(mut self, bytes: u64) -> Self {
        self.cache_bytes = bytes;
        self
    }

    /// Node processes running the Lambda@Edge package (default 2).
    pub fn handler_instances(mut self, count: usize) -> Self {
        self.handler_instances = count;
        self
    }

    /// Timeouts and the connection cap of the edge's (or the function URL's) listener
    /// (default [`ConnectionLimits::viewer`]).
    pub fn connections(mut self, limits: ConnectionLimits) -> Self {
        self.connections = limits;
        self
    }

    fn distribution_table(&self) -> Result<Arc<Distribution>, EdgeError> {
        match &self.behaviours {
            Behaviours::Deployed => Distribution::load(&self.root.join("deploy/behaviours.toml")).map(Arc::new),
            Behaviours::Path(path) => Distribution::load(path).map(Arc::new),
            Behaviours::Table(table) => Ok(table.clone()),
        }
    }

    /// Starts the servers, seeds them, and starts the origin and what is in front of it.
    pub async fn start(self) -> Result<Stack, EdgeError> {
        if let Some(url) = self.http_origin.clone() {
            return self.start_in_front_of(&url).await;
        }
        let distribution = self.distribution_table()?;
        let target = target_dir(&self.root);
        let origin_bin = self
            .origin_bin
            .clone()
            .unwrap_or_else(|| target.join("debug/origin-function"));
        let seed_bin = self.seed_bin.clone().unwrap_or_else(|| target.join("debug/seed"));
        for bin in [&origin_bin, &seed_bin] {
            if !bin.exists() {
                return Err(EdgeError::Setup(format!(
                    "{} is missing: run `cargo build -p origin-function`",
                    bin.display()
                )));
            }
        }
        // Catalogue (the source of truth) and L2 on separate servers, so L2 can be stopped
        // without taking the source with it.
        let (catalogue, cache, endpoints) = match &self.dynamodb {
            Some((c, l2)) => (None, None, (c.clone(), l2.clone())),
            None => {
                let catalogue = Dynalite::start(&self.root).await?;
                let cache = Dynalite::start(&self.root).await?;
                let endpoints = (catalogue.endpoint(), cache.endpoint());
                (Some(catalogue), Some(cache), endpoints)
            }
        };
        let mut env = origin_env(&endpoints.0, &endpoints.1);
        seed(&seed_bin, &env, self.products).await?;
        let seeding = (seed_bin, env.clone());
        let secret = self.secret.clone().unwrap_or_else(random_secret);
        // The origin checks the header CloudFront fills with the secret.
        let verify_header = distribution
            .origin
            .custom_headers
            .iter()
            .find(|h| h.value.contains(SECRET_PLACEHOLDER))
            .map_or_else(|| "x-origin-verify".to_owned(), |h| h.name.to_ascii_lowercase());
        env.push(("ORIGIN_VERIFY_HEADER".into(), verify_header));
        env.push(("ORIGIN_VERIFY_SECRET".into(), secret.clone()));
        env.extend(self.origin_env.iter().cloned());
        if let Some(dir) = &self.log_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        let origin = OriginPool::start(OriginConfig {
            binary: origin_bin,
            environments: self.environments,
            invocation_timeout: self.invocation_timeout,
            environment_wait: self.environment_wait,
            env,
            log_dir: self.log_dir.clone(),
        });
        let (edge, function_url, addr) = match self.mode {
            Mode::FunctionUrl => {
                let front =
                    FunctionUrl::start(self.listen, ORIGIN_DOMAIN.into(), origin.clone(), self.connections).await?;
                let addr = front.addr();
                (None, Some(front), addr)
            }
            Mode::Edge => {
                let config = self.edge_config(distribution, &secret, ORIGIN_DOMAIN.into())?;
                let edge = Edge::start(config, origin.clone()).await?;
                let addr = edge.addr();
                (Some(edge), None, addr)
            }
        };
        Ok(Stack {
            edge,
            function_url,
            seeding: Some(seeding),
            origin,
            catalogue,
            cache,
            secret,
            addr,
            endpoints,
        })
    }
}

/// 128 random bits, hex.
fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

impl Stack {
    /// Options, all defaulted.
    pub fn builder() -> StackBuilder {
        StackBuilder {
            root: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            package: None,
            native: false,
            origin_bin: None,
            seed_bin: None,
            environments: 2,
            products: 10_000,
            invocation_timeout: Duration::from_secs(10),
            environment_wait: Duration::from_secs(10),
            origin_env: Vec::new(),
            behaviours: Behaviours::Deployed,
            dynamodb: None,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_dir: None,
            access_log: false,
            test_clock: false,
            mode: Mode::Edge,
            secret: None,
            cache_capacity: 10_000,
            debug_page: None,
            aws_api: SocketAddr::from(([127, 0, 0, 1], 0)),
            invalidation_delay: Duration::ZERO,
            http_origin: None,
            origin_table: OriginTable::default(),
            cache_bytes: crate::CACHE_BYTES,
            handler_instances: 2,
            connections: ConnectionLimits::viewer(),
        }
    }

    /// `http://127.0.0.1:<port>` of CloudFront's invalidation API and Lambda's `Invoke`
    /// (the `AWS_ENDPOINT_URL_CLOUDFRONT` / `AWS_ENDPOINT_URL_LAMBDA` of the purge CLI), in
    /// edge mode.
    pub fn aws_api_url(&self) -> Option<String> {
        self.edge
            .as_ref()
            .and_then(Edge::aws_api_addr)
            .map(|a| format!("http://{a}"))
    }

    /// The local distribution's id.
    pub fn distribution_id(&self) -> &'static str {
        crate::events::DISTRIBUTION_ID
    }

    /// The catalogue's DynamoDB endpoint (empty in front of an HTTP origin).
    pub fn catalogue_endpoint(&self) -> &str {
        &self.endpoints.0
    }

    /// L2's DynamoDB endpoint (the cache and purge tables; empty in front of an HTTP origin).
    pub fn cache_endpoint(&self) -> &str {
        &self.endpoints.1
    }

    /// `http://127.0.0.1:<port>`: the edge, or the function URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The origin secret (what the origin custom header carries).
    pub fn secret(&self) -> &str {
        &self.secret
    }

    /// The origin's execution environments.
    pub fn origin(&self) -> &Arc<OriginPool> {
        &self.origin
    }

    /// Writes the demo catalogue's first `products` products again (the seed binary against
    /// the stack's catalogue): products not there before appear, as a catalogue change would.
    pub async fn seed(&self, products: u32) -> Result<(), EdgeError> {
        match &self.seeding {
            Some((bin, env)) => seed(bin, env, products).await,
            None => Err(EdgeError::Setup("an HTTP origin has no catalogue to seed".into())),
        }
    }

    /// The catalogue's dynalite, when the stack started it.
    pub fn catalogue_server(&mut self) -> Option<&mut Dynalite> {
        self.catalogue.as_mut()
    }

    /// L2's dynalite, when the stack started it.
    pub fn cache_server(&mut self) -> Option<&mut Dynalite> {
        self.cache.as_mut()
    }

    /// Stops everything it started.
    pub async fn stop(mut self) {
        if let Some(edge) = self.edge.take() {
            edge.stop().await;
        }
        if let Some(front) = self.function_url.take() {
            front.stop();
        }
        self.origin.shutdown().await;
        for server in [self.catalogue.as_mut(), self.cache.as_mut()].into_iter().flatten() {
            server.stop().await;
        }
    }
}
