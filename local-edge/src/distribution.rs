//! The distribution the local edge emulates, behaviour by behaviour: read from the one
//! behaviour table (`deploy/behaviours.toml`) that the deploy tests hold against
//! `deploy/template.yaml`, so the emulator and the deployed distribution cannot drift.
//!
//! Parse ([`Distribution::from_toml`]) → validate (every reference resolves, the last
//! behaviour is the default `*`, methods are one of CloudFront's sets) → select
//! ([`Distribution::behaviour_for`], by the raw viewer path, as CloudFront does).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use edge_policy::cache_control::TtlBounds;
use edge_policy::cloudfront::Trigger;
use http::Method;
use serde::Deserialize;

use crate::EdgeError;

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
    /// The Error Caching Minimum TTL for `status`, seconds.
    pub fn min_ttl_secs(&self, status: u16) -> u64 {
        self.custom
            .iter()
            .find(|c| c.status == status)
            .map_or(self.default_min_ttl_secs, |c| c.min_ttl_secs)
    }
}

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

/// One cache behaviour, its policies resolved.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// `PathPattern` (`*` for the default behaviour).
    pub path_pattern: String,
    /// The cache policy's name in the table.
    pub cache_policy_name: String,
    /// The cache policy.
    pub cache_policy: CachePolicy,
    /// The origin request policy.
    pub origin_request_policy: OriginRequestPolicy,
    /// `AllowedMethods`.
    pub allowed_methods: Vec<Method>,
    /// `CachedMethods`.
    pub cached_methods: Vec<Method>,
    /// `Compress` (recorded; the local edge does not compress).
    pub compress: bool,
    /// The associated Lambda@Edge triggers.
    pub triggers: Vec<Trigger>,
}

impl Behaviour {
    /// Whether the behaviour answers `method` (else CloudFront's 403).
    pub fn allows(&self, method: &Method) -> bool {
        self.allowed_methods.contains(method)
    }

    /// Whether answers to `method` are looked up, collapsed and stored.
    pub fn caches(&self, method: &Method) -> bool {
        self.cache_policy.caching && self.cached_methods.contains(method)
    }

    /// Whether `trigger` is associated with the behaviour.
    pub fn runs(&self, trigger: Trigger) -> bool {
        self.triggers.contains(&trigger)
    }

    /// Whether any cookie reaches the origin. When none does, CloudFront strips `Set-Cookie`
    /// from the origin's answers (`lambda-edge-rules.md`: "When cookies are forwarded,
    /// CloudFront caches a response's Set-Cookie and replays it on hits; otherwise it strips
    /// it").
    pub fn forwards_cookies(&self) -> bool {
        self.cache_policy.cookies != Selection::None || self.origin_request_policy.cookies != Selection::None
    }
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
            if policy.min_ttl > policy.default_ttl || policy.default_ttl > policy.max_ttl {
                return Err(format!(
                    "cache policy {name:?}: needs min_ttl <= default_ttl <= max_ttl"
                ));
            }
        }
        for custom in &file.error_caching.custom {
            if !(400..=599).contains(&custom.status) {
                return Err(format!("error_caching: status {} is not a 4xx or 5xx", custom.status));
            }
        }
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

/// CloudFront's path pattern match: case-sensitive and literal, `*` any run of characters
/// (none included), `?` exactly one; the whole path must match. Linear backtracking on the
/// last `*`, so no input is slow.
pub fn path_pattern_matches(pattern: &str, path: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), path.chars().collect());
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if let Some((star_p, star_s)) = star {
            pi = star_p + 1;
            si = star_s + 1;
            star = Some((star_p, star_s + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
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
    fn patterns_are_literal_and_case_sensitive() {
        assert!(path_pattern_matches("/api/products", "/api/products"));
        assert!(!path_pattern_matches("/api/products", "/api/products/"));
        assert!(path_pattern_matches("/api/products/*", "/api/products/7"));
        assert!(path_pattern_matches("/api/products/*", "/api/products/"));
        assert!(path_pattern_matches("/api/me*", "/api/me%2Fx.css"));
        assert!(path_pattern_matches("/api/me*", "/api/me"));
        assert!(!path_pattern_matches("/api/me*", "/API/ME"));
        assert!(path_pattern_matches("/a?c", "/abc"));
        assert!(!path_pattern_matches("/a?c", "/ac"));
        assert!(path_pattern_matches("*.css", "/x/y.css"));
        assert!(path_pattern_matches("*", ""));
        assert!(path_pattern_matches("/a*b*c", "/a-b-b-c"));
        assert!(!path_pattern_matches("/a*b*c", "/a-b-b-d"));
    }

    #[test]
    fn a_long_hostile_path_is_matched_quickly() {
        let path = format!("/{}", "a".repeat(8000));
        assert!(!path_pattern_matches("/*a*a*a*a*b", &path));
    }

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
