//! A TCP [`Proxy`] that delays a server's answers and counts what passes.

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How a [`Proxy`] delays what the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delay {
    /// Nothing: the proxy only counts.
    None,
    /// Every chunk the server sends is delivered this long after it arrived: each call takes
    /// at least this long.
    EachAnswer(Duration),
    /// Only a connection's first answer is delayed (a slow handshake).
    FirstAnswer(Duration),
}

/// A TCP proxy on a loopback port in front of `127.0.0.1:upstream`: delays the server's
/// answers ([`Delay`]), counts connections and the chunks the client sent, and keeps the
/// bytes the client sent. Runs on a thread of its own until the test process ends.
pub struct Proxy {
    pub port: u16,
    pub connections: Arc<AtomicUsize>,
    pub requests: Arc<AtomicUsize>,
    pub sent: Arc<Mutex<Vec<u8>>>,
}

impl Proxy {
    pub fn start(upstream: u16, delay: Delay) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let port = listener.local_addr().expect("addr").port();
        let connections = Arc::new(AtomicUsize::new(0));
        let requests = Arc::new(AtomicUsize::new(0));
        let sent = Arc::new(Mutex::new(Vec::new()));
        let counters = (Arc::clone(&connections), Arc::clone(&requests), Arc::clone(&sent));
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                while let Ok((client, _)) = listener.accept().await {
                    counters.0.fetch_add(1, Ordering::SeqCst);
                    let (requests, sent) = (Arc::clone(&counters.1), Arc::clone(&counters.2));
                    tokio::spawn(relay(client, upstream, delay, requests, sent));
                }
            });
        });
        Proxy {
            port,
            connections,
            requests,
            sent,
        }
    }

    /// What the client sent so far, as text.
    pub fn sent_text(&self) -> String {
        String::from_utf8_lossy(&self.sent.lock().expect("sent")).into_owned()
    }
}

async fn relay(
    client: tokio::net::TcpStream,
    upstream: u16,
    delay: Delay,
    requests: Arc<AtomicUsize>,
    sent: Arc<Mutex<Vec<u8>>>,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
        return;
    };
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let to_server = async move {
        let mut buf = vec![0u8; 64 * 1024];
        while let Ok(n) = client_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            requests.fetch_add(1, Ordering::SeqCst);
            sent.lock().expect("sent").extend_from_slice(&buf[..n]);
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
    let from_server = async move {
        let mut buf = vec![0u8; 64 * 1024];
        let mut first = true;
        while let Ok(n) = server_read.read(&mut buf).await {
            if n == 0 {
                break;
            }
            let wait = match delay {
                Delay::None => Duration::ZERO,
                Delay::EachAnswer(d) => d,
                Delay::FirstAnswer(d) if first => d,
                Delay::FirstAnswer(_) => Duration::ZERO,
            };
            first = false;
            if tx
                .send((tokio::time::Instant::now() + wait, buf[..n].to_vec()))
                .is_err()
            {
                break;
            }
        }
    };
    let to_client = async move {
        while let Some((at, bytes)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if client_write.write_all(&bytes).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(to_server, from_server, to_client);
}
