//! Percent-encoding normalization shared by the path and the query (cache-key.md, "Path"
//! steps 1–2 and "Query string" step 3).
//!
//! RFC 3986 §6.2.2.1: "For all URIs, the hexadecimal digits within a percent-encoding triplet
//! (e.g., "%3a" versus "%3A") are case-insensitive and therefore should be normalized to use
//! uppercase letters for the digits A-F."
//! RFC 3986 §6.2.2.2: "URIs should be normalized by decoding any percent-encoded octet that
//! corresponds to an unreserved character".
//! Reserved characters stay encoded: decoding `%2F` or `%3F` would change what the URI means.
//!
//! Public for hosts that write URLs: [`encode_raw`] (bytes a URL may not carry raw) and
//! [`encode_all_but_unreserved`] (a value as one opaque component).

use std::borrow::Cow;

/// Which component is being normalized: the query may also keep `/` and `?` raw
/// (RFC 3986 §3.4: `query = *( pchar / "/" / "?" )`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Component {
    /// A path (`/` stays raw as the segment separator).
    Path,
    /// A query parameter name or value.
    Query,
}

/// RFC 3986 §2.3: `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`.
pub fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 §3.3: `pchar = unreserved / pct-encoded / sub-delims / ":" / "@"`, plus `/` for
/// paths and `/` `?` for queries.
fn may_stay_raw(b: u8, component: Component) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'=' | b':' | b'@' | b'/'
        )
        || (component == Component::Query && b == b'?')
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

const UPPER_HEX: &[u8; 16] = b"0123456789ABCDEF";

fn push_encoded(out: &mut String, b: u8) {
    out.push('%');
    out.push(UPPER_HEX[usize::from(b >> 4)] as char);
    out.push(UPPER_HEX[usize::from(b & 0x0f)] as char);
}

/// Steps 1–2 for one component, appended to `out`, in one pass.
///
/// A `%` not followed by two hex digits is not a triplet: it is a byte outside `pchar`, so it
/// is encoded as `%25` (`%4%41` → `%254A`). Decoding therefore never creates a new triplet
/// (cache-key.md, "Path" step 1), and the output holds only valid upper-case triplets of
/// bytes that stay encoded plus raw `pchar`: a second pass changes nothing.
// The rewrite, out of line: canonical input never compiles it (crate docs, "Stages stay out of line").
#[inline(never)]
pub(crate) fn normalize_into(input: &str, component: Component, out: &mut String) {
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // A run of bytes that stay raw is copied at once. They are ASCII, so `i` and the run's
        // end are character boundaries.
        let run = bytes[i..].iter().take_while(|&&b| may_stay_raw(b, component)).count();
        if run > 0 {
            out.push_str(&input[i..i + run]);
            i += run;
            continue;
        }
        let b = bytes[i];
        let octet = if b == b'%' { triplet(bytes, i) } else { None };
        match octet {
            Some(octet) if is_unreserved(octet) => out.push(octet as char),
            Some(octet) => push_encoded(out, octet),
            None => push_encoded(out, b),
        }
        i += if octet.is_some() { 3 } else { 1 };
    }
}

/// The octet of the triplet at `bytes[i]` (a `%` and two hex digits, either case).
fn triplet(bytes: &[u8], i: usize) -> Option<u8> {
    let hi = bytes.get(i + 1).copied().and_then(hex_value)?;
    let lo = bytes.get(i + 2).copied().and_then(hex_value)?;
    Some(hi << 4 | lo)
}

/// Whether steps 1–2 leave `input` exactly as it is: every byte stays raw, and every `%`
/// starts an upper-case triplet of an octet that stays encoded. Most components of real
/// requests are already so, and then nothing is copied.
fn is_normal(input: &str, component: Component) -> bool {
    let bytes = input.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if may_stay_raw(b, component) {
            i += 1;
            continue;
        }
        let upper = |at: usize| {
            bytes
                .get(at)
                .is_some_and(|h| h.is_ascii_digit() || (b'A'..=b'F').contains(h))
        };
        match (b == b'%' && upper(i + 1) && upper(i + 2))
            .then(|| triplet(bytes, i))
            .flatten()
        {
            Some(octet) if !is_unreserved(octet) => i += 3,
            _ => return false,
        }
    }
    true
}

/// Steps 1–2 for one component: `input` itself when it is already normal.
pub(crate) fn normalize(input: &str, component: Component) -> Cow<'_, str> {
    if is_normal(input, component) {
        return Cow::Borrowed(input);
    }
    let mut out = String::with_capacity(input.len() + 8);
    normalize_into(input, component, &mut out);
    Cow::Owned(out)
}

/// Appends `value` with every byte outside the unreserved set percent-encoded (upper-case
/// hex), `%` included: the output holds only unreserved characters and triplets, and two
/// different values never encode alike.
pub fn encode_all_but_unreserved(out: &mut String, value: &str) {
    for &b in value.as_bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            push_encoded(out, b);
        }
    }
}

