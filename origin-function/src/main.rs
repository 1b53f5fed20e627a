//! The Lambda entry point: builds the configuration, the SDK clients, the layers and the L2
//! connection once (the init phase), then serves invocations (HTTP events and warm-up
//! events) until the environment ends. Each payload is read once, straight from its JSON
//! into [`Invocation`].

// The handler future (SDK calls inside the coalesced load) is deep; the default limit of 128
// is too low to compute its layout.
#![recursion_limit = "256"]

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_sdk_dynamodb::Client;
use lambda_http::lambda_runtime::{self, Diagnostic};
use lambda_http::{service_fn, LambdaEvent};
use origin_function::clock::Clock;
use origin_function::config::{Config, L2Backend};
use origin_function::{l2_client_config, source_client_config, Invocation, Origin};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    // Refuses to start on a bad value, e.g. the secret check on with an empty secret.
    let config = Config::from_env()?;
    let sdk = aws_config::load_defaults(BehaviorVersion::latest()).await;
    let catalogue = Client::from_conf(source_client_config((&sdk).into(), &config));
    let cache =
        (config.l2_backend == L2Backend::DynamoDb).then(|| Client::from_conf(l2_client_config((&sdk).into(), &config)));
    // The role's credentials also sign the Redis L2's IAM tokens (ORIGIN_REDIS_IAM_USER).
    let origin = Arc::new(Origin::new(config, catalogue, cache, sdk.credentials_provider())?);
    // Connect to L2 during init (connect deadline ~1 s), not on the first request. A failure
    // is logged; the first L2 call connects again, and requests fail open meanwhile.
    if let Err(e) = origin.connect_l2().await {
        let line = serde_json::json!({"level": "warn", "message": "L2 connect at init failed", "error": e.to_string()});
        eprintln!("{line}");
    }
    // Both clocks, read once per invocation; the wall reading never goes back.
    let clock = Arc::new(Clock::default());
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Invocation>| {
        let (origin, now) = (Arc::clone(&origin), clock.now());
        async move {
            match origin.invoke(event.payload, now).await {
                Ok(invoked) => {
                    println!("{}", invoked.metrics_line);
                    Ok(invoked.response)
                }
                Err(e) => Err(Diagnostic {
                    error_type: e.error_type().into(),
                    error_message: e.to_string(),
                }),
            }
        }
    }))
    .await
}
