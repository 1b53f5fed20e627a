//! The test harness: a real DynamoDB-compatible server (dynalite) and a real `redis-server`
//! on free loopback ports, the two tables, a few seeded products, Function URL events built
//! from the fixtures, a TCP [`Proxy`] that delays answers and counts what passes, and a
//! [`Stack`] that runs one test body against either L2 [`Backend`].
//!
//! The origin runs as deployed: the secret check is on ([`SECRET`]), and [`request`] sends
//! the header CloudFront adds. Tests of the check itself build their own events.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use origin_function::config::{Config, L2Backend};
use origin_function::entry::{Encoded, RawEntry};
use origin_function::l2::redis::RedisL2;
use origin_function::l2::{digest, DynamoL2, L2Future, WriteOutcome, L2};
use origin_function::source::{fixed_items, product_items, Catalogue};
use origin_function::{l2_client_config, source_client_config, tables, Invocation, Invoked, Origin};
use serde_json::Value;

/// Test clock origin: 2024-10-17T08:15:29Z.
pub const T0: u64 = 1_729_152_929_000;
pub const CATALOGUE: &str = "catalogue";
pub const CACHE: &str = "cache";
pub const HOST: &str = "abcdefghijklmnopqrstuvwxyz0123456.lambda-url.us-east-1.on.aws";
/// The shared secret the origin is configured with, as deployed (the template always sets one).
pub const SECRET: &str = "test-secret-0123456789abcdef";
/// The header CloudFront adds with it.
pub const VERIFY_HEADER: &str = "x-origin-verify";
/// What Origin Access Control puts in `Authorization` on every origin request.
pub const OAC_SIGNATURE: &str = "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20241017/us-east-1/lambda/aws4_request, SignedHeaders=host;x-amz-date, Signature=0123456789abcdef";
/// The config route's decided `Cache-Control`.
pub const CONFIG_CC: &str = "public, max-age=0, s-maxage=60, stale-while-revalidate=300";
/// The product route's decided `Cache-Control`.
pub const PRODUCT_CC: &str = "public, max-age=60, s-maxage=300, stale-while-revalidate=86400, stale-if-error=86400";

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// A dynalite process; killed on drop.
pub struct Dynalite {
    child: Option<Child>,
    pub port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Dynalite {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Self {
        let bin = workspace_root().join("node_modules/.bin/dynalite");
        assert!(
            bin.exists(),
            "{} missing: run `npm ci` at the workspace root",
            bin.display()
        );
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start dynalite");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(Instant::now() < deadline, "dynalite did not listen on {port}");
            std::thread::sleep(Duration::from_millis(25));
        }
        Dynalite {
            child: Some(child),
            port,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Dynalite {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A listener that accepts connections and never answers.
pub struct Blackhole {
    pub port: u16,
}

impl Blackhole {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for stream in listener.incoming().flatten() {
                held.push(stream);
            }
        });
        Blackhole { port }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn base() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("x", "x", None, None, "tests"))
}

/// The configuration the tests use: both tables on `catalogue` / `cache` endpoints, the
/// secret check on.
pub fn config(catalogue_endpoint: &str, cache_endpoint: &str) -> Config {
    Config {
        catalogue_table: CATALOGUE.into(),
        cache_table: CACHE.into(),
        catalogue_endpoint: Some(catalogue_endpoint.into()),
        cache_endpoint: Some(cache_endpoint.into()),
        // Generous for a loaded CI machine; the fault tests set production values.
        l2_attempt_timeout: Duration::from_millis(1000),
        l2_operation_timeout: Duration::from_millis(2000),
        l2_budget: Duration::from_secs(10),
        l2_slow: Duration::from_secs(2),
        lease_wait_ms: 5000,
        xfetch_beta: 0.0,
        verify_header: VERIFY_HEADER.into(),
        verify_secrets: vec![SECRET.into()],
        ..Config::default()
    }
}

pub fn catalogue_client(config: &Config) -> Client {
    Client::from_conf(source_client_config(base(), config))
}

pub fn cache_client(config: &Config) -> Client {
    Client::from_conf(l2_client_config(base(), config))
}

/// A raw client with long deadlines (setup and inspection).
pub fn raw_client(endpoint: &str) -> Client {
    let config = config(endpoint, endpoint);
    Client::from_conf(source_client_config(base(), &config))
}

/// Creates both tables on `endpoint`s and seeds products 1..=20, config, assets and users.
pub async fn prepare(catalogue_endpoint: &str, cache_endpoint: &str) {
    let c = raw_client(catalogue_endpoint);
    tables::create_catalogue_table(&c, CATALOGUE)
        .await
        .expect("catalogue table");
    tables::create_cache_table(&raw_client(cache_endpoint), CACHE)
        .await
        .expect("cache table");
    let mut items = fixed_items();
    for id in 1..=20 {
        items.extend(product_items(id));
    }
    Catalogue::new(c, CATALOGUE).write_items(items).await.expect("seed");
}

/// An origin (one execution environment) on `config`, with the L2 its backend names.
pub fn build_origin(config: Config) -> Origin {
    let catalogue = catalogue_client(&config);
    let cache = cache_client(&config);
    Origin::new(config, catalogue, Some(cache)).expect("origin")
}

/// The real L2 `config` names, wrapped to count its calls.
pub fn counted_l2(config: &Config) -> (Arc<dyn L2>, Arc<AtomicUsize>) {
    let inner: Arc<dyn L2> = match config.l2_backend {
        L2Backend::DynamoDb => Arc::new(DynamoL2::new(cache_client(config), config)),
        L2Backend::Redis => Arc::new(RedisL2::new(config).expect("redis url")),
    };
    let calls = Arc::new(AtomicUsize::new(0));
    (
        Arc::new(CountingL2 {
            inner,
            calls: Arc::clone(&calls),
        }),
        calls,
    )
}

/// An origin whose L2 calls are counted as they happen.
pub fn counted_origin(config: Config) -> (Arc<Origin>, Arc<AtomicUsize>) {
    let (l2, calls) = counted_l2(&config);
    let catalogue = Catalogue::new(catalogue_client(&config), CATALOGUE);
    (
        Arc::new(Origin::with_parts(config, catalogue, Some(l2)).expect("origin")),
        calls,
    )
}

/// A real L2 whose calls are counted (a test reads the count while a request runs).
pub struct CountingL2 {
    inner: Arc<dyn L2>,
    calls: Arc<AtomicUsize>,
}

impl CountingL2 {
    fn count(&self) {
        self.calls.fetch_add(1, Ordering::SeqCst);
    }
}

impl L2 for CountingL2 {
    fn get<'a>(&'a self, digest: &'a str, consistent: bool) -> L2Future<'a, Option<RawEntry>> {
        self.count();
        self.inner.get(digest, consistent)
    }
    fn put<'a>(&'a self, digest: &'a str, entry: Encoded<'a>, owner: &'a str) -> L2Future<'a, WriteOutcome> {
        self.count();
        self.inner.put(digest, entry, owner)
    }
    fn try_lease<'a>(&'a self, digest: &'a str, owner: &'a str, now_ms: u64, lease_ms: u64) -> L2Future<'a, bool> {
        self.count();
        self.inner.try_lease(digest, owner, now_ms, lease_ms)
    }
    fn release_lease<'a>(&'a self, digest: &'a str, owner: &'a str) -> L2Future<'a, ()> {
        self.count();
        self.inner.release_lease(digest, owner)
    }
    fn connect(&self) -> L2Future<'_, ()> {
        self.inner.connect()
    }
}

