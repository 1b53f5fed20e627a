//! Parsing `Cache-Control` field values into directives (RFC 9111 §5.2).
//!
//! `Cache-Control = #cache-directive`, `cache-directive = token [ "=" ( token / quoted-string ) ]`.
//! All field lines are read as one list (RFC 9110 §5.3: a recipient "MAY combine multiple
//! field lines ... into one field line" with commas). Elements that are not of that grammar
//! are dropped; nothing else is.

/// One directive as received: its name as written and its argument, if any, as written
/// (a quoted string keeps its quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDirective<'a> {
    /// The name as written.
    pub name: &'a str,
    /// The argument as written, quotes included.
    pub value: Option<&'a str>,
}

impl RawDirective<'_> {
    /// The argument with the quotes and `\` escapes of a quoted string removed.
    pub fn unquoted_value(&self) -> Option<String> {
        let value = self.value?;
        match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(inner) => {
                let mut out = String::with_capacity(inner.len());
                let mut chars = inner.chars();
                while let Some(c) = chars.next() {
                    if c == '\\' {
                        if let Some(escaped) = chars.next() {
                            out.push(escaped);
                        }
                    } else {
                        out.push(c);
                    }
                }
                Some(out)
            }
            None => Some(value.to_owned()),
        }
    }
}

/// RFC 9110 §5.6.2 `tchar`.
pub(crate) fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_' | b'`' | b'|' | b'~'
        )
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// RFC 9110 §5.6.4 `quoted-string`, the whole of `s`.
fn is_quoted_string(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 2 || b[0] != b'"' || b[b.len() - 1] != b'"' {
        return false;
    }
    let mut i = 1;
    while i < b.len() - 1 {
        match b[i] {
            b'\\' if i + 1 < b.len() - 1 => i += 2,
            b'\\' | b'"' => return false,
            c if c == b'\t' || c == b' ' || (0x21..=0x7e).contains(&c) || c >= 0x80 => i += 1,
            _ => return false,
        }
    }
    true
}

/// Splits one field value on commas outside quoted strings.
fn split_list(value: &str) -> impl Iterator<Item = &str> {
    let bytes = value.as_bytes();
    let mut start = 0;
    let mut in_quotes = false;
    let mut escaped = false;
    let mut pieces = Vec::new();
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' if in_quotes => escaped = true,
            b'"' => in_quotes = !in_quotes,
            b',' if !in_quotes => {
                pieces.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    pieces.push(&value[start..]);
    pieces.into_iter()
}

/// Parses every field line into directives, first occurrence of each name kept
/// (RFC 9111 §4.2.1: "When there is more than one value present for a given directive
/// (e.g., two Expires header field lines or multiple Cache-Control: max-age directives),
/// either the first occurrence should be used or the response should be considered
/// stale." — the first is used).
pub fn parse_directives<'a>(lines: impl IntoIterator<Item = &'a str>) -> Vec<RawDirective<'a>> {
    let mut out: Vec<RawDirective<'a>> = Vec::new();
    for line in lines {
        for element in split_list(line) {
            let element = element.trim_matches([' ', '\t']);
            if element.is_empty() {
                continue;
            }
            let (name, value) = match element.split_once('=') {
                Some((n, v)) => (n.trim_matches([' ', '\t']), Some(v.trim_matches([' ', '\t']))),
                None => (element, None),
            };
            if !is_token(name) || value.is_some_and(|v| !(is_token(v) || is_quoted_string(v))) {
                continue;
            }
            if out.iter().any(|d| d.name.eq_ignore_ascii_case(name)) {
                continue;
            }
            out.push(RawDirective { name, value });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(lines: &[&str]) -> Vec<String> {
        parse_directives(lines.iter().copied())
            .iter()
            .map(|d| match d.value {
                Some(v) => format!("{}={}", d.name, v),
                None => d.name.to_owned(),
            })
            .collect()
    }

    #[test]
    fn all_lines_are_one_list() {
        assert_eq!(
            names(&["public, max-age=3600", "s-maxage=60"]),
            ["public", "max-age=3600", "s-maxage=60"]
        );
    }

    #[test]
    fn first_occurrence_wins_case_insensitively() {
        assert_eq!(names(&["max-age=10, MAX-AGE=20"]), ["max-age=10"]);
    }

    #[test]
    fn quoted_strings_may_hold_commas() {
        assert_eq!(
            names(&["no-cache=\"set-cookie, x\", private"]),
            ["no-cache=\"set-cookie, x\"", "private"]
        );
    }

    #[test]
    fn malformed_elements_are_dropped() {
        assert_eq!(names(&["max age=1, =3, a=b c, ok"]), ["ok"]);
    }

    #[test]
    fn unquoting_removes_escapes() {
        let d = parse_directives(["x=\"a\\\"b\""]);
        assert_eq!(d[0].unquoted_value().as_deref(), Some("a\"b"));
    }
}
