//! Percent-encoding normalization shared by the path and the query (cache-key.md, "Path"
//! steps 1–2 and "Query string" step 3).
//!
//! RFC 3986 §6.2.2.1: "For all URIs, the hexadecimal digits within a percent-encoding triplet
//! (e.g., "%3a" versus "%3A") are case-insensitive and therefore should be normalized to use
//! uppercase letters for the digits A-F."
//! RFC 3986 §6.2.2.2: "URIs should be normalized by decoding any percent-encoded octet that
//! corresponds to an unreserved character".
//! Reserved characters stay encoded: decoding `%2F` or `%3F` would change what the URI means.

/// Which component is being normalized: the query may also keep `/` and `?` raw
/// (RFC 3986 §3.4: `query = *( pchar / "/" / "?" )`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Component {
    /// A path (`/` stays raw as the segment separator).
    Path,
    /// A query parameter name or value.
    Query,
}

/// RFC 3986 §2.3: `unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~"`.
pub(crate) fn is_unreserved(b: u8) -> bool {
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

/// One pass of steps 1–2. Returns whether a malformed `%` was kept and whether a triplet was
/// decoded: only both together can make a second pass change anything.
fn normalize_pass(input: &str, component: Component, out: &mut String) -> (bool, bool) {
    let bytes = input.as_bytes();
    let (mut kept_malformed, mut decoded) = (false, false);
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let triplet = bytes
                .get(i + 1)
                .copied()
                .and_then(hex_value)
                .zip(bytes.get(i + 2).copied().and_then(hex_value));
            match triplet {
                Some((hi, lo)) => {
                    let octet = hi << 4 | lo;
                    if is_unreserved(octet) {
                        out.push(octet as char);
                        decoded = true;
                    } else {
                        push_encoded(out, octet);
                    }
                    i += 3;
                }
                None => {
                    // "A `%` not followed by two hex digits is left as it is."
                    out.push('%');
                    kept_malformed = true;
                    i += 1;
                }
            }
            continue;
        }
        if may_stay_raw(b, component) {
            out.push(b as char);
        } else {
            push_encoded(out, b);
        }
        i += 1;
    }
    (kept_malformed, decoded)
}

/// Steps 1–2 for one component, appended to `out`.
///
/// A kept malformed `%` followed by decoded characters can form a new valid triplet
/// (`%%34%31` → `%41`); the pass is repeated until nothing changes, so the result is
/// idempotent. Every repeat decodes at least one triplet, so it shortens the string and ends.
pub(crate) fn normalize_into(input: &str, component: Component, out: &mut String) {
    let start = out.len();
    let (mut malformed, mut decoded) = normalize_pass(input, component, out);
    while malformed && decoded {
        let previous = out.split_off(start);
        (malformed, decoded) = normalize_pass(&previous, component, out);
        if out[start..] == previous {
            break;
        }
    }
}

/// Steps 1–2 for one component, as a new string.
pub(crate) fn normalize(input: &str, component: Component) -> String {
    let mut out = String::with_capacity(input.len() + 8);
    normalize_into(input, component, &mut out);
    out
}

/// Appends `value` with every byte outside the unreserved set percent-encoded (upper-case
/// hex), `%` included: the output holds only unreserved characters and triplets, and two
/// different values never encode alike.
pub(crate) fn encode_all_but_unreserved(out: &mut String, value: &str) {
    for &b in value.as_bytes() {
        if is_unreserved(b) {
            out.push(b as char);
        } else {
            push_encoded(out, b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> String {
        normalize(s, Component::Path)
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
    fn malformed_percent_is_left_alone() {
        assert_eq!(path("/100%/%zz/%4"), "/100%/%zz/%4");
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
    fn decoding_that_forms_a_new_triplet_reaches_a_fixpoint() {
        let once = path("/%%34%31");
        assert_eq!(once, "/A");
        assert_eq!(path(&once), once);
    }
}
