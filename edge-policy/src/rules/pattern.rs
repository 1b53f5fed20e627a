//! Path patterns and how they match (cache-key.md, "Routes" and "Bypass matching fails
//! closed"): public patterns exactly as written; bypass patterns case-insensitively, up to any
//! byte that does not continue a name; and a path as an origin framework may read it.

use super::RouteKind;

/// A path pattern: exact, or a prefix when it ends in `*` (`*` matches any rest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    prefix: String,
    wildcard: bool,
}

/// Bytes that continue a path segment's name: after a bypass pattern's literal part, any
/// other byte (`/`, `;`, `.`, `%`, `:`, `@`, …) may be read by an origin framework as the
/// end of the name (cache-key.md, "Bypass matching fails closed").
fn continues_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'~')
}

impl Pattern {
    /// Builds a pattern from its rules-file form (`/api/me`, `/static/*`).
    pub fn new(pattern: &str) -> Self {
        match pattern.strip_suffix('*') {
            Some(prefix) => Pattern {
                prefix: prefix.to_owned(),
                wildcard: true,
            },
            None => Pattern {
                prefix: pattern.to_owned(),
                wildcard: false,
            },
        }
    }

    /// The pattern as the rules file writes it (`/static/*`).
    pub fn as_written(&self) -> String {
        let mut written = self.prefix.clone();
        if self.wildcard {
            written.push('*');
        }
        written
    }

    /// A bypass pattern's literal part: the pattern without a trailing `/*`, `*` or `/`
    /// (`/api/users/*` → `/api/users`), never shorter than `/`.
    pub fn literal(&self) -> &str {
        let literal = self.prefix.strip_suffix('/').unwrap_or(&self.prefix);
        if literal.is_empty() {
            "/"
        } else {
            literal
        }
    }

    /// Whether `path` (normalized, as bytes) matches for a route of `kind`.
    ///
    /// Public patterns match exactly as written. Bypass patterns fail closed (web cache
    /// deception, cache-key.md): the literal part matches ASCII case-insensitively, and
    /// then the end of the path or any byte that does not continue a name — which covers
    /// the spec's `/`, `;`, `.`, `%2F`, `%3B`, `%5C`, `%2E` and over-matches the rest of
    /// `%XX` and the sub-delims. `/api/users/*` covers `/api/users`, `/api/users%2F7`,
    /// `/api/users;/7`, `/API/Users/7`; `/api/me` covers `/api/me.json`, `/api/me;x.css`,
    /// but not `/api/meow`. A pattern ending in `*` without `/` (`/api/priv*`) is a prefix:
    /// any rest matches. Matching too much costs only cache hits; too little leaks.
    pub(super) fn matches(&self, path: &[u8], kind: RouteKind) -> bool {
        match kind {
            RouteKind::Bypass => {
                let literal = self.literal().as_bytes();
                if path.len() < literal.len() || !path[..literal.len()].eq_ignore_ascii_case(literal) {
                    return false;
                }
                let any_rest = self.wildcard && !self.prefix.ends_with('/');
                any_rest || path.get(literal.len()).is_none_or(|b| !continues_name(*b))
            }
            RouteKind::Public if self.wildcard => path.starts_with(self.prefix.as_bytes()),
            RouteKind::Public => path == self.prefix.as_bytes(),
        }
    }
}

/// The normalized path as an origin framework may route it, when that can differ: every
/// `%XX` decoded once, `\` (raw or decoded) read as `/`, `;` path parameters dropped from each segment
/// (Servlet/Spring), empty segments dropped, dot-segments removed (RFC 3986 §5.2.4).
/// `None` when the path holds none of `%`, `;`, `\` (it is then its own reading).
///
/// `/static/..%2Fapi/me` reads `/api/me`, `/api%2Fme` reads `/api/me`, `/api;x/me` reads
/// `/api/me`: [`super::RuleSet::route_for`] makes such a path private when this reading is.
pub(super) fn framework_reading(path: &str) -> Option<Vec<u8>> {
    let bytes = path.as_bytes();
    if !bytes.iter().any(|b| matches!(b, b'%' | b';' | b'\\')) {
        return None;
    }
    Some(reading_of(bytes))
}

/// [`framework_reading`]'s rewrite, out of line: a plain path never compiles it (crate docs,
/// "Stages stay out of line").
#[inline(never)]
fn reading_of(bytes: &[u8]) -> Vec<u8> {
    let hex = |b: u8| char::from(b).to_digit(16);
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let triplet = (bytes[i] == b'%')
            .then(|| Some(hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?))
            .flatten();
        // The value of two hex digits fits a byte.
        match triplet.map_or(bytes[i], |octet| octet as u8) {
            b'\\' => decoded.push(b'/'),
            b => decoded.push(b),
        }
        i += if triplet.is_some() { 3 } else { 1 };
    }
    let mut segments: Vec<&[u8]> = Vec::new();
    for segment in decoded.split(|b| *b == b'/') {
        let name = segment.split(|b| *b == b';').next().unwrap_or(segment);
        match name {
            b"" | b"." => {}
            b".." => {
                segments.pop();
            }
            name => segments.push(name),
        }
    }
    let mut reading = Vec::with_capacity(decoded.len() + 1);
    for segment in &segments {
        reading.push(b'/');
        reading.extend_from_slice(segment);
    }
    if reading.is_empty() {
        reading.push(b'/');
    }
    reading
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Route, RuleSet};

    #[test]
    fn the_framework_reading_decodes_once_and_removes_parameters_and_dots() {
        let read = |p: &str| framework_reading(p).map(|r| String::from_utf8_lossy(&r).into_owned());
        assert_eq!(read("/a/b"), None);
        assert_eq!(read("/a%2Fb;x/..%2F..%2Fc"), Some("/c".into()));
        assert_eq!(read("/a;x=1/b;y"), Some("/a/b".into()));
        assert_eq!(read("/a%252F"), Some("/a%2F".into()));
        assert_eq!(read("/%2E%2E%5C..%5C"), Some("/".into()));
    }

    #[test]
    fn a_literal_is_the_pattern_without_its_wildcard_and_slash() {
        assert_eq!(Pattern::new("/api/users/*").literal(), "/api/users");
        assert_eq!(Pattern::new("/api/me").literal(), "/api/me");
        assert_eq!(Pattern::new("/api/me/").literal(), "/api/me");
        assert_eq!(Pattern::new("/x*").literal(), "/x");
        assert_eq!(Pattern::new("/*").literal(), "/");
        let rules = RuleSet::new(vec![Route::bypass("p", &["/priv*"]), Route::public("d", &["/*"])]).unwrap();
        assert!(rules.route_for("/private").is_bypass());
        assert!(rules.route_for("/PRIVx").is_bypass());
    }
}
