//! A behaviour's two policies: the cache policy (what is keyed, and so forwarded, and how
//! long answers are kept) and the origin request policy (what else reaches the origin), as
//! CloudFront's `CachePolicyConfig` and `OriginRequestPolicyConfig` name their settings.

use edge_policy::cache_control::TtlBounds;
use serde::Deserialize;

/// Which query strings or cookies a policy names.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "behavior", rename_all = "camelCase", deny_unknown_fields)]
pub enum Selection {
    /// None.
    None,
    /// All of them.
    All,
    /// Only these names.
    Whitelist {
        /// The names.
        names: Vec<String>,
    },
    /// All but these names.
    AllExcept {
        /// The names.
        names: Vec<String>,
    },
}

impl Selection {
    /// Whether `name` is selected (names compare exactly, as CloudFront compares query
    /// string and cookie names).
    pub fn selects(&self, name: &str) -> bool {
        match self {
            Selection::None => false,
            Selection::All => true,
            Selection::Whitelist { names } => names.iter().any(|n| n == name),
            Selection::AllExcept { names } => !names.iter().any(|n| n == name),
        }
    }
}

/// Which viewer headers a cache policy keys (and forwards).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "behavior", rename_all = "camelCase", deny_unknown_fields)]
pub enum KeyedHeaders {
    /// None.
    None,
    /// These headers (names compare ASCII case-insensitively).
    Whitelist {
        /// The names.
        names: Vec<String>,
    },
}

impl KeyedHeaders {
    /// The keyed names, lower-case, in the policy's order.
    pub fn names(&self) -> Vec<String> {
        match self {
            KeyedHeaders::None => Vec::new(),
            KeyedHeaders::Whitelist { names } => names.iter().map(|n| n.to_ascii_lowercase()).collect(),
        }
    }
}

/// Which viewer headers an origin request policy forwards beyond the cache key.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "behavior", rename_all = "camelCase", deny_unknown_fields)]
pub enum ForwardedHeaders {
    /// None.
    None,
    /// Every viewer header, `Host` included.
    AllViewer,
    /// Every viewer header but `Host` (the managed AllViewerExceptHostHeader).
    AllViewerExceptHost,
    /// These headers.
    Whitelist {
        /// The names.
        names: Vec<String>,
    },
    /// Every viewer header but these.
    AllExcept {
        /// The names.
        names: Vec<String>,
    },
}

impl ForwardedHeaders {
    /// Whether the lower-case header `name` is forwarded.
    pub fn forwards(&self, name: &str) -> bool {
        let listed = |names: &[String]| names.iter().any(|n| n.eq_ignore_ascii_case(name));
        match self {
            ForwardedHeaders::None => false,
            ForwardedHeaders::AllViewer => true,
            ForwardedHeaders::AllViewerExceptHost => name != "host",
            ForwardedHeaders::Whitelist { names } => listed(names),
            ForwardedHeaders::AllExcept { names } => !listed(names),
        }
    }
}

fn caching_on() -> bool {
    true
}

/// A cache policy: what is keyed (and so forwarded) and how long answers are kept.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachePolicy {
    /// The managed policy's id, when it is one.
    #[serde(default)]
    pub managed_id: Option<String>,
    /// `false` is the managed CachingDisabled: nothing is looked up, collapsed or stored.
    #[serde(default = "caching_on")]
    pub caching: bool,
    /// `MinTTL`, seconds.
    pub min_ttl: u64,
    /// `DefaultTTL`, seconds.
    pub default_ttl: u64,
    /// `MaxTTL`, seconds.
    pub max_ttl: u64,
    /// `EnableAcceptEncodingGzip`.
    pub accept_encoding_gzip: bool,
    /// `EnableAcceptEncodingBrotli`.
    pub accept_encoding_brotli: bool,
    /// Keyed query strings.
    pub query_strings: Selection,
    /// Keyed headers.
    pub headers: KeyedHeaders,
    /// Keyed cookies.
    pub cookies: Selection,
}

impl CachePolicy {
    /// Its TTLs are ordered, as CloudFront requires: `MinTTL <= DefaultTTL <= MaxTTL`.
    pub(super) fn check(&self, name: &str) -> Result<(), String> {
        if self.min_ttl > self.default_ttl || self.default_ttl > self.max_ttl {
            return Err(format!(
                "cache policy {name:?}: needs min_ttl <= default_ttl <= max_ttl"
            ));
        }
        Ok(())
    }

    /// The policy's TTL settings, as the freshness model takes them.
    pub fn ttl_bounds(&self) -> TtlBounds {
        TtlBounds {
            min: self.min_ttl,
            default: self.default_ttl,
            max: self.max_ttl,
        }
    }
}

/// An origin request policy: what is forwarded beyond the cache key.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginRequestPolicy {
    /// The managed policy's id, when it is one.
    #[serde(default)]
    pub managed_id: Option<String>,
    /// Forwarded query strings.
    pub query_strings: Selection,
    /// Forwarded headers.
    pub headers: ForwardedHeaders,
    /// Forwarded cookies.
    pub cookies: Selection,
}
