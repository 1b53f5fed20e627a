#![allow(dead_code)]
//! A counting HTTP origin on loopback for the `--http-origin` tests: it records every request
//! (method, path, query, headers) and answers per path with a canned answer, after an
//! optional delay. A test reads like a sentence:
//!
//! ```ignore
//! let origin = CountingOrigin::start().await;
//! origin.on("/api/products/1", |_, _| Canned::ok("one").header("etag", "\"v1\""));
//! let edge = Edge::in_front_of(&origin).await;
//! edge.get("/api/products/1").await;
//! assert_eq!(origin.count("/api/products/1"), 1);
//! ```

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// One request the origin received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// What the origin answers.
#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Canned {
    pub fn ok(body: &str) -> Canned {
        Canned {
            status: 200,
            headers: Vec::new(),
            body: body.to_owned(),
            delay: Duration::ZERO,
        }
    }

    pub fn status(mut self, status: u16) -> Canned {
        self.status = status;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Canned {
        self.delay = delay;
        self
    }
}

type Handler = Arc<dyn Fn(&Seen, usize) -> Canned + Send + Sync>;

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    handlers: Mutex<HashMap<String, Handler>>,
}

pub struct CountingOrigin {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl CountingOrigin {
    pub async fn start() -> CountingOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the origin");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared::default());
        let serving = shared.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = serving.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let shared = shared.clone();
                        async move { Ok::<_, Infallible>(answer(&shared, req).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        CountingOrigin { addr, shared, server }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers requests for `path` (without query); `n` counts this path's requests from 1.
    pub fn on(&self, path: &str, handler: impl Fn(&Seen, usize) -> Canned + Send + Sync + 'static) {
        self.shared
            .handlers
            .lock()
            .unwrap()
            .insert(path.to_owned(), Arc::new(handler));
    }

    /// Requests seen for `path`, any method.
    pub fn seen(&self, path: &str) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }

    pub fn count(&self, path: &str) -> usize {
        self.seen(path).len()
    }

    /// Waits until `path` has had `n` requests, at most 10 s.
    pub async fn wait_for(&self, path: &str, n: usize) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.count(path) < n {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{path}: {} requests, waiting for {n}",
                self.count(path)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn stop(self) {
        self.server.abort();
    }
}

async fn answer(shared: &Shared, req: hyper::Request<Incoming>) -> hyper::Response<Full<Bytes>> {
    let seen = Seen {
        method: req.method().to_string(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or("").to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
    };
    let n = {
        let mut all = shared.seen.lock().unwrap();
        all.push(seen.clone());
        all.iter().filter(|s| s.path == seen.path).count()
    };
    let handler = shared.handlers.lock().unwrap().get(&seen.path).cloned();
    let canned = match handler {
        Some(handler) => handler(&seen, n),
        None => Canned::ok("no handler\n").status(404),
    };
    if !canned.delay.is_zero() {
        tokio::time::sleep(canned.delay).await;
    }
    let mut response = hyper::Response::new(Full::new(Bytes::from(canned.body)));
    *response.status_mut() = http::StatusCode::from_u16(canned.status).unwrap();
    for (name, value) in canned.headers {
        response.headers_mut().append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(&value).unwrap(),
        );
    }
    response
}
