//! Splitting `Cache-Control` field lines into list elements (RFC 9111 §5.2).
//!
//! `Cache-Control = #cache-directive`, `cache-directive = token [ "=" ( token / quoted-string ) ]`.
//! All field lines are read as one list (RFC 9110 §5.3: a recipient "MAY combine multiple
//! field lines ... into one field line" with commas), but a quoted string never spans two
//! lines. Every element is kept: one that is not of that grammar comes out as
//! [`Element::Malformed`], so the interpretation can fail closed on it (cache-control.md,
//! "Malformed input fails closed") instead of silently dropping it.
//!
//! Reading is linear in the total length. A quoted string whose closing quote never comes
//! ("unterminated") does not swallow the rest of its line: its `"` is read as an ordinary
//! byte, so the element ends at the next comma (and is malformed) and the elements after it
//! are read as usual. Once a line holds an unterminated quote, every later `"` on that line
//! is ordinary too: each of them was escaped (`\"`) in the scan that found no closing quote,
//! so a scan starting there would fail the same way. No byte is scanned twice.

use std::borrow::Cow;

/// One well-formed directive as received: its name as written and its argument, if any, as
/// written (a quoted string keeps its quotes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawDirective<'a> {
    /// The whole element as written (name, then `=` and the argument if any).
    pub text: &'a str,
    /// The name as written (a `token`).
    pub name: &'a str,
    /// The argument as written (a `token` or a `quoted-string`, quotes included).
    pub value: Option<&'a str>,
}

impl<'a> RawDirective<'a> {
    /// The argument with the quotes and `\` escapes of a quoted string removed.
    pub fn unquoted_value(&self) -> Option<Cow<'a, str>> {
        let value = self.value?;
        let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
            return Some(Cow::Borrowed(value));
        };
        if !inner.contains('\\') {
            return Some(Cow::Borrowed(inner));
        }
        let mut out = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => out.extend(chars.next()),
                c => out.push(c),
            }
        }
        Some(Cow::Owned(out))
    }

    /// Whether the argument is a quoted string.
    pub fn is_quoted(&self) -> bool {
        self.value.is_some_and(|v| v.starts_with('"'))
    }
}

/// One element of the list, in the order received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Element<'a> {
    /// `token [ "=" ( token / quoted-string ) ]`.
    Directive(RawDirective<'a>),
    /// Anything else, as written with the surrounding whitespace trimmed: `private; max-age=0`,
    /// `no-cache no-store`, `no-store=`, `x="unterminated`, `max-age = 5`.
    Malformed(&'a str),
}

impl<'a> Element<'a> {
    /// The directive name an element is about: a directive's name, or the token before the
    /// first `=` of a malformed element when there is one (`max-age` of `max-age=5 6`, of
    /// `max-age="60` and of `max-age = 5`).
    pub fn name(&self) -> Option<&'a str> {
        match self {
            Element::Directive(d) => Some(d.name),
            Element::Malformed(text) => {
                let name = text.split_once('=')?.0.trim_end_matches([' ', '\t']);
                is_token(name).then_some(name)
            }
        }
    }
}

/// RFC 9110 §5.6.2 `tchar`, as a table (every element's name is checked byte by byte).
const TCHAR: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        table[b] = c.is_ascii_alphanumeric()
            || matches!(
                c,
                b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
            );
        b += 1;
    }
    table
};

/// RFC 9110 §5.6.2 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    TCHAR[usize::from(b)]
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// RFC 9110 §5.6.4: `quoted-string = DQUOTE *( qdtext / quoted-pair ) DQUOTE`,
/// `qdtext = HTAB / SP / %x21 / %x23-5B / %x5D-7E / obs-text`,
/// `quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text )` — the whole of `s`.
fn is_quoted_string(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b'"' || b[b.len() - 1] != b'"' {
        return false;
    }
    let text = |c: u8| c == b'\t' || c == b' ' || (0x21..=0x7e).contains(&c) || c >= 0x80;
    let mut i = 1;
    while i < b.len() - 1 {
        match b[i] {
            b'\\' if i + 1 < b.len() - 1 && text(b[i + 1]) => i += 2,
            b'\\' | b'"' => return false,
            c if text(c) => i += 1,
            _ => return false,
        }
    }
    true
}

/// The index of the `"` closing a quoted string whose content starts at `from`, honouring
/// `\` escapes; `None` when the line ends first.
fn closing_quote(bytes: &[u8], from: usize) -> Option<usize> {
    let mut j = from;
    while j < bytes.len() {
        match bytes[j] {
            b'\\' => j += 2,
            b'"' => return Some(j),
            _ => j += 1,
        }
    }
    None
}

/// The raw elements of one field line: split on commas outside quoted strings, whitespace
/// trimmed, empty elements skipped.
struct LineElements<'a> {
    line: &'a str,
    /// Where the next element starts; past the end when done.
    pos: usize,
    /// Set once a quote on this line was found unterminated: later quotes are ordinary.
    unterminated: bool,
}

impl<'a> Iterator for LineElements<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let bytes = self.line.as_bytes();
        while self.pos <= bytes.len() {
            let start = self.pos;
            let mut i = start;
            let end = loop {
                // Jump to the next byte that matters.
                i += bytes[i..]
                    .iter()
                    .position(|b| *b == b',' || *b == b'"')
                    .unwrap_or(bytes.len() - i);
                match bytes.get(i) {
                    None => break bytes.len(),
                    Some(b',') => break i,
                    Some(_) if !self.unterminated => match closing_quote(bytes, i + 1) {
                        Some(close) => i = close + 1,
                        None => {
                            self.unterminated = true;
                            i += 1;
                        }
                    },
                    Some(_) => i += 1,
                }
            };
            self.pos = end + 1;
            // `,` and `"` are ASCII, so `start..end` are char boundaries.
            let element = self.line[start..end].trim_matches([' ', '\t']);
            if !element.is_empty() {
                return Some(element);
            }
        }
        None
    }
}

