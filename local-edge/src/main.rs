//! `local-edge`: the CLI. Parses options, starts the stack ([`local_edge::Stack`]), waits
//! for Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Parser;
use local_edge::connection::{self, ConnectionLimits};
use local_edge::http_origin::behaviours::routes_summary;
use local_edge::http_origin::parse_custom_header;
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
    /// The behaviour table (the distribution to emulate). Default: deploy/behaviours.toml, or
    /// with --http-origin one written from the routes in force.
    #[arg(long)]
    behaviours: Option<PathBuf>,
    /// Front this HTTP origin (CloudFront's custom origin: http://host[:port][/path]) instead
    /// of the origin function; nothing else is started.
    #[arg(long)]
    http_origin: Option<String>,
    /// With --http-origin: an origin custom header sent on every origin request, NAME=VALUE.
    #[arg(long = "origin-header", value_parser = parse_custom_header)]
    origin_headers: Vec<(String, String)>,
    /// With --http-origin: the origin response timeout (OriginReadTimeout), seconds.
    #[arg(long, default_value_t = 30)]
    origin_read_timeout: u64,
    /// With --http-origin: how long an idle origin connection is kept (OriginKeepaliveTimeout), seconds.
    #[arg(long, default_value_t = 5)]
    origin_keepalive_timeout: u64,
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
    /// Serve the live page (`/__edge/`) although `--listen` is not a loopback address (it
    /// is on by default on loopback). `/__edge/*` answers only a loopback client either way.
    #[arg(long)]
    debug_page: bool,
    /// The secret the origin custom header carries (default: a random one per run).
    #[arg(long)]
    origin_secret: Option<String>,
    /// Where CloudFront's invalidation API (and Lambda's Invoke, for the purge CLI) listens.
    #[arg(long, default_value = "127.0.0.1:0")]
    aws_api_listen: SocketAddr,
    /// How long an invalidation takes to complete, milliseconds (0: at once).
    #[arg(long, default_value_t = 0)]
    invalidation_delay_ms: u64,
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
    let behaviours = match (&args.behaviours, &args.http_origin) {
        (Some(path), _) => Some(path.clone()),
        (None, None) => Some(PathBuf::from("deploy/behaviours.toml")),
        (None, Some(_)) => None,
    };
    let mut builder = Stack::builder()
        .root(&root)
        .listen(args.listen)
        .origin_bin(root.join(&args.origin_bin))
        .seed_bin(root.join(&args.seed_bin))
        .environments(args.environments)
        .invocation_timeout(Duration::from_millis(args.invocation_timeout_ms))
        .environment_wait(Duration::from_millis(args.environment_wait_ms))
        .products(args.products)
        .log_dir(root.join(&args.log_dir))
        .aws_api(args.aws_api_listen)
        .invalidation_delay(Duration::from_millis(args.invalidation_delay_ms))
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
    if let Some(path) = &behaviours {
        builder = builder.behaviours(root.join(path));
    }
    if args.function_url_only {
        builder = builder.function_url_only();
    }
    if args.debug_page {
        builder = builder.debug_page(true);
    }
    if let Some(secret) = &args.origin_secret {
        builder = builder.secret(secret);
    }
    if let Some(url) = &args.http_origin {
        builder = builder.http_origin(url).origin_timeouts(
            Duration::from_secs(args.origin_read_timeout),
            Duration::from_secs(args.origin_keepalive_timeout),
        );
        for (name, value) in &args.origin_headers {
            builder = builder.origin_header(name, value);
        }
    }
    if let Some(endpoint) = &args.dynamodb_endpoint {
        builder = builder.dynamodb(endpoint, endpoint);
    }
    for (k, v) in &args.origin_env {
        builder = builder.origin_env(k, v);
    }
    match &args.http_origin {
        Some(origin) => println!("starting the edge in front of {origin}…"),
        None => println!(
            "starting: dynalite, seeding {} products, {} origin environments…",
            args.products, args.environments
        ),
    }
    let stack = builder.start().await?;
    let url = stack.url();
    println!();
    if let Some(origin) = &args.http_origin {
        let table = match &behaviours {
            Some(path) => path.display().to_string(),
            None => format!(
                "written from the routes in force to {}",
                args.log_dir.join("behaviours.toml").display()
            ),
        };
        println!("local edge: {url}   (in front of {origin}; behaviours {table})");
        println!();
        println!("routes in force (the rules the handler was built with):");
        print!("{}", routes_summary(edge_policy::RuleSet::embedded()));
        if option_env!("EDGE_RULES").is_none() {
            println!("(the project's rules.toml: `make run ORIGIN={origin} RULES=path/to/rules.toml` to use yours)");
        }
        println!();
        println!("  curl -i '{url}/your/path'          # Miss, then Hit where the route shares it");
        println!("  curl -s '{url}/__edge/stats'");
    } else if args.function_url_only {
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
            behaviours
                .as_deref()
                .unwrap_or(Path::new("deploy/behaviours.toml"))
                .display(),
            args.environments,
            args.log_dir.display()
        );
        println!();
        println!("  curl -i '{url}/api/products/42?utm_source=x'          # Miss, then Hit");
        println!("  curl -i '{url}/api/products?sort=price&category=books&fbclid=1'");
        println!("  curl -i '{url}/api/me' -H 'Authorization: Bearer user-7'   # private, never cached");
        println!("  curl -s '{url}/__edge/stats'");
        if args.debug_page || args.listen.ip().is_loopback() {
            println!();
            // The page answers only a loopback Host: on an unspecified address, name loopback.
            let page = match stack.addr() {
                a if a.ip().is_unspecified() => format!("http://127.0.0.1:{}", a.port()),
                _ => url.clone(),
            };
            println!("live page: {page}/__edge/   (every request as it arrives; click one for its explanation)");
        }
        // The purge settings name the catalogue and L2, which an HTTP origin does not have.
        if let (Some(api), None) = (stack.aws_api_url(), &args.http_origin) {
            let env_file = root.join(&args.log_dir).join("stack.env");
            write_stack_env(&env_file, &stack, &api, args.invocation_timeout_ms)?;
            println!();
            println!(
                "CloudFront's invalidation API (distribution {}): {api}   (and Lambda's Invoke; any SigV4 accepted)",
                stack.distribution_id()
            );
            println!("  make product-price ID=42 PRICE=1999             # change the product in the catalogue");
            println!(
                "  make purge ARGS='--tag product:42'              # then purge it everywhere (settings: {})",
                env_file.display()
            );
        }
    }
    println!();
    println!("Ctrl-C stops everything.");
    wait_for_stop().await;
    println!("stopping…");
    stack.stop().await;
    Ok(())
}

