//! Starting a local stack and driving it with a trace.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use local_edge::origin::OriginConfig;
use local_edge::stack::{origin_env, seed, Dynalite};
use local_edge::{Edge, EdgeConfig};

use crate::analysis::Outcome;
use crate::trace::TraceRequest;

/// What to start.
#[derive(Debug, Clone)]
pub struct StackSpec {
    /// The workspace root (for `node_modules/.bin/dynalite`).
    pub root: PathBuf,
    /// The Lambda@Edge package.
    pub edge_package: PathBuf,
    /// The origin binary.
    pub origin_bin: PathBuf,
    /// The seed binary.
    pub seed_bin: PathBuf,
    /// Origin execution environments.
    pub environments: usize,
    /// Products to seed.
    pub products: u32,
    /// Where the origin environments log (cleared first).
    pub log_dir: PathBuf,
}

/// A running stack.
pub struct Stack {
    edge: Edge,
    _servers: (Dynalite, Dynalite),
    /// `http://127.0.0.1:port`.
    pub base: String,
}

impl Stack {
    /// Dynalite for the catalogue and for L2, the seeded tables, the edge.
    pub async fn start(spec: &StackSpec) -> Result<Stack, String> {
        let _ = std::fs::remove_dir_all(&spec.log_dir);
        let catalogue = Dynalite::start(&spec.root, 0).await.map_err(|e| e.to_string())?;
        let cache = Dynalite::start(&spec.root, 0).await.map_err(|e| e.to_string())?;
        let env = origin_env(&catalogue.endpoint(), &cache.endpoint());
        seed(&spec.seed_bin, &env, spec.products)
            .await
            .map_err(|e| e.to_string())?;
        let origin = OriginConfig {
            binary: spec.origin_bin.clone(),
            environments: spec.environments,
            invocation_timeout: Duration::from_secs(10),
            env,
            log_dir: Some(spec.log_dir.clone()),
        };
        let mut config = EdgeConfig::new(origin);
        config.listen = "127.0.0.1:0".parse().expect("address");
        config.edge_package = Some(spec.edge_package.clone());
        config.access_log = false;
        let edge = Edge::start(config).await.map_err(|e| e.to_string())?;
        let base = format!("http://{}", edge.addr());
        Ok(Stack {
            edge,
            _servers: (catalogue, cache),
            base,
        })
    }

    /// Stops everything.
    pub async fn stop(self) {
        self.edge.stop().await;
    }
}

/// Sends every request of `trace` with `clients` concurrent clients; outcomes in trace order.
pub async fn replay(base: &str, trace: &[TraceRequest], clients: usize) -> Vec<Outcome> {
    let trace: Arc<Vec<TraceRequest>> = Arc::new(trace.to_vec());
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .expect("client");
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..clients.max(1) {
        let (trace, next, client, base) = (trace.clone(), next.clone(), client.clone(), base.to_owned());
        tasks.spawn(async move {
            let mut out = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(request) = trace.get(i) else { break };
                out.push((i, send(&client, &base, request).await));
            }
            out
        });
    }
    let mut outcomes: Vec<Option<Outcome>> = vec![None; trace.len()];
    while let Some(done) = tasks.join_next().await {
        for (i, outcome) in done.expect("replay task") {
            outcomes[i] = Some(outcome);
        }
    }
    outcomes
        .into_iter()
        .map(|o| o.expect("every request answered or failed"))
        .collect()
}

async fn send(client: &reqwest::Client, base: &str, request: &TraceRequest) -> Outcome {
    let mut builder = client
        .get(format!("{base}{}", request.path))
        .timeout(Duration::from_secs(30));
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let started = Instant::now();
    match builder.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let x_cache = response
                .headers()
                .get("x-cache")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned();
            let _ = response.bytes().await;
            Outcome {
                status,
                x_cache,
                latency_ms: started.elapsed().as_secs_f64() * 1000.0,
            }
        }
        Err(_) => Outcome {
            status: 0,
            x_cache: String::new(),
            latency_ms: started.elapsed().as_secs_f64() * 1000.0,
        },
    }
}

/// The workspace root: the nearest ancestor of the current directory holding `Cargo.lock`.
pub fn workspace_root() -> PathBuf {
    let mut dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    while !dir.join("Cargo.lock").exists() {
        if !dir.pop() {
            return PathBuf::from(".");
        }
    }
    dir
}

/// `<root>/<relative>` unless absolute.
pub fn under(root: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    }
}
