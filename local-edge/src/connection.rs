//! One viewer connection, held the way CloudFront holds it: a request head must arrive
//! whole and in time, an idle connection is closed, and a head over CloudFront's size limit
//! never reaches the HTTP parser.
//!
//! - **Header-read timeout**: from the first byte of a request head, the whole head must
//!   arrive within [`ConnectionLimits::header_read_timeout`]; a slow head ("slow loris") is
//!   closed without an answer.
//! - **Idle timeout**: a connection with no request in progress that sends and receives
//!   nothing for [`ConnectionLimits::idle_timeout`] is closed (a keep-alive connection
//!   between requests, one that never sends a byte, one that stops reading its answer). A
//!   request the edge is still working on is never idle.
//! - **Head size**: the bytes of a request head are held back ([`GatedIo`]) until its end
//!   (the empty line) is seen within [`ConnectionLimits::max_head_bytes`]; past that, the
//!   parser is handed a one-line stand-in request and the connection is marked
//!   ([`Watch::head_too_large`]), so the service answers CloudFront's 413 and closes — the
//!   oversize head is read and dropped, never buffered whole.
//!
//! The timeouts are real time (tokio's clock), not the edge's test clock: they are the
//! network's, not the cache's.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::{Instant, Sleep};

use crate::request_limits::MAX_REQUEST_BYTES;

/// How a listener holds its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request head must be whole within this long of its first byte.
    pub header_read_timeout: Duration,
    /// A connection with no request in progress and no traffic for this long is closed.
    pub idle_timeout: Duration,
    /// Most connections open at once; over it the listener stops accepting until one
    /// closes (new ones wait in the kernel's backlog). `None`: [`default_max_connections`].
    pub max_connections: Option<usize>,
    /// The largest request head, bytes, before the service is told to answer 413; `None`:
    /// not checked.
    pub max_head_bytes: Option<usize>,
}

/// The default header-read timeout.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// The default idle timeout.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The most connections a listener holds by default, below the descriptor limit or not.
pub const MAX_CONNECTIONS: usize = 1024;
/// Descriptors kept for everything but viewer connections (the Runtime API's connections,
/// the handler processes' pipes, children's stdio, logs, the runtime's own).
pub const RESERVED_DESCRIPTORS: u64 = 128;

impl ConnectionLimits {
    /// The edge's viewer listener: the default timeouts and cap, and CloudFront's request
    /// limit of 20,480 bytes on the head ([`MAX_REQUEST_BYTES`]).
    pub fn viewer() -> Self {
        ConnectionLimits {
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_connections: None,
            max_head_bytes: Some(MAX_REQUEST_BYTES),
        }
    }

    /// The connection cap: the configured one, or [`default_max_connections`].
    pub fn cap(&self) -> usize {
        self.max_connections.unwrap_or_else(default_max_connections).max(1)
    }
}

/// [`MAX_CONNECTIONS`], or fewer: the soft `RLIMIT_NOFILE` less [`RESERVED_DESCRIPTORS`],
/// so that viewer connections alone can never exhaust the process's descriptors.
pub fn default_max_connections() -> usize {
    cap_below(descriptor_limit())
}

fn cap_below(descriptors: Option<u64>) -> usize {
    let room = descriptors.map_or(u64::MAX, |d| d.saturating_sub(RESERVED_DESCRIPTORS).max(1));
    usize::try_from(room).unwrap_or(usize::MAX).min(MAX_CONNECTIONS)
}

/// The soft limit on open descriptors, when the platform tells.
fn descriptor_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: `limit` is a valid, writable rlimit; `getrlimit` writes only into it.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 && limit.rlim_cur != libc::RLIM_INFINITY {
            // `rlim_t` is `u64` on Linux, not on every Unix.
            #[allow(clippy::useless_conversion)]
            return u64::try_from(limit.rlim_cur).ok();
        }
    }
    None
}

/// What the connection's reader, its service and its watchdog share.
#[derive(Debug)]
pub struct Watch {
    opened: Instant,
    /// Last byte read or written, ms after `opened`.
    last_io_ms: AtomicU64,
    /// First byte of the head being read, ms after `opened` (`NO_HEAD`: none).
    head_started_ms: AtomicU64,
    /// Requests the service is working on.
    in_request: AtomicUsize,
    /// Requests the service has finished.
    finished: AtomicU64,
    head_too_large: AtomicBool,
    changed: Notify,
}

const NO_HEAD: u64 = u64::MAX;

