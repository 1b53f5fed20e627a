//! The edge step (purge.md, step 6) on the real `aws-sdk-cloudfront`: one
//! `CreateInvalidation` per batch, each with a `CallerReference` derived from the purge's
//! sequence and the batch's index, so a retried batch returns the same invalidation instead
//! of billing its paths twice. CloudFront API Reference, `CreateInvalidation`: "If you make a
//! second invalidation request with the same value for CallerReference, and if the contents
//! of the InvalidationBatch object are the same, CloudFront returns information about the
//! invalidation request that you previously created with the same CallerReference."
//! `TooManyInvalidationsInProgress` is retried with a bounded backoff, the same reference.

use std::time::Duration;

use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
use aws_sdk_cloudfront::Client;
use serde::Serialize;

use crate::error::PurgeError;

/// The `CallerReference` of batch `index` of purge `seq`.
pub fn caller_reference(seq: u64, index: usize) -> String {
    format!("edge-purge-{seq}-{index}")
}

/// How the edge step retries `TooManyInvalidationsInProgress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first pause.
    pub first: Duration,
    /// The longest pause.
    pub max: Duration,
    /// Attempts in all, the first included.
    pub attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            first: Duration::from_secs(2),
            max: Duration::from_secs(60),
            attempts: 10,
        }
    }
}

/// One invalidation CloudFront accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Created {
    /// Its id.
    pub id: String,
    /// Its `CallerReference`.
    pub caller_reference: String,
    /// The paths billed.
    pub paths: Vec<String>,
    /// `InProgress` or `Completed`.
    pub status: String,
    /// Times CloudFront answered `TooManyInvalidationsInProgress` first.
    pub throttled: u32,
}

/// A distribution's invalidation API.
#[derive(Debug, Clone)]
pub struct Edge {
    client: Client,
    distribution_id: String,
    backoff: Backoff,
}

impl Edge {
    /// The invalidation API of `distribution_id` through `client`.
    pub fn new(client: Client, distribution_id: impl Into<String>, backoff: Backoff) -> Self {
        Edge {
            client,
            distribution_id: distribution_id.into(),
            backoff,
        }
    }

    /// Creates the invalidation of `paths` with `reference`, retrying
    /// `TooManyInvalidationsInProgress` (the same reference each time).
    pub async fn create(&self, reference: &str, paths: &[String]) -> Result<Created, PurgeError> {
        let quantity = i32::try_from(paths.len()).map_err(|_| PurgeError::CloudFront("too many paths".into()))?;
        let batch = InvalidationBatch::builder()
            .paths(
                Paths::builder()
                    .quantity(quantity)
                    .set_items(Some(paths.to_vec()))
                    .build()
                    .map_err(|e| PurgeError::CloudFront(e.to_string()))?,
            )
            .caller_reference(reference)
            .build()
            .map_err(|e| PurgeError::CloudFront(e.to_string()))?;
        let mut pause = self.backoff.first;
        let mut throttled = 0;
        loop {
            let sent = self
                .client
                .create_invalidation()
                .distribution_id(&self.distribution_id)
                .invalidation_batch(batch.clone())
                .send()
                .await;
            match sent {
                Ok(out) => {
                    let invalidation = out
                        .invalidation()
                        .ok_or_else(|| PurgeError::CloudFront("no invalidation in the answer".into()))?;
                    return Ok(Created {
                        id: invalidation.id().to_owned(),
                        caller_reference: reference.to_owned(),
                        paths: paths.to_vec(),
                        status: invalidation.status().to_owned(),
                        throttled,
                    });
                }
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|se| se.is_too_many_invalidations_in_progress())
                        && throttled + 1 < self.backoff.attempts =>
                {
                    throttled += 1;
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(self.backoff.max);
                }
                Err(e) => {
                    let detail = match e.as_service_error() {
                        Some(se) => format!("{se}"),
                        None => format!("{e:?}").chars().take(300).collect(),
                    };
                    return Err(PurgeError::CloudFront(format!(
                        "CreateInvalidation {reference}: {detail}"
                    )));
                }
            }
        }
    }

    /// The status of invalidation `id` (`InProgress` or `Completed`).
    pub async fn status(&self, id: &str) -> Result<String, PurgeError> {
        let out = self
            .client
            .get_invalidation()
            .distribution_id(&self.distribution_id)
            .id(id)
            .send()
            .await
            .map_err(|e| PurgeError::CloudFront(format!("GetInvalidation {id}: {e:?}").chars().take(300).collect()))?;
        Ok(out.invalidation().map(|i| i.status().to_owned()).unwrap_or_default())
    }

    /// Waits until every invalidation of `ids` is `Completed`, polling every `every`, for at
    /// most `within`. The ones still in progress when it gives up.
    pub async fn wait(&self, ids: &[String], every: Duration, within: Duration) -> Result<Vec<String>, PurgeError> {
        let started = tokio::time::Instant::now();
        let mut pending: Vec<String> = ids.to_vec();
        while !pending.is_empty() {
            let mut still = Vec::new();
            for id in pending {
                if self.status(&id).await? != "Completed" {
                    still.push(id);
                }
            }
            pending = still;
            if pending.is_empty() || started.elapsed() >= within {
                break;
            }
            tokio::time::sleep(every).await;
        }
        Ok(pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_reference_derives_from_the_sequence_and_its_index() {
        assert_eq!(caller_reference(42, 0), "edge-purge-42-0");
        assert_ne!(caller_reference(42, 1), caller_reference(4, 21));
    }
}
