//! The DynamoDB clients' deadlines and retries (built once in `main`).
//!
//! The SDK's per-attempt timeout covers connecting and the TLS handshake, so an L2 client
//! with a 100 ms attempt deadline effectively has a 100 ms connect deadline. The connection
//! is therefore opened ahead of requests — at init and on warm-up — by one call with the
//! connect deadline added to its own ([`connect_override`]); requests then reuse the pooled
//! connection under the short per-operation deadlines.

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;

use crate::config::Config;

/// Applies the configured deadlines and retries to a DynamoDB client configuration for L2.
pub fn l2_client_config(builder: aws_sdk_dynamodb::config::Builder, config: &Config) -> aws_sdk_dynamodb::Config {
    let mut builder = builder
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(config.l2_connect_timeout)
                .operation_attempt_timeout(config.l2_attempt_timeout)
                .operation_timeout(config.l2_operation_timeout)
                .build(),
        )
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(config.l2_retries + 1)
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_millis(50)),
        );
    if let Some(endpoint) = &config.cache_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

/// The deadlines of the one call that opens the L2 connection: the connect deadline plus one
/// operation, for the attempt and for the call (no retry: a failure is reported, and the
/// request path connects again under its own deadlines).
pub fn connect_override(config: &Config) -> aws_sdk_dynamodb::config::Builder {
    let deadline = config.l2_connect_timeout + config.l2_operation_timeout;
    aws_sdk_dynamodb::config::Builder::default()
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(config.l2_connect_timeout)
                .operation_attempt_timeout(deadline)
                .operation_timeout(deadline)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(1))
}

/// The catalogue client configuration: a longer deadline (the source of truth is worth waiting for).
pub fn source_client_config(builder: aws_sdk_dynamodb::config::Builder, config: &Config) -> aws_sdk_dynamodb::Config {
    let mut builder = builder
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(config.l2_connect_timeout)
                .operation_timeout(config.source_operation_timeout)
                .build(),
        )
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(endpoint) = &config.catalogue_endpoint {
        builder = builder.endpoint_url(endpoint);
    }
    builder.build()
}

/// Writes `requests` to `table` with `BatchWriteItem`, 25 a call, sending what DynamoDB
/// leaves unprocessed again after a short back-off, at most `rounds` times in all. `Err`
/// names what failed: a call's error, or items still unprocessed after the last round.
pub async fn batch_write(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    mut requests: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    rounds: u32,
) -> Result<(), String> {
    let mut round = 0;
    while !requests.is_empty() {
        let rest = requests.split_off(requests.len().min(25));
        let batch = std::mem::replace(&mut requests, rest);
        let out = client
            .batch_write_item()
            .request_items(table, batch)
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        let unprocessed = out
            .unprocessed_items
            .and_then(|mut m| m.remove(table))
            .unwrap_or_default();
        if !unprocessed.is_empty() {
            round += 1;
            if round >= rounds {
                return Err("unprocessed items remain".into());
            }
            tokio::time::sleep(Duration::from_millis(20 * u64::from(round.min(10)))).await;
            requests.extend(unprocessed);
        }
    }
    Ok(())
}
