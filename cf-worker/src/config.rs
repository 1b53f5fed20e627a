//! The Worker's configuration, read from its environment once per request (bindings are
//! per-request objects in Workers; reading them is a few property lookups).
//!
//! | binding | kind | meaning |
//! |---|---|---|
//! | `ORIGIN_URL` | var | the origin: the template's second function URL (`AuthType: NONE`) |
//! | `ORIGIN_VERIFY_HEADER` | var | the secret header's name (default `x-origin-verify`) |
//! | `ORIGIN_VERIFY_SECRET` | secret | its value; absent: no header is sent |
//! | `ORIGIN_TIMEOUT_MS` | var | how long the origin may take to answer (default 10,000) |

use std::time::Duration;

use worker::Env;

use crate::error::GlueError;
use crate::request_url::RequestUrl;

/// The default origin timeout: CloudFront's default response timeout is 30 s; a stale copy
/// served after 10 s beats a viewer waiting 30.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;

/// The default name of the origin's secret header (origin-function's `ORIGIN_VERIFY_HEADER`).
const DEFAULT_VERIFY_HEADER: &str = "x-origin-verify";

/// What the Worker needs from its environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// The origin's base URL, without a trailing `/`; the request's path is appended.
    pub origin: String,
    /// The secret header's lower-case name.
    pub verify_header: String,
    /// The secret; `None` when the Worker has none.
    pub verify_secret: Option<String>,
    /// How long an origin request may take before it counts as failed.
    pub timeout: Duration,
}

impl Config {
    /// Reads the bindings. A missing or unusable `ORIGIN_URL` is an error: nothing can be
    /// forwarded without it.
    pub fn from_env(env: &Env) -> Result<Config, GlueError> {
        let var = |name: &str| env.var(name).ok().map(|v| v.to_string()).filter(|v| !v.is_empty());
        let origin = var("ORIGIN_URL").ok_or_else(|| GlueError::Config("ORIGIN_URL is not set".into()))?;
        match RequestUrl::split(&origin) {
            Some(parts) if parts.query.is_empty() && !origin.contains(['?', '#']) => {}
            _ => {
                return Err(GlueError::Config(
                    "ORIGIN_URL must be an http(s) URL without a query".into(),
                ))
            }
        }
        let timeout_ms = match var("ORIGIN_TIMEOUT_MS") {
            None => DEFAULT_TIMEOUT_MS,
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|ms| *ms > 0)
                .ok_or_else(|| GlueError::Config(format!("ORIGIN_TIMEOUT_MS: {v:?} is not a positive integer")))?,
        };
        Ok(Config {
            origin: origin.trim_end_matches('/').to_owned(),
            verify_header: var("ORIGIN_VERIFY_HEADER")
                .unwrap_or_else(|| DEFAULT_VERIFY_HEADER.to_owned())
                .to_ascii_lowercase(),
            verify_secret: env
                .secret("ORIGIN_VERIFY_SECRET")
                .ok()
                .map(|s| s.to_string())
                .filter(|s| !s.is_empty()),
            timeout: Duration::from_millis(timeout_ms),
        })
    }

    /// The origin URL of a path (starting with `/`) and query (without `?`).
    pub fn origin_url(&self, uri: &str, querystring: &str) -> String {
        let mut url = String::with_capacity(self.origin.len() + uri.len() + querystring.len() + 1);
        url.push_str(&self.origin);
        url.push_str(uri);
        if !querystring.is_empty() {
            url.push('?');
            url.push_str(querystring);
        }
        url
    }
}
