//! The origin, run as Lambda runs it: each execution environment is a child process of the
//! real origin binary talking to a Lambda Runtime API that this module serves on loopback
//! (`AWS_LAMBDA_RUNTIME_API`). One invocation at a time per environment; an environment
//! starts (cold) on first use; an invocation over the timeout kills its environment, and a
//! crashed environment is replaced on next use.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{mpsc, oneshot, Mutex};

use crate::EdgeError;

const RUNTIME: &str = "/2018-06-01/runtime";

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
    /// Extra environment variables for the function (table names, endpoint, …).
    pub env: Vec<(String, String)>,
    /// Where each environment's stdout/stderr go (`env-N.log`); `None`: discarded.
    pub log_dir: Option<PathBuf>,
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
}

struct Invocation {
    request_id: String,
    body: Bytes,
    deadline_ms: u64,
}

#[derive(Default)]
struct InFlight {
    request_id: String,
    reply: Option<oneshot::Sender<Result<Bytes, InvokeError>>>,
}

/// What the Runtime API server and the invoker share.
struct Slot {
    next_tx: mpsc::Sender<Invocation>,
    next_rx: Mutex<mpsc::Receiver<Invocation>>,
    in_flight: std::sync::Mutex<InFlight>,
}

impl Slot {
    fn finish(&self, request_id: Option<&str>, result: Result<Bytes, InvokeError>) {
        let mut in_flight = self.in_flight.lock().expect("in-flight lock");
        if request_id.is_none_or(|id| id == in_flight.request_id) {
            if let Some(reply) = in_flight.reply.take() {
                let _ = reply.send(result);
            }
        }
    }
}

/// A running environment process with its own Runtime API endpoint. Each process gets a
/// fresh endpoint, so a dead process's pending `/next` can never take an invocation meant
/// for its replacement.
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
    idle_rx: Mutex<mpsc::Receiver<usize>>,
    idle_tx: mpsc::Sender<usize>,
    next_request: AtomicU64,
}

impl OriginPool {
    /// Starts one Runtime API server per environment; processes start on first use.
    pub async fn start(config: OriginConfig) -> Result<Arc<Self>, EdgeError> {
        let count = config.environments.max(1);
        let (idle_tx, idle_rx) = mpsc::channel(count);
        let mut environments = Vec::with_capacity(count);
        for index in 0..count {
            environments.push(Arc::new(Environment {
                index,
                process: Mutex::new(None),
                stats: EnvironmentStats::default(),
            }));
            idle_tx.send(index).await.expect("capacity is the count");
        }
        Ok(Arc::new(OriginPool {
            config,
            environments,
            idle_rx: Mutex::new(idle_rx),
            idle_tx,
            next_request: AtomicU64::new(1),
        }))
    }

    /// The environments, for stats.
    pub fn environments(&self) -> &[Arc<Environment>] {
        &self.environments
    }

    /// Invokes the function with one event on the next idle environment.
    pub async fn invoke(&self, event: Bytes) -> Result<Bytes, InvokeError> {
        let index = self.idle_rx.lock().await.recv().await.expect("the pool holds a sender");
        let env = self.environments[index].clone();
        let result = self.invoke_on(&env, event).await;
        let _ = self.idle_tx.send(index).await;
        result
    }

    async fn invoke_on(&self, env: &Environment, event: Bytes) -> Result<Bytes, InvokeError> {
        let slot = self.ensure_started(env).await?;
        env.stats.invocations.fetch_add(1, Ordering::Relaxed);
        let request_id = format!("local-{:08}", self.next_request.fetch_add(1, Ordering::Relaxed));
        let (reply_tx, reply_rx) = oneshot::channel();
        *slot.in_flight.lock().expect("in-flight lock") = InFlight {
            request_id: request_id.clone(),
            reply: Some(reply_tx),
        };
        let deadline_ms = now_ms() + self.config.invocation_timeout.as_millis() as u64;
        if slot
            .next_tx
            .send(Invocation {
                request_id,
                body: event,
                deadline_ms,
            })
            .await
            .is_err()
        {
            return Err(InvokeError::Crashed);
        }
        match tokio::time::timeout(self.config.invocation_timeout, reply_rx).await {
            Ok(Ok(result)) => {
                if matches!(result, Err(InvokeError::Crashed)) {
                    env.stats.crashes.fetch_add(1, Ordering::Relaxed);
                }
                result
            }
            Ok(Err(_)) => Err(InvokeError::Crashed),
            Err(_) => {
                slot.in_flight.lock().expect("in-flight lock").reply = None;
                env.stats.crashes.fetch_add(1, Ordering::Relaxed);
                // Lambda ends an environment whose invocation timed out.
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
        let (next_tx, next_rx) = mpsc::channel(1);
        let slot = Arc::new(Slot {
            next_tx,
            next_rx: Mutex::new(next_rx),
            in_flight: Default::default(),
        });
        let (runtime_api, server) = serve_runtime_api(slot.clone())
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
        env.stats
            .pid
            .store(u64::from(child.id().unwrap_or(0)), Ordering::Relaxed);
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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn reply(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    response
}

/// One Runtime API request.
async fn runtime_api(slot: Arc<Slot>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let Some(rest) = path.strip_prefix(RUNTIME) else {
        return Ok(reply(StatusCode::NOT_FOUND, "{}"));
    };
    if method == Method::GET && rest == "/invocation/next" {
        let invocation = slot.next_rx.lock().await.recv().await;
        let Some(invocation) = invocation else {
            return Ok(reply(StatusCode::INTERNAL_SERVER_ERROR, "{}"));
        };
        let response = Response::builder()
            .status(StatusCode::OK)
            .header("Lambda-Runtime-Aws-Request-Id", &invocation.request_id)
            .header("Lambda-Runtime-Deadline-Ms", invocation.deadline_ms.to_string())
            .header(
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-1:000000000000:function:origin-function",
            )
            .header(
                "Lambda-Runtime-Trace-Id",
                format!("Root=1-00000000-{};Sampled=0", invocation.request_id),
            )
            .header("Content-Type", "application/json")
            .body(Full::new(invocation.body))
            .expect("valid response");
        return Ok(response);
    }
    if method != Method::POST {
        return Ok(reply(StatusCode::METHOD_NOT_ALLOWED, "{}"));
    }
    let body = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    if rest == "/init/error" {
        slot.finish(
            None,
            Err(InvokeError::Init(String::from_utf8_lossy(&body).into_owned())),
        );
        return Ok(reply(StatusCode::ACCEPTED, "{\"status\":\"OK\"}"));
    }
    if let Some(rest) = rest.strip_prefix("/invocation/") {
        if let Some(id) = rest.strip_suffix("/response") {
            slot.finish(Some(id), Ok(body));
            return Ok(reply(StatusCode::ACCEPTED, "{\"status\":\"OK\"}"));
        }
        if let Some(id) = rest.strip_suffix("/error") {
            slot.finish(
                Some(id),
                Err(InvokeError::Function(String::from_utf8_lossy(&body).into_owned())),
            );
            return Ok(reply(StatusCode::ACCEPTED, "{\"status\":\"OK\"}"));
        }
    }
    Ok(reply(StatusCode::NOT_FOUND, "{}"))
}

async fn serve_runtime_api(slot: Arc<Slot>) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), EdgeError> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|source| EdgeError::Bind {
            addr: "127.0.0.1:0".into(),
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| EdgeError::Bind {
        addr: "127.0.0.1:0".into(),
        source,
    })?;
    let server = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let slot = slot.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| runtime_api(slot.clone(), req));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok((addr, server))
}