pub fn origin(config: Config) -> Arc<Origin> {
    Arc::new(build_origin(config))
}

/// One server holding both tables, prepared.
pub async fn one_server() -> (Dynalite, Config) {
    let server = Dynalite::start();
    prepare(&server.endpoint(), &server.endpoint()).await;
    let cfg = config(&server.endpoint(), &server.endpoint());
    (server, cfg)
}

pub fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture json")
}

/// A GET Function URL event for `path` (with `?query`), from the product fixture, carrying
/// CloudFront's secret header.
pub fn get(path_and_query: &str) -> Value {
    request("GET", path_and_query, &[])
}

/// A Function URL event carrying CloudFront's secret header, plus `headers`.
pub fn request(method: &str, path_and_query: &str, headers: &[(&str, &str)]) -> Value {
    let mut event = unverified(method, path_and_query, headers);
    event["headers"][VERIFY_HEADER] = SECRET.into();
    event
}

/// A Function URL event without CloudFront's secret header (a direct call).
pub fn unverified(method: &str, path_and_query: &str, headers: &[(&str, &str)]) -> Value {
    let mut event = fixture("function-url-get-product.json");
    let (path, query) = path_and_query.split_once('?').unwrap_or((path_and_query, ""));
    event["rawPath"] = path.into();
    event["rawQueryString"] = query.into();
    event["requestContext"]["http"]["path"] = path.into();
    event["requestContext"]["http"]["method"] = method.into();
    for (name, value) in headers {
        event["headers"][*name] = (*value).into();
    }
    event
}

