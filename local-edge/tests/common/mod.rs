//! The black-box tests' harness: the library's one stack builder (`local_edge::Stack`) on
//! free ports — two dynalite servers (catalogue and L2), the seeded tables, the real origin
//! binary, the built wasm-pkg in Node, the edge — plus a client, and fault proxies in front
//! of the DynamoDB servers when a test asks for them.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use local_edge::connection::ConnectionLimits;
use local_edge::dynalite::Dynalite;
use local_edge::Distribution;

mod fault_proxy;
pub use fault_proxy::{FaultProxy, Mode};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The deployed behaviour table, for tests that change one setting of it.
pub fn deployed() -> Distribution {
    Distribution::load(&root().join("deploy/behaviours.toml")).expect("deploy/behaviours.toml")
}

/// The deployed table, except that every behaviour forwards every viewer header to the
/// origin without keying it: a misconfiguration under which only the edge's own rules (the
/// handler's stripping, the conditionals never sent on a shared fetch) stand between a
/// viewer's header and the cache.
pub fn forwarding_every_header() -> Distribution {
    let mut table = deployed();
    let all = table.behaviour_for("/api/me").origin_request_policy.clone();
    for b in table.behaviours.iter_mut() {
        let mut changed = (**b).clone();
        changed.origin_request_policy = all.clone();
        *b = std::sync::Arc::new(changed);
    }
    table
}

pub struct Stack {
    stack: Option<local_edge::Stack>,
    /// Servers the harness started itself (behind the fault proxies).
    servers: Option<(Dynalite, Dynalite)>,
    /// In front of the catalogue and L2 servers when `Options::proxies` is on.
    pub catalogue_proxy: Option<FaultProxy>,
    pub cache_proxy: Option<FaultProxy>,
    pub base: String,
    pub secret: String,
    pub client: reqwest::Client,
}

pub struct Options {
    /// The Lambda@Edge package; `None`: the policy linked natively.
    pub package: Option<PathBuf>,
    pub environments: usize,
    pub origin_env: Vec<(String, String)>,
    pub proxies: bool,
    pub invocation_timeout: Duration,
    pub environment_wait: Duration,
    /// A behaviour table other than the deployed one.
    pub distribution: Option<Distribution>,
    pub function_url_only: bool,
    /// The edge cache's byte budget (`None`: the default).
    pub cache_bytes: Option<u64>,
    /// The listener's timeouts and cap (`None`: the defaults).
    pub connections: Option<ConnectionLimits>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            package: Some(root().join("wasm-pkg")),
            environments: 2,
            origin_env: Vec::new(),
            proxies: false,
            invocation_timeout: Duration::from_secs(10),
            environment_wait: Duration::from_secs(10),
            distribution: None,
            function_url_only: false,
            cache_bytes: None,
            connections: None,
        }
    }
}

