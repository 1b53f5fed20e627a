//! `seed`: creates the catalogue, L2 and purge tables (on-demand) and writes the demo
//! catalogue; or changes one product's price (`--set-price`), to watch a purge work.
//!
//! ```text
//! seed [--products N] [--endpoint URL]
//! seed --set-price ID CENTS [--endpoint URL]
//! ```
//! Table names and endpoint overrides come from the same environment variables as the
//! function (`ORIGIN_CATALOGUE_TABLE`, `ORIGIN_CACHE_TABLE`, `ORIGIN_PURGE_TABLE`,
//! `ORIGIN_CATALOGUE_ENDPOINT`, `ORIGIN_CACHE_ENDPOINT`); `--endpoint` sets both endpoints.

use std::time::Instant;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::Client;
use origin_function::config::Config;
use origin_function::source::{seed, set_price, Catalogue};
use origin_function::{l2_client_config, source_client_config, tables};

fn usage() -> ! {
    eprintln!("usage: seed [--products N] [--endpoint URL] | seed --set-price ID CENTS [--endpoint URL]");
    std::process::exit(2)
}

#[tokio::main]
async fn main() {
    let mut products: u32 = 10_000;
    let mut config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("seed: {e}");
            std::process::exit(2)
        }
    };
    let mut price: Option<(u32, u64)> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--products" => products = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage()),
            "--set-price" => {
                let id = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage());
                let cents = args.next().and_then(|v| v.parse().ok()).unwrap_or_else(|| usage());
                price = Some((id, cents));
            }
            "--endpoint" => {
                let url = args.next().unwrap_or_else(|| usage());
                config.catalogue_endpoint = Some(url.clone());
                config.cache_endpoint = Some(url);
            }
            _ => usage(),
        }
    }
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    // Seeding is not latency-critical: long deadlines for both clients.
    config.l2_operation_timeout = std::time::Duration::from_secs(30);
    config.l2_attempt_timeout = std::time::Duration::from_secs(10);
    config.source_operation_timeout = std::time::Duration::from_secs(60);
    let catalogue_client = Client::from_conf(source_client_config((&sdk).into(), &config));
    let cache_client = Client::from_conf(l2_client_config((&sdk).into(), &config));
    if let Some((id, cents)) = price {
        let catalogue = Catalogue::new(catalogue_client, &config.catalogue_table);
        match set_price(&catalogue, id, cents).await {
            Ok(()) => println!("seed: product {id} now costs {cents} cents (the caches still hold the old price until a purge or its lifetime)"),
            Err(e) => {
                eprintln!("seed: {e}");
                std::process::exit(1)
            }
        }
        return;
    }
    let started = Instant::now();
    let result = async {
        tables::create_catalogue_table(&catalogue_client, &config.catalogue_table).await?;
        let ttl = tables::create_cache_table(&cache_client, &config.cache_table).await?
            & tables::create_purge_table(&cache_client, &config.purge_table).await?;
        if !ttl {
            eprintln!(
                "seed: UpdateTimeToLive not accepted (local server, or already on); expiry is checked on read anyway"
            );
        }
        seed(
            &Catalogue::new(catalogue_client.clone(), &config.catalogue_table),
            products,
        )
        .await
    }
    .await;
    match result {
        Ok(()) => println!(
            "seed: {products} products into {} (cache table {}) in {:.1} s",
            config.catalogue_table,
            config.cache_table,
            started.elapsed().as_secs_f64()
        ),
        Err(e) => {
            eprintln!("seed: {e}");
            std::process::exit(1)
        }
    }
}