/// Classifies one trimmed element. No whitespace is allowed around `=` (RFC 9111 §5.2
/// has none): `max-age = 5` is malformed.
fn classify(element: &str) -> Element<'_> {
    let (name, value) = match element.bytes().position(|b| b == b'=') {
        // `=` is ASCII: both sides are char boundaries.
        Some(at) => (&element[..at], Some(&element[at + 1..])),
        None => (element, None),
    };
    if is_token(name) && value.is_none_or(|v| is_token(v) || is_quoted_string(v)) {
        Element::Directive(RawDirective {
            text: element,
            name,
            value,
        })
    } else {
        Element::Malformed(element)
    }
}

/// The elements of one field line, in order.
pub fn line_elements(line: &str) -> impl Iterator<Item = Element<'_>> {
    LineElements {
        line,
        pos: 0,
        unterminated: false,
    }
    .map(classify)
}

/// The elements of every field line, in order, as one list.
pub fn parse_elements<'a>(lines: impl IntoIterator<Item = &'a str>) -> impl Iterator<Item = Element<'a>> {
    lines.into_iter().flat_map(line_elements)
}

/// The words of `text`: maximal runs of ASCII letters, digits, `-` and `_`. A word is what
/// "contains `private` as a word" means in cache-control.md: `private;`, `x.private` and
/// `no-store=` hold one, `x-private` and `privately` don't.
pub fn words(text: &str) -> impl Iterator<Item = &str> {
    // Every separator is a single byte or part of a non-ASCII char, so splitting the bytes
    // at non-word bytes cuts at char boundaries around ASCII words.
    text.as_bytes()
        .split(|b| !(b.is_ascii_alphanumeric() || *b == b'-' || *b == b'_'))
        .filter(|w| !w.is_empty())
        .map(|w| std::str::from_utf8(w).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(lines: &[&str]) -> Vec<String> {
        parse_elements(lines.iter().copied())
            .map(|e| match e {
                Element::Directive(RawDirective {
                    name, value: Some(v), ..
                }) => format!("{name}={v}"),
                Element::Directive(RawDirective { name, value: None, .. }) => name.to_owned(),
                Element::Malformed(text) => format!("!{text}"),
            })
            .collect()
    }

    #[test]
    fn all_lines_are_one_list() {
        assert_eq!(
            shown(&["public, max-age=3600", "s-maxage=60"]),
            ["public", "max-age=3600", "s-maxage=60"]
        );
    }

    #[test]
    fn every_element_is_kept_in_order() {
        assert_eq!(shown(&["max-age=10, MAX-AGE=20"]), ["max-age=10", "MAX-AGE=20"]);
    }

    #[test]
    fn quoted_strings_may_hold_commas() {
        assert_eq!(
            shown(&["no-cache=\"set-cookie, x\", private"]),
            ["no-cache=\"set-cookie, x\"", "private"]
        );
    }

    #[test]
    fn malformed_elements_are_marked_not_dropped() {
        assert_eq!(
            shown(&["max age=1, =3, a=b c, ok, no-store=, private; max-age=0, x = 1"]),
            [
                "!max age=1",
                "!=3",
                "!a=b c",
                "ok",
                "!no-store=",
                "!private; max-age=0",
                "!x = 1"
            ]
        );
    }

    #[test]
    fn an_unterminated_quote_hides_nothing_after_the_next_comma() {
        assert_eq!(
            shown(&["community=\"x, private, max-age=5", "no-store"]),
            ["!community=\"x", "private", "max-age=5", "no-store"]
        );
        // Once a quote is unterminated, every later `"` of the line is an ordinary byte.
        assert_eq!(
            shown(&["a=\"x\\\", b=\\\"q\\\", c"]),
            ["!a=\"x\\\"", "!b=\\\"q\\\"", "c"]
        );
    }

    #[test]
    fn quoted_pairs_escape_quotes_but_not_controls() {
        assert_eq!(shown(&["x=\"a\\\"b, c\""]), ["x=\"a\\\"b, c\""]);
        assert_eq!(shown(&["x=\"a\\\nb\""]), ["!x=\"a\\\nb\""]);
    }

    #[test]
    fn malformed_elements_name_what_precedes_their_first_equals() {
        let names: Vec<Option<&str>> = parse_elements(["max-age=5 6, s-maxage=\"60, max-age = 7, a b=1, =2, no"])
            .map(|e| e.name())
            .collect();
        assert_eq!(
            names,
            [
                Some("max-age"),
                Some("s-maxage"),
                Some("max-age"),
                None,
                None,
                Some("no")
            ]
        );
    }

    #[test]
    fn unquoting_removes_escapes() {
        let d = RawDirective {
            text: "x=\"a\\\"b\"",
            name: "x",
            value: Some("\"a\\\"b\""),
        };
        assert_eq!(d.unquoted_value().as_deref(), Some("a\"b"));
        assert!(d.is_quoted());
    }

    #[test]
    fn words_are_runs_of_letters_digits_dash_and_underscore() {
        assert_eq!(
            words("private;max-age=0 x.no-store x-private").collect::<Vec<_>>(),
            ["private", "max-age", "0", "x", "no-store", "x-private"]
        );
    }
}