impl Stack {
    pub async fn start() -> Stack {
        Stack::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Stack {
        assert!(
            root().join("wasm-pkg/pkg/viewer_request.wasm").exists()
                && root().join("wasm-pkg/pkg/origin_response.wasm").exists(),
            "wasm-pkg is not built: run `make wasm`"
        );
        let mut builder = local_edge::Stack::builder()
            .root(root())
            .products(50)
            .environments(options.environments)
            .invocation_timeout(options.invocation_timeout)
            .environment_wait(options.environment_wait)
            .test_clock(true)
            // Short L2 deadlines so the fault tests stay quick.
            .origin_env("ORIGIN_L2_OPERATION_TIMEOUT_MS", "300")
            .origin_env("ORIGIN_L2_CONNECT_TIMEOUT_MS", "200");
        if let Some(bin) = std::env::var_os("ORIGIN_BIN") {
            builder = builder.origin_bin(PathBuf::from(bin));
        }
        if let Some(bin) = std::env::var_os("SEED_BIN") {
            builder = builder.seed_bin(PathBuf::from(bin));
        }
        for (k, v) in options.origin_env {
            builder = builder.origin_env(k, v);
        }
        builder = match options.package {
            Some(package) => builder.edge_package(package),
            None => builder.native(),
        };
        if let Some(d) = options.distribution {
            builder = builder.distribution(d);
        }
        if options.function_url_only {
            builder = builder.function_url_only();
        }
        if let Some(bytes) = options.cache_bytes {
            builder = builder.cache_bytes(bytes);
        }
        if let Some(limits) = options.connections {
            builder = builder.connections(limits);
        }
        let (mut servers, mut catalogue_proxy, mut cache_proxy) = (None, None, None);
        if options.proxies {
            let catalogue = Dynalite::start(&root()).await.expect("catalogue dynalite");
            let cache = Dynalite::start(&root()).await.expect("cache dynalite");
            let (cp, lp) = (
                FaultProxy::start(catalogue.port).await,
                FaultProxy::start(cache.port).await,
            );
            builder = builder.dynamodb(cp.endpoint(), lp.endpoint());
            servers = Some((catalogue, cache));
            catalogue_proxy = Some(cp);
            cache_proxy = Some(lp);
        }
        let stack = builder.start().await.expect("the stack starts");
        Stack {
            base: stack.url(),
            secret: stack.secret().to_owned(),
            stack: Some(stack),
            servers,
            catalogue_proxy,
            cache_proxy,
            client: reqwest::Client::new(),
        }
    }

    /// Seeds the catalogue with its first `products` products again (new ones appear).
    pub async fn seed(&self, products: u32) {
        self.stack
            .as_ref()
            .expect("running")
            .seed(products)
            .await
            .expect("seeded");
    }

    /// Takes the catalogue (the origin's source of truth) away.
    pub async fn stop_catalogue(&mut self) {
        match (&mut self.servers, self.stack.as_mut()) {
            (Some((catalogue, _)), _) => catalogue.stop().await,
            (None, Some(stack)) => stack.catalogue_server().expect("started by the stack").stop().await,
            _ => {}
        }
    }

    /// Takes L2 away.
    pub async fn stop_cache(&mut self) {
        match (&mut self.servers, self.stack.as_mut()) {
            (Some((_, cache)), _) => cache.stop().await,
            (None, Some(stack)) => stack.cache_server().expect("started by the stack").stop().await,
            _ => {}
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request(reqwest::Method::GET, path, headers).await
    }

    pub async fn request(&self, method: reqwest::Method, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        for (n, v) in headers {
            request = request.header(*n, *v);
        }
        let response = request.send().await.expect("the edge answers");
        Reply::read(response).await
    }

    /// The edge's address, for raw connections.
    pub fn addr(&self) -> std::net::SocketAddr {
        self.base.trim_start_matches("http://").parse().expect("an address")
    }

    pub async fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/__edge/stats").await.body).unwrap()
    }

    pub async fn origin_requests(&self) -> u64 {
        self.stats().await["origin_requests"].as_u64().unwrap()
    }

    pub async fn advance(&self, seconds: u64) {
        self.client
            .post(format!("{}/__edge/clock?advance={seconds}", self.base))
            .send()
            .await
            .unwrap();
    }

    /// Polls the stats until `done` holds, at most `limit`.
    pub async fn wait_for_stats(&self, limit: Duration, what: &str, done: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let stats = self.stats().await;
            if done(&stats) {
                return;
            }
            assert!(Instant::now() < deadline, "{what}: {stats}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(stack) = self.stack.take() {
            stack.stop().await;
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    pub async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = response.text().await.unwrap_or_default();
        Reply { status, headers, body }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn is_hit(&self) -> bool {
        self.x_cache().starts_with("Hit")
    }

    pub fn x_cache(&self) -> &str {
        self.header("x-cache").unwrap_or("")
    }

    pub fn cache_status(&self) -> &str {
        self.header("cache-status").unwrap_or("")
    }
}
