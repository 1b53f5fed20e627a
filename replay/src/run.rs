//! Starting an arm's stack and driving it with a trace, on the trace's clock.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::time::Instant;

use crate::analysis::Outcome;
use crate::arm::Arm;
use crate::trace::TraceRequest;

/// How long the replay waits for background revalidations to end before it reads the
/// edge's counters or moves its clock.
const SETTLE_LIMIT: Duration = Duration::from_secs(30);

/// What to start.
#[derive(Debug, Clone)]
pub struct StackSpec {
    /// The workspace root (for `node_modules/.bin/dynalite`).
    pub root: PathBuf,
    /// The origin binary.
    pub origin_bin: PathBuf,
    /// The seed binary.
    pub seed_bin: PathBuf,
    /// Origin execution environments.
    pub environments: usize,
    /// Products to seed.
    pub products: u32,
    /// Most entries the edge cache holds.
    pub cache_capacity: u64,
    /// Where the origin environments log (cleared first).
    pub log_dir: PathBuf,
    /// The edge's clock follows the trace (`POST /__edge/clock`) instead of the wall clock.
    pub virtual_clock: bool,
}

/// A running stack.
pub struct Stack {
    stack: local_edge::Stack,
    client: reqwest::Client,
    /// `http://127.0.0.1:port`.
    pub base: String,
}

