//! `local-edge`: the CLI. Parses options, starts the stack ([`local_edge::Stack`]), waits
//! for Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use local_edge::connection::{self, ConnectionLimits};
use local_edge::{EdgeError, Stack};

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
    /// The behaviour table (the distribution to emulate).
    #[arg(long, default_value = "deploy/behaviours.toml")]
    behaviours: PathBuf,
    /// Serve the origin alone as a Lambda function URL: no edge function, no edge cache.
    #[arg(long)]
    function_url_only: bool,
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
    /// How long a request waits for a free origin environment before a 503, milliseconds.
    #[arg(long, default_value_t = 10_000)]
    environment_wait_ms: u64,
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
    /// The edge cache's byte budget (its own weighing of key, headers and body).
    #[arg(long, default_value_t = local_edge::CACHE_BYTES)]
    cache_bytes: u64,
    /// Node processes running the Lambda@Edge package (instances of the function).
    #[arg(long, default_value_t = 2)]
    handler_instances: usize,
    /// A request head must arrive whole within this long of its first byte, milliseconds.
    #[arg(long, default_value_t = connection::HEADER_READ_TIMEOUT.as_millis() as u64)]
    header_read_timeout_ms: u64,
    /// A connection with no request in progress and no traffic for this long is closed,
    /// milliseconds.
    #[arg(long, default_value_t = connection::IDLE_TIMEOUT.as_millis() as u64)]
    idle_timeout_ms: u64,
    /// Most viewer connections open at once (default: 1,024, or the descriptor limit less
    /// 128 when that is lower).
    #[arg(long)]
    max_connections: Option<usize>,
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
    let mut builder = Stack::builder()
        .root(&root)
        .listen(args.listen)
        .behaviours(root.join(&args.behaviours))
        .origin_bin(root.join(&args.origin_bin))
        .seed_bin(root.join(&args.seed_bin))
        .environments(args.environments)
        .invocation_timeout(Duration::from_millis(args.invocation_timeout_ms))
        .environment_wait(Duration::from_millis(args.environment_wait_ms))
        .products(args.products)
        .log_dir(root.join(&args.log_dir))
        .access_log(true)
        .cache_bytes(args.cache_bytes)
        .handler_instances(args.handler_instances)
        .connections(ConnectionLimits {
            header_read_timeout: Duration::from_millis(args.header_read_timeout_ms),
            idle_timeout: Duration::from_millis(args.idle_timeout_ms),
            max_connections: args.max_connections,
            ..ConnectionLimits::viewer()
        });
    builder = if args.native {
        builder.native()
    } else {
        builder.edge_package(root.join(&args.edge_pkg))
    };
    if args.function_url_only {
        builder = builder.function_url_only();
    }
    if let Some(endpoint) = &args.dynamodb_endpoint {
        builder = builder.dynamodb(endpoint, endpoint);
    }
    for (k, v) in &args.origin_env {
        builder = builder.origin_env(k, v);
    }
    println!(
        "starting: dynalite, seeding {} products, {} origin environments…",
        args.products, args.environments
    );
    let stack = builder.start().await?;
    let url = stack.url();
    println!();
    if args.function_url_only {
        println!("function URL: {url}   (the origin alone, as a Lambda function URL: no edge, no edge cache)");
        println!("  its secret check is on: send X-Origin-Verify: {}", stack.secret());
    } else {
        println!(
            "local edge: {url}   (handler: {}, behaviours {}, {} origin environments, logs in {})",
            if args.native {
                "native policy".to_owned()
            } else {
                format!("{}/index.js in Node", args.edge_pkg.display())
            },
            args.behaviours.display(),
            args.environments,
            args.log_dir.display()
        );
        println!();
        println!("  curl -i '{url}/api/products/42?utm_source=x'          # Miss, then Hit");
        println!("  curl -i '{url}/api/products?sort=price&category=books&fbclid=1'");
        println!("  curl -i '{url}/api/me' -H 'Authorization: Bearer user-7'   # private, never cached");
        println!("  curl -s '{url}/__edge/stats'");
    }
    println!();
    println!("Ctrl-C stops everything.");
    wait_for_stop().await;
    println!("stopping…");
    stack.stop().await;
    Ok(())
}

/// Ctrl-C, SIGTERM, or the parent going away (`make` killed): the stack must not outlive it.
async fn wait_for_stop() {
    let parent = std::os::unix::process::parent_id();
    let orphaned = async move {
        while std::os::unix::process::parent_id() == parent {
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
        _ = orphaned => {}
    }
}
