//! Which paths the edge step sends, and in which batches (purge.md, "What CloudFront
//! invalidates" and step 6). Pure: no I/O.
//!
//! CloudFront's rules, from the Developer Guide ("Invalidating files", "Concurrent
//! invalidation request maximum", "Paying for file invalidation"):
//! - "If you're invalidating files individually, you can have invalidation requests for up
//!   to 3,000 files per distribution in progress at one time"; "If you're using the *
//!   wildcard, you can have requests for up to 15 invalidation paths in progress at one
//!   time" ([`Limits`]).
//! - "The * wildcard … must be the last character in the invalidation path"; a path with a
//!   query string invalidates only that query string's copy, so query variants need the
//!   exact `path?query` or a trailing `*`.
//! - "The first 1,000 invalidation paths that you submit per month are free; you pay for each
//!   invalidation path over 1,000 in a month"; "A path that includes the * wildcard counts as
//!   one path even if it causes CloudFront to invalidate thousands of files".
//!
//! The collapse: many query variants of one path become one wildcard `path?*` when there
//! are at least [`Limits::collapse_min`] of them and the wildcard budget allows. `path?*`
//! covers only that path's query variants: a collapse never covers a path outside its
//! prefix (the bare `path`, if selected, stays an exact path). Exact paths a wildcard already
//! covers are dropped.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

/// CloudFront's in-progress limits, and when to collapse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Exact paths per batch (CloudFront: 3,000 in progress per distribution).
    pub exact_per_batch: usize,
    /// Wildcard paths per batch (CloudFront: 15 in progress per distribution).
    pub wildcards_per_batch: usize,
    /// Query variants of one path that become one `path?*`.
    pub collapse_min: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            exact_per_batch: 3000,
            wildcards_per_batch: 15,
            collapse_min: 20,
        }
    }
}

/// One wildcard the plan chose in place of exact paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Collapse {
    /// The wildcard sent.
    pub wildcard: String,
    /// The exact paths it replaced.
    pub replaced: Vec<String>,
}

/// The edge step's plan.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The batches, in order (one `CreateInvalidation` each).
    pub batches: Vec<Vec<String>>,
    /// The wildcards chosen by collapsing (those the selector named are not listed).
    pub collapsed: Vec<Collapse>,
}

impl Plan {
    /// Paths billed: every path of every batch (a wildcard counts as one).
    pub fn billed_paths(&self) -> usize {
        self.batches.iter().map(Vec::len).sum()
    }

    /// Every path sent.
    pub fn paths(&self) -> impl Iterator<Item = &String> {
        self.batches.iter().flatten()
    }
}

/// Whether `path` is a wildcard path.
pub fn is_wildcard(path: &str) -> bool {
    path.ends_with('*')
}

/// Whether invalidation path `invalidation` covers the edge copy stored under `target`
/// (`path` or `path?query`), as CloudFront matches: exactly, or every string beginning with
/// the wildcard's text before its `*`. Case-sensitive.
pub fn covers(invalidation: &str, target: &str) -> bool {
    match invalidation.strip_suffix('*') {
        Some(prefix) => target.starts_with(prefix),
        None => invalidation == target,
    }
}

