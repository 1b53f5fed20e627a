//! The distribution the local edge emulates, behaviour by behaviour: read from the one
//! behaviour table (`deploy/behaviours.toml`) that the deploy tests hold against
//! `deploy/template.yaml`, so the emulator and the deployed distribution cannot drift.
//!
//! Parse ([`Distribution::from_toml`]) → validate (every reference resolves, the last
//! behaviour is the default `*`, methods are one of CloudFront's sets) → select
//! ([`Distribution::behaviour_for`], by the raw viewer path, as CloudFront does).
//!
//! This file is the table's format (origin, function, behaviours in order) and its
//! validation; the parts it resolves each have a file: a behaviour and the path pattern
//! that picks it ([`behaviour`]), the cache and origin request policies ([`policies`]), the
//! error caching settings ([`error_caching`]).

mod behaviour;
mod error_caching;
mod policies;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use edge_policy::cloudfront::Trigger;
use http::Method;
use serde::Deserialize;

pub use self::behaviour::{path_pattern_matches, Behaviour};
pub use self::error_caching::{CustomErrorResponse, ErrorCaching};
pub use self::policies::{CachePolicy, ForwardedHeaders, KeyedHeaders, OriginRequestPolicy, Selection};
use crate::error::EdgeError;

/// Where the template's `${OriginVerifySecret}` parameter stands in a custom header value:
/// the local edge sends its own per-stack secret there.
pub const SECRET_PLACEHOLDER: &str = "${OriginVerifySecret}";

/// The whole table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    origin: OriginSettings,
    function: FunctionSettings,
    error_caching: ErrorCaching,
    cache_policies: BTreeMap<String, CachePolicy>,
    origin_request_policies: BTreeMap<String, OriginRequestPolicy>,
    behaviours: Vec<BehaviourEntry>,
}

/// The origin's settings (`Origins[0]` of the template).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OriginSettings {
    /// `OriginCustomHeaders`: sent on every origin request, overwriting a viewer header of
    /// the same name.
    pub custom_headers: Vec<CustomHeader>,
    /// Origin Access Control's signing behaviour.
    pub access_control: AccessControl,
    /// `CustomOriginConfig.OriginReadTimeout`, seconds.
    pub read_timeout_secs: u64,
    /// `CustomOriginConfig.OriginKeepaliveTimeout`, seconds (CloudFront's default, 5, when
    /// unset): how long an idle connection to an HTTP origin is kept.
    #[serde(default = "default_keepalive_timeout_secs")]
    pub keepalive_timeout_secs: u64,
}

fn default_keepalive_timeout_secs() -> u64 {
    5
}

/// One origin custom header.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomHeader {
    /// The header name.
    pub name: String,
    /// The value; [`SECRET_PLACEHOLDER`] stands for the shared secret.
    pub value: String,
}

/// Origin Access Control (`SigningBehavior`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccessControl {
    /// CloudFront signs every origin request with SigV4 in `Authorization`, overwriting the
    /// viewer's.
    Always,
    /// No signing: the origin request carries what the policies forward.
    Never,
}

/// The Lambda@Edge function's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSettings {
    /// The function's `Timeout`, which every associated trigger gets, seconds.
    pub timeout_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct BehaviourEntry {
    path_pattern: String,
    cache_policy: String,
    origin_request_policy: String,
    allowed_methods: Vec<String>,
    cached_methods: Vec<String>,
    compress: bool,
    triggers: Vec<String>,
}

/// The distribution: origin, function, error caching and behaviours in CloudFront's order.
#[derive(Debug, Clone)]
pub struct Distribution {
    /// The origin's settings.
    pub origin: OriginSettings,
    /// The Lambda@Edge function's settings.
    pub function: FunctionSettings,
    /// Distribution-wide error caching.
    pub error_caching: ErrorCaching,
    /// The behaviours; the last is the default (`*`).
    pub behaviours: Vec<Arc<Behaviour>>,
}

/// CloudFront's `AllowedMethods` sets.
const ALLOWED_SETS: &[&[&str]] = &[
    &["GET", "HEAD"],
    &["GET", "HEAD", "OPTIONS"],
    &["GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"],
];

/// CloudFront's `CachedMethods` sets.
const CACHED_SETS: &[&[&str]] = &[&["GET", "HEAD"], &["GET", "HEAD", "OPTIONS"]];

fn same_set(given: &[String], set: &[&str]) -> bool {
    given.len() == set.len() && set.iter().all(|m| given.iter().any(|g| g == m))
}

fn methods(given: &[String]) -> Vec<Method> {
    given
        .iter()
        .filter_map(|m| Method::from_bytes(m.as_bytes()).ok())
        .collect()
}

impl Distribution {
    /// Reads the table at `path`.
    pub fn load(path: &Path) -> Result<Distribution, EdgeError> {
        let text =
            std::fs::read_to_string(path).map_err(|e| EdgeError::Behaviours(format!("{}: {e}", path.display())))?;
        Distribution::from_toml(&text).map_err(|e| EdgeError::Behaviours(format!("{}: {e}", path.display())))
    }

