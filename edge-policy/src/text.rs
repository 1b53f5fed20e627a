//! Splitting and trimming on ASCII delimiters, and sorting by bytes, with the standard
//! library's results.
//!
//! `str::split(char)` and `split_once` go through a `memchr` searcher whose set-up costs more
//! than the search on a request's short fields (`perf` on `native-viewer-request`: about a
//! third of `normalize_query`'s time, and on Wasm there is no SIMD to repay it), and
//! `str::trim` decodes characters even when both ends are plain ASCII. These walk the bytes.
//! The property tests below hold them to `str`'s own functions.

/// The pieces of `s.split(sep as char)`, for an ASCII `sep`.
pub(crate) fn split(s: &str, sep: u8) -> Split<'_> {
    debug_assert!(sep.is_ascii());
    Split { rest: Some(s), sep }
}

/// See [`split`].
pub(crate) struct Split<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> Iterator for Split<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let rest = self.rest?;
        match rest.bytes().position(|b| b == self.sep) {
            // `sep` is ASCII, so `at` and `at + 1` are character boundaries.
            Some(at) => {
                self.rest = Some(&rest[at + 1..]);
                Some(&rest[..at])
            }
            None => {
                self.rest = None;
                Some(rest)
            }
        }
    }
}

/// `s.split_once(sep as char)`, for an ASCII `sep`.
pub(crate) fn split_once(s: &str, sep: u8) -> Option<(&str, &str)> {
    debug_assert!(sep.is_ascii());
    let at = s.bytes().position(|b| b == sep)?;
    Some((&s[..at], &s[at + 1..]))
}

/// `s.trim()`, without decoding a character while both ends are ASCII: ASCII whitespace (the
/// space after a list's comma) is stripped byte by byte, and `str::trim` is left only a
/// non-ASCII end, where Unicode whitespace may hide.
// One copy, not one per call site (crate docs, "Stages stay out of line").
#[inline(never)]
pub(crate) fn trim(s: &str) -> &str {
    // `char::is_whitespace` on ASCII: `\t \n \u{b} \u{c} \r` and space.
    let space = |b: u8| matches!(b, b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r' | b' ');
    let bytes = s.as_bytes();
    let start = bytes.iter().position(|&b| !space(b)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|&b| !space(b)).map_or(start, |i| i + 1);
    // Only ASCII bytes were skipped, so both cuts are character boundaries.
    let inner = &s[start..end];
    match (inner.as_bytes().first(), inner.as_bytes().last()) {
        (Some(first), Some(last)) if !first.is_ascii() || !last.is_ascii() => inner.trim(),
        _ => inner,
    }
}

/// The indices of `keys` in the order a stable sort puts them (bytewise; equal keys keep
/// their order): what `slice::sort_by` does, in one function for every caller. The standard
/// sorts are instantiated per element type, and the policy's three (query parameters, cookies,
/// header names) were ~20 KB of the viewer-request module's 70 KB of code, which a cold start
/// decodes whole. A bottom-up merge sort: O(n log n) on any input, so a hostile query of
/// thousands of parameters costs what it should.
pub(crate) fn stable_order(keys: &[&[u8]]) -> Vec<usize> {
    let n = keys.len();
    let mut order: Vec<usize> = (0..n).collect();
    // A request's few parameters or cookies: insertion, strictly-less so ties keep their order.
    if n <= 8 {
        for i in 1..n {
            let mut j = i;
            while j > 0 && keys[order[j]] < keys[order[j - 1]] {
                order.swap(j, j - 1);
                j -= 1;
            }
        }
        return order;
    }
    merge_order(keys, order)
}

/// [`stable_order`] past a few keys, out of line (crate docs, "Stages stay out of line").
#[inline(never)]
fn merge_order(keys: &[&[u8]], mut order: Vec<usize>) -> Vec<usize> {
    let n = keys.len();
    let mut merged = vec![0; n];
    let mut width = 1;
    while width < n {
        let mut start = 0;
        while start < n {
            let mid = (start + width).min(n);
            let end = (start + 2 * width).min(n);
            let (mut i, mut j, mut k) = (start, mid, start);
            while i < mid && j < end {
                // Strictly less: on a tie the left run's index goes first (stability).
                if keys[order[j]] < keys[order[i]] {
                    merged[k] = order[j];
                    j += 1;
                } else {
                    merged[k] = order[i];
                    i += 1;
                }
                k += 1;
            }
            merged[k..k + (mid - i)].copy_from_slice(&order[i..mid]);
            k += mid - i;
            merged[k..end].copy_from_slice(&order[j..end]);
            start = end;
        }
        std::mem::swap(&mut order, &mut merged);
        width *= 2;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The same pieces as `str`'s own functions, for any text and separator: whitespace
        /// of every kind (`\u{b}`, `\u{85}`, `\u{a0}`, `\u{3000}` included) at either end.
        #[test]
        fn the_same_as_str(
            s in "([&=;, \\t\\n\\u{b}\\u{c}\\r\\u{85}\\u{a0}\\u{3000}a-z]|\\PC){0,16}",
            sep in prop::sample::select(vec![b'&', b'=', b';', b',', b' ']),
        ) {
            prop_assert_eq!(split(&s, sep).collect::<Vec<_>>(), s.split(char::from(sep)).collect::<Vec<_>>());
            prop_assert_eq!(split_once(&s, sep), s.split_once(char::from(sep)));
            prop_assert_eq!(trim(&s), s.trim());
        }
    }

    proptest! {
        /// The order `sort_by` (stable) gives, for keys with many ties and any length.
        #[test]
        fn stable_order_is_a_stable_sort(keys in prop::collection::vec(prop::collection::vec(0u8..4, 0..3), 0..80)) {
            let keys: Vec<&[u8]> = keys.iter().map(Vec::as_slice).collect();
            let mut expected: Vec<usize> = (0..keys.len()).collect();
            expected.sort_by(|&a, &b| keys[a].cmp(keys[b]));
            prop_assert_eq!(stable_order(&keys), expected);
        }
    }

    #[test]
    fn empty_and_edge_pieces() {
        assert_eq!(split("", b'&').collect::<Vec<_>>(), [""]);
        assert_eq!(split("&a&&", b'&').collect::<Vec<_>>(), ["", "a", "", ""]);
        assert_eq!(split_once("a=b=c", b'='), Some(("a", "b=c")));
        assert_eq!(trim("\u{b}gzip"), "gzip");
    }
}
