//! The origin, run as Lambda runs it: each execution environment is a child process of the
//! real origin binary talking to a Lambda Runtime API served on loopback
//! ([`runtime_api`]). One invocation at a time per environment; an environment starts
//! (cold) on first use; an invocation over the timeout kills its environment, and a crashed
//! environment is replaced on next use.
//!
//! **An environment always returns to the pool.** An invocation holds a [`Lease`] whose
//! `Drop` puts the environment back, and it runs in its own task: a viewer that hangs up
//! (hyper drops the request future) neither loses the environment nor abandons the
//! invocation mid-way. A request that finds no free environment within
//! [`OriginConfig::environment_wait`] gets [`InvokeError::NoEnvironment`] (the function URL's
//! 429, `events::throttled`).

mod runtime_api;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::process::Command;
use tokio::sync::{oneshot, Mutex, OwnedSemaphorePermit, Semaphore};

use runtime_api::{Invocation, Slot};

/// Why an invocation produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// The function reported an error (`/invocation/{id}/error`).
    Function(String),
    /// The function failed to initialize (`/init/error`).
    Init(String),
    /// The invocation ran past the timeout; the environment was killed.
    Timeout,
    /// The environment's process exited during the invocation.
    Crashed,
    /// The environment could not be started.
    Start(String),
    /// No environment became free within the wait limit.
    NoEnvironment,
}

/// How to run the origin.
#[derive(Debug, Clone)]
pub struct OriginConfig {
    /// The origin binary (a Lambda `bootstrap`).
    pub binary: PathBuf,
    /// How many execution environments (default 2).
    pub environments: usize,
    /// The function's timeout.
    pub invocation_timeout: Duration,
    /// How long a request waits for a free environment before the function URL's 429.
    pub environment_wait: Duration,
    /// Extra environment variables for the function (table names, endpoint, secret, …).
    pub env: Vec<(String, String)>,
    /// Where each environment's stdout/stderr go (`env-N.log`); `None`: discarded.
    pub log_dir: Option<PathBuf>,
}

impl OriginConfig {
    /// Defaults (2 environments, 10 s function timeout, 10 s wait) for `binary`.
    pub fn new(binary: PathBuf) -> Self {
        OriginConfig {
            binary,
            environments: 2,
            invocation_timeout: Duration::from_secs(10),
            environment_wait: Duration::from_secs(10),
            env: Vec::new(),
            log_dir: None,
        }
    }
}

/// Counters of one environment.
#[derive(Debug, Default)]
pub struct EnvironmentStats {
    /// Invocations sent to it.
    pub invocations: AtomicU64,
    /// Times its process was started.
    pub cold_starts: AtomicU64,
    /// Times its process exited or was killed during an invocation.
    pub crashes: AtomicU64,
    /// The pid of its current process (0 before the first start).
    pub pid: AtomicU64,
    /// Answers its L1 (the environment's memory) gave, as its `Cache-Status` says.
    pub l1_hits: AtomicU64,
    /// Answers L2 gave (`detail=l2` or `l2-stale`), as its `Cache-Status` says.
    pub l2_hits: AtomicU64,
}

impl EnvironmentStats {
    /// Counts the layer that answered `payload` (a function URL response), if a cache did.
    fn count_layer(&self, payload: &[u8]) {
        let Ok(answer) = serde_json::from_slice::<serde_json::Value>(payload) else {
            return;
        };
        let mut values = Vec::new();
        for map in ["headers", "multiValueHeaders"] {
            let Some(map) = answer[map].as_object() else { continue };
            for (_, value) in map.iter().filter(|(n, _)| n.eq_ignore_ascii_case("cache-status")) {
                match value {
                    serde_json::Value::Array(list) => values.extend(list.iter().filter_map(|v| v.as_str())),
                    other => values.extend(other.as_str()),
                }
            }
        }
        let status = values.iter().flat_map(|v| v.split(','));
        for member in status {
            let params: Vec<&str> = member.split(';').map(str::trim).collect();
            if !params.contains(&"hit") {
                continue;
            }
            match params.iter().find_map(|p| p.strip_prefix("detail=")) {
                Some("l1") => self.l1_hits.fetch_add(1, Ordering::Relaxed),
                Some("l2" | "l2-stale") => self.l2_hits.fetch_add(1, Ordering::Relaxed),
                _ => continue,
            };
        }
    }
}

/// A running environment process with its own Runtime API endpoint.
struct Process {
    slot: Arc<Slot>,
    kill: Option<oneshot::Sender<()>>,
    alive: Arc<AtomicBool>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Process {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}

/// One execution environment.
pub struct Environment {
    index: usize,
    process: Mutex<Option<Process>>,
    /// Its counters.
    pub stats: EnvironmentStats,
}

/// The environments and the queue of idle ones.
pub struct OriginPool {
    config: OriginConfig,
    environments: Vec<Arc<Environment>>,
    idle: std::sync::Mutex<VecDeque<usize>>,
    free: Arc<Semaphore>,
    next_request: AtomicU64,
    /// Requests that found no free environment in time.
    pub throttled: AtomicU64,
}

/// The right to use one environment; dropping it returns the environment to the pool,
/// however the invocation ended.
struct Lease {
    pool: Arc<OriginPool>,
    index: usize,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        // Back in the queue before the permit (a field) is released.
        if let Ok(mut idle) = self.pool.idle.lock() {
            idle.push_back(self.index);
        }
    }
}