impl Stack {
    /// The local stack (`local_edge::Stack`) for `arm`: dynalite for the catalogue and for L2,
    /// the seeded tables, the origin environments, the edge with the arm's behaviour table
    /// and package (none: no trigger is associated, so no Node process).
    pub async fn start(spec: &StackSpec, arm: &Arm) -> Result<Stack, String> {
        let builder = local_edge::Stack::builder()
            .root(&spec.root)
            .origin_bin(&spec.origin_bin)
            .seed_bin(&spec.seed_bin)
            .environments(spec.environments)
            .products(spec.products)
            .cache_capacity(spec.cache_capacity)
            .log_dir(&spec.log_dir)
            .test_clock(spec.virtual_clock)
            .distribution(arm.distribution.clone());
        let builder = match &arm.package {
            Some(package) => builder.edge_package(package),
            None => builder.native(),
        };
        let stack = builder.start().await.map_err(|e| e.to_string())?;
        let base = stack.url();
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Stack { stack, client, base })
    }

    /// The edge's counters (`GET /__edge/stats`).
    pub async fn stats(&self) -> Result<Value, String> {
        let response = self
            .client
            .get(format!("{}/__edge/stats", self.base))
            .send()
            .await
            .map_err(|e| format!("stats: {e}"))?;
        let body = response.bytes().await.map_err(|e| format!("stats: {e}"))?;
        serde_json::from_slice(&body).map_err(|e| format!("stats: {e}"))
    }

    /// Moves the edge's clock forward (test clock only).
    async fn advance(&self, seconds: u64) -> Result<(), String> {
        let response = self
            .client
            .post(format!("{}/__edge/clock?advance={seconds}", self.base))
            .send()
            .await
            .map_err(|e| format!("clock: {e}"))?;
        if !response.status().is_success() {
            return Err(format!("clock: {}", response.status()));
        }
        Ok(())
    }

    /// Waits until no background revalidation runs (polled, at most [`SETTLE_LIMIT`]).
    pub async fn settle(&self) -> Result<(), String> {
        let deadline = Instant::now() + SETTLE_LIMIT;
        loop {
            let stats = self.stats().await?;
            if stats["revalidations_in_flight"].as_u64() == Some(0) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("background revalidations still running after {SETTLE_LIMIT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops everything.
    pub async fn stop(self) {
        self.stack.stop().await;
    }

    /// Sends every request of `trace`, each at its time, with at most `clients` in flight;
    /// outcomes in trace order, once background revalidations have ended.
    ///
    /// On the wall clock a request is sent at `start + at_ms` (or as soon as a client is
    /// free). On the virtual clock (`StackSpec::virtual_clock`) requests with the same time
    /// go together; before each group the revalidations started so far are awaited (so every
    /// request finds the cache they left, as it would at the trace's pace) and the edge's
    /// clock is moved by the whole seconds since the last group: the edge then sees the
    /// trace's times exactly, whatever the machine's speed.
    pub async fn replay(
        &self,
        trace: &[TraceRequest],
        clients: usize,
        virtual_clock: bool,
    ) -> Result<Vec<Outcome>, String> {
        let outcomes = if virtual_clock {
            let mut outcomes = Vec::with_capacity(trace.len());
            let mut start = 0;
            let mut clock_secs = 0;
            while start < trace.len() {
                let at = trace[start].at_ms;
                let end = start + trace[start..].iter().take_while(|r| r.at_ms == at).count();
                self.settle().await?;
                if at / 1000 > clock_secs {
                    self.advance(at / 1000 - clock_secs).await?;
                    clock_secs = at / 1000;
                }
                outcomes.extend(self.send_all(&trace[start..end], clients, None).await);
                start = end;
            }
            outcomes
        } else {
            self.send_all(trace, clients, Some(Instant::now())).await
        };
        self.settle().await?;
        Ok(outcomes)
    }

    /// Sends `trace` with `clients` concurrent clients, each request at `start + at_ms` when
    /// `start` is given, else at once.
    async fn send_all(&self, trace: &[TraceRequest], clients: usize, start: Option<Instant>) -> Vec<Outcome> {
        let trace: Arc<Vec<TraceRequest>> = Arc::new(trace.to_vec());
        let next = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..clients.clamp(1, trace.len().max(1)) {
            let (trace, next, client, base) = (trace.clone(), next.clone(), self.client.clone(), self.base.clone());
            tasks.spawn(async move {
                let mut out = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(request) = trace.get(i) else { break };
                    let due = start.map(|s| s + Duration::from_millis(request.at_ms));
                    if let Some(due) = due {
                        tokio::time::sleep_until(due).await;
                    }
                    let mut outcome = send(&client, &base, request).await;
                    outcome.lag_ms = due.map_or(0.0, |d| {
                        (Instant::now() - d).as_secs_f64() * 1000.0 - outcome.latency_ms
                    });
                    out.push((i, outcome));
                }
                out
            });
        }
        let mut outcomes: Vec<Outcome> = vec![Outcome::default(); trace.len()];
        while let Some(done) = tasks.join_next().await {
            // A client task that panicked leaves its requests as "no answer" (status 0).
            for (i, outcome) in done.unwrap_or_default() {
                outcomes[i] = outcome;
            }
        }
        outcomes
    }
}

/// The trace's request as a viewer sends it to the edge at `base`: its method, path and
/// headers, a 30 s timeout.
pub fn viewer_request(client: &reqwest::Client, base: &str, request: &TraceRequest) -> reqwest::RequestBuilder {
    let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut builder = client
        .request(method, format!("{base}{}", request.path))
        .timeout(Duration::from_secs(30));
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    builder
}

async fn send(client: &reqwest::Client, base: &str, request: &TraceRequest) -> Outcome {
    let builder = viewer_request(client, base, request);
    let started = Instant::now();
    let latency = || started.elapsed().as_secs_f64() * 1000.0;
    let Ok(response) = builder.send().await else {
        return Outcome {
            latency_ms: latency(),
            ..Outcome::default()
        };
    };
    let status = response.status().as_u16();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
    let x_cache = header("x-cache").unwrap_or("").to_owned();
    // What CloudFront bills as transfer out: status line, headers, body.
    let head_bytes = 17
        + response
            .headers()
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>() as u64;
    let body = response.bytes().await.map(|b| b.len() as u64);
    Outcome {
        status: if body.is_ok() { status } else { 0 },
        x_cache,
        latency_ms: latency(),
        lag_ms: 0.0,
        bytes: head_bytes + body.unwrap_or(0),
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
