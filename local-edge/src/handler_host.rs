//! The built Lambda@Edge package (`wasm-pkg`) in a long-lived Node process, fed one
//! Lambda@Edge event per line (`node/host.js`), as Lambda@Edge runs it.
//!
//! A call that exceeds the trigger's time limit ends the process (Lambda ends an execution
//! environment whose invocation timed out); the next call starts a fresh one. Every process
//! carries a generation number, and only a call made on the current generation can retire
//! it, so a late failure of an old call never kills a newer process.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{oneshot, Mutex};

use crate::error::EdgeError;

/// How long the package may take to load.
const LOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// Why a handler call produced no answer: CloudFront's `LambdaExecutionError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionError(pub String);

type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Result<Value, ExecutionError>>>>>;

struct NodeProcess {
    generation: u64,
    child: std::sync::Mutex<Child>,
    stdin: Mutex<ChildStdin>,
    pending: Pending,
}

impl NodeProcess {
    fn kill(&self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.start_kill();
        }
    }
}

/// Removes a call's reply slot however the call ends (answered, timed out, or dropped
/// because the viewer hung up).
struct PendingSlot {
    pending: Pending,
    id: u64,
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&self.id);
        }
    }
}

/// The Node-hosted handler.
pub struct NodeHost {
    package: PathBuf,
    host_script: PathBuf,
    current: Mutex<Option<Arc<NodeProcess>>>,
    next_id: AtomicU64,
    generations: AtomicU64,
    /// Processes started (the first included).
    pub starts: AtomicU64,
}

impl NodeHost {
    /// A host for the package in `package`; the process starts on first use.
    pub fn new(package: &Path) -> Self {
        NodeHost {
            package: package.to_path_buf(),
            host_script: Path::new(env!("CARGO_MANIFEST_DIR")).join("node").join("host.js"),
            current: Mutex::new(None),
            next_id: AtomicU64::new(1),
            generations: AtomicU64::new(1),
            starts: AtomicU64::new(0),
        }
    }

    /// Calls the handler with one event within `limit` (the trigger's timeout).
    pub async fn invoke(&self, event: &Value, limit: Duration) -> Result<Value, ExecutionError> {
        let process = self.process().await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = process.pending.lock() {
            pending.insert(id, tx);
        }
        let _slot = PendingSlot {
            pending: process.pending.clone(),
            id,
        };
        let line = format!("{}\n", json!({"id": id, "event": event}));
        // The write is inside the limit too: a spinning handler stops reading its stdin.
        // Outer `Err`: the process exited; inner: the handler's own answer or throw.
        let call = async {
            process
                .stdin
                .lock()
                .await
                .write_all(line.as_bytes())
                .await
                .map_err(|_| ())?;
            rx.await.map_err(|_| ())
        };
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(())) => {
                self.retire(process.generation).await;
                Err(ExecutionError("the handler process exited".into()))
            }
            Err(_) => {
                // Lambda ends an environment whose invocation timed out.
                self.retire(process.generation).await;
                Err(ExecutionError(format!("the handler did not answer within {limit:?}")))
            }
        }
    }

    /// Ends the current process if it is still `generation`.
    async fn retire(&self, generation: u64) {
        let mut current = self.current.lock().await;
        if current.as_ref().is_some_and(|p| p.generation == generation) {
            if let Some(p) = current.take() {
                p.kill();
            }
        }
    }

    /// Ends the process (the edge is stopping).
    pub async fn shutdown(&self) {
        if let Some(p) = self.current.lock().await.take() {
            p.kill();
        }
    }

    async fn process(&self) -> Result<Arc<NodeProcess>, ExecutionError> {
        let mut current = self.current.lock().await;
        if let Some(p) = current.as_ref() {
            return Ok(p.clone());
        }
        let generation = self.generations.fetch_add(1, Ordering::Relaxed);
        let started = tokio::time::timeout(LOAD_TIMEOUT, start_node(&self.host_script, &self.package, generation))
            .await
            .map_err(|_| ExecutionError("the handler package did not load in time".into()))?
            .map_err(|e| ExecutionError(e.to_string()))?;
        self.starts.fetch_add(1, Ordering::Relaxed);
        let process = Arc::new(started);
        *current = Some(process.clone());
        Ok(process)
    }
}

async fn start_node(host_script: &Path, package: &Path, generation: u64) -> Result<NodeProcess, EdgeError> {
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
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(EdgeError::Setup("the handler process has no pipes".into()));
    };
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
            let Some(tx) = readers.lock().ok().and_then(|mut p| p.remove(&id)) else {
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
        if let Ok(mut p) = readers.lock() {
            p.clear();
        }
    });
    Ok(NodeProcess {
        generation,
        child: std::sync::Mutex::new(child),
        stdin: Mutex::new(stdin),
        pending,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A package whose handler never answers `{"hang": true}` and echoes anything else.
    fn package() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("local-edge-host-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("index.js"),
            "exports.handler = async (e) => e.hang ? new Promise(() => {}) : { echo: e.n };\n",
        )
        .unwrap();
        dir
    }

    #[tokio::test]
    async fn a_timed_out_process_is_replaced_and_a_late_retire_never_ends_its_successor() {
        let dir = package();
        let host = NodeHost::new(&dir);
        let limit = Duration::from_secs(5);
        assert_eq!(host.invoke(&json!({"n": 1}), limit).await, Ok(json!({"echo": 1})));
        let first = host.current.lock().await.as_ref().unwrap().generation;
        let timed_out = host.invoke(&json!({"hang": true}), Duration::from_millis(200)).await;
        assert!(timed_out.unwrap_err().0.contains("did not answer"));
        assert!(
            host.current.lock().await.is_none(),
            "the process that timed out is gone"
        );
        assert_eq!(host.invoke(&json!({"n": 2}), limit).await, Ok(json!({"echo": 2})));
        // A failure reported late by a call made on the first process…
        host.retire(first).await;
        // …leaves its successor running.
        assert_eq!(host.invoke(&json!({"n": 3}), limit).await, Ok(json!({"echo": 3})));
        assert_eq!(host.starts.load(Ordering::Relaxed), 2);
        host.shutdown().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
