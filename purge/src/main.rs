//! `purge`: the CLI over the purge library. Parses options, builds the clients once, runs
//! the purge (or plans it with `--dry-run`), prints the report (text, or JSON with `--json`).
//! Exit 0 when every step succeeded (an unknown tag or a path nothing holds purges nothing,
//! and says so), 1 when a step failed (the report says what was done), 2 for a malformed
//! selector or option (nothing was purged).
//!
//! The AWS clients take the SDK's usual configuration: credentials, `AWS_REGION`, and the
//! endpoint overrides `AWS_ENDPOINT_URL_CLOUDFRONT` / `AWS_ENDPOINT_URL_LAMBDA` (the local
//! edge serves both APIs; `make purge` sets them with placeholder credentials).

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use aws_config::BehaviorVersion;
use clap::{ArgGroup, Parser, ValueEnum};
use origin_function::config::Config;
use origin_function::l2::DynamoL2;
use origin_function::l2_client_config;
use origin_function::purge::command::PurgeSteps;
use origin_function::purge::store::DynamoPurgeStore;
use purge::cloudflare::Cloudflare;
use purge::edge::{Backoff, Edge};
use purge::plan::Limits;
use purge::run::wall_ms;
use purge::stores::Stores;
use purge::{report, selector, Purge, PurgeError, Timing};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// The DynamoDB purge table and L2, with the operator's credentials.
    Dynamodb,
    /// A direct invoke of the origin function (the Redis L2, inside its VPC).
    Invoke,
}

/// Purge by URL, prefix or tag: the origin's L1 and L2, then CloudFront (and the Worker's
/// Cache API copies through Cloudflare, when configured).
#[derive(Parser, Debug)]
#[command(version, group(ArgGroup::new("selector").required(true).args(["url", "prefix", "tag"])))]
struct Args {
    /// A viewer URL (`/path?query` or `https://host/path?query`): every entry of its canonical path.
    #[arg(long)]
    url: Option<String>,
    /// A path prefix ending in `*` (`/api/products/*`).
    #[arg(long)]
    prefix: Option<String>,
    /// A surrogate key (`product:42`).
    #[arg(long)]
    tag: Option<String>,
    /// Wait until CloudFront says the invalidations are Completed.
    #[arg(long)]
    wait: bool,
    /// Print the plan (paths, wildcard choices, read and invalidation cost); change nothing.
    #[arg(long)]
    dry_run: bool,
    /// The report as JSON.
    #[arg(long)]
    json: bool,
    /// List what each wildcard also covers (a prefix resolve per wildcard).
    #[arg(long)]
    list_covered: bool,
    /// The CloudFront distribution (none: no edge step).
    #[arg(long, env = "PURGE_DISTRIBUTION_ID")]
    distribution_id: Option<String>,
    /// How to reach the origin's stores.
    #[arg(long, value_enum, env = "PURGE_BACKEND", default_value = "dynamodb")]
    backend: Backend,
    /// The purge table (DynamoDB backend).
    #[arg(long, env = "ORIGIN_PURGE_TABLE", default_value = "edge-cache-purge")]
    purge_table: String,
    /// The L2 table (DynamoDB backend).
    #[arg(long, env = "ORIGIN_CACHE_TABLE", default_value = "edge-cache-origin")]
    cache_table: String,
    /// A DynamoDB endpoint override (the local stack's).
    #[arg(long, env = "PURGE_DYNAMODB_ENDPOINT")]
    dynamodb_endpoint: Option<String>,
    /// The origin function (invoke backend).
    #[arg(long, env = "PURGE_FUNCTION", default_value = "edge-cache-origin")]
    function: String,
    /// The origin's ORIGIN_PURGE_POLL_MS.
    #[arg(long, env = "PURGE_POLL_MS", default_value_t = 1000)]
    poll_ms: u64,
    /// The deadline of one L2 call, ms.
    #[arg(long, env = "PURGE_L2_DEADLINE_MS", default_value_t = 300)]
    l2_deadline_ms: u64,
    /// The origin function's timeout, ms.
    #[arg(long, env = "PURGE_FUNCTION_TIMEOUT_MS", default_value_t = 10_000)]
    function_timeout_ms: u64,
    /// The origin-response trigger's timeout, ms.
    #[arg(long, env = "PURGE_TRIGGER_TIMEOUT_MS", default_value_t = 5_000)]
    trigger_timeout_ms: u64,
    /// How long the log keeps a purge (the origin's ORIGIN_PURGE_LOG_RETENTION_SECONDS).
    #[arg(long, default_value_t = 3600)]
    retention_seconds: u64,
    /// With --wait: give up after this many seconds.
    #[arg(long, default_value_t = 900)]
    wait_timeout_seconds: u64,
    /// With --wait: GetInvalidation every this many ms.
    #[arg(long, default_value_t = 5000)]
    wait_poll_ms: u64,
    /// First pause after TooManyInvalidationsInProgress, ms (doubling, at most 60 s).
    #[arg(long, default_value_t = 2000)]
    backoff_ms: u64,
    /// CreateInvalidation attempts per batch.
    #[arg(long, default_value_t = 10)]
    attempts: u32,
    /// Query variants of one path that become one `path?*`.
    #[arg(long, default_value_t = 20)]
    collapse_min: usize,
    /// The Worker's Cloudflare zone id (with a token: its Cache API copies are purged by URL).
    #[arg(long, env = "CLOUDFLARE_ZONE_ID")]
    cloudflare_zone: Option<String>,
    /// A Cloudflare API token with the zone's Cache Purge permission.
    #[arg(long, env = "CLOUDFLARE_API_TOKEN", hide_env_values = true)]
    cloudflare_token: Option<String>,
    /// Cloudflare's API base.
    #[arg(long, env = "CLOUDFLARE_API", default_value = "https://api.cloudflare.com/client/v4")]
    cloudflare_api: String,
    /// The hosts the Worker serves, comma-separated.
    #[arg(long, env = "CLOUDFLARE_HOSTS", value_delimiter = ',')]
    cloudflare_host: Vec<String>,
}

