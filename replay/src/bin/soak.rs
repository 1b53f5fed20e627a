//! `soak`: a bounded load against the local edge (`local-edge` CLI, as `make run` starts it),
//! sampling every process of the stack: errors, memory (RSS) and open descriptors.
//!
//! ```text
//! soak [--seconds 60] [--connections 64] [--out bench/results/soak.json]
//! ```

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use local_edge::procfs::{descendants, fds, name, rss_kb};
use replay::run::{under, workspace_root};
use replay::trace::{generate, Mix};
use serde_json::json;

/// A bounded soak of the local edge.
#[derive(Parser, Debug)]
struct Args {
    /// How long to load, seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Concurrent connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
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
        .stderr(Stdio::inherit())
        .spawn()
        .expect("local-edge starts");
    let mut lines = BufReader::new(edge.stdout.take().expect("piped")).lines();
    let base = loop {
        let line = lines.next().expect("local-edge prints its URL").expect("readable");
        if let Some(rest) = line.strip_prefix("local edge: ") {
            break rest.split_whitespace().next().expect("url").to_owned();
        }
    };
    // The access log would fill the pipe: drain it.
    std::thread::spawn(move || for _ in lines.by_ref() {});

    let trace = Arc::new(generate(&Mix {
        requests: 50_000,
        products: args.products as usize,
        ..Mix::default()
    }));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.connections)
        .build()
        .expect("client");
    let (sent, errors, next) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicUsize::new(0)),
    );
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    for _ in 0..args.connections {
        let (trace, client, base, sent, errors, next, stop) = (
            trace.clone(),
            client.clone(),
            base.clone(),
            sent.clone(),
            errors.clone(),
            next.clone(),
            stop.clone(),
        );
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let request = &trace[next.fetch_add(1, Ordering::Relaxed) % trace.len()];
                let mut builder = client
                    .get(format!("{base}{}", request.path))
                    .timeout(Duration::from_secs(30));
                for (n, v) in &request.headers {
                    builder = builder.header(n.as_str(), v.as_str());
                }
                let ok = match builder.send().await {
                    Ok(r) => r.status().as_u16() < 500 && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                sent.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }

    let mut tracks: BTreeMap<u32, Track> = BTreeMap::new();
    let edge_pid = edge.id();
    let started = Instant::now();
    let sample = |tracks: &mut BTreeMap<u32, Track>| {
        let mut all = vec![(edge_pid, "local-edge".to_owned())];
        all.extend(descendants(edge_pid).into_iter().map(|p| (p, name(p))));
        for (pid, name) in all {
            let t = tracks.entry(pid).or_insert_with(|| Track {
                name,
                ..Track::default()
            });
            t.rss_kb.push(rss_kb(pid));
            t.fds.push(fds(pid));
        }
    };
    while started.elapsed() < Duration::from_secs(args.seconds) {
        sample(&mut tracks);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    sample(&mut tracks);
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = Command::new("kill").args(["-TERM", &edge_pid.to_string()]).status();
    let _ = edge.wait();

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
    let (sent, errors) = (sent.load(Ordering::Relaxed), errors.load(Ordering::Relaxed));
    let report = json!({
        "seconds": args.seconds,
        "connections": args.connections,
        "requests": sent,
        "requests_per_second": (sent as f64 / elapsed).round(),
        "errors": errors,
        "origin_l1_max_bytes": args.l1_max_bytes,
        "processes": processes,
    });
    let out = under(&root, &args.out);
    if let Some(dir) = out.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report).expect("json") + "\n").expect("write report");
    println!("{}", serde_json::to_string_pretty(&report).expect("json"));
    if errors > 0 {
        std::process::exit(1);
    }
}
