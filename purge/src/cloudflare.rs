//! The Worker's Cache API copies (workers.md; purge.md, "Interfaces"): one cache per data
//! centre, which nothing but Cloudflare's purge API reaches. This purges them by URL through
//! `POST /client/v4/zones/{zone_id}/purge_cache` with `{"files": [...]}` (Cloudflare API,
//! "Purge Cached Content", purge by single-file), in batches of [`URLS_PER_CALL`], when a
//! zone and a token are configured. Tested against a local stub of that API only: it has not
//! been run against Cloudflare from here.
//!
//! The Worker stores each copy under the canonical request's URL
//! (`edge_policy::CanonicalRequest::url`: `https://{host}{path}?{query}`, then one
//! `|name=value` per keyed header). [`cache_url`] writes it back from a full canonical key;
//! a key with keyed headers is written with their values as the key holds them, which the
//! Worker's URL encodes differently, so such keys are reported, not guessed.

use serde::Serialize;

use crate::error::PurgeError;
use origin_function::purge::KeyParts;

/// Cloudflare's documented limit of URLs per purge call on every plan but Enterprise.
pub const URLS_PER_CALL: usize = 30;

/// Cloudflare's API, for one zone.
#[derive(Debug, Clone)]
pub struct Cloudflare {
    http: reqwest::Client,
    /// The API's base (`https://api.cloudflare.com/client/v4`; a stub's in the tests).
    pub api: String,
    zone: String,
    token: String,
    /// The hosts the Worker serves (only their keys are purged).
    pub hosts: Vec<String>,
}

/// What the Cloudflare step did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Purged {
    /// URLs purged.
    pub urls: Vec<String>,
    /// Keys with keyed headers, not purged by URL (their copies live out their lifetime).
    pub skipped: Vec<String>,
    /// API calls made.
    pub calls: u32,
}

/// The Worker's cache URL of a full canonical key, when it has no keyed header.
pub fn cache_url(key: &str) -> Option<String> {
    if key.contains('|') {
        return None;
    }
    let parts = KeyParts::of(key);
    let mut url = format!("https://{}{}", parts.host, parts.path);
    if !parts.query.is_empty() {
        url.push('?');
        url.push_str(parts.query);
    }
    Some(url)
}

impl Cloudflare {
    /// The API at `api` for `zone`, with `token`, purging the keys of `hosts`.
    pub fn new(api: impl Into<String>, zone: impl Into<String>, token: impl Into<String>, hosts: Vec<String>) -> Self {
        Cloudflare {
            http: reqwest::Client::new(),
            api: api.into().trim_end_matches('/').to_owned(),
            zone: zone.into(),
            token: token.into(),
            hosts: hosts.into_iter().map(|h| h.to_ascii_lowercase()).collect(),
        }
    }

    /// Purges the Worker's copies of `keys` (full canonical keys, every host; only the
    /// configured hosts' are sent).
    pub async fn purge(&self, keys: &[String]) -> Result<Purged, PurgeError> {
        let mut purged = Purged::default();
        for key in keys {
            if !self.hosts.iter().any(|h| h == KeyParts::of(key).host) {
                continue;
            }
            match cache_url(key) {
                Some(url) => purged.urls.push(url),
                None => purged.skipped.push(key.clone()),
            }
        }
        for chunk in purged.urls.chunks(URLS_PER_CALL) {
            let answer = self
                .http
                .post(format!("{}/zones/{}/purge_cache", self.api, self.zone))
                .bearer_auth(&self.token)
                .json(&serde_json::json!({ "files": chunk }))
                .send()
                .await
                .map_err(|e| PurgeError::Cloudflare(e.to_string()))?;
            purged.calls += 1;
            let status = answer.status();
            let body: serde_json::Value = answer.json().await.unwrap_or_default();
            if !status.is_success() || body["success"] != serde_json::Value::Bool(true) {
                return Err(PurgeError::Cloudflare(format!(
                    "purge_cache answered {status}: {}",
                    body["errors"]
                )));
            }
        }
        Ok(purged)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_becomes_the_workers_cache_url() {
        assert_eq!(
            cache_url("api.example.com/api/products?category=books").as_deref(),
            Some("https://api.example.com/api/products?category=books")
        );
        assert_eq!(
            cache_url("api.example.com/api/products/42").as_deref(),
            Some("https://api.example.com/api/products/42")
        );
        assert_eq!(cache_url("h/a|cookie=x"), None);
    }
}