/// A request the service is working on: the connection is not idle meanwhile.
pub struct InRequest(Arc<Watch>);

impl Drop for InRequest {
    fn drop(&mut self) {
        let watch = &self.0;
        watch.touch();
        watch.finished.fetch_add(1, Ordering::AcqRel);
        watch.in_request.fetch_sub(1, Ordering::AcqRel);
        watch.changed.notify_one();
    }
}

impl Watch {
    fn new() -> Arc<Watch> {
        Arc::new(Watch {
            opened: Instant::now(),
            last_io_ms: AtomicU64::new(0),
            head_started_ms: AtomicU64::new(NO_HEAD),
            in_request: AtomicUsize::new(0),
            finished: AtomicU64::new(0),
            head_too_large: AtomicBool::new(false),
            changed: Notify::new(),
        })
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn touch(&self) {
        self.last_io_ms.store(self.elapsed_ms(), Ordering::Release);
    }

    /// `n` bytes came in: traffic, and the start of a head if none is being read.
    fn received(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.touch();
        if self.in_request.load(Ordering::Acquire) == 0 {
            let started =
                self.head_started_ms
                    .compare_exchange(NO_HEAD, self.elapsed_ms(), Ordering::AcqRel, Ordering::Acquire);
            if started.is_ok() {
                self.changed.notify_one();
            }
        }
    }

    /// The service begins a request (its head is whole): held until the guard drops.
    pub fn begin(self: &Arc<Self>) -> InRequest {
        self.in_request.fetch_add(1, Ordering::AcqRel);
        self.head_started_ms.store(NO_HEAD, Ordering::Release);
        self.changed.notify_one();
        InRequest(self.clone())
    }

    /// Whether the head the service was handed stands in for one over the size limit: the
    /// answer is CloudFront's 413, and the connection closes.
    pub fn head_too_large(&self) -> bool {
        self.head_too_large.load(Ordering::Acquire)
    }

    /// When the connection is to be closed as it stands now (`None`: a request is in
    /// progress).
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_request.load(Ordering::Acquire) > 0 {
            return None;
        }
        let at = |ms: u64, after: Duration| self.opened + Duration::from_millis(ms) + after;
        Some(match self.head_started_ms.load(Ordering::Acquire) {
            NO_HEAD => at(self.last_io_ms.load(Ordering::Acquire), limits.idle_timeout),
            started => at(started, limits.header_read_timeout),
        })
    }

    /// Returns when the connection has been idle, or its head slow, past the limits.
    async fn expired(&self, limits: &ConnectionLimits) {
        loop {
            let changed = self.changed.notified();
            match self.deadline(limits) {
                None => changed.await,
                Some(at) if at <= Instant::now() => return,
                Some(at) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(at) => {}
                        () = changed => {}
                    }
                }
            }
        }
    }
}

/// The stand-in request the parser gets in place of a head over the size limit.
const STAND_IN: &[u8] = b"GET / HTTP/1.1\r\n\r\n";

/// How long a refused connection keeps reading (and dropping) what the viewer still sends
/// after its 413, so that closing it does not reset the answer away.
const LINGER: Duration = Duration::from_secs(2);

/// What the reader does with the bytes that come in.
enum Gate {
    /// Bytes pass (a request in progress reads its body; no head limit).
    Pass,
    /// A head is awaited: its bytes are held back until it ends within the limit.
    Head(Vec<u8>),
    /// Handing held bytes to the parser.
    Release(Vec<u8>, usize),
    /// The head was over the limit: the stand-in request, then everything dropped.
    Refused(usize),
}

/// A stream whose reads and writes count as traffic and whose request heads are held to the
/// size limit (module docs).
pub struct GatedIo<S> {
    io: S,
    watch: Arc<Watch>,
    gate: Gate,
    max_head_bytes: Option<usize>,
    /// Requests finished when the gate last passed a head.
    finished_seen: u64,
    write_closed: bool,
    linger: Option<Pin<Box<Sleep>>>,
}

/// Where a request head that starts `held` ends (just past its empty line), searching from
/// `from`. Empty lines before the request line are skipped, as RFC 9112 §2.2 lets a server
/// do ("a server that is expecting to receive and parse a request-line SHOULD ignore at
/// least one empty line (CRLF) received prior to the request-line").
fn head_end(held: &[u8], from: usize) -> Option<usize> {
    let start = held.iter().take_while(|b| matches!(b, b'\r' | b'\n')).count();
    let from = from.max(start);
    (from..held.len()).find_map(|i| {
        if held[i] != b'\n' {
            return None;
        }
        match held.get(i + 1..) {
            Some([b'\n', ..]) => Some(i + 2),
            Some([b'\r', b'\n', ..]) => Some(i + 3),
            _ => None,
        }
    })
}