/// The payload as the Lambda runtime hands it over (read once from its JSON).
pub fn invocation(event: Value) -> Invocation {
    serde_json::from_value(event).expect("an invocation payload")
}

/// Invokes and returns (status, headers, body, invocation).
pub async fn call(origin: &Origin, event: Value, now_ms: u64) -> Reply {
    let invoked = origin.invoke(invocation(event), now_ms).await.expect("invoke");
    Reply::from(invoked)
}

pub struct Reply {
    pub status: u16,
    pub headers: Value,
    pub body: String,
    pub invoked: Invoked,
}

impl From<Invoked> for Reply {
    fn from(invoked: Invoked) -> Self {
        let r = serde_json::to_value(&invoked.response).expect("response json");
        Reply {
            status: r["statusCode"].as_u64().unwrap_or(0) as u16,
            headers: r["headers"].clone(),
            body: r["body"].as_str().unwrap_or("").to_owned(),
            invoked,
        }
    }
}

impl Reply {
    pub fn header(&self, name: &str) -> &str {
        self.headers[name].as_str().unwrap_or("")
    }

    pub fn cache_status(&self) -> &str {
        self.header("cache-status")
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("json body")
    }
}

/// The number of value items in the cache table (a Scan; lease items not counted).
pub async fn cache_items(endpoint: &str) -> usize {
    let out = raw_client(endpoint)
        .scan()
        .table_name(CACHE)
        .send()
        .await
        .expect("scan");
    let is_lease = |i: &std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>| {
        i.get("pk")
            .and_then(|v| v.as_s().ok())
            .is_some_and(|pk| pk.starts_with("lease#"))
    };
    out.items.unwrap_or_default().iter().filter(|i| !is_lease(i)).count()
}

/// Runs each named test body (`async fn name(backend: Backend)`) against both L2 backends:
/// `dynamodb::name` and `redis::name`.
#[allow(unused_macros)]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::Backend::Dynamo).await
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::Backend::Redis).await
                }
            )*
        }
    };
}

/// A `redis-server` process (Debian package `redis-server`) on a loopback port, without
/// persistence; killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    pub fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (apt-get install -y redis-server)");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(10));
        }
        RedisServer {
            child: Some(child),
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The L2 store a test body runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The DynamoDB table (dynalite).
    Dynamo,
    /// Redis (`redis-server`).
    Redis,
}

enum L2Server {
    /// The cache table lives on the catalogue's dynalite.
    SharedDynalite,
    Dynalite(Dynalite),
    Redis(RedisServer),
    Blackhole(Blackhole),
}

/// What an L2 entry holds, read straight from the store.
#[derive(Debug)]
pub struct Stored {
    pub full_key: String,
    pub stored_at: u64,
    pub fresh_until: u64,
    pub expires_at: u64,
    pub cache_control: String,
    pub gz: bool,
    /// The stored (possibly compressed) body.
    pub body: Vec<u8>,
    /// Redis only: the key's remaining life (`PTTL`), in the server's clock.
    pub ttl_ms: Option<i64>,
}

/// An entry a test writes straight into L2 (as another environment, or an attacker with
/// write access, would).
#[derive(Debug, Clone)]
pub struct Plant {
    pub full_key: String,
    /// The key whose digest the entry is stored under (another key fakes a collision).
    pub digest_of: String,
    pub body: Vec<u8>,
    pub gz: bool,
    pub stored_at: u64,
    pub cache_control: String,
    pub expires_at_s: u64,
}

