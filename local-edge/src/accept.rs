//! The accept loop every server of the edge runs (the viewer listener, the function URL,
//! each Runtime API): it never stops on an error, and it holds at most a cap of
//! connections.
//!
//! - **Errors are logged and backed off, never fatal.** A failed `accept` — descriptors
//!   exhausted (`EMFILE`, `ENFILE`), buffers short, a connection reset before it was taken —
//!   is logged to stderr; the loop waits (10 ms, doubling to 1 s while errors go on) and
//!   accepts again, so the port answers again once descriptors are released.
//! - **A connection cap**: a connection is accepted only with a free slot; at the cap the
//!   loop stops accepting until a connection closes, and new ones wait in the kernel's
//!   backlog (no answer is invented for them).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// The first wait after a failed `accept`.
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
/// The longest wait between two failed `accept`s.
const LAST_BACKOFF: Duration = Duration::from_secs(1);

/// Accepts connections on `listener` until the task is aborted, at most `cap` open at once,
/// each served by `serve` in a task of its own. `what` names the server in the log.
pub(crate) fn accept_loop<F, Fut>(
    listener: TcpListener,
    cap: usize,
    what: &'static str,
    serve: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn(TcpStream, SocketAddr) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(cap.clamp(1, Semaphore::MAX_PERMITS)));
    tokio::spawn(async move {
        let mut backoff = FIRST_BACKOFF;
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            match listener.accept().await {
                Ok((stream, peer)) => {
                    backoff = FIRST_BACKOFF;
                    let connection = serve(stream, peer);
                    tokio::spawn(async move {
                        connection.await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    drop(slot);
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::ConnectionAborted | std::io::ErrorKind::ConnectionReset
                    ) {
                        // The viewer left before it was taken: nothing to wait for.
                        continue;
                    }
                    let line = serde_json::json!({
                        "level": "warn",
                        "message": format!("{what}: accept failed; accepting again in {} ms", backoff.as_millis()),
                        "error": e.to_string(),
                    });
                    eprintln!("{line}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(LAST_BACKOFF);
                }
            }
        }
    })
}
