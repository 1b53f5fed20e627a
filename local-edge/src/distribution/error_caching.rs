//! The distribution's error caching: how long CloudFront keeps a 4xx or 5xx answer, its
//! Error Caching Minimum TTL (CloudFront Developer Guide, "Control how long CloudFront caches
//! errors": 10 seconds unless a `CustomErrorResponses` entry sets `ErrorCachingMinTTL` for the
//! status; `lambda-edge-rules.md`, "Error responses"). Which errors are cached at all, and what their directives change, is the
//! cache's decision (`crate::cache::storing`).

use serde::Deserialize;

/// Distribution-wide error caching (`CustomErrorResponses`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorCaching {
    /// The Error Caching Minimum TTL of a status without a custom entry, seconds.
    pub default_min_ttl_secs: u64,
    /// Per-status `ErrorCachingMinTTL`.
    #[serde(default)]
    pub custom: Vec<CustomErrorResponse>,
}

/// One `CustomErrorResponses` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomErrorResponse {
    /// `ErrorCode`.
    pub status: u16,
    /// `ErrorCachingMinTTL`, seconds.
    pub min_ttl_secs: u64,
}

impl ErrorCaching {
    /// Every custom entry names an error status.
    pub(super) fn check(&self) -> Result<(), String> {
        for custom in &self.custom {
            if !(400..=599).contains(&custom.status) {
                return Err(format!("error_caching: status {} is not a 4xx or 5xx", custom.status));
            }
        }
        Ok(())
    }

    /// The Error Caching Minimum TTL for `status`, seconds.
    pub fn min_ttl_secs(&self, status: u16) -> u64 {
        self.custom
            .iter()
            .find(|c| c.status == status)
            .map_or(self.default_min_ttl_secs, |c| c.min_ttl_secs)
    }
}
