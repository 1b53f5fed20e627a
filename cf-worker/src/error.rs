//! The crate's one error type. A decision the policy makes (bypass, not stored) is never an
//! error; an error is something the glue could not do, and it sends the request to the
//! origin unchanged (see [`crate::fallback`]).

/// What the glue could not do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GlueError {
    /// The Worker's configuration (`ORIGIN_URL`, the timeout) is missing or unusable.
    #[error("configuration: {0}")]
    Config(String),
    /// A runtime call failed: the Cache API, building a request or response, a header value.
    #[error("runtime: {0}")]
    Runtime(#[from] worker::Error),
}

impl From<wasm_bindgen::JsValue> for GlueError {
    fn from(value: wasm_bindgen::JsValue) -> Self {
        GlueError::Runtime(worker::Error::from(value))
    }
}
