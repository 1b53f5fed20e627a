//! One Node process hosting the Lambda@Edge package (`node/host.js`): started, then fed
//! whole lines by its one writer and read back by its one reader.
//!
//! The writer is a task that owns the process's stdin and takes complete lines from a
//! queue, so what reaches the pipe is always a sequence of whole events, whatever happens to
//! the calls that queued them. A line whose call has gone by the time its turn comes (the
//! viewer hung up) is skipped, so abandoned events cost the handler nothing; one whose write
//! has begun is written to its end. The reader hands each answer to the call waiting for its
//! id; an answer nobody waits for any more is dropped.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, oneshot};

use crate::error::EdgeError;

/// How many whole lines may wait for the writer (each call queues one).
const QUEUED_LINES: usize = 256;

/// Why a handler call produced no answer: CloudFront's `LambdaExecutionError`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionError(pub String);

/// The calls waiting for an answer, by id.
pub(crate) type Pending = Arc<std::sync::Mutex<HashMap<u64, oneshot::Sender<Result<Value, ExecutionError>>>>>;

/// A running Node process.
pub(crate) struct NodeProcess {
    /// Which start of its instance this is.
    pub(crate) generation: u64,
    child: std::sync::Mutex<Child>,
    /// Whole lines (an event and its `\n`), by call id, for the writer.
    pub(crate) lines: mpsc::Sender<(u64, Vec<u8>)>,
    /// The calls waiting for an answer.
    pub(crate) pending: Pending,
    /// Its stdout ended: it exited, or is about to.
    exited: Arc<AtomicBool>,
}

impl NodeProcess {
    /// Whether its stdout has ended. A call that opened its reply slot and then sees this
    /// `false` will get an answer or see the exit (the reader marks the exit before it drops
    /// the slots).
    pub(crate) fn exited(&self) -> bool {
        self.exited.load(Ordering::Acquire)
    }

    /// Ends the process; its calls in flight see it exit.
    pub(crate) fn kill(&self) {
        if let Ok(mut child) = self.child.lock() {
            let _ = child.start_kill();
        }
    }
}

/// A call's reply slot, removed however the call ends (answered, timed out, or dropped
/// because the viewer hung up).
pub(crate) struct PendingSlot {
    pending: Pending,
    id: u64,
}

impl PendingSlot {
    /// Waits for the answer to `id` on `reply`.
    pub(crate) fn open(
        pending: &Pending,
        id: u64,
        reply: oneshot::Sender<Result<Value, ExecutionError>>,
    ) -> PendingSlot {
        if let Ok(mut calls) = pending.lock() {
            calls.insert(id, reply);
        }
        PendingSlot {
            pending: pending.clone(),
            id,
        }
    }
}

impl Drop for PendingSlot {
    fn drop(&mut self) {
        if let Ok(mut pending) = self.pending.lock() {
            pending.remove(&self.id);
        }
    }
}

/// Starts `node host_script package`, waits until the package has loaded, and starts its
/// writer and reader.
pub(crate) async fn start_node(host_script: &Path, package: &Path, generation: u64) -> Result<NodeProcess, EdgeError> {
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
    let (Some(mut stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(EdgeError::Setup("the handler process has no pipes".into()));
    };
    let mut lines = BufReader::new(stdout).lines();
    // The host says it is ready once the package has loaded.
    match lines.next_line().await {
        Ok(Some(line)) if line.contains("\"ready\"") => {}
        other => return Err(EdgeError::Setup(format!("the handler package did not load: {other:?}"))),
    }
    let pending: Pending = Arc::default();
    let (queue, mut queued) = mpsc::channel::<(u64, Vec<u8>)>(QUEUED_LINES);
    let waiting = pending.clone();
    // The one writer: whole lines, in order, until the process or the queue goes.
    tokio::spawn(async move {
        while let Some((id, line)) = queued.recv().await {
            let wanted = waiting.lock().is_ok_and(|calls| calls.contains_key(&id));
            if wanted && stdin.write_all(&line).await.is_err() {
                break;
            }
        }
    });
    let exited = Arc::new(AtomicBool::new(false));
    let (readers, reader_saw_exit) = (pending.clone(), exited.clone());
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
        reader_saw_exit.store(true, Ordering::Release);
        if let Ok(mut p) = readers.lock() {
            p.clear();
        }
    });
    Ok(NodeProcess {
        generation,
        child: std::sync::Mutex::new(child),
        lines: queue,
        pending,
        exited,
    })
}
