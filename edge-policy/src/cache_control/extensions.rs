//! Directives the policy does not know (RFC 9111 §5.2.3, "Cache directives ... not
//! understood ... MUST be ignored" by a cache, but passed on): which occurrence is kept, in
//! time that no origin can make quadratic.

use std::cmp::Ordering;

use super::parse::{line_elements, Element};
use super::CacheControl;

impl CacheControl {
    /// The directives less every unknown one whose argument holds a quote or a comma
    /// (cache-control.md, "Reading what the origin sent"): on an answer that must not be shared
    /// (a bypass route, `private`, `no-store`), a reader that splits the line on commas must
    /// never find a sharing directive inside a quoted string (`x="a, stale-if-error=4"`).
    /// Unknown directives with a token argument, or none, are kept.
    pub fn without_quoted_extensions(mut self) -> Self {
        if !self.extensions.contains(['"', ',']) {
            return self;
        }
        // The extensions are well-formed directives joined with `, `: read back element by
        // element, quoted strings whole.
        let kept: Vec<&str> = line_elements(&self.extensions)
            .filter_map(|element| match element {
                Element::Directive(d) if !d.text.contains(['"', ',']) => Some(d.text),
                _ => None,
            })
            .collect();
        self.extensions = kept.join(", ");
        self
    }
}

/// Up to eight bytes, lower-cased, as one integer.
fn fold8(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .take(8)
        .fold(0, |v, b| v << 8 | u64::from(b.to_ascii_lowercase()))
}

/// Compares two names ASCII case-insensitively, without allocating.
fn cmp_ignore_ascii_case(a: &str, b: &str) -> Ordering {
    a.bytes()
        .map(|c| c.to_ascii_lowercase())
        .cmp(b.bytes().map(|c| c.to_ascii_lowercase()))
}

/// Keeps the first occurrence of every name (case-insensitive) of `(name, text)` pairs, in
/// the order received, and answers their texts. O(n log n) whatever the input, with no
/// hashing an origin could aim collisions at and no scan of earlier elements per element:
/// positions are sorted by a cheap key (length, first and last eight bytes lower-cased),
/// which equal names share and which tells names of up to 16 bytes apart on its own; only
/// a run of longer names with one key is compared byte by byte.
pub(super) fn first_occurrences<'a>(items: &[(&'a str, &'a str)]) -> Vec<&'a str> {
    let key = |name: &str| {
        let b = name.as_bytes();
        (b.len(), fold8(b), fold8(&b[b.len().saturating_sub(8)..]))
    };
    let mut order: Vec<((usize, u64, u64), usize)> = items
        .iter()
        .enumerate()
        .map(|(at, (name, _))| (key(name), at))
        .collect();
    order.sort_unstable();
    let mut keep = vec![true; items.len()];
    for run in order.chunk_by_mut(|a, b| a.0 == b.0).filter(|run| run.len() > 1) {
        if run[0].0 .0 > 16 {
            run.sort_unstable_by(|a, b| cmp_ignore_ascii_case(items[a.1].0, items[b.1].0).then(a.1.cmp(&b.1)));
        }
        for pair in run.windows(2) {
            if items[pair[0].1].0.eq_ignore_ascii_case(items[pair[1].1].0) {
                keep[pair[1].1] = false;
            }
        }
    }
    items
        .iter()
        .zip(keep)
        .filter_map(|((_, text), keep)| keep.then_some(*text))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::CacheControl;

    #[test]
    fn quoted_unknown_directives_are_dropped_where_nothing_is_shared() {
        let cc = CacheControl::parse([r#"no-store, a=1, community="x, stale-if-error=4", b, c="d""#]);
        assert_eq!(
            cc.clone().without_quoted_extensions().to_header_value(),
            "no-store, a=1, b"
        );
        assert_eq!(
            CacheControl::parse(["private, a"])
                .without_quoted_extensions()
                .to_header_value(),
            "private, a"
        );
        assert_eq!(
            cc.to_header_value(),
            r#"no-store, a=1, community="x, stale-if-error=4", b, c="d""#,
            "the reading itself keeps them"
        );
    }

    fn round(lines: &[&str]) -> String {
        CacheControl::parse(lines.iter().copied()).to_header_value()
    }

    #[test]
    fn unknown_directives_keep_their_first_occurrence_in_order() {
        assert_eq!(round(&["b=1, a, B=2, c, A=3, b"]), "b=1, a, c");
        // Long names that share their first and last eight bytes are told apart byte by byte.
        assert_eq!(
            round(&["abcdefgh-1-ijklmnop=1, ABCDEFGH-2-IJKLMNOP=2, abcdefgh-1-IJKLMNOP=3, abcdefgh-2-ijklmnop"]),
            "abcdefgh-1-ijklmnop=1, ABCDEFGH-2-IJKLMNOP=2"
        );
    }
}