impl<S> GatedIo<S> {
    fn new(io: S, watch: Arc<Watch>, max_head_bytes: Option<usize>) -> Self {
        GatedIo {
            io,
            watch,
            gate: match max_head_bytes {
                Some(_) => Gate::Head(Vec::new()),
                None => Gate::Pass,
            },
            max_head_bytes,
            finished_seen: 0,
            write_closed: false,
            linger: None,
        }
    }
}

impl<S: AsyncRead + Unpin> GatedIo<S> {
    /// Reads what the stream has into `chunk`; `Ready(Ok(0))` at its end.
    fn read_chunk(&mut self, cx: &mut Context<'_>, chunk: &mut [u8]) -> Poll<io::Result<usize>> {
        let mut buf = ReadBuf::new(chunk);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        self.watch.received(n);
        Poll::Ready(Ok(n))
    }

    /// The head gate: more bytes of a head, then a verdict (`true`: the gate now releases
    /// the head or refuses it; `false`: the stream ended with nothing held).
    fn poll_head(&mut self, cx: &mut Context<'_>, mut held: Vec<u8>, limit: usize) -> Poll<io::Result<bool>> {
        let mut chunk = [0u8; 4096];
        loop {
            let n = match self.read_chunk(cx, &mut chunk) {
                Poll::Pending => {
                    self.gate = Gate::Head(held);
                    return Poll::Pending;
                }
                Poll::Ready(Err(e)) => {
                    self.gate = Gate::Head(held);
                    return Poll::Ready(Err(e));
                }
                Poll::Ready(Ok(n)) => n,
            };
            if n == 0 {
                // The viewer stopped sending: the parser sees what there is, then the end.
                let partial = !held.is_empty();
                self.gate = if partial { Gate::Release(held, 0) } else { Gate::Pass };
                return Poll::Ready(Ok(partial));
            }
            let from = held.len().saturating_sub(2);
            held.extend_from_slice(&chunk[..n]);
            match head_end(&held, from) {
                Some(end) if end <= limit => {
                    self.finished_seen = self.watch.finished.load(Ordering::Acquire);
                    self.gate = Gate::Release(held, 0);
                    return Poll::Ready(Ok(true));
                }
                None if held.len() <= limit => {}
                _ => {
                    self.watch.head_too_large.store(true, Ordering::Release);
                    self.gate = Gate::Refused(0);
                    return Poll::Ready(Ok(true));
                }
            }
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GatedIo<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            match std::mem::replace(&mut this.gate, Gate::Pass) {
                Gate::Pass => {
                    // A new head is awaited once the last request is finished and none is
                    // in progress (hyper reads a request's body only while it runs).
                    let idle = this.watch.in_request.load(Ordering::Acquire) == 0;
                    let finished = this.watch.finished.load(Ordering::Acquire);
                    if let (Some(_), true, true) = (this.max_head_bytes, idle, finished != this.finished_seen) {
                        this.gate = Gate::Head(Vec::new());
                        continue;
                    }
                    let before = out.filled().len();
                    ready!(Pin::new(&mut this.io).poll_read(cx, out))?;
                    this.watch.received(out.filled().len() - before);
                    return Poll::Ready(Ok(()));
                }
                Gate::Head(held) => {
                    if this.watch.in_request.load(Ordering::Acquire) > 0 {
                        // A request is running (its head came from the parser's own buffer):
                        // these bytes are its body.
                        if !held.is_empty() {
                            this.gate = Gate::Release(held, 0);
                        }
                        continue;
                    }
                    let limit = this.max_head_bytes.unwrap_or(usize::MAX);
                    if !ready!(this.poll_head(cx, held, limit))? {
                        return Poll::Ready(Ok(()));
                    }
                }
                Gate::Release(held, at) => {
                    let n = out.remaining().min(held.len() - at);
                    out.put_slice(&held[at..at + n]);
                    this.gate = if at + n < held.len() {
                        Gate::Release(held, at + n)
                    } else {
                        Gate::Pass
                    };
                    return Poll::Ready(Ok(()));
                }
                Gate::Refused(at) if at < STAND_IN.len() => {
                    let n = out.remaining().min(STAND_IN.len() - at);
                    out.put_slice(&STAND_IN[at..at + n]);
                    this.gate = Gate::Refused(at + n);
                    return Poll::Ready(Ok(()));
                }
                Gate::Refused(at) => {
                    this.gate = Gate::Refused(at);
                    let mut chunk = [0u8; 4096];
                    if ready!(this.read_chunk(cx, &mut chunk))? == 0 {
                        return Poll::Ready(Ok(()));
                    }
                }
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for GatedIo<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = ready!(Pin::new(&mut this.io).poll_write(cx, buf))?;
        this.watch.touch();
        Poll::Ready(Ok(written))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    /// Ends the write side; a refused connection then keeps reading (and dropping) what the
    /// viewer still sends for up to [`LINGER`], so its 413 is not reset away.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.write_closed {
            ready!(Pin::new(&mut this.io).poll_shutdown(cx))?;
            this.write_closed = true;
        }
        if !matches!(this.gate, Gate::Refused(_)) {
            return Poll::Ready(Ok(()));
        }
        let linger = this.linger.get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER)));
        if std::future::Future::poll(linger.as_mut(), cx).is_ready() {
            return Poll::Ready(Ok(()));
        }
        let mut chunk = [0u8; 4096];
        loop {
            match ready!(this.read_chunk(cx, &mut chunk)) {
                Ok(0) | Err(_) => return Poll::Ready(Ok(())),
                Ok(_) => {}
            }
        }
    }
}

