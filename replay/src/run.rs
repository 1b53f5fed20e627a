//! Starting a local stack and driving it with a trace.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    stack: local_edge::Stack,
    /// `http://127.0.0.1:port`.
    pub base: String,
}

impl Stack {
    /// The local stack (`local_edge::Stack`): dynalite for the catalogue and for L2, the
    /// seeded tables, the origin environments, the edge running `spec.edge_package`.
    pub async fn start(spec: &StackSpec) -> Result<Stack, String> {
        let stack = local_edge::Stack::builder()
            .root(&spec.root)
            .edge_package(&spec.edge_package)
            .origin_bin(&spec.origin_bin)
            .seed_bin(&spec.seed_bin)
            .environments(spec.environments)
            .products(spec.products)
            .log_dir(&spec.log_dir)
            .start()
            .await
            .map_err(|e| e.to_string())?;
        let base = stack.url();
        Ok(Stack { stack, base })
    }

    /// Stops everything.
    pub async fn stop(self) {
        self.stack.stop().await;
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
