//! The purge crate's one error enum.

use origin_function::OriginError;

/// What can go wrong in a purge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PurgeError {
    /// The selector is malformed (empty, `*` in the middle, a tag with spaces, a URL that is
    /// not a path): nothing was purged.
    #[error("malformed selector: {0}")]
    Selector(String),
    /// An option is missing or wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// The origin's stores (index, log, L2 markers) failed.
    #[error("origin stores: {0}")]
    Stores(#[from] OriginError),
    /// The direct invoke of the origin failed (the Redis path).
    #[error("invoke of the origin function failed: {0}")]
    Invoke(String),
    /// CloudFront's invalidation API failed.
    #[error("CloudFront: {0}")]
    CloudFront(String),
    /// Cloudflare's purge API failed.
    #[error("Cloudflare: {0}")]
    Cloudflare(String),
}