impl OriginPool {
    /// The pool; processes start on first use.
    pub fn start(config: OriginConfig) -> Arc<Self> {
        let count = config.environments.max(1);
        let environments = (0..count)
            .map(|index| {
                Arc::new(Environment {
                    index,
                    process: Mutex::new(None),
                    stats: EnvironmentStats::default(),
                })
            })
            .collect();
        Arc::new(OriginPool {
            config,
            environments,
            idle: std::sync::Mutex::new((0..count).collect()),
            free: Arc::new(Semaphore::new(count)),
            next_request: AtomicU64::new(1),
            throttled: AtomicU64::new(0),
        })
    }

    /// The environments, for stats.
    pub fn environments(&self) -> &[Arc<Environment>] {
        &self.environments
    }

    /// Invokes the function with one event on the next idle environment, waiting at most
    /// `environment_wait` for one. The invocation runs in its own task: if the caller goes
    /// away, it still completes and the environment returns to the pool.
    pub async fn invoke(self: &Arc<Self>, event: Bytes) -> Result<Bytes, InvokeError> {
        let permit = match tokio::time::timeout(self.config.environment_wait, self.free.clone().acquire_owned()).await {
            Ok(Ok(permit)) => permit,
            _ => {
                self.throttled.fetch_add(1, Ordering::Relaxed);
                return Err(InvokeError::NoEnvironment);
            }
        };
        let index = self
            .idle
            .lock()
            .ok()
            .and_then(|mut idle| idle.pop_front())
            .ok_or_else(|| InvokeError::Start("the idle queue is out of step".into()))?;
        let lease = Lease {
            pool: self.clone(),
            index,
            _permit: permit,
        };
        let pool = self.clone();
        let invocation = tokio::spawn(async move {
            let env = pool.environments[lease.index].clone();
            let result = pool.invoke_on(&env, event).await;
            drop(lease);
            result
        });
        invocation.await.unwrap_or(Err(InvokeError::Crashed))
    }

    async fn invoke_on(&self, env: &Environment, event: Bytes) -> Result<Bytes, InvokeError> {
        let slot = self.ensure_started(env).await?;
        env.stats.invocations.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("local-{:08}", self.next_request.fetch_add(1, Ordering::Relaxed));
        let (reply_tx, reply_rx) = oneshot::channel();
        slot.expect(request_id.clone(), reply_tx);
        let deadline_ms = crate::clock::wall_ms() + self.config.invocation_timeout.as_millis() as u64;
        let invocation = Invocation {
            request_id,
            body: event,
            deadline_ms,
        };
        if slot.next_tx.send(invocation).await.is_err() {
            return Err(InvokeError::Crashed);
        }
        match tokio::time::timeout(self.config.invocation_timeout, reply_rx).await {
            Ok(Ok(result)) => {
                match &result {
                    Err(InvokeError::Crashed) => {
                        env.stats.crashes.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(payload) => env.stats.count_layer(payload),
                    Err(_) => {}
                }
                result
            }
            Ok(Err(_)) => Err(InvokeError::Crashed),
            Err(_) => {
                slot.abandon();
                env.stats.crashes.fetch_add(1, Ordering::Relaxed);
                // Lambda ends an environment whose invocation timed out. The lease makes
                // this invocation the environment's only user, so the process ended here is
                // the one that timed out.
                env.process.lock().await.take();
                Err(InvokeError::Timeout)
            }
        }
    }

    /// Starts the environment's process if it is not running (a cold start).
    async fn ensure_started(&self, env: &Environment) -> Result<Arc<Slot>, InvokeError> {
        let mut process = env.process.lock().await;
        if let Some(p) = process.as_ref() {
            if p.alive.load(Ordering::Acquire) {
                return Ok(p.slot.clone());
            }
        }
        let slot = Slot::new();
        let (owner, owner_pid) = tokio::sync::watch::channel(0u32);
        let (runtime_api, server) = runtime_api::serve(slot.clone(), owner_pid)
            .await
            .map_err(|e| InvokeError::Start(e.to_string()))?;
        let mut command = Command::new(&self.config.binary);
        command
            .env("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "origin-function")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/origin-function")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/env-{}", env.index))
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "local")
            .env("AWS_SECRET_ACCESS_KEY", "local")
            .envs(self.config.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        match &self.config.log_dir {
            Some(dir) => {
                let _ = std::fs::create_dir_all(dir);
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(dir.join(format!("env-{}.log", env.index)))
                    .map_err(|e| InvokeError::Start(e.to_string()))?;
                let err = file.try_clone().map_err(|e| InvokeError::Start(e.to_string()))?;
                command.stdout(file).stderr(err);
            }
            None => {
                command.stdout(Stdio::null()).stderr(Stdio::null());
            }
        }
        let mut child = command
            .spawn()
            .map_err(|e| InvokeError::Start(format!("{}: {e}", self.config.binary.display())))?;
        env.stats.cold_starts.fetch_add(1, Ordering::Relaxed);
        let pid = child.id().unwrap_or(0);
        // Its Runtime API serves this process only.
        owner.send_replace(pid);
        env.stats.pid.store(u64::from(pid), Ordering::Relaxed);
        let alive = Arc::new(AtomicBool::new(true));
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        let (watch_alive, watch_slot) = (alive.clone(), slot.clone());
        tokio::spawn(async move {
            tokio::select! {
                _ = child.wait() => {}
                _ = kill_rx => { let _ = child.kill().await; }
            }
            watch_alive.store(false, Ordering::Release);
            watch_slot.finish(None, Err(InvokeError::Crashed));
        });
        *process = Some(Process {
            slot: slot.clone(),
            kill: Some(kill_tx),
            alive,
            server,
        });
        Ok(slot)
    }

    /// Stops every environment's process.
    pub async fn shutdown(&self) {
        for env in &self.environments {
            env.process.lock().await.take();
        }
    }
}