/// Serves one connection with `serve` (given the connection's stream, which it hands to
/// hyper, and its [`Watch`]), and closes it when the limits say so. Returns when either
/// ends.
pub async fn hold<S, F, Fut>(stream: S, limits: ConnectionLimits, serve: F)
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(GatedIo<S>, Arc<Watch>) -> Fut,
    Fut: std::future::Future,
{
    let watch = Watch::new();
    let io = GatedIo::new(stream, watch.clone(), limits.max_head_bytes);
    tokio::select! {
        _ = serve(io, watch.clone()) => {}
        () = watch.expired(&limits) => {}
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    #[test]
    fn a_head_ends_at_its_empty_line_crlf_or_bare_lf() {
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nbody", 0), Some(27));
        assert_eq!(head_end(b"GET / HTTP/1.1\nHost: a\n\n", 0), Some(24));
        assert_eq!(head_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0), None);
        assert_eq!(
            head_end(b"\r\n\r\nGET / HTTP/1.1\r\n\r\n", 0),
            Some(22),
            "leading empty lines skipped"
        );
    }

    #[test]
    fn the_default_cap_stays_below_the_descriptor_limit() {
        assert_eq!(cap_below(Some(256)), 128);
        assert_eq!(cap_below(Some(100)), 1);
        assert_eq!(cap_below(Some(1 << 20)), MAX_CONNECTIONS);
        assert_eq!(cap_below(None), MAX_CONNECTIONS);
        assert!(default_max_connections() <= MAX_CONNECTIONS);
    }

    /// Reads everything the gate hands the parser from `sent` (a head limit of 64 bytes).
    async fn through_the_gate(sent: &'static [u8]) -> (Vec<u8>, bool) {
        let (mut viewer, edge) = tokio::io::duplex(1 << 16);
        viewer.write_all(sent).await.unwrap();
        drop(viewer);
        let watch = Watch::new();
        let mut gated = GatedIo::new(edge, watch.clone(), Some(64));
        let mut parsed = Vec::new();
        gated.read_to_end(&mut parsed).await.unwrap();
        (parsed, watch.head_too_large())
    }

    #[tokio::test]
    async fn a_head_within_the_limit_passes_whole_and_one_over_it_is_replaced() {
        let exact = b"GET /0123456789012345678901234 HTTP/1.1\r\nX: 0123456789abcdef\r\n\r\n";
        assert_eq!(exact.len(), 64);
        assert_eq!(through_the_gate(exact).await, (exact.to_vec(), false));
        let over = b"GET /01234567890123456789012345 HTTP/1.1\r\nX: 0123456789abcdef\r\n\r\n";
        assert_eq!(through_the_gate(over).await, (STAND_IN.to_vec(), true));
        let endless: &'static [u8] =
            b"GET / HTTP/1.1\r\nX: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        assert_eq!(through_the_gate(endless).await, (STAND_IN.to_vec(), true));
    }
}
