//! The built Lambda@Edge package (`wasm-pkg`) in long-lived Node processes, fed one
//! Lambda@Edge event per line (`node/host.js`): a **pool** of them, as CloudFront runs many
//! instances of a function.
//!
//! **A viewer cannot break an instance.** Each process has one writer, a task that owns its
//! stdin and writes whole lines from a queue ([`crate::handler_process`]); a call only
//! queues its complete line, or nothing if it is dropped first. A viewer hanging up
//! mid-call therefore never leaves half an event in the pipe, however full it is, and an
//! event whose viewer is gone before its turn is never written at all.
//!
//! A call that exceeds the trigger's time limit ends its process (Lambda ends an execution
//! environment whose invocation timed out), and so does a process that exits: that instance
//! starts a fresh process on its next call, and the calls on the other instances go on.
//! Every process carries a generation number, and only a call made on the current
//! generation can retire it, so a late failure of an old call never kills a newer process.
//!
//! A call goes to the instance with the fewest calls in flight, a running one before one not
//! started yet: sequential traffic stays on one warm instance, concurrency spreads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{oneshot, Mutex};

pub use crate::handler_process::ExecutionError;
use crate::handler_process::{start_node, NodeProcess, PendingSlot};

/// How long the package may take to load.
const LOAD_TIMEOUT: Duration = Duration::from_secs(20);

/// One instance of the function: its current process, if any, and the calls on it.
#[derive(Default)]
struct Instance {
    current: Mutex<Option<Arc<NodeProcess>>>,
    in_flight: AtomicUsize,
    running: AtomicBool,
}

/// Counts a call on an instance for as long as it lasts, however it ends.
struct Busy<'a>(&'a Instance);

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The Node-hosted handler: a pool of instances.
pub struct NodeHost {
    package: PathBuf,
    host_script: PathBuf,
    instances: Vec<Instance>,
    next_id: AtomicU64,
    generations: AtomicU64,
    /// Processes started (the first of each instance included).
    pub starts: AtomicU64,
    /// Processes ended because a call on them timed out or they exited mid-call.
    pub replacements: AtomicU64,
    /// Events sent to the handler.
    pub invocations: AtomicU64,
}

impl NodeHost {
    /// A pool of `instances` (at least one) for the package in `package`; each instance's
    /// process starts on its first call.
    pub fn new(package: &Path, instances: usize) -> Self {
        NodeHost {
            package: package.to_path_buf(),
            host_script: Path::new(env!("CARGO_MANIFEST_DIR")).join("node").join("host.js"),
            instances: (0..instances.max(1)).map(|_| Instance::default()).collect(),
            next_id: AtomicU64::new(1),
            generations: AtomicU64::new(1),
            starts: AtomicU64::new(0),
            replacements: AtomicU64::new(0),
            invocations: AtomicU64::new(0),
        }
    }

    /// The instance the next call goes to: fewest calls in flight, a running one first.
    fn pick(&self) -> &Instance {
        let load = |i: &Instance| (i.in_flight.load(Ordering::Relaxed), !i.running.load(Ordering::Relaxed));
        let mut best = &self.instances[0];
        for instance in &self.instances[1..] {
            if load(instance) < load(best) {
                best = instance;
            }
        }
        best
    }

