//! One cache behaviour, its policies resolved: which methods it answers and caches, which
//! triggers it runs, whether cookies reach the origin, and CloudFront's path pattern match
//! that picks it by the raw viewer path.

use edge_policy::cloudfront::Trigger;
use http::Method;

use super::policies::{CachePolicy, OriginRequestPolicy, Selection};

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

#[cfg(test)]
mod tests {
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
}