    /// Parses and validates a table.
    pub fn from_toml(text: &str) -> Result<Distribution, String> {
        let file: TableFile = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut behaviours = Vec::with_capacity(file.behaviours.len());
        for (i, entry) in file.behaviours.iter().enumerate() {
            let at = format!("behaviour {} ({:?})", i + 1, entry.path_pattern);
            if entry.path_pattern.is_empty() {
                return Err(format!("{at}: empty path_pattern"));
            }
            let cache_policy = file
                .cache_policies
                .get(&entry.cache_policy)
                .ok_or_else(|| format!("{at}: no cache policy {:?}", entry.cache_policy))?;
            let origin_request_policy = file
                .origin_request_policies
                .get(&entry.origin_request_policy)
                .ok_or_else(|| format!("{at}: no origin request policy {:?}", entry.origin_request_policy))?;
            if !ALLOWED_SETS.iter().any(|s| same_set(&entry.allowed_methods, s)) {
                return Err(format!(
                    "{at}: allowed_methods {:?} is not one of CloudFront's sets",
                    entry.allowed_methods
                ));
            }
            if !CACHED_SETS.iter().any(|s| same_set(&entry.cached_methods, s))
                || !entry.cached_methods.iter().all(|m| entry.allowed_methods.contains(m))
            {
                return Err(format!(
                    "{at}: cached_methods {:?} is not one of CloudFront's sets",
                    entry.cached_methods
                ));
            }
            let mut triggers = Vec::new();
            for name in &entry.triggers {
                let trigger =
                    Trigger::from_event_type(name).ok_or_else(|| format!("{at}: unknown trigger {name:?}"))?;
                if triggers.contains(&trigger) {
                    return Err(format!("{at}: trigger {name:?} associated twice"));
                }
                triggers.push(trigger);
            }
            behaviours.push(Arc::new(Behaviour {
                path_pattern: entry.path_pattern.clone(),
                cache_policy_name: entry.cache_policy.clone(),
                cache_policy: cache_policy.clone(),
                origin_request_policy: origin_request_policy.clone(),
                allowed_methods: methods(&entry.allowed_methods),
                cached_methods: methods(&entry.cached_methods),
                compress: entry.compress,
                triggers,
            }));
        }
        match behaviours.last() {
            Some(last) if last.path_pattern == "*" => {}
            _ => return Err("the last behaviour must be the default, path_pattern \"*\"".into()),
        }
        for (name, policy) in &file.cache_policies {
            policy.check(name)?;
        }
        file.error_caching.check()?;
        if file.function.timeout_secs == 0 || file.origin.read_timeout_secs == 0 {
            return Err("function.timeout_secs and origin.read_timeout_secs must be above 0".into());
        }
        Ok(Distribution {
            origin: file.origin,
            function: file.function,
            error_caching: file.error_caching,
            behaviours,
        })
    }

    /// The behaviour for a raw viewer path: the first whose pattern matches, in order (the
    /// default `*` matches everything).
    pub fn behaviour_for(&self, raw_path: &str) -> &Arc<Behaviour> {
        self.behaviours
            .iter()
            .find(|b| path_pattern_matches(&b.path_pattern, raw_path))
            .unwrap_or_else(|| self.default_behaviour())
    }

    /// The default behaviour (the last).
    pub fn default_behaviour(&self) -> &Arc<Behaviour> {
        // `from_toml` guarantees at least one behaviour.
        &self.behaviours[self.behaviours.len() - 1]
    }
}

/// Builders for unit tests.
#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    /// `deploy/behaviours.toml`.
    pub(crate) fn deployed() -> Distribution {
        Distribution::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/behaviours.toml")).unwrap()
    }

    /// A caching policy: TTL 0/60/600, both encodings, every query string, no header or cookie.
    pub(crate) fn caching_policy() -> CachePolicy {
        CachePolicy {
            managed_id: None,
            caching: true,
            min_ttl: 0,
            default_ttl: 60,
            max_ttl: 600,
            accept_encoding_gzip: true,
            accept_encoding_brotli: true,
            query_strings: Selection::All,
            headers: KeyedHeaders::None,
            cookies: Selection::None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::deployed;
    use super::*;

    #[test]
    fn the_deployed_table_loads_and_picks_by_the_raw_path() {
        let d = deployed();
        let pick = |p: &str| d.behaviour_for(p).path_pattern.clone();
        assert_eq!(pick("/api/products/7"), "/api/products/*");
        assert_eq!(pick("/api/products"), "/api/products");
        assert_eq!(pick("/api/users%2F7"), "/api/users*");
        assert_eq!(pick("/api/me;x.css"), "/api/me*");
        assert_eq!(pick("/API/ME"), "*");
        assert_eq!(pick("//api/products/"), "*");
        let me = d.behaviour_for("/api/me");
        assert!(!me.caches(&Method::GET));
        assert!(me.forwards_cookies() && !d.behaviour_for("/api/config").forwards_cookies());
        assert!(me.allows(&Method::GET) && !me.allows(&Method::POST));
        assert!(me.runs(Trigger::ViewerRequest) && !me.runs(Trigger::OriginRequest));
        assert_eq!(d.error_caching.min_ttl_secs(503), 0);
        assert_eq!(d.error_caching.min_ttl_secs(400), 10);
        assert_eq!(d.function.timeout_secs, 5);
    }

    #[test]
    fn broken_tables_are_refused_with_the_reason() {
        let good =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/behaviours.toml")).unwrap();
        for (from, to, reason) in [
            (
                "cache_policy = \"public\"",
                "cache_policy = \"nope\"",
                "no cache policy",
            ),
            (
                "triggers = [\"viewer-request\", \"origin-response\"]",
                "triggers = [\"viewer-reqest\"]",
                "unknown trigger",
            ),
            (
                "allowed_methods = [\"GET\", \"HEAD\"]",
                "allowed_methods = [\"GET\"]",
                "allowed_methods",
            ),
            ("path_pattern = \"*\"", "path_pattern = \"/x\"", "default"),
            (
                "default_min_ttl_secs = 10",
                "default_min_ttl_secs = 10\ntypo = 1",
                "unknown field",
            ),
        ] {
            let broken = good.replacen(from, to, 1);
            assert_ne!(broken, good, "{from}");
            let err = Distribution::from_toml(&broken).unwrap_err();
            assert!(err.contains(reason), "{reason}: {err}");
        }
    }
}
