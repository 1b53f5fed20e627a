//! Runs the Lambda@Edge handler: the built `wasm-pkg` in a long-lived Node process (the
//! default, as Lambda@Edge runs it), or the policy crate linked natively (`--native`).

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{oneshot, Mutex};

use crate::EdgeError;

/// Why a handler call produced no answer: CloudFront's `LambdaExecutionError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionError(pub String);

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Result<Value, ExecutionError>>>>>;

struct NodeProcess {
    _child: Child,
    stdin: ChildStdin,
    pending: Pending,
}

/// The handler, however it runs.
pub struct EdgeHandler(Runner);

enum Runner {
    /// `require(<pkg>/index.js).handler` in a Node process, restarted if it dies.
    Node(Box<NodeRunner>),
    /// `edge_policy::event::handle`, linked in.
    Native,
}

struct NodeRunner {
    package: std::path::PathBuf,
    host_script: std::path::PathBuf,
    process: Mutex<Option<NodeProcess>>,
    next_id: AtomicU64,
}

impl EdgeHandler {
    /// A Node-hosted handler for the package in `package`; the process starts on first use.
    pub fn node(package: &Path) -> Self {
        let host_script = Path::new(env!("CARGO_MANIFEST_DIR")).join("node").join("host.js");
        EdgeHandler(Runner::Node(Box::new(NodeRunner {
            package: package.to_path_buf(),
            host_script,
            process: Mutex::new(None),
            next_id: AtomicU64::new(1),
        })))
    }

    /// The policy crate linked in (`--native`).
    pub fn native() -> Self {
        EdgeHandler(Runner::Native)
    }

    /// Calls the handler with one event; `timeout` is the trigger's limit (5 s viewer, 30 s origin).
    pub async fn invoke(&self, event: &Value, timeout: Duration) -> Result<Value, ExecutionError> {
        match &self.0 {
            Runner::Native => {
                let event: edge_policy::event::Event =
                    serde_json::from_value(event.clone()).map_err(|e| ExecutionError(format!("event: {e}")))?;
                let now_ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                match edge_policy::event::handle(edge_policy::RuleSet::embedded(), &event, now_ms) {
                    Ok((result, _)) => serde_json::to_value(result).map_err(|e| ExecutionError(e.to_string())),
                    Err(e) => Err(ExecutionError(e.to_string())),
                }
            }
            Runner::Node(node) => {
                let NodeRunner {
                    package,
                    host_script,
                    process,
                    next_id,
                } = node.as_ref();
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let (tx, rx) = oneshot::channel();
                {
                    let mut guard = process.lock().await;
                    if guard.is_none() {
                        *guard = Some(
                            start_node(host_script, package)
                                .await
                                .map_err(|e| ExecutionError(e.to_string()))?,
                        );
                    }
                    let node = guard.as_mut().expect("started above");
                    node.pending.lock().expect("pending lock").insert(id, tx);
                    let line = format!("{}\n", json!({"id": id, "event": event}));
                    if node.stdin.write_all(line.as_bytes()).await.is_err() {
                        // The process died: drop it so the next call starts a fresh one.
                        *guard = None;
                        return Err(ExecutionError("the handler process exited".into()));
                    }
                }
                match tokio::time::timeout(timeout, rx).await {
                    Ok(Ok(answer)) => answer,
                    Ok(Err(_)) => {
                        *process.lock().await = None;
                        Err(ExecutionError("the handler process exited".into()))
                    }
                    Err(_) => Err(ExecutionError(format!("the handler did not answer within {timeout:?}"))),
                }
            }
        }
    }
}

async fn start_node(host_script: &Path, package: &Path) -> Result<NodeProcess, EdgeError> {
    let process_error = |source| EdgeError::Process {
        what: format!("node {}", host_script.display()),
        source,
    };
    let mut child = Command::new("node")
        .arg(host_script)
        .arg(package)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(process_error)?;
    let stdin = child.stdin.take().expect("piped");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines();
    // The host says it is ready once the package has loaded.
    match lines.next_line().await {
        Ok(Some(line)) if line.contains("\"ready\"") => {}
        other => return Err(EdgeError::Setup(format!("the handler package did not load: {other:?}"))),
    }
    let pending: Pending = Arc::default();
    let readers = pending.clone();
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            let Ok(msg) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let Some(id) = msg["id"].as_u64() else { continue };
            let Some(tx) = readers.lock().expect("pending lock").remove(&id) else {
                continue;
            };
            let answer = if msg["ok"] == Value::Bool(true) {
                Ok(msg["result"].clone())
            } else {
                Err(ExecutionError(
                    msg["error"].as_str().unwrap_or("handler failed").to_owned(),
                ))
            };
            let _ = tx.send(answer);
        }
        // EOF: every waiter's sender is dropped with the map, so they see the process exit.
        readers.lock().expect("pending lock").clear();
    });
    Ok(NodeProcess {
        _child: child,
        stdin,
        pending,
    })
}
