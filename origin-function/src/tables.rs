//! Creating the two tables (the `seed` command and the tests). Both are on-demand. The TTL
//! attribute is switched on with `UpdateTimeToLive` where the server has it; nothing depends
//! on it (expiry is checked on read), and local servers without it are fine.

use std::time::Duration;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification,
};
use aws_sdk_dynamodb::Client;

use crate::error::OriginError;

fn failed(op: &str, e: impl std::fmt::Debug) -> OriginError {
    OriginError::Source(format!("{op}: {e:?}"))
}

async fn create(client: &Client, table: &str, keys: &[(&str, KeyType)]) -> Result<(), OriginError> {
    let mut request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest);
    for (name, kind) in keys {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(*name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(|e| failed("AttributeDefinition", e))?,
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name(*name)
                    .key_type(kind.clone())
                    .build()
                    .map_err(|e| failed("KeySchema", e))?,
            );
    }
    match request.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|se| se.is_resource_in_use_exception()) => {}
        Err(e) => return Err(failed("CreateTable", e)),
    }
    for _ in 0..600 {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| failed("DescribeTable", e))?;
        if out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(OriginError::Source(format!("table {table} did not become active")))
}

/// Creates the catalogue table (`pk` hash, `sk` range) unless it exists.
pub async fn create_catalogue_table(client: &Client, table: &str) -> Result<(), OriginError> {
    create(client, table, &[("pk", KeyType::Hash), ("sk", KeyType::Range)]).await
}

/// Creates the L2 table (`pk` hash) unless it exists, and asks for the TTL attribute
/// `expiresAt`. Returns whether the server accepted the TTL setting.
pub async fn create_cache_table(client: &Client, table: &str) -> Result<bool, OriginError> {
    create(client, table, &[("pk", KeyType::Hash)]).await?;
    time_to_live(client, table).await
}

/// Creates the purge table (`pk` hash, `sk` range: path index, tag index, log; purge.md)
/// unless it exists, and asks for the TTL attribute `expiresAt`. Returns whether the server
/// accepted the TTL setting.
pub async fn create_purge_table(client: &Client, table: &str) -> Result<bool, OriginError> {
    create(client, table, &[("pk", KeyType::Hash), ("sk", KeyType::Range)]).await?;
    time_to_live(client, table).await
}

async fn time_to_live(client: &Client, table: &str) -> Result<bool, OriginError> {
    let spec = TimeToLiveSpecification::builder()
        .attribute_name("expiresAt")
        .enabled(true)
        .build()
        .map_err(|e| failed("TimeToLiveSpecification", e))?;
    // dynalite answers UnknownOperationException; an already-enabled TTL is a ValidationException.
    Ok(client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
        .is_ok())
}