    /// Calls the handler with one event within `limit` (the trigger's timeout).
    pub async fn invoke(&self, event: &Value, limit: Duration) -> Result<Value, ExecutionError> {
        self.invocations.fetch_add(1, Ordering::Relaxed);
        let instance = self.pick();
        instance.in_flight.fetch_add(1, Ordering::Relaxed);
        let _busy = Busy(instance);
        let process = self.process(instance).await?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let _slot = PendingSlot::open(&process.pending, id, tx);
        // The whole line is built before anything is queued: a call dropped at any await
        // below has queued either all of it or none of it.
        let mut line = serde_json::to_vec(&json!({"id": id, "event": event}))
            .map_err(|e| ExecutionError(format!("the event could not be written: {e}")))?;
        line.push(b'\n');
        // The queueing is inside the limit too: a spinning handler stops reading its stdin.
        // Outer `Err`: the process exited; inner: the handler's own answer or throw.
        let call = async {
            if process.exited() {
                return Err(());
            }
            process.lines.send((id, line)).await.map_err(|_| ())?;
            rx.await.map_err(|_| ())
        };
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(())) => {
                self.retire(instance, process.generation).await;
                Err(ExecutionError("the handler process exited".into()))
            }
            Err(_) => {
                // Lambda ends an environment whose invocation timed out.
                self.retire(instance, process.generation).await;
                Err(ExecutionError(format!("the handler did not answer within {limit:?}")))
            }
        }
    }

    /// Ends the instance's process if it is still `generation`.
    async fn retire(&self, instance: &Instance, generation: u64) {
        let mut current = instance.current.lock().await;
        if current.as_ref().is_some_and(|p| p.generation == generation) {
            if let Some(p) = current.take() {
                instance.running.store(false, Ordering::Relaxed);
                self.replacements.fetch_add(1, Ordering::Relaxed);
                p.kill();
            }
        }
    }

    /// Ends every process (the edge is stopping).
    pub async fn shutdown(&self) {
        for instance in &self.instances {
            if let Some(p) = instance.current.lock().await.take() {
                instance.running.store(false, Ordering::Relaxed);
                p.kill();
            }
        }
    }

    /// The instance's process, started if it has none.
    async fn process(&self, instance: &Instance) -> Result<Arc<NodeProcess>, ExecutionError> {
        let mut current = instance.current.lock().await;
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
        instance.running.store(true, Ordering::Relaxed);
        Ok(process)
    }
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::pin::pin;
    use std::task::Poll;

    use super::*;

    /// A package whose handler never answers `{"hang": true}`, holds Node's only thread for
    /// `busy` ms (so nothing reads its stdin meanwhile), and echoes `n`.
    fn package(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("local-edge-host-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("index.js"),
            "exports.handler = async (e) => {\n\
               if (e.busy) { const end = Date.now() + e.busy; while (Date.now() < end) {} }\n\
               return e.hang ? new Promise(() => {}) : { echo: e.n };\n\
             };\n",
        )
        .unwrap();
        dir
    }

    fn generation(host: &NodeHost, instance: usize) -> Option<u64> {
        host.instances[instance]
            .current
            .try_lock()
            .ok()?
            .as_ref()
            .map(|p| p.generation)
    }

    const LIMIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_timed_out_process_is_replaced_and_a_late_retire_never_ends_its_successor() {
        let dir = package("retire");
        let host = NodeHost::new(&dir, 1);
        assert_eq!(host.invoke(&json!({"n": 1}), LIMIT).await, Ok(json!({"echo": 1})));
        let first = generation(&host, 0).unwrap();
        let timed_out = host.invoke(&json!({"hang": true}), Duration::from_millis(200)).await;
        assert!(timed_out.unwrap_err().0.contains("did not answer"));
        assert_eq!(generation(&host, 0), None, "the process that timed out is gone");
        assert_eq!(host.invoke(&json!({"n": 2}), LIMIT).await, Ok(json!({"echo": 2})));
        // A failure reported late by a call made on the first process…
        host.retire(&host.instances[0], first).await;
        // …leaves its successor running.
        assert_eq!(host.invoke(&json!({"n": 3}), LIMIT).await, Ok(json!({"echo": 3})));
        assert_eq!(host.starts.load(Ordering::Relaxed), 2);
        assert_eq!(host.replacements.load(Ordering::Relaxed), 1);
        host.shutdown().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn one_instance_timing_out_fails_no_call_on_the_others() {
        let dir = package("pool");
        let host = Arc::new(NodeHost::new(&dir, 2));
        assert_eq!(host.invoke(&json!({"n": 1}), LIMIT).await, Ok(json!({"echo": 1})));
        let hanging = {
            let host = host.clone();
            tokio::spawn(async move { host.invoke(&json!({"hang": true}), Duration::from_millis(600)).await })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        // The first instance is busy: these go to the second, and outlive the timeout.
        let slow = host.invoke(&json!({"n": 2, "busy": 700}), LIMIT).await;
        assert_eq!(slow, Ok(json!({"echo": 2})));
        assert!(hanging.await.unwrap().is_err());
        for n in 3..6 {
            assert_eq!(host.invoke(&json!({"n": n}), LIMIT).await, Ok(json!({"echo": n})));
        }
        assert_eq!(
            host.replacements.load(Ordering::Relaxed),
            1,
            "only the instance that timed out"
        );
        host.shutdown().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    /// Polls `call` `polls` times, letting a little time pass between polls (so a write can
    /// fill the pipe), then drops it unfinished, as hyper drops a viewer's request.
    async fn poll_then_drop(call: impl Future, polls: usize) {
        let mut call = pin!(call);
        for _ in 0..polls {
            let ready = std::future::poll_fn(|cx| Poll::Ready(call.as_mut().poll(cx).is_ready())).await;
            if ready {
                return;
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }

    #[tokio::test]
    async fn a_call_dropped_at_any_await_point_never_leaves_a_partial_event() {
        let dir = package("cancel");
        let host = Arc::new(NodeHost::new(&dir, 1));
        assert_eq!(host.invoke(&json!({"n": 0}), LIMIT).await, Ok(json!({"echo": 0})));
        // Several pipes' worth: the write blocks while the handler holds Node's thread.
        let pad = "x".repeat(300_000);
        for polls in 0..10 {
            let busy = {
                let host = host.clone();
                tokio::spawn(async move { host.invoke(&json!({"n": -1, "busy": 150}), LIMIT).await })
            };
            tokio::time::sleep(Duration::from_millis(20)).await;
            poll_then_drop(host.invoke(&json!({"n": 100 + polls, "pad": pad}), LIMIT), polls).await;
            assert_eq!(busy.await.unwrap(), Ok(json!({"echo": -1})), "after {polls} polls");
            let n = polls as i64;
            assert_eq!(
                host.invoke(&json!({"n": n}), LIMIT).await,
                Ok(json!({"echo": n})),
                "after {polls} polls"
            );
        }
        assert_eq!(host.starts.load(Ordering::Relaxed), 1, "never restarted");
        assert_eq!(host.replacements.load(Ordering::Relaxed), 0);
        host.shutdown().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