/// The settings `make purge` and `make product-price` read: the local APIs, placeholder
/// credentials, the tables and `W`'s parts.
fn write_stack_env(
    path: &std::path::Path,
    stack: &Stack,
    api: &str,
    function_timeout_ms: u64,
) -> Result<(), EdgeError> {
    let lines = [
        format!("AWS_ENDPOINT_URL_CLOUDFRONT={api}"),
        format!("AWS_ENDPOINT_URL_LAMBDA={api}"),
        "AWS_ACCESS_KEY_ID=local".into(),
        "AWS_SECRET_ACCESS_KEY=local".into(),
        "AWS_REGION=us-east-1".into(),
        format!("PURGE_DISTRIBUTION_ID={}", stack.distribution_id()),
        format!("PURGE_DYNAMODB_ENDPOINT={}", stack.cache_endpoint()),
        "ORIGIN_PURGE_TABLE=edge-cache-purge".into(),
        "ORIGIN_CACHE_TABLE=edge-cache".into(),
        "ORIGIN_CATALOGUE_TABLE=catalogue".into(),
        format!("ORIGIN_CATALOGUE_ENDPOINT={}", stack.catalogue_endpoint()),
        "PURGE_FUNCTION=origin-function".into(),
        format!("PURGE_FUNCTION_TIMEOUT_MS={function_timeout_ms}"),
    ];
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| EdgeError::Setup(e.to_string()))?;
    }
    std::fs::write(path, lines.join("\n") + "\n").map_err(|e| EdgeError::Setup(e.to_string()))
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
