//! The [`Stack`]: the catalogue and an L2 of one backend, and the harness's ways to read,
//! plant and break each store.

use std::time::Duration;

use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use origin_function::config::{Config, L2Backend};
use origin_function::l2::redis::RedisL2;
use origin_function::l2::{digest, DynamoL2, L2};
use origin_function::purge::command::PurgeSteps;
use origin_function::tables;

use super::*;

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
                tables::create_purge_table(&raw_client(&d.endpoint()), PURGE)
                    .await
                    .expect("purge table");
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
                let item = self.dynamo_item(key).await?;
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
        let (_, l2) = self.direct_l2();
        l2.release_lease(&digest(key), owner).await.expect("release");
    }

    /// The configuration with the L2 server's own address (never a proxy), and the L2 on it.
    fn direct_l2(&self) -> (Config, Arc<dyn L2>) {
        let mut config = self.config();
        config.cache_endpoint = Some(self.dynamo_endpoint());
        if self.backend == Backend::Redis {
            config.redis_url = Some(self.redis_url());
        }
        let l2: Arc<dyn L2> = match self.backend {
            Backend::Dynamo => Arc::new(DynamoL2::new(cache_client(&config), &config)),
            Backend::Redis => Arc::new(RedisL2::new(&config).expect("redis url")),
        };
        (config, l2)
    }

    /// The DynamoDB item stored under `key`'s digest, read strongly consistent.
    async fn dynamo_item(&self, key: &str) -> Option<std::collections::HashMap<String, AttributeValue>> {
        raw_client(&self.dynamo_endpoint())
            .get_item()
            .table_name(CACHE)
            .key("pk", AttributeValue::S(digest(key)))
            .consistent_read(true)
            .send()
            .await
            .expect("GetItem")
            .item
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

    /// The purge steps over this stack's purge store and L2 (what the purge CLI runs).
    pub fn purge_steps(&self) -> PurgeSteps {
        let (config, l2) = self.direct_l2();
        PurgeSteps::new(purge_store(&config), Some(l2))
    }

    /// The purge marker stored for canonical key `key`: the sequence of the purge that
    /// replaced the entry, if the item is a marker.
    pub async fn marker(&self, key: &str) -> Option<u64> {
        match self.backend {
            Backend::Dynamo => self.dynamo_item(key).await?.get("purgedBy")?.as_n().ok()?.parse().ok(),
            Backend::Redis => {
                let mut conn = redis_conn(&self.redis_url()).await;
                let by: Option<String> = redis::cmd("HGET")
                    .arg(digest(key))
                    .arg("purgedBy")
                    .query_async(&mut conn)
                    .await
                    .expect("HGET");
                by?.parse().ok()
            }
        }
    }

    /// Changes product `id`'s price in the catalogue (straight to its server).
    pub async fn set_price(&self, id: u32, cents: u64) {
        let catalogue = Catalogue::new(raw_client(&self.catalogue.endpoint()), CATALOGUE);
        origin_function::source::set_price(&catalogue, id, cents)
            .await
            .expect("set price");
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