impl Plant {
    /// A valid entry for `key`, loaded at `stored_at` with the product route's decision.
    pub fn new(key: &str, body: &str, stored_at: u64) -> Self {
        Plant {
            full_key: key.into(),
            digest_of: key.into(),
            body: body.as_bytes().to_vec(),
            gz: false,
            stored_at,
            cache_control: PRODUCT_CC.into(),
            expires_at_s: (stored_at + 300_000 + 86_400_000) / 1000,
        }
    }

    /// A valid entry for `key` with the config route's decision (s-maxage 60,
    /// stale-while-revalidate 300), whose load took 4 ms.
    pub fn config(key: &str, body: &str, stored_at: u64) -> Self {
        Plant {
            cache_control: CONFIG_CC.into(),
            expires_at_s: (stored_at + 60_000 + 300_000) / 1000,
            ..Plant::new(key, body, stored_at)
        }
    }
}

/// The catalogue (dynalite) and an L2 of one backend, with the configuration pointing at them.
pub struct Stack {
    pub backend: Backend,
    pub catalogue: Dynalite,
    l2: L2Server,
    config: Config,
    /// The proxies in front of L2 / the catalogue, when the stack was built with them.
    pub l2_proxy: Option<Proxy>,
    pub catalogue_proxy: Option<Proxy>,
}

async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("redis connection")
}

impl Stack {
    /// DynamoDB: one dynalite holding both tables; Redis: dynalite for the catalogue and a
    /// redis-server for L2.
    pub async fn start(backend: Backend) -> Self {
        let catalogue = Dynalite::start();
        let l2 = match backend {
            Backend::Dynamo => L2Server::SharedDynalite,
            Backend::Redis => L2Server::Redis(RedisServer::start()),
        };
        Self::prepared(backend, catalogue, l2).await
    }

    /// L2 on a server of its own, so a test can stop it alone.
    pub async fn split(backend: Backend) -> Self {
        let catalogue = Dynalite::start();
        let l2 = match backend {
            Backend::Dynamo => L2Server::Dynalite(Dynalite::start()),
            Backend::Redis => L2Server::Redis(RedisServer::start()),
        };
        Self::prepared(backend, catalogue, l2).await
    }

    /// L2 pointed at a listener that accepts connections and never answers.
    pub async fn blackholed(backend: Backend) -> Self {
        let catalogue = Dynalite::start();
        Self::prepared(backend, catalogue, L2Server::Blackhole(Blackhole::start())).await
    }

    /// L2 on a server of its own, reached through a [`Proxy`] that delays its answers.
    pub async fn l2_behind_proxy(backend: Backend, delay: Delay) -> Self {
        let mut stack = Self::split(backend).await;
        let port = match &stack.l2 {
            L2Server::Dynalite(d) => d.port,
            L2Server::Redis(r) => r.port,
            _ => unreachable!("a split stack"),
        };
        let proxy = Proxy::start(port, delay);
        match backend {
            Backend::Dynamo => stack.config.cache_endpoint = Some(format!("http://127.0.0.1:{}", proxy.port)),
            Backend::Redis => stack.config.redis_url = Some(format!("redis://127.0.0.1:{}", proxy.port)),
        }
        stack.l2_proxy = Some(proxy);
        stack
    }

    /// The catalogue reached through a [`Proxy`] that delays its answers (a slow source).
    pub async fn catalogue_behind_proxy(backend: Backend, delay: Delay) -> Self {
        let mut stack = Self::split(backend).await;
        let proxy = Proxy::start(stack.catalogue.port, delay);
        stack.config.catalogue_endpoint = Some(format!("http://127.0.0.1:{}", proxy.port));
        stack.catalogue_proxy = Some(proxy);
        stack
    }

