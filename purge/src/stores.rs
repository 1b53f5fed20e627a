//! The origin's stores as the purge reaches them (purge.md, "Interfaces"): directly with
//! the clients the origin uses (the DynamoDB purge table and L2), or — with the Redis L2,
//! reachable only inside its VPC — by invoking the origin function with the operator's
//! credentials (`lambda:InvokeFunction`, an internal event like warm-up), which runs the
//! same steps there.

use aws_sdk_lambda::primitives::Blob;
use origin_function::purge::command::{PurgeCommand, PurgeReply, PurgeSteps};

use crate::error::PurgeError;

/// How the purge reaches the origin's stores.
#[derive(Clone)]
pub enum Stores {
    /// The stores themselves.
    Direct(PurgeSteps),
    /// The origin function, invoked directly.
    Invoke {
        /// A Lambda client (its endpoint may be the local edge's).
        client: aws_sdk_lambda::Client,
        /// The function's name or ARN.
        function: String,
    },
}

impl Stores {
    /// Runs one step.
    pub async fn run(&self, command: PurgeCommand) -> Result<PurgeReply, PurgeError> {
        match self {
            Stores::Direct(steps) => Ok(steps.run(command).await?),
            Stores::Invoke { client, function } => {
                let payload = serde_json::to_vec(&serde_json::json!({ "purge": command }))
                    .map_err(|e| PurgeError::Invoke(e.to_string()))?;
                let out = client
                    .invoke()
                    .function_name(function)
                    .payload(Blob::new(payload))
                    .send()
                    .await
                    .map_err(|e| PurgeError::Invoke(format!("{e:?}").chars().take(300).collect()))?;
                let body = out.payload().map(|b| b.as_ref().to_vec()).unwrap_or_default();
                if let Some(error) = out.function_error() {
                    return Err(PurgeError::Invoke(format!(
                        "{error}: {}",
                        String::from_utf8_lossy(&body).chars().take(300).collect::<String>()
                    )));
                }
                serde_json::from_slice(&body).map_err(|e| PurgeError::Invoke(format!("unreadable answer: {e}")))
            }
        }
    }
}
