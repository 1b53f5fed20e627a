//! A local stack on free ports for the black-box tests: two dynalite servers (catalogue and
//! L2), the seeded tables, the real origin binary, the built wasm-pkg in Node, the edge.
#![allow(dead_code, unused_imports)]

use std::path::PathBuf;
use std::time::Duration;

use local_edge::origin::OriginConfig;
use local_edge::stack::{origin_env, seed, Dynalite};
use local_edge::{Edge, EdgeConfig};

mod fault_proxy;
pub use fault_proxy::{FaultProxy, Mode};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn binary(env_name: &str, name: &str) -> PathBuf {
    let path = std::env::var_os(env_name).map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root().join("target"));
        target.join("debug").join(name)
    });
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p origin-function` (or set {env_name})",
        path.display()
    );
    path
}

pub struct Stack {
    pub edge: Option<Edge>,
    pub catalogue: Dynalite,
    pub cache: Dynalite,
    /// In front of the catalogue and L2 servers when `Options::proxies` is on.
    pub catalogue_proxy: Option<FaultProxy>,
    pub cache_proxy: Option<FaultProxy>,
    pub base: String,
    pub client: reqwest::Client,
}

pub struct Options {
    pub package: Option<PathBuf>,
    pub environments: usize,
    pub origin_env: Vec<(String, String)>,
    pub proxies: bool,
    pub invocation_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            package: Some(root().join("wasm-pkg")),
            environments: 2,
            origin_env: Vec::new(),
            proxies: false,
            invocation_timeout: Duration::from_secs(10),
        }
    }
}

impl Stack {
    pub async fn start() -> Stack {
        Stack::with(Options::default()).await
    }

    pub async fn with(options: Options) -> Stack {
        if let Some(package) = &options.package {
            assert!(package.join("index.js").exists(), "{} is missing", package.display());
        }
        assert!(
            root().join("wasm-pkg/pkg/edge_worker_bg.wasm").exists(),
            "wasm-pkg is not built: run `make wasm`"
        );
        let catalogue = Dynalite::start(&root(), 0).await.expect("catalogue dynalite");
        let cache = Dynalite::start(&root(), 0).await.expect("cache dynalite");
        seed(
            &binary("SEED_BIN", "seed"),
            &origin_env(&catalogue.endpoint(), &cache.endpoint()),
            50,
        )
        .await
        .expect("seed");
        let (catalogue_proxy, cache_proxy) = if options.proxies {
            (
                Some(FaultProxy::start(catalogue.port).await),
                Some(FaultProxy::start(cache.port).await),
            )
        } else {
            (None, None)
        };
        let endpoint =
            |proxy: &Option<FaultProxy>, server: &Dynalite| proxy.as_ref().map_or(server.endpoint(), |p| p.endpoint());
        let mut env = origin_env(&endpoint(&catalogue_proxy, &catalogue), &endpoint(&cache_proxy, &cache));
        // Short L2 deadlines so the fault tests stay quick.
        env.push(("ORIGIN_L2_OPERATION_TIMEOUT_MS".into(), "300".into()));
        env.push(("ORIGIN_L2_CONNECT_TIMEOUT_MS".into(), "200".into()));
        env.extend(options.origin_env);
        let origin = OriginConfig {
            binary: binary("ORIGIN_BIN", "origin-function"),
            environments: options.environments,
            invocation_timeout: options.invocation_timeout,
            env,
            log_dir: None,
        };
        let mut config = EdgeConfig::new(origin);
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.edge_package = options.package;
        config.access_log = false;
        config.test_clock = true;
        let edge = Edge::start(config).await.expect("edge");
        let base = format!("http://{}", edge.addr());
        Stack {
            edge: Some(edge),
            catalogue,
            cache,
            catalogue_proxy,
            cache_proxy,
            base,
            client: reqwest::Client::new(),
        }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut request = self.client.get(format!("{}{path}", self.base));
        for (n, v) in headers {
            request = request.header(*n, *v);
        }
        let response = request.send().await.expect("edge answers");
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = response.text().await.unwrap_or_default();
        Reply { status, headers, body }
    }

    pub async fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.get("/__edge/stats").await.body).unwrap()
    }

    pub async fn advance(&self, seconds: u64) {
        self.client
            .post(format!("{}/__edge/clock?advance={seconds}", self.base))
            .send()
            .await
            .unwrap();
    }

    pub async fn stop(mut self) {
        if let Some(edge) = self.edge.take() {
            edge.stop().await;
        }
    }
}

pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
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