/// Plans `paths` (exact `path?query` and wildcards, in any order, duplicates allowed) within
/// `limits`.
pub fn plan(paths: impl IntoIterator<Item = String>, limits: Limits) -> Plan {
    let (wildcards, exact): (BTreeSet<String>, BTreeSet<String>) = paths.into_iter().partition(|p| is_wildcard(p));
    let mut wildcards: Vec<String> = wildcards.into_iter().collect();
    // A wildcard covered by a shorter one is redundant.
    let all = wildcards.clone();
    wildcards.retain(|w| !all.iter().any(|other| other != w && covers(other, w)));
    let mut exact: Vec<String> = exact
        .into_iter()
        .filter(|e| !wildcards.iter().any(|w| covers(w, e)))
        .collect();

    // Query variants by path, largest groups first, while the wildcard budget allows.
    let mut groups: BTreeMap<&str, Vec<&String>> = BTreeMap::new();
    for e in &exact {
        if let Some((path, _)) = e.split_once('?') {
            groups.entry(path).or_default().push(e);
        }
    }
    let mut candidates: Vec<(&str, Vec<&String>)> = groups
        .into_iter()
        .filter(|(_, v)| v.len() >= limits.collapse_min.max(2))
        .collect();
    candidates.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    let budget = limits.wildcards_per_batch.saturating_sub(wildcards.len());
    let mut collapsed = Vec::new();
    for (path, variants) in candidates.into_iter().take(budget) {
        collapsed.push(Collapse {
            wildcard: format!("{path}?*"),
            replaced: variants.into_iter().cloned().collect(),
        });
    }
    exact.retain(|e| !collapsed.iter().any(|c| covers(&c.wildcard, e)));
    wildcards.extend(collapsed.iter().map(|c| c.wildcard.clone()));

    let mut batches: Vec<Vec<String>> = Vec::new();
    let (mut exact, mut wildcards) = (exact.into_iter().peekable(), wildcards.into_iter().peekable());
    while exact.peek().is_some() || wildcards.peek().is_some() {
        let mut batch: Vec<String> = wildcards.by_ref().take(limits.wildcards_per_batch.max(1)).collect();
        batch.extend(exact.by_ref().take(limits.exact_per_batch.max(1)));
        batches.push(batch);
    }
    Plan { batches, collapsed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn covered_paths_are_dropped_and_wildcards_count_once() {
        let p = plan(
            strings(&[
                "/api/products/42",
                "/api/products/42?x=1",
                "/api/products/42*",
                "/api/config",
            ]),
            Limits::default(),
        );
        assert_eq!(p.batches, [strings(&["/api/products/42*", "/api/config"])]);
        assert_eq!(p.billed_paths(), 2);
    }

    #[test]
    fn many_query_variants_collapse_to_that_paths_variants_only() {
        let mut paths: Vec<String> = (0..25).map(|i| format!("/api/products?page={i}")).collect();
        paths.push("/api/products".into());
        paths.push("/api/products/7".into());
        let p = plan(paths, Limits::default());
        assert_eq!(p.collapsed.len(), 1);
        assert_eq!(p.collapsed[0].wildcard, "/api/products?*");
        assert_eq!(p.collapsed[0].replaced.len(), 25);
        assert_eq!(
            p.batches,
            [strings(&["/api/products?*", "/api/products", "/api/products/7"])]
        );
        assert!(!covers("/api/products?*", "/api/products/7"));
    }

    fn path() -> impl Strategy<Value = String> {
        (
            "/[ab]{1,2}(/[ab]{1,2}){0,2}",
            proptest::option::of("[xy]=[0-9]{1,2}"),
            any::<bool>(),
        )
            .prop_map(|(p, q, wild)| match (q, wild) {
                (_, true) => format!("{p}*"),
                (Some(q), false) => format!("{p}?{q}"),
                (None, false) => p,
            })
    }

    proptest! {
        #[test]
        fn batches_stay_within_the_limits_and_cover_every_path(
            paths in proptest::collection::vec(path(), 0..200),
            exact in 1usize..40, wild in 1usize..6, min in 2usize..6,
        ) {
            let limits = Limits { exact_per_batch: exact, wildcards_per_batch: wild, collapse_min: min };
            let p = plan(paths.clone(), limits);
            for batch in &p.batches {
                prop_assert!(!batch.is_empty());
                prop_assert!(batch.iter().filter(|b| is_wildcard(b)).count() <= wild);
                prop_assert!(batch.iter().filter(|b| !is_wildcard(b)).count() <= exact);
            }
            let sent: Vec<&String> = p.paths().collect();
            for asked in &paths {
                let target = asked.trim_end_matches('*');
                prop_assert!(sent.iter().any(|s| covers(s, target)), "{asked} not covered");
            }
        }

        #[test]
        fn a_collapse_never_covers_a_path_outside_its_prefix(
            paths in proptest::collection::vec(path(), 0..200),
            other in path(),
            min in 2usize..6,
        ) {
            let limits = Limits { collapse_min: min, ..Limits::default() };
            let p = plan(paths.clone(), limits);
            for c in &p.collapsed {
                let (path, _) = c.wildcard.split_once('?').expect("path?*");
                for r in &c.replaced {
                    prop_assert!(covers(&c.wildcard, r));
                    let want = format!("{path}?");
                    prop_assert!(r.starts_with(&want));
                }
                // Whatever else it covers is a query variant of the same path.
                let other = other.trim_end_matches('*');
                if covers(&c.wildcard, other) {
                    prop_assert_eq!(other.split_once('?').map(|(p, _)| p), Some(path));
                }
            }
        }
    }
}