/// Appends `input` with every byte that may not stay raw in `component` percent-encoded
/// (upper-case hex), `%` kept as it is: a host that holds a decoded path or query (an event's
/// `rawPath`, a URL a runtime decoded) writes it back in a form the policy reads exactly as
/// the viewer's bytes, without deciding anything about `%` triplets (normalization does that,
/// once, in [`crate::normalize_path`] and [`crate::normalize_query`]).
pub fn encode_raw(out: &mut String, input: &str, component: Component) {
    for &b in input.as_bytes() {
        if b == b'%' || may_stay_raw(b, component) {
            out.push(b as char);
        } else {
            push_encoded(out, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The byte-at-a-time normalization the run copy and the `is_normal` shortcut replace.
    fn reference(input: &str, component: Component) -> String {
        let bytes = input.as_bytes();
        let mut out = String::new();
        let mut i = 0;
        while i < bytes.len() {
            let b = bytes[i];
            let triplet = (b == b'%').then(|| triplet(bytes, i)).flatten();
            match triplet {
                Some(octet) if is_unreserved(octet) => out.push(octet as char),
                Some(octet) => push_encoded(&mut out, octet),
                None if may_stay_raw(b, component) => out.push(b as char),
                None => push_encoded(&mut out, b),
            }
            i += if triplet.is_some() { 3 } else { 1 };
        }
        out
    }

    proptest! {
        /// The shortcut and the run copy change nothing: for any text, in either component,
        /// the output is the byte-at-a-time one, and the input is kept exactly when that
        /// output equals it.
        #[test]
        fn fast_paths_agree_with_the_byte_at_a_time_reading(
            input in "([%/?a-fA-F0-9.~_ -]|%[0-9a-fA-F]{0,2}|\\PC){0,24}",
            query in any::<bool>(),
        ) {
            let component = if query { Component::Query } else { Component::Path };
            let expected = reference(&input, component);
            let got = normalize(&input, component);
            prop_assert_eq!(&*got, expected.as_str());
            prop_assert_eq!(matches!(got, Cow::Borrowed(_)), expected == input);
        }
    }

    fn path(s: &str) -> String {
        normalize(s, Component::Path).into_owned()
    }

    #[test]
    fn raw_bytes_are_encoded_and_percent_is_kept() {
        let encoded = |input: &str, component| {
            let mut out = String::new();
            encode_raw(&mut out, input, component);
            out
        };
        assert_eq!(encoded("/a b#c%2F?d", Component::Path), "/a%20b%23c%2F%3Fd");
        assert_eq!(encoded("x=1 2&y=?/\u{e9}", Component::Query), "x=1%202&y=?/%C3%A9");
        // What it writes is read by normalization as the bytes it was given.
        let written = encoded("/caf\u{e9} x", Component::Path);
        assert_eq!(normalize(&written, Component::Path), "/caf%C3%A9%20x");
    }

    #[test]
    fn hex_digits_are_upper_cased() {
        assert_eq!(path("/a%2fb%3a"), "/a%2Fb%3A");
    }

    #[test]
    fn unreserved_triplets_are_decoded() {
        assert_eq!(path("/%7Euser/%2E%2E/%41%61%30%2D%5F"), "/~user/../Aa0-_");
    }

    #[test]
    fn reserved_and_other_triplets_stay_encoded() {
        assert_eq!(path("/%2F%3F%23%3B%25%00"), "/%2F%3F%23%3B%25%00");
    }

    #[test]
    fn a_malformed_percent_is_encoded() {
        assert_eq!(path("/100%/%zz/%4"), "/100%25/%25zz/%254");
    }

    #[test]
    fn bytes_outside_pchar_are_encoded_upper_case() {
        assert_eq!(
            path("/a b\"#<>[\\]^`{|}\u{7f}\t"),
            "/a%20b%22%23%3C%3E%5B%5C%5D%5E%60%7B%7C%7D%7F%09"
        );
        assert_eq!(path("/é"), "/%C3%A9");
    }

    #[test]
    fn sub_delims_colon_at_stay_raw() {
        assert_eq!(path("/!$&'()*+,;=:@"), "/!$&'()*+,;=:@");
    }

    #[test]
    fn query_keeps_slash_and_question_mark() {
        assert_eq!(normalize("a/b?c", Component::Query), "a/b?c");
        assert_eq!(path("/a?b"), "/a%3Fb");
    }

    #[test]
    fn decoding_never_forms_a_new_triplet() {
        // cache-key.md: `%4%41` → `%254A`, never `J` (decoded twice).
        assert_eq!(path("/%4%41"), "/%254A");
        assert_eq!(path("/%%32%45%%32%45"), "/%252E%252E");
        assert_eq!(path("/%%34%31"), "/%2541");
        for once in ["/%254A", "/%252E%252E", "/%2541", "/100%25/%25zz"] {
            assert_eq!(path(once), once, "one pass is idempotent");
        }
    }
}
