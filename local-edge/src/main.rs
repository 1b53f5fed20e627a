//! `local-edge`: the CLI. Parses options, starts the stack, waits for Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use local_edge::cache::TtlBounds;
use local_edge::origin::OriginConfig;
use local_edge::stack::{origin_env, seed, Dynalite};
use local_edge::{Edge, EdgeConfig, EdgeError};

/// CloudFront on one machine: the built Lambda@Edge package and the real origin binary.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// The Lambda@Edge package directory (index.js + pkg/).
    #[arg(long, default_value = "wasm-pkg")]
    edge_pkg: PathBuf,
    /// Link the policy crate natively instead of running the package in Node.
    #[arg(long)]
    native: bool,
    /// The origin binary (a Lambda bootstrap).
    #[arg(long, default_value = "target/debug/origin-function")]
    origin_bin: PathBuf,
    /// The origin's seed binary (creates and fills the tables).
    #[arg(long, default_value = "target/debug/seed")]
    seed_bin: PathBuf,
    /// Origin execution environments.
    #[arg(long, default_value_t = 2)]
    environments: usize,
    /// Origin invocation timeout, milliseconds.
    #[arg(long, default_value_t = 10_000)]
    invocation_timeout_ms: u64,
    /// Products to seed.
    #[arg(long, default_value_t = 10_000)]
    products: u32,
    /// Use this DynamoDB endpoint for both tables instead of starting dynalite.
    #[arg(long)]
    dynamodb_endpoint: Option<String>,
    /// Where origin environment logs go.
    #[arg(long, default_value = "target/local-edge")]
    log_dir: PathBuf,
    /// Extra origin environment variables, KEY=VALUE.
    #[arg(long = "origin-env", value_parser = parse_key_value)]
    origin_env: Vec<(String, String)>,
    /// Cache policy default TTL, seconds.
    #[arg(long, default_value_t = 86_400)]
    default_ttl: u64,
    /// Cache policy maximum TTL, seconds.
    #[arg(long, default_value_t = 31_536_000)]
    max_ttl: u64,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}

#[tokio::main]
async fn main() {
    if let Err(e) = run(Args::parse()).await {
        eprintln!("local-edge: {e}");
        std::process::exit(1);
    }
}

async fn run(args: Args) -> Result<(), EdgeError> {
    let root = std::env::current_dir().map_err(|e| EdgeError::Setup(e.to_string()))?;
    // Catalogue (the source of truth) and cache (L2) on separate servers, so L2 can be
    // stopped without taking the source with it.
    let mut servers = Vec::new();
    let env = match &args.dynamodb_endpoint {
        Some(endpoint) => origin_env(endpoint, endpoint),
        None => {
            let catalogue = Dynalite::start(&root, 0).await?;
            let cache = Dynalite::start(&root, 0).await?;
            let env = origin_env(&catalogue.endpoint(), &cache.endpoint());
            println!(
                "dynalite: catalogue {} · cache (L2) {}",
                catalogue.endpoint(),
                cache.endpoint()
            );
            servers.push(catalogue);
            servers.push(cache);
            env
        }
    };
    print!("seeding {} products… ", args.products);
    seed(&args.seed_bin, &env, args.products).await?;
    println!("done");
    let mut origin_env = env;
    origin_env.extend(args.origin_env.iter().cloned());
    let origin = OriginConfig {
        binary: args.origin_bin.clone(),
        environments: args.environments,
        invocation_timeout: Duration::from_millis(args.invocation_timeout_ms),
        env: origin_env,
        log_dir: Some(args.log_dir.clone()),
    };
    let mut config = EdgeConfig::new(origin);
    config.listen = args.listen;
    config.edge_package = (!args.native).then(|| args.edge_pkg.clone());
    config.ttl = TtlBounds {
        min: 0,
        default: args.default_ttl,
        max: args.max_ttl,
    };
    let edge = Edge::start(config).await?;
    let url = format!("http://{}", edge.addr());
    println!();
    println!(
        "local edge: {url}   (handler: {}, {} origin environments, logs in {})",
        if args.native {
            "native policy".to_owned()
        } else {
            format!("{}/index.js in Node", args.edge_pkg.display())
        },
        args.environments,
        args.log_dir.display()
    );
    println!();
    println!("  curl -i '{url}/api/products/42?utm_source=x'          # Miss, then Hit");
    println!("  curl -i '{url}/api/products?sort=price&category=books&fbclid=1'");
    println!("  curl -i '{url}/api/me' -H 'Authorization: Bearer user-7'   # private, never cached");
    println!("  curl -s '{url}/__edge/stats'");
    println!();
    println!("Ctrl-C stops everything.");
    wait_for_stop().await;
    println!("stopping…");
    edge.stop().await;
    for mut server in servers {
        server.stop().await;
    }
    Ok(())
}

/// Ctrl-C, SIGTERM, or the parent going away (`make` killed): the stack must not outlive it.
async fn wait_for_stop() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    let parent = std::os::unix::process::parent_id();
    let orphaned = async move {
        while std::os::unix::process::parent_id() == parent {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
        _ = orphaned => {}
    }
}
