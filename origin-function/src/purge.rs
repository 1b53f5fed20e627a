//! Purge's vocabulary at the origin (purge.md): what a purge selects ([`Selector`]), a purge
//! as the log records it ([`PurgeRecord`]), the tags an answer carries ([`Tags`], from
//! `Surrogate-Key`), and a canonical key split into host, path and query ([`KeyParts`]).
//!
//! Files by job: [`store`] (the purge table: indexes and log, on DynamoDB or Redis),
//! [`view`] (what one environment knows of the log, read before any L1 serve),
//! [`command`] (the purge steps an operator runs through a direct invoke, the Redis path).
//!
//! Sequence numbers (purge.md, "Sequence numbers"): every entry carries `S₀`, the highest
//! purge its environment had read before the entry's source load began (an entry written by
//! an older build counts as 0). A purge `S` selects an entry only when `S₀ < S` and its
//! selector matches ([`PurgeRecord::selects`]), so entries loaded after a purge survive it.

pub mod command;
mod redis_store;
pub mod store;
pub mod view;

use serde::{Deserialize, Serialize};

/// The most tags one answer carries (purge.md, "Tags"); more are dropped and counted.
pub const MAX_TAGS: usize = 64;
/// The longest tag, bytes.
pub const MAX_TAG_BYTES: usize = 128;
/// The response header the source names its tags in (the Fastly convention).
pub const SURROGATE_KEY: &str = "surrogate-key";

/// What a purge selects: entries of one canonical path (every query, host and keyed header),
/// of every path beginning with a prefix, or of every URL whose answer carried a tag.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "value")]
pub enum Selector {
    /// A canonical path (already normalized by `edge-policy`, without its query).
    Url(String),
    /// A path prefix (the selector's text without its trailing `*`).
    Prefix(String),
    /// A surrogate key.
    Tag(String),
}

impl Selector {
    /// Whether this selector matches an entry of `parts` carrying `tags`.
    pub fn matches(&self, parts: &KeyParts<'_>, tags: &[String]) -> bool {
        match self {
            Selector::Url(path) => parts.path == path,
            Selector::Prefix(prefix) => parts.path.starts_with(prefix.as_str()),
            Selector::Tag(tag) => tags.iter().any(|t| t == tag),
        }
    }

    /// The selector as an operator writes it (`--url`, `--prefix`, `--tag`).
    pub fn describe(&self) -> String {
        match self {
            Selector::Url(path) => format!("url {path}"),
            Selector::Prefix(prefix) => format!("prefix {prefix}*"),
            Selector::Tag(tag) => format!("tag {tag}"),
        }
    }
}

/// One purge as the log holds it: its sequence and its selector.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurgeRecord {
    /// The purge's sequence number `S`.
    pub seq: u64,
    /// What it selects.
    pub selector: Selector,
}

impl PurgeRecord {
    /// purge.md: a purge `S` selects an entry only when `S₀ < S` and its selector matches.
    pub fn selects(&self, entry_seq: u64, parts: &KeyParts<'_>, tags: &[String]) -> bool {
        entry_seq < self.seq && self.selector.matches(parts, tags)
    }
}

/// A canonical key (`lower(host) + path + ?query`, then `|name=value` per keyed header,
/// `edge_policy::CacheKey`) split into its parts. A normalized path or query never holds a
/// raw `|`, so the first `|` starts the keyed headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyParts<'k> {
    /// The lower-case host.
    pub host: &'k str,
    /// The canonical path.
    pub path: &'k str,
    /// The canonical query (empty when none).
    pub query: &'k str,
}

impl<'k> KeyParts<'k> {
    /// The parts of `key`.
    pub fn of(key: &'k str) -> Self {
        let slash = key.find('/').unwrap_or(key.len());
        let (host, rest) = key.split_at(slash);
        let url = rest.split('|').next().unwrap_or(rest);
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        KeyParts { host, path, query }
    }

    /// `path?query` (the query only when there is one): what the tag index records and what
    /// CloudFront invalidates exactly.
    pub fn path_and_query(&self) -> String {
        if self.query.is_empty() {
            self.path.to_owned()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }
}

/// The tags an answer carries, read from its `Surrogate-Key` (space-separated tokens, each
/// at most [`MAX_TAG_BYTES`] of `[A-Za-z0-9:_.-]`, at most [`MAX_TAGS`]); what was dropped
/// is counted, never an error for the viewer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags {
    /// The valid tags, in order, without duplicates.
    pub tags: Vec<String>,
    /// Tokens dropped (invalid, or past the limit).
    pub dropped: u32,
}

/// Whether `tag` is a valid tag: 1 to [`MAX_TAG_BYTES`] bytes of `[A-Za-z0-9:_.-]`.
pub fn is_valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_TAG_BYTES
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b':' | b'_' | b'.' | b'-'))
}

impl Tags {
    /// Reads a `Surrogate-Key` value.
    pub fn parse(value: Option<&str>) -> Tags {
        let mut tags = Tags::default();
        for token in value.unwrap_or_default().split_ascii_whitespace() {
            if !is_valid_tag(token) || tags.tags.len() >= MAX_TAGS {
                tags.dropped += 1;
            } else if !tags.tags.iter().any(|t| t == token) {
                tags.tags.push(token.to_owned());
            }
        }
        tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_splits_into_host_path_and_query() {
        let p = KeyParts::of("example.com/api/products?category=books&sort=price|cookie=a%3D1");
        assert_eq!(
            (p.host, p.path, p.query),
            ("example.com", "/api/products", "category=books&sort=price")
        );
        assert_eq!(p.path_and_query(), "/api/products?category=books&sort=price");
        let p = KeyParts::of("h/api/products/42");
        assert_eq!(
            (p.path, p.query, p.path_and_query().as_str()),
            ("/api/products/42", "", "/api/products/42")
        );
    }

    #[test]
    fn tags_are_validated_counted_and_bounded() {
        let t = Tags::parse(Some("product:42  category:books product:42 bad!tag"));
        assert_eq!(t.tags, ["product:42", "category:books"]);
        assert_eq!(t.dropped, 1);
        let many: Vec<String> = (0..70).map(|i| format!("t{i}")).collect();
        let t = Tags::parse(Some(&many.join(" ")));
        assert_eq!((t.tags.len(), t.dropped), (64, 6));
        assert!(!is_valid_tag(&"a".repeat(129)) && is_valid_tag(&"a".repeat(128)));
        assert_eq!(Tags::parse(None), Tags::default());
    }

    #[test]
    fn a_purge_selects_only_older_entries_its_selector_matches() {
        let parts = KeyParts::of("h/api/products/42?x=1");
        let tags = vec!["product:42".to_owned()];
        let tag = PurgeRecord {
            seq: 5,
            selector: Selector::Tag("product:42".into()),
        };
        assert!(tag.selects(4, &parts, &tags));
        assert!(!tag.selects(5, &parts, &tags), "loaded after the purge: survives");
        assert!(!tag.selects(0, &parts, &[]));
        let url = PurgeRecord {
            seq: 5,
            selector: Selector::Url("/api/products/42".into()),
        };
        assert!(url.selects(0, &parts, &[]));
        assert!(!url.selects(0, &KeyParts::of("h/api/products/420"), &[]));
        let prefix = PurgeRecord {
            seq: 5,
            selector: Selector::Prefix("/api/products/4".into()),
        };
        assert!(prefix.selects(0, &KeyParts::of("h/api/products/420"), &[]));
        assert!(!prefix.selects(0, &KeyParts::of("h/api/config"), &[]));
    }
}
