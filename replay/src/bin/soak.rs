//! `soak`: a bounded load against the local edge (`local-edge` CLI, as `make run` starts it),
//! sampling every process of the stack: errors, latency, memory (RSS) and open descriptors.
//!
//! Two phases on one stack: **clean** (well-behaved clients alone, replaying the trace) then
//! **hostile** (the same clients beside a hostile mix: viewers hanging up mid-request with
//! heads just under CloudFront's 20,480-byte limit, slow heads trickling a line at a time,
//! and oversize requests — heads over 20,480 bytes and URLs over 8,192). The report sets
//! the well-behaved clients' errors and p99 latency in the hostile phase against the clean
//! one; the goal is 0 errors in both.
//!
//! ```text
//! soak [--seconds 60] [--connections 64] [--hostile 16] [--out bench/results/soak.json]
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use local_edge::procfs::{descendants, fds, name, rss_kb};
use replay::run::{under, viewer_request, workspace_root};
use replay::trace::{generate, Mix, TraceRequest};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A bounded soak of the local edge.
#[derive(Parser, Debug)]
struct Args {
    /// How long each phase (clean, then hostile) loads, seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Concurrent well-behaved connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Hostile clients of each kind (hang-ups, slow heads, oversize) in the hostile phase.
    #[arg(long, default_value_t = 16)]
    hostile: usize,
    /// Products seeded (and drawn from: many distinct keys exercise the L1 byte bound).
    #[arg(long, default_value_t = 10_000)]
    products: u32,
    /// The origin's L1 byte bound for the soak (small, so the bound is what holds memory).
    #[arg(long, default_value_t = 4 * 1024 * 1024)]
    l1_max_bytes: u64,
    /// The local-edge binary.
    #[arg(long, default_value = "target/release/local-edge")]
    edge_bin: PathBuf,
    /// The origin binary.
    #[arg(long, default_value = "target/release/origin-function")]
    origin_bin: PathBuf,
    /// The seed binary.
    #[arg(long, default_value = "target/release/seed")]
    seed_bin: PathBuf,
    /// Where the figures go.
    #[arg(long, default_value = "bench/results/soak.json")]
    out: PathBuf,
}

#[derive(Default, Debug, Clone)]
struct Track {
    name: String,
    rss_kb: Vec<u64>,
    fds: Vec<u64>,
}

/// What the hostile mix did, counted.
#[derive(Default)]
struct Hostile {
    hang_ups: AtomicU64,
    slow_heads: AtomicU64,
    slow_heads_closed: AtomicU64,
    oversize: AtomicU64,
    oversize_413: AtomicU64,
}

/// A `GET path` head of `bytes` bytes, padded with an `x-pad` header.
fn head_of(path: &str, host: &str, bytes: usize) -> Vec<u8> {
    let bare = format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nx-pad: \r\n\r\n").len();
    let pad = "p".repeat(bytes.saturating_sub(bare));
    format!("GET {path} HTTP/1.1\r\nhost: {host}\r\nx-pad: {pad}\r\n\r\n").into_bytes()
}

/// Hangs up 0–25 ms after sending a head just under the 20,480-byte limit, again and again.
async fn hang_up(addr: SocketAddr, i: u64, stop: Arc<AtomicBool>, counts: Arc<Hostile>) {
    let mut n = i;
    while !stop.load(Ordering::Relaxed) {
        let head = head_of(&format!("/api/products/{}", 1 + n % 1000), &addr.to_string(), 20_000);
        if let Ok(mut stream) = TcpStream::connect(addr).await {
            let _ = stream.write_all(&head).await;
            tokio::time::sleep(Duration::from_millis(n * 7 % 25)).await;
            counts.hang_ups.fetch_add(1, Ordering::Relaxed);
        }
        n += 1;
    }
}

/// Opens a connection and trickles a head one short line every 500 ms, never ending it,
/// until the edge closes it (its header-read timeout), again and again.
async fn slow_head(addr: SocketAddr, stop: Arc<AtomicBool>, counts: Arc<Hostile>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(stream) = TcpStream::connect(addr).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        counts.slow_heads.fetch_add(1, Ordering::Relaxed);
        let (mut reader, mut writer) = stream.into_split();
        let trickle = async {
            let _ = writer.write_all(b"GET /api/config HTTP/1.1\r\n").await;
            for i in 0u64.. {
                tokio::time::sleep(Duration::from_millis(500)).await;
                if writer.write_all(format!("x-{i}: y\r\n").as_bytes()).await.is_err() {
                    break;
                }
            }
        };
        let mut byte = [0u8; 1];
        tokio::select! {
            _ = reader.read(&mut byte) => { counts.slow_heads_closed.fetch_add(1, Ordering::Relaxed); }
            () = trickle => {}
            () = async { while !stop.load(Ordering::Relaxed) { tokio::time::sleep(Duration::from_millis(200)).await } } => return,
        }
    }
}