    async fn prepared(backend: Backend, catalogue: Dynalite, l2: L2Server) -> Self {
        let cache_endpoint = match &l2 {
            L2Server::Dynalite(d) => d.endpoint(),
            _ => catalogue.endpoint(),
        };
        prepare(&catalogue.endpoint(), &cache_endpoint).await;
        let mut config = config(&catalogue.endpoint(), &cache_endpoint);
        if backend == Backend::Redis {
            config.l2_backend = L2Backend::Redis;
            // Generous for a loaded CI machine, like the DynamoDB deadlines in `config`.
            config.redis_command_timeout = Duration::from_millis(2000);
            config.redis_url = Some(match &l2 {
                L2Server::Redis(r) => r.url(),
                L2Server::Blackhole(h) => format!("redis://127.0.0.1:{}", h.port),
                _ => unreachable!("a Redis stack has a Redis L2"),
            });
        } else if let L2Server::Blackhole(h) = &l2 {
            config.cache_endpoint = Some(h.endpoint());
        }
        Stack {
            backend,
            catalogue,
            l2,
            config,
            l2_proxy: None,
            catalogue_proxy: None,
        }
    }

    /// The configuration (tests adjust deadlines on their copy).
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    /// The L2 server's own endpoint (never through a proxy).
    fn dynamo_endpoint(&self) -> String {
        match &self.l2 {
            L2Server::Dynalite(d) => d.endpoint(),
            _ => self.catalogue.endpoint(),
        }
    }

    fn redis_url(&self) -> String {
        match &self.l2 {
            L2Server::Redis(r) => r.url(),
            _ => self.config.redis_url.clone().expect("redis url"),
        }
    }

    /// Stops the L2 server (split stacks only).
    pub fn stop_l2(&mut self) {
        match &mut self.l2 {
            L2Server::Dynalite(d) => d.stop(),
            L2Server::Redis(r) => r.stop(),
            _ => panic!("stop_l2 needs a split stack"),
        }
    }

    /// Starts the L2 server again on the same port, empty (both keep data in memory only);
    /// the DynamoDB table is created again.
    pub async fn restart_l2(&mut self) {
        match &mut self.l2 {
            L2Server::Dynalite(d) => {
                *d = Dynalite::start_on(d.port);
                tables::create_cache_table(&raw_client(&d.endpoint()), CACHE)
                    .await
                    .expect("cache table");
            }
            L2Server::Redis(r) => *r = RedisServer::start_on(r.port),
            _ => panic!("restart_l2 needs a split stack"),
        }
    }

    /// The entry stored for canonical key `key`, if any.
    pub async fn stored(&self, key: &str) -> Option<Stored> {
        let pk = digest(key);
        match self.backend {
            Backend::Dynamo => {
                let item = raw_client(&self.dynamo_endpoint())
                    .get_item()
                    .table_name(CACHE)
                    .key("pk", AttributeValue::S(pk))
                    .consistent_read(true)
                    .send()
                    .await
                    .expect("GetItem")
                    .item?;
                let n = |name: &str| item[name].as_n().expect(name).parse::<u64>().expect(name);
                Some(Stored {
                    full_key: item["fullKey"].as_s().expect("fullKey").clone(),
                    stored_at: n("storedAt"),
                    fresh_until: n("freshUntil"),
                    expires_at: n("expiresAt"),
                    cache_control: item["cacheControl"].as_s().expect("cacheControl").clone(),
                    gz: *item["gz"].as_bool().expect("gz"),
                    body: item["body"].as_b().expect("body").as_ref().to_vec(),
                    ttl_ms: None,
                })
            }
            Backend::Redis => {
                let mut conn = redis_conn(&self.redis_url()).await;
                let fields: std::collections::HashMap<String, Vec<u8>> = redis::cmd("HGETALL")
                    .arg(&pk)
                    .query_async(&mut conn)
                    .await
                    .expect("HGETALL");
                if fields.is_empty() {
                    return None;
                }
                let text = |name: &str| String::from_utf8(fields[name].clone()).expect(name);
                let n = |name: &str| text(name).parse::<u64>().expect(name);
                let ttl: i64 = redis::cmd("PTTL").arg(&pk).query_async(&mut conn).await.expect("PTTL");
                Some(Stored {
                    full_key: text("fullKey"),
                    stored_at: n("storedAt"),
                    fresh_until: n("freshUntil"),
                    expires_at: n("expiresAt"),
                    cache_control: text("cacheControl"),
                    gz: text("gz") == "1",
                    body: fields["body"].clone(),
                    ttl_ms: Some(ttl),
                })
            }
        }
    }