async fn build(args: &Args) -> Result<Purge, PurgeError> {
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let stores = match args.backend {
        Backend::Dynamodb => {
            // The operator's side: long deadlines (nothing waits on it but the operator).
            let config = Config {
                cache_table: args.cache_table.clone(),
                purge_table: args.purge_table.clone(),
                cache_endpoint: args.dynamodb_endpoint.clone(),
                l2_attempt_timeout: Duration::from_secs(5),
                l2_operation_timeout: Duration::from_secs(20),
                ..Config::default()
            };
            let client = aws_sdk_dynamodb::Client::from_conf(l2_client_config((&sdk).into(), &config));
            let store = Arc::new(DynamoPurgeStore::new(client.clone(), &config.purge_table));
            let l2 = Arc::new(DynamoL2::new(client, &config));
            Stores::Direct(PurgeSteps::new(store, Some(l2)))
        }
        Backend::Invoke => Stores::Invoke {
            client: aws_sdk_lambda::Client::new(&sdk),
            function: args.function.clone(),
        },
    };
    let edge = args.distribution_id.as_ref().map(|id| {
        let backoff = Backoff {
            first: Duration::from_millis(args.backoff_ms),
            max: Duration::from_secs(60),
            attempts: args.attempts.max(1),
        };
        Edge::new(aws_sdk_cloudfront::Client::new(&sdk), id, backoff)
    });
    let cloudflare = match (&args.cloudflare_zone, &args.cloudflare_token) {
        (Some(zone), Some(token)) => {
            if args.cloudflare_host.is_empty() {
                return Err(PurgeError::Config(
                    "--cloudflare-host: the hosts the Worker serves".into(),
                ));
            }
            Some(Cloudflare::new(
                &args.cloudflare_api,
                zone,
                token,
                args.cloudflare_host.clone(),
            ))
        }
        (None, None) => None,
        _ => return Err(PurgeError::Config("Cloudflare needs both a zone and a token".into())),
    };
    Ok(Purge {
        stores,
        edge,
        cloudflare,
        timing: Timing {
            poll_ms: args.poll_ms,
            l2_deadline_ms: args.l2_deadline_ms,
            function_timeout_ms: args.function_timeout_ms,
            trigger_timeout_ms: args.trigger_timeout_ms,
        },
        limits: Limits {
            collapse_min: args.collapse_min,
            ..Limits::default()
        },
        retention: Duration::from_secs(args.retention_seconds),
        wait: args.wait.then(|| {
            (
                Duration::from_secs(args.wait_timeout_seconds),
                Duration::from_millis(args.wait_poll_ms.max(1)),
            )
        }),
        list_covered: args.list_covered,
        clock: wall_ms,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let parsed = match (&args.url, &args.prefix, &args.tag) {
        (Some(url), _, _) => selector::url(url),
        (_, Some(prefix), _) => selector::prefix(prefix),
        (_, _, Some(tag)) => selector::tag(tag),
        _ => Err(PurgeError::Selector("one of --url, --prefix, --tag".into())),
    };
    let parsed = match parsed {
        Ok(p) => p,
        Err(e) => {
            eprintln!("purge: {e}; nothing was purged");
            return ExitCode::from(2);
        }
    };
    let purge = match build(&args).await {
        Ok(p) => p,
        Err(e) => {
            eprintln!("purge: {e}; nothing was purged");
            return ExitCode::from(2);
        }
    };
    let report = if args.dry_run {
        purge.dry_run(&parsed).await
    } else {
        purge.run(&parsed).await
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        print!("{}", report::text(&report));
    }
    if report.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
