//! The test harness: a real DynamoDB-compatible server (dynalite) and a real `redis-server`
//! on free loopback ports, the two tables, a few seeded products, Function URL events built
//! from the fixtures, a TCP [`Proxy`] that delays answers and counts what passes, and a
//! [`Stack`] that runs one test body against either L2 [`Backend`].
//!
//! The origin runs as deployed: the secret check is on ([`SECRET`]), and [`request`] sends
//! the header CloudFront adds. Tests of the check itself build their own events.
#![allow(dead_code)]

mod proxy;
mod stack;

// Each test crate uses its own part of the harness.
#[allow(unused_imports)]
pub use proxy::{Delay, Proxy};
#[allow(unused_imports)]
pub use stack::{Backend, Plant, Stack, Stored};

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::Client;
use origin_function::config::{Config, L2Backend};
use origin_function::l2::item::{Encoded, RawEntry};
use origin_function::l2::redis::RedisL2;
use origin_function::l2::{DynamoL2, L2Future, WriteOutcome, L2};
use origin_function::purge::store::{DynamoPurgeStore, PurgeStore};
use origin_function::source::{fixed_items, product_items, Catalogue};
use origin_function::{l2_client_config, source_client_config, tables, Invocation, Invoked, Origin};
use serde_json::Value;

/// Test clock origin: 2024-10-17T08:15:29Z.
pub const T0: u64 = 1_729_152_929_000;
pub const CATALOGUE: &str = "catalogue";
pub const CACHE: &str = "cache";
pub const PURGE: &str = "purge";
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

/// A free port's server: `start_on` a fresh port until one is not taken meanwhile (by
/// another suite running beside this one).
fn on_a_free_port<T>(what: &str, start_on: impl Fn(u16) -> Option<T>) -> T {
    (0..10)
        .find_map(|_| start_on(free_port()))
        .unwrap_or_else(|| panic!("{what}: every port tried was taken"))
}

impl Dynalite {
    /// On a port the OS picks, bound by dynalite itself (the local edge's launcher, which
    /// prints the port once it listens).
    pub fn start() -> Self {
        Self::try_start_on(0).expect("dynalite listens")
    }

    /// On `port` again (a restart), which this suite just freed.
    pub fn start_on(port: u16) -> Self {
        Self::try_start_on(port).unwrap_or_else(|| panic!("dynalite could not listen on {port}"))
    }

    fn try_start_on(port: u16) -> Option<Self> {
        let root = workspace_root();
        assert!(
            root.join("node_modules/dynalite").exists(),
            "{} has no node_modules/dynalite: run `npm ci` at the workspace root",
            root.display()
        );
        let mut child = Command::new("node")
            .arg(root.join("local-edge/node/dynalite.js"))
            .arg(&root)
            .arg(port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node local-edge/node/dynalite.js");
        let mut line = String::new();
        let read = child.stdout.take().map(|out| BufReader::new(out).read_line(&mut line));
        let port = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok());
        match (read, port) {
            (Some(Ok(_)), Some(port)) => Some(Dynalite {
                child: Some(child),
                port,
            }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                None
            }
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
        // Redis expires a lease on its own (real) clock: a load slowed by a loaded machine must
        // not lose it to a second environment mid-test.
        lease_ms: 10_000,
        xfetch_beta: 0.0,
        verify_header: VERIFY_HEADER.into(),
        verify_secrets: vec![SECRET.into()],
        // The purge tests (tests/purge.rs) turn it on; the others test what they name.
        purge_enabled: false,
        purge_table: PURGE.into(),
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
    tables::create_purge_table(&raw_client(cache_endpoint), PURGE)
        .await
        .expect("purge table");
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
    Origin::new(config, catalogue, Some(cache), None).expect("origin")
}

/// The real purge store `config` names.
pub fn purge_store(config: &Config) -> Arc<dyn PurgeStore> {
    match config.l2_backend {
        L2Backend::DynamoDb => Arc::new(DynamoPurgeStore::new(cache_client(config), &config.purge_table)),
        L2Backend::Redis => Arc::new(RedisL2::new(config).expect("redis url")),
    }
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
    let purge = Some(purge_store(&config));
    (
        Arc::new(Origin::with_parts(config, catalogue, Some(l2), purge).expect("origin")),
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
    fn mark<'a>(&'a self, digest: &'a str, seq: u64, until_ms: u64, now_ms: u64) -> L2Future<'a, bool> {
        self.count();
        self.inner.mark(digest, seq, until_ms, now_ms)
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

/// Invokes at `now` (epoch ms for both clocks, or a [`origin_function::clock::Now`]) and
/// returns (status, headers, body, invocation).
pub async fn call(origin: &Origin, event: Value, now: impl Into<origin_function::clock::Now>) -> Reply {
    let invoked = origin.invoke(invocation(event), now).await.expect("invoke");
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

/// The `process_id` the Redis server on `stream` reports in `INFO server`.
fn redis_process_id(stream: &mut TcpStream) -> Option<u32> {
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    stream.write_all(b"INFO server\r\n").ok()?;
    let mut text = String::new();
    let mut buf = [0u8; 4096];
    while !text.contains("process_id:") || !text[text.find("process_id:")?..].contains('\n') {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let rest = &text[text.find("process_id:")? + "process_id:".len()..];
    rest.lines().next()?.trim().parse().ok()
}

/// A `redis-server` process (Debian package `redis-server`) on a loopback port, without
/// persistence; killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
}

impl RedisServer {
    pub fn start() -> Self {
        on_a_free_port("redis-server", Self::try_start_on)
    }

    pub fn start_on(port: u16) -> Self {
        Self::try_start_on(port).unwrap_or_else(|| panic!("redis-server could not listen on {port}"))
    }

    /// Starts redis-server on `port`; `None` when the server that answers there is not this
    /// one (`INFO server` names another `process_id`: the port was taken meanwhile) or it
    /// exited.
    fn try_start_on(port: u16) -> Option<Self> {
        let mut child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (apt-get install -y redis-server)");
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let deadline = Instant::now() + Duration::from_secs(15);
        let ours = loop {
            if !matches!(child.try_wait(), Ok(None)) {
                break false;
            }
            if let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
                break redis_process_id(&mut stream) == Some(child.id());
            }
            assert!(Instant::now() < deadline, "redis-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(10));
        };
        if !ours {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        Some(RedisServer {
            child: Some(child),
            port,
        })
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

/// Polls `condition` every 10 ms until it holds, for at most `within`.
pub async fn until(within: Duration, what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