    /// Writes `plant` straight into L2. Redis: without an expiry, standing in for a key the
    /// server has not expired yet (the test clock does not move the server's).
    pub async fn plant(&self, plant: &Plant) {
        let pk = digest(&plant.digest_of);
        let fresh_until = plant.stored_at + 300_000;
        match self.backend {
            Backend::Dynamo => {
                let n = |v: u64| AttributeValue::N(v.to_string());
                let s = |v: &str| AttributeValue::S(v.into());
                raw_client(&self.dynamo_endpoint())
                    .put_item()
                    .table_name(CACHE)
                    .item("pk", s(&pk))
                    .item("fullKey", s(&plant.full_key))
                    .item("status", n(200))
                    .item("body", AttributeValue::B(Blob::new(plant.body.clone())))
                    .item("gz", AttributeValue::Bool(plant.gz))
                    .item("contentType", s("application/json"))
                    .item("etag", s("\"planted\""))
                    .item("cacheControl", s(&plant.cache_control))
                    .item("storedAt", n(plant.stored_at))
                    .item("freshUntil", n(fresh_until))
                    .item("delta", n(4))
                    .item("expiresAt", n(plant.expires_at_s))
                    .send()
                    .await
                    .expect("PutItem");
            }
            Backend::Redis => {
                let mut conn = redis_conn(&self.redis_url()).await;
                let _: () = redis::cmd("HSET")
                    .arg(&pk)
                    .arg(&[("fullKey", plant.full_key.as_str()), ("status", "200")])
                    .arg("body")
                    .arg(plant.body.as_slice())
                    .arg(&[("gz", if plant.gz { "1" } else { "0" })])
                    .arg(&[("contentType", "application/json"), ("etag", "\"planted\"")])
                    .arg(&[("cacheControl", plant.cache_control.as_str())])
                    .arg(&[
                        ("storedAt", plant.stored_at),
                        ("freshUntil", fresh_until),
                        ("delta", 4),
                        ("expiresAt", plant.expires_at_s),
                    ])
                    .query_async(&mut conn)
                    .await
                    .expect("HSET");
            }
        }
    }

    /// Another environment's live lease on `key`, until `until_ms` on the test clock.
    /// Redis times leases itself (`PX`): the lease is planted for a minute of real time and
    /// [`Stack::release_lease`] ends it.
    pub async fn plant_lease(&self, key: &str, owner: &str, until_ms: u64) {
        let lease = format!("lease#{}", digest(key));
        match self.backend {
            Backend::Dynamo => {
                raw_client(&self.dynamo_endpoint())
                    .put_item()
                    .table_name(CACHE)
                    .item("pk", AttributeValue::S(lease))
                    .item("owner", AttributeValue::S(owner.into()))
                    .item("leaseUntil", AttributeValue::N(until_ms.to_string()))
                    .item("expiresAt", AttributeValue::N((until_ms / 1000).to_string()))
                    .send()
                    .await
                    .expect("PutItem(lease)");
            }
            Backend::Redis => {
                let mut conn = redis_conn(&self.redis_url()).await;
                let _: () = redis::cmd("SET")
                    .arg(&lease)
                    .arg(owner)
                    .arg("PX")
                    .arg(60_000)
                    .query_async(&mut conn)
                    .await
                    .expect("SET(lease)");
            }
        }
    }

    /// The lease on `key` given back by its holder `owner`, through the backend's own
    /// release (a conditional delete on DynamoDB, compare-and-delete on Redis).
    pub async fn release_lease(&self, key: &str, owner: &str) {
        let mut config = self.config();
        config.cache_endpoint = Some(self.dynamo_endpoint());
        if self.backend == Backend::Redis {
            config.redis_url = Some(self.redis_url());
        }
        let l2: Box<dyn L2> = match self.backend {
            Backend::Dynamo => Box::new(DynamoL2::new(cache_client(&config), &config)),
            Backend::Redis => Box::new(RedisL2::new(&config).expect("redis url")),
        };
        l2.release_lease(&digest(key), owner).await.expect("release");
    }

