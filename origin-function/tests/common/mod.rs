//! The test harness: a real DynamoDB-compatible server (dynalite) and a real `redis-server`
//! on free loopback ports, the two tables, a few seeded products, Function URL events built
//! from the fixtures, and a [`Stack`] that runs one test body against either L2 [`Backend`].
#![allow(dead_code)]

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::Client;
use origin_function::config::{Config, L2Backend};
use origin_function::l2::digest;
use origin_function::source::{fixed_items, product_items, Catalogue};
use origin_function::{l2_client_config, source_client_config, tables, Invoked, Origin};
use serde_json::Value;

/// Test clock origin: 2024-10-17T08:15:29Z.
pub const T0: u64 = 1_729_152_929_000;
pub const CATALOGUE: &str = "catalogue";
pub const CACHE: &str = "cache";
pub const HOST: &str = "abcdefghijklmnopqrstuvwxyz0123456.lambda-url.us-east-1.on.aws";

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

/// The configuration the tests use: both tables on `catalogue` / `cache` endpoints.
pub fn config(catalogue_endpoint: &str, cache_endpoint: &str) -> Config {
    Config {
        catalogue_table: CATALOGUE.into(),
        cache_table: CACHE.into(),
        catalogue_endpoint: Some(catalogue_endpoint.into()),
        cache_endpoint: Some(cache_endpoint.into()),
        // Generous for a loaded CI machine; the blackhole test sets its own.
        l2_attempt_timeout: Duration::from_millis(1000),
        l2_operation_timeout: Duration::from_millis(2000),
        lease_wait_ms: 5000,
        xfetch_beta: 0.0,
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

/// A GET Function URL event for `path` (with `?query`), from the product fixture.
pub fn get(path_and_query: &str) -> Value {
    request("GET", path_and_query, &[])
}

pub fn request(method: &str, path_and_query: &str, headers: &[(&str, &str)]) -> Value {
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

/// Invokes and returns (status, headers, body, invocation).
pub async fn call(origin: &Origin, event: Value, now_ms: u64) -> Reply {
    let invoked = origin.invoke(event, now_ms).await.expect("invoke");
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
    pub gz: bool,
    /// Bytes of the stored (possibly compressed) body.
    pub body_len: usize,
    /// Redis only: the key's remaining life (`PTTL`), in the server's clock.
    pub ttl_ms: Option<i64>,
}

/// The catalogue (dynalite) and an L2 of one backend, with the configuration pointing at them.
pub struct Stack {
    pub backend: Backend,
    pub catalogue: Dynalite,
    l2: L2Server,
    config: Config,
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
        }
    }

    /// The configuration (tests adjust deadlines on their copy).
    pub fn config(&self) -> Config {
        self.config.clone()
    }

    fn dynamo_endpoint(&self) -> String {
        match &self.l2 {
            L2Server::Dynalite(d) => d.endpoint(),
            _ => self.catalogue.endpoint(),
        }
    }

    fn redis_url(&self) -> String {
        self.config.redis_url.clone().expect("redis url")
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
                    gz: *item["gz"].as_bool().expect("gz"),
                    body_len: item["body"].as_b().expect("body").as_ref().len(),
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
                    gz: text("gz") == "1",
                    body_len: fields["body"].len(),
                    ttl_ms: Some(ttl),
                })
            }
        }
    }

    /// Writes an entry for `full_key` under the digest of `digest_of` (a different key fakes
    /// a digest collision). Redis: without an expiry, standing in for a key the server has
    /// not expired yet (the test clock does not move the server's).
    pub async fn plant(&self, full_key: &str, digest_of: &str, body: &str, fresh_until: u64, expires_at_s: u64) {
        match self.backend {
            Backend::Dynamo => {
                raw_client(&self.dynamo_endpoint())
                    .put_item()
                    .table_name(CACHE)
                    .item("pk", AttributeValue::S(digest(digest_of)))
                    .item("fullKey", AttributeValue::S(full_key.into()))
                    .item("status", AttributeValue::N("200".into()))
                    .item("body", AttributeValue::B(Blob::new(body.as_bytes())))
                    .item("gz", AttributeValue::Bool(false))
                    .item("contentType", AttributeValue::S("application/json".into()))
                    .item("etag", AttributeValue::S("\"planted\"".into()))
                    .item("storedAt", AttributeValue::N(T0.to_string()))
                    .item("freshUntil", AttributeValue::N(fresh_until.to_string()))
                    .item("delta", AttributeValue::N("4".into()))
                    .item("expiresAt", AttributeValue::N(expires_at_s.to_string()))
                    .send()
                    .await
                    .expect("PutItem");
            }
            Backend::Redis => {
                let mut conn = redis_conn(&self.redis_url()).await;
                let _: () = redis::cmd("HSET")
                    .arg(digest(digest_of))
                    .arg(&[("fullKey", full_key), ("status", "200"), ("body", body), ("gz", "0")])
                    .arg(&[("contentType", "application/json"), ("etag", "\"planted\"")])
                    .arg(&[
                        ("storedAt", T0),
                        ("freshUntil", fresh_until),
                        ("delta", 4),
                        ("expiresAt", expires_at_s),
                    ])
                    .query_async(&mut conn)
                    .await
                    .expect("HSET");
            }
        }
    }

    /// Another environment's live lease on `key`, until `until_ms` on the test clock.
    /// Redis times leases itself (`PX`): the lease is planted for a minute of real time and
    /// [`Stack::lease_lapses`] ends it.
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
