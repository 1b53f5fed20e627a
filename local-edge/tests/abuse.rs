//! The local edge as a server under abuse, holding up where CloudFront would: viewers that
//! hang up mid-event never break the handler's processes, slow heads and idle connections
//! are closed in time, requests over CloudFront's limits get its 413 before any function
//! runs, the cache stays within its byte budget whatever the URLs and `Host`s, the
//! Runtime API talks to its own environment only, and `/__edge/*` answers a loopback `Host`
//! only.

mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{root, Options, Reply, Stack};
use local_edge::connection::ConnectionLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A `GET path` head of exactly `bytes` bytes (request line, headers, the empty line), padded
/// with an `x-pad` header.
fn head_of(path: &str, host: &str, bytes: usize) -> Vec<u8> {
    let bare = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nx-pad: \r\n\r\n");
    let pad = "p".repeat(bytes - bare.len());
    let head = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nx-pad: {pad}\r\n\r\n");
    assert_eq!(head.len(), bytes);
    head.into_bytes()
}

/// What came back on a raw connection: the status, the head's lines, and whether the edge
/// closed the connection after its answer.
struct Raw {
    status: u16,
    head: String,
    closed: bool,
}

/// Sends `request` on a fresh connection and reads one answer.
async fn exchange(addr: SocketAddr, request: &[u8]) -> Raw {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&chunk[..n]),
            other => panic!("no answer: {other:?}, got {:?}", String::from_utf8_lossy(&got)),
        }
    };
    let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .map_or(0, |v| v.trim().parse().unwrap());
    while got.len() < end + length {
        match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    let closed = matches!(
        tokio::time::timeout(Duration::from_secs(3), stream.read(&mut chunk)).await,
        Ok(Ok(0) | Err(_))
    );
    let status = head[9..12].parse().unwrap();
    Raw { status, head, closed }
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_over_cloudfronts_limits_get_413_before_any_trigger_runs() {
    let stack = Stack::start().await;
    let (addr, host) = (stack.addr(), stack.addr().to_string());
    let invocations = || async { stack.stats().await["handler_invocations"].as_u64().unwrap() };

    // 20,480 bytes of request line and headers: served.
    let before = invocations().await;
    let served = exchange(addr, &head_of("/api/products/1", &host, 20_480)).await;
    assert_eq!(served.status, 200, "{}", served.head);
    assert!(invocations().await > before, "viewer-request ran");

    // 20,481 bytes: CloudFront's 413, the connection closed, no function ran.
    let before = invocations().await;
    let refused = exchange(addr, &head_of("/api/products/1", &host, 20_481)).await;
    assert_eq!(refused.status, 413, "{}", refused.head);
    assert!(
        refused.head.contains("x-cache: error from cloudfront"),
        "{}",
        refused.head
    );
    assert!(refused.head.contains("connection: close"), "{}", refused.head);
    assert!(refused.closed, "the connection is closed after a 413");
    // A head far over the limit is refused the same way, without being buffered whole.
    let huge = exchange(addr, &head_of("/api/products/1", &host, 400_000)).await;
    assert_eq!(huge.status, 413);

    // The URL as CloudFront constructs it: `http://` + host + path and query.
    let url_of = |bytes: usize| {
        let prefix = format!("http://{host}/api/products/1?q=");
        format!("/api/products/1?q={}", "u".repeat(bytes - prefix.len()))
    };
    let long = exchange(
        addr,
        format!("GET {} HTTP/1.1\r\nhost: {host}\r\n\r\n", url_of(8_193)).as_bytes(),
    )
    .await;
    assert_eq!(long.status, 413, "{}", long.head);
    assert!(long.closed);
    assert_eq!(invocations().await, before, "no trigger ran for any 413");
    assert_eq!(stack.stats().await["too_large"], 3);

    let at_limit = exchange(
        addr,
        format!("GET {} HTTP/1.1\r\nhost: {host}\r\n\r\n", url_of(8_192)).as_bytes(),
    )
    .await;
    assert_ne!(at_limit.status, 413, "{}", at_limit.head);
    assert!(invocations().await > before, "an 8,192-byte URL reaches viewer-request");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn slow_heads_and_idle_connections_are_closed_within_the_timeouts() {
    let limits = ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..ConnectionLimits::viewer()
    };
    let stack = Stack::with(Options {
        connections: Some(limits),
        ..Options::default()
    })
    .await;
    let addr = stack.addr();

    // How long after `since` the edge closes `stream` (reading and dropping what it sends).
    async fn closed_after(mut stream: TcpStream, since: Instant) -> Duration {
        let mut chunk = [0u8; 4096];
        loop {
            match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
                Ok(Ok(0) | Err(_)) => return since.elapsed(),
                Ok(Ok(_)) => {}
                Err(_) => panic!("still open after 10 s"),
            }
        }
    }

    // A slow head: one header line every 300 ms, never the empty line.
    let slow = tokio::spawn(async move {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let started = Instant::now();
        writer.write_all(b"GET /api/config HTTP/1.1\r\n").await.unwrap();
        let trickle = tokio::spawn(async move {
            for i in 0.. {
                tokio::time::sleep(Duration::from_millis(300)).await;
                if writer.write_all(format!("x-{i}: y\r\n").as_bytes()).await.is_err() {
                    return;
                }
            }
        });
        let mut chunk = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(10), reader.read(&mut chunk)).await;
        trickle.abort();
        assert!(matches!(closed, Ok(Ok(0) | Err(_))), "closed unanswered: {closed:?}");
        started.elapsed()
    });
    // A connection that never sends a byte.
    let silent =
        tokio::spawn(async move { closed_after(TcpStream::connect(addr).await.unwrap(), Instant::now()).await });
    // A keep-alive connection, idle after one answer.
    let kept = tokio::spawn(async move {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /api/config HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .unwrap();
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(
            chunk[..n].starts_with(b"HTTP/1.1 200"),
            "{:?}",
            String::from_utf8_lossy(&chunk[..n])
        );
        closed_after(stream, Instant::now()).await
    });
    let (slow, silent, kept) = (slow.await.unwrap(), silent.await.unwrap(), kept.await.unwrap());
    let within = |took: Duration, limit: Duration| {
        took >= limit - Duration::from_millis(100) && took < limit + Duration::from_millis(1500)
    };
    assert!(
        within(slow, limits.header_read_timeout),
        "slow head closed after {slow:?}"
    );
    assert!(
        within(silent, limits.idle_timeout),
        "silent connection closed after {silent:?}"
    );
    assert!(
        within(kept, limits.idle_timeout),
        "idle keep-alive closed after {kept:?}"
    );
    assert_eq!(stack.get("/api/config").await.status, 200, "the edge serves on");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn viewers_hanging_up_mid_event_never_fail_the_others_or_restart_the_handler() {
    let stack = Stack::with(Options {
        package: Some(root().join("local-edge/tests/fixtures/slow-handler")),
        ..Options::default()
    })
    .await;
    let (addr, host) = (stack.addr(), stack.addr().to_string());
    assert_eq!(stack.get("/api/products/1").await.status, 200);
    let until = Instant::now() + Duration::from_secs(4);

    // Heads just under the 413 limit: each event is ~20 KB, and the slowed handler lets its
    // stdin pipe fill, so a viewer hanging up lands in the middle of an event's write.
    let mut hang_ups = tokio::task::JoinSet::new();
    for worker in 0..6u64 {
        let host = host.clone();
        hang_ups.spawn(async move {
            let mut sent = 0u64;
            while Instant::now() < until {
                let head = head_of(&format!("/api/products/{}", 1 + (worker + sent) % 40), &host, 20_000);
                let mut stream = TcpStream::connect(addr).await.unwrap();
                stream.write_all(&head).await.unwrap();
                tokio::time::sleep(Duration::from_millis((worker * 7 + sent * 3) % 25)).await;
                drop(stream);
                sent += 1;
            }
            sent
        });
    }
    let mut viewers = tokio::task::JoinSet::new();
    for worker in 0..4u64 {
        let (client, base) = (stack.client.clone(), stack.base.clone());
        viewers.spawn(async move {
            let mut statuses = Vec::new();
            let mut i = worker;
            while Instant::now() < until {
                let url = format!("{base}/api/products/{}", 1 + i % 40);
                statuses.push(Reply::read(client.get(url).send().await.unwrap()).await.status);
                i += 4;
            }
            statuses
        });
    }
    let mut hung_up = 0;
    while let Some(sent) = hang_ups.join_next().await {
        hung_up += sent.unwrap();
    }
    let mut statuses = Vec::new();
    while let Some(got) = viewers.join_next().await {
        statuses.extend(got.unwrap());
    }
    assert!(hung_up >= 30, "{hung_up} hang-ups");
    let failed: Vec<_> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} viewers failed: {failed:?}",
        failed.len(),
        statuses.len()
    );
    let stats = stack.stats().await;
    assert_eq!(
        stats["handler_replacements"], 0,
        "no handler process restarted: {stats}"
    );
    assert_eq!(stats["execution_errors"], 0, "{stats}");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cache_stays_within_its_byte_budget_and_hosts_add_no_entries() {
    const BUDGET: u64 = 256 * 1024;
    let stack = Stack::with(Options {
        package: None,
        cache_bytes: Some(BUDGET),
        ..Options::default()
    })
    .await;
    let rss_before = local_edge::procfs::rss_kb(std::process::id());
    // 200 distinct URLs of ~4 KB (each answered with a cached 404): ~1 MB of keys alone.
    let mut flood = tokio::task::JoinSet::new();
    for worker in 0..8 {
        let (client, base) = (stack.client.clone(), stack.base.clone());
        flood.spawn(async move {
            for i in (worker..200).step_by(8) {
                let url = format!("{base}/flood/{i}/{}", "f".repeat(4_000));
                assert_eq!(client.get(url).send().await.unwrap().status(), 404);
            }
        });
    }
    while let Some(done) = flood.join_next().await {
        done.unwrap();
    }
    let stats = stack.stats().await;
    let (weighted, budget) = (
        stats["cache_weighted_bytes"].as_u64().unwrap(),
        stats["cache_budget_bytes"].as_u64().unwrap(),
    );
    assert_eq!(budget, BUDGET);
    assert_eq!(stats["errors_cached"], 200, "every 404 was stored: {stats}");
    assert!(weighted <= BUDGET, "the cache weighs {weighted} bytes, over {BUDGET}");
    assert!(
        weighted > BUDGET / 2,
        "the budget, not the flood, set the size: {stats}"
    );
    assert!(stats["cache_entries"].as_u64().unwrap() < 200, "{stats}");
    let grown_kb = local_edge::procfs::rss_kb(std::process::id()).saturating_sub(rss_before);
    assert!(grown_kb < 64 * 1024, "RSS grew by {grown_kb} KiB");

    // One path under 30 different `Host`s: one entry, every later one a hit.
    let entries = stack.stats().await["cache_entries"].as_u64().unwrap();
    for i in 0..30 {
        let reply = stack
            .get_with("/api/products/5", &[("host", &format!("h{i}.example"))])
            .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.is_hit(), i > 0, "host {i}: {}", reply.x_cache());
    }
    let added = stack.stats().await["cache_entries"].as_u64().unwrap() - entries;
    assert!(added <= 1, "{added} entries for one path");
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_runtime_api_answers_only_its_environments_process() {
    let stack = Stack::with(Options {
        package: None,
        environments: 1,
        ..Options::default()
    })
    .await;
    assert_eq!(stack.get("/api/products/2").await.status, 200);
    let pid = stack.stats().await["environments"][0]["pid"].as_u64().unwrap();
    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let api = environ
        .split(|b| *b == 0)
        .find_map(|v| v.strip_prefix(b"AWS_LAMBDA_RUNTIME_API="))
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .expect("the environment's Runtime API");
    // Another local process (this test) posts an answer, and asks for the next event.
    for request in [
        "POST /2018-06-01/runtime/invocation/local-00000001/response HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}",
        "GET /2018-06-01/runtime/invocation/next HTTP/1.1\r\nhost: x\r\n\r\n",
    ] {
        let mut stream = TcpStream::connect(&api).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
        assert!(read.is_ok(), "the connection is closed");
        assert!(answer.is_empty(), "unanswered: {:?}", String::from_utf8_lossy(&answer));
    }
    assert_eq!(
        stack.get("/api/products/3").await.status,
        200,
        "its own process is served"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_admin_paths_answer_only_a_loopback_host() {
    let stack = Stack::start().await;
    let addr = stack.addr();
    let stats = |host: &str| format!("GET /__edge/stats HTTP/1.1\r\nhost: {host}\r\n\r\n");
    let ours = exchange(addr, stats(&format!("localhost:{}", addr.port())).as_bytes()).await;
    assert_eq!(ours.status, 200, "{}", ours.head);
    assert!(
        !ours.head.contains("x-cache:"),
        "answered by the edge itself: {}",
        ours.head
    );
    // A name that merely resolves here (DNS rebinding) is refused by the edge itself (page.rs).
    let rebound = exchange(addr, stats("rebound.example").as_bytes()).await;
    assert_eq!(rebound.status, 403, "{}", rebound.head);
    assert!(!rebound.head.contains("x-cache:"), "{}", rebound.head);
    stack.stop().await;
}