    /// Whether a lease item exists for `key`.
    pub async fn lease_exists(&self, key: &str) -> bool {
        let lease = format!("lease#{}", digest(key));
        match self.backend {
            Backend::Dynamo => raw_client(&self.dynamo_endpoint())
                .get_item()
                .table_name(CACHE)
                .key("pk", AttributeValue::S(lease))
                .consistent_read(true)
                .send()
                .await
                .expect("GetItem(lease)")
                .item
                .is_some(),
            Backend::Redis => {
                let mut conn = redis_conn(&self.redis_url()).await;
                let n: i64 = redis::cmd("EXISTS")
                    .arg(&lease)
                    .query_async(&mut conn)
                    .await
                    .expect("EXISTS");
                n == 1
            }
        }
    }

    /// The planted lease's time is up. DynamoDB compares `leaseUntil` with the caller's clock,
    /// which the test moves: nothing to do. Redis expires it on its own clock: deleted here,
    /// as its `PX` would.
    pub async fn lease_lapses(&self, key: &str) {
        if self.backend == Backend::Redis {
            let mut conn = redis_conn(&self.redis_url()).await;
            let _: i64 = redis::cmd("DEL")
                .arg(format!("lease#{}", digest(key)))
                .query_async(&mut conn)
                .await
                .expect("DEL(lease)");
        }
    }

    /// The number of value entries in L2 (lease entries not counted).
    pub async fn cache_items(&self) -> usize {
        match self.backend {
            Backend::Dynamo => cache_items(&self.dynamo_endpoint()).await,
            Backend::Redis => {
                let mut conn = redis_conn(&self.redis_url()).await;
                let keys: Vec<String> = redis::cmd("KEYS").arg("*").query_async(&mut conn).await.expect("KEYS");
                keys.iter().filter(|k| !k.starts_with("lease#")).count()
            }
        }
    }
}

/// How a [`Proxy`] delays what the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    /// Nothing: the proxy only counts.
    None,
    /// Every chunk the server sends is delivered this long after it arrived: each call takes
    /// at least this long.
    EachAnswer(Duration),
    /// Only a connection's first answer is delayed (a slow handshake).
    FirstAnswer(Duration),
}

/// A TCP proxy on a loopback port in front of `127.0.0.1:upstream`: delays the server's
/// answers ([`Delay`]), counts connections and the chunks the client sent, and keeps the
/// bytes the client sent. Runs on a thread of its own until the test process ends.
pub struct Proxy {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    pub sent: Arc<Mutex<Vec<u8>>>,
}

impl Proxy {
    pub fn start(upstream: u16, delay: Delay) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let counters = (Arc::clone(&connections), Arc::clone(&requests), Arc::clone(&sent));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                while let Ok((client, _)) = listener.accept().await {
                    counters.0.fetch_add(1, Ordering::SeqCst);
                    let (requests, sent) = (Arc::clone(&counters.1), Arc::clone(&counters.2));
                    tokio::spawn(relay(client, upstream, delay, requests, sent));
                }
            });
        });
        Proxy {
            port,
            connections,
            requests,
            sent,
        }
    }

    /// What the client sent so far, as text.
    pub fn sent_text(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().expect("sent")).into_owned()
    }
}

async fn relay(
    client: tokio::net::TcpStream,
    upstream: u16,
    delay: Delay,
    requests: Arc<AtomicUsize>,
    sent: Arc<Mutex<Vec<u8>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let to_server = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = client_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            requests.fetch_add(1, Ordering::SeqCst);
            sent.lock().expect("sent").extend_from_slice(&buf[..n]);
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let from_server = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut first = true;
        while let Ok(n) = server_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let wait = match delay {
                Delay::None => Duration::ZERO,
                Delay::EachAnswer(d) => d,
                Delay::FirstAnswer(d) if first => d,
                Delay::FirstAnswer(_) => Duration::ZERO,
            };
            first = false;
            if tx
                .send((tokio::time::Instant::now() + wait, buf[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    };
    let to_client = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if client_write.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(to_server, from_server, to_client);
}

/// Polls `condition` every 10 ms until it holds, for at most `within`.
pub async fn until(within: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