/// Sends requests over CloudFront's limits (a 30 KB head, a 9 KB URL) and reads the 413.
async fn oversize(addr: SocketAddr, i: u64, stop: Arc<AtomicBool>, counts: Arc<Hostile>) {
    let host = addr.to_string();
    let mut n = i;
    while !stop.load(Ordering::Relaxed) {
        let request = if n % 2 == 0 {
            head_of("/api/products/1", &host, 30_000)
        } else {
            format!(
                "GET /api/products/1?q={} HTTP/1.1\r\nhost: {host}\r\n\r\n",
                "u".repeat(9_000)
            )
            .into_bytes()
        };
        n += 1;
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            continue;
        };
        counts.oversize.fetch_add(1, Ordering::Relaxed);
        let _ = stream.write_all(&request).await;
        let mut answer = [0u8; 12];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut answer)).await;
        if matches!(read, Ok(Ok(_))) && answer.starts_with(b"HTTP/1.1 413") {
            counts.oversize_413.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// The well-behaved clients' figures for one phase.
struct Phase {
    requests: u64,
    errors: u64,
    seconds: f64,
    latencies_us: Vec<u64>,
}

impl Phase {
    fn percentile_ms(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        (self.latencies_us[i] as f64 / 100.0).round() / 10.0
    }

    fn to_json(&self) -> Value {
        json!({
            "seconds": self.seconds.round(),
            "requests": self.requests,
            "requests_per_second": (self.requests as f64 / self.seconds).round(),
            "errors": self.errors,
            "p50_ms": self.percentile_ms(0.50),
            "p99_ms": self.percentile_ms(0.99),
            "max_ms": self.percentile_ms(1.0),
        })
    }
}

/// Runs the well-behaved clients for `seconds`, each replaying the trace from a shared cursor.
async fn well_behaved(
    trace: &Arc<Vec<TraceRequest>>,
    base: &str,
    connections: usize,
    seconds: u64,
    next: &Arc<AtomicUsize>,
) -> Phase {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .expect("client");
    let (sent, errors) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (trace, client, base, sent, errors, next, latencies) = (
            trace.clone(),
            client.clone(),
            base.to_owned(),
            sent.clone(),
            errors.clone(),
            next.clone(),
            latencies.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < until {
                let request = &trace[next.fetch_add(1, Ordering::Relaxed) % trace.len()];
                let asked = Instant::now();
                let ok = match viewer_request(&client, &base, request).send().await {
                    Ok(r) => r.status().as_u16() < 500 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                mine.push(asked.elapsed().as_micros() as u64);
                sent.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
            if let Ok(mut all) = latencies.lock() {
                all.extend(mine);
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let mut latencies_us = std::mem::take(&mut *latencies.lock().expect("latencies"));
    latencies_us.sort_unstable();
    Phase {
        requests: sent.load(Ordering::Relaxed),
        errors: errors.load(Ordering::Relaxed),
        seconds: started.elapsed().as_secs_f64(),
        latencies_us,
    }
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let root = workspace_root();
    let mut edge = Command::new(under(&root, &args.edge_bin))
        .current_dir(&root)
        .args(["--listen", "127.0.0.1:0", "--products", &args.products.to_string()])
        .arg("--origin-bin")
        .arg(under(&root, &args.origin_bin))
        .arg("--seed-bin")
        .arg(under(&root, &args.seed_bin))
        .args([
            "--log-dir",
            "target/soak-logs",
            "--origin-env",
            &format!("ORIGIN_L1_MAX_BYTES={}", args.l1_max_bytes),
        ])
        .stdout(Stdio::piped())
        // The hostile phase makes the edge log every refusal: kept out of the report's way.
        .stderr(Stdio::null())
        .spawn()
        .expect("local-edge starts");
    let mut lines = BufReader::new(edge.stdout.take().expect("piped")).lines();
    let base = loop {
        let line = lines.next().expect("local-edge prints its URL").expect("readable");
        if let Some(rest) = line.strip_prefix("local edge: ") {
            break rest.split_whitespace().next().expect("url").to_owned();
        }
    };
    let addr: SocketAddr = base.trim_start_matches("http://").parse().expect("an address");
    // The access log would fill the pipe: drain it.
    std::thread::spawn(move || for _ in lines.by_ref() {});

    let trace = Arc::new(generate(&Mix {
        requests: 50_000,
        products: args.products as usize,
        ..Mix::default()
    }));
    let next = Arc::new(AtomicUsize::new(0));
    let tracks: Arc<Mutex<BTreeMap<u32, Track>>> = Arc::default();
    let edge_pid = edge.id();
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (tracks, sampling) = (tracks.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                let mut all = vec![(edge_pid, "local-edge".to_owned())];
                all.extend(descendants(edge_pid).into_iter().map(|p| (p, name(p))));
                if let Ok(mut tracks) = tracks.lock() {
                    for (pid, name) in all {
                        let t = tracks.entry(pid).or_insert_with(|| Track {
                            name,
                            ..Track::default()
                        });
                        t.rss_kb.push(rss_kb(pid));
                        t.fds.push(fds(pid));
                    }
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        })
    };

    let clean = well_behaved(&trace, &base, args.connections, args.seconds, &next).await;

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Hostile::default());
    let mut hostile = Vec::new();
    for i in 0..args.hostile as u64 {
        hostile.push(tokio::spawn(hang_up(addr, i, stop.clone(), counts.clone())));
        hostile.push(tokio::spawn(slow_head(addr, stop.clone(), counts.clone())));
        hostile.push(tokio::spawn(oversize(addr, i, stop.clone(), counts.clone())));
    }
    let under_attack = well_behaved(&trace, &base, args.connections, args.seconds, &next).await;
    stop.store(true, Ordering::Relaxed);
    for h in hostile {
        let _ = h.await;
    }
    let stats: Value = match reqwest::get(format!("{base}/__edge/stats")).await {
        Ok(r) => serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    sampling.store(false, Ordering::Relaxed);
    let _ = sampler.await;
    let _ = Command::new("kill").args(["-TERM", &edge_pid.to_string()]).status();
    let _ = edge.wait();

    let tracks = std::mem::take(&mut *tracks.lock().expect("tracks"));
    let processes: Vec<_> = tracks
        .values()
        .filter(|t| t.rss_kb.iter().any(|r| *r > 0))
        .map(|t| {
            let live: Vec<u64> = t.rss_kb.iter().copied().filter(|r| *r > 0).collect();
            let quarter = live.get(live.len() / 4).copied().unwrap_or(0);
            let fds: Vec<u64> = t.fds.iter().copied().filter(|f| *f > 0).collect();
            json!({
                "process": t.name,
                "rss_kb_at_25pct": quarter,
                "rss_kb_max": live.iter().max(),
                "rss_kb_last": live.last(),
                "fds_first": fds.first(),
                "fds_max": fds.iter().max(),
                "fds_last": fds.last(),
            })
        })
        .collect();
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    let report = json!({
        "seconds_per_phase": args.seconds,
        "connections": args.connections,
        "origin_l1_max_bytes": args.l1_max_bytes,
        "clean": clean.to_json(),
        "hostile": {
            "well_behaved": under_attack.to_json(),
            "clients_per_kind": args.hostile,
            "hang_ups": get(&counts.hang_ups),
            "slow_heads": get(&counts.slow_heads),
            "slow_heads_closed_by_the_edge": get(&counts.slow_heads_closed),
            "oversize": get(&counts.oversize),
            "oversize_answered_413": get(&counts.oversize_413),
        },
        "edge": {
            "handler_starts": stats["handler_starts"],
            "handler_replacements": stats["handler_replacements"],
            "execution_errors": stats["execution_errors"],
            "too_large": stats["too_large"],
            "cache_entries": stats["cache_entries"],
            "cache_weighted_bytes": stats["cache_weighted_bytes"],
        },
        "processes": processes,
    });
    let out = under(&root, &args.out);
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report).expect("json") + "\n").expect("write report");
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    if clean.errors + under_attack.errors > 0 {
        std::process::exit(1);
    }
}
