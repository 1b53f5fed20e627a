//! The string protocol's fields (described once, in the crate documentation): reading the
//! glue's input and writing the answer.

use edge_policy::headers::UNREADABLE_VALUE;
use edge_policy::{HeaderEdit, HeaderField};

/// Why an input could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The event had no `headers` map (a negative count).
    NoHeaders,
    /// A field's length or marker is wrong, or fields are missing or left over.
    Malformed,
}

impl WireError {
    /// A stable label for the log line.
    pub(crate) fn label(self) -> &'static str {
        match self {
            WireError::NoHeaders => "no-headers",
            WireError::Malformed => "malformed-input",
        }
    }
}

/// One input field: its text, and whether it crossed intact (a `!` field was not
/// well-formed UTF-16 in JavaScript; its lone surrogates crossed as U+FFFD).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    pub(crate) text: &'a str,
    pub(crate) intact: bool,
}

/// The byte length of the first `units` UTF-16 code units of `s`; `None` when `s` is shorter
/// or the count ends inside a surrogate pair.
fn utf16_prefix(s: &str, units: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    // ASCII: one byte per unit, and the byte after ASCII starts a char.
    if bytes.len() >= units && bytes[..units].is_ascii() {
        return Some(units);
    }
    let mut seen = 0;
    for (at, c) in s.char_indices() {
        if seen == units {
            return Some(at);
        }
        seen += c.len_utf16();
    }
    (seen == units).then_some(s.len())
}

/// The length of `s` in UTF-16 code units, as JavaScript's `String.length` counts it.
fn utf16_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().map(char::len_utf16).sum()
    }
}

/// Reads fields off the front of an input.
pub(crate) struct Reader<'a> {
    rest: &'a str,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(input: &'a str) -> Self {
        Reader { rest: input }
    }

    /// `length (":" / "!") text`.
    pub(crate) fn field(&mut self) -> Result<Field<'a>, WireError> {
        // The length, read in the same pass that finds its end; one with more than ten
        // digits (the scan stops at the eleventh) or that overflows `usize` is malformed.
        let bytes = self.rest.as_bytes();
        let mut units: usize = 0;
        let mut digits = 0;
        while let Some(&b) = bytes.get(digits).filter(|b| b.is_ascii_digit() && digits <= 10) {
            units = units
                .checked_mul(10)
                .and_then(|u| u.checked_add(usize::from(b - b'0')))
                .ok_or(WireError::Malformed)?;
            digits += 1;
        }
        if digits == 0 || digits > 10 {
            return Err(WireError::Malformed);
        }
        let intact = match bytes.get(digits) {
            Some(b':') => true,
            Some(b'!') => false,
            _ => return Err(WireError::Malformed),
        };
        let body = &self.rest[digits + 1..];
        let end = utf16_prefix(body, units).ok_or(WireError::Malformed)?;
        self.rest = &body[end..];
        Ok(Field {
            text: &body[..end],
            intact,
        })
    }

    /// `count` header fields, name then value; `None` for a negative count (no `headers`
    /// map). A value that did not cross intact is handed to the policy as unreadable.
    pub(crate) fn headers(&mut self, count: i32) -> Result<Option<Vec<HeaderField<'a>>>, WireError> {
        let Ok(count) = usize::try_from(count) else {
            return Ok(None);
        };
        // Every header takes at least four bytes: a bound on what an input can claim.
        let mut fields = Vec::with_capacity(count.min(self.rest.len() / 4));
        for _ in 0..count {
            let name = self.field()?;
            let value = self.field()?;
            fields.push((name.text, if value.intact { value.text } else { UNREADABLE_VALUE }));
        }
        Ok(Some(fields))
    }

    /// What is left to read.
    #[cfg_attr(not(feature = "glue"), allow(dead_code))]
    pub(crate) fn rest(&self) -> &'a str {
        self.rest
    }

    /// Whether every field has been read.
    pub(crate) fn finish(self) -> Result<(), WireError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(WireError::Malformed)
        }
    }
}

/// Appends `length ":" text`.
pub(crate) fn push_field(out: &mut String, text: &str) {
    let mut digits = [0u8; 20];
    let mut n = utf16_len(text);
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    // ASCII digits: one `push_str`, not a `char` push each.
    out.push_str(std::str::from_utf8(&digits[at..]).unwrap_or_default());
    out.push(':');
    out.push_str(text);
}

/// Appends the edits: `-` name, or `+` name, key, value.
pub(crate) fn push_edits(out: &mut String, edits: &[HeaderEdit<'_>]) {
    for edit in edits {
        match edit {
            HeaderEdit::Remove(name) => {
                out.push('-');
                push_field(out, name);
            }
            HeaderEdit::Set { name, key, value } => {
                out.push('+');
                push_field(out, name);
                push_field(out, key);
                push_field(out, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_carry_any_text_nuls_included() {
        let mut r = Reader::new("3:GET2:/\u{0}0:5!caf\u{e9}\u{fffd}2:\u{1f600}");
        assert_eq!(
            r.field(),
            Ok(Field {
                text: "GET",
                intact: true
            })
        );
        assert_eq!(
            r.field(),
            Ok(Field {
                text: "/\0",
                intact: true
            })
        );
        assert_eq!(r.field(), Ok(Field { text: "", intact: true }));
        assert_eq!(
            r.field(),
            Ok(Field {
                text: "caf\u{e9}\u{fffd}",
                intact: false
            })
        );
        // One astral char is two UTF-16 units.
        assert_eq!(
            r.field(),
            Ok(Field {
                text: "\u{1f600}",
                intact: true
            })
        );
        assert_eq!(r.finish(), Ok(()));
    }

    #[test]
    fn wrong_lengths_and_markers_are_malformed_never_misread() {
        for input in [
            "",
            "x",
            "3:ab",
            "1;a",
            "1:\u{1f600}",
            ":a",
            "99999999999:a",
            "00000000001:a",
            "-1:a",
        ] {
            assert_eq!(
                Reader::new(input).field().map(|f| f.text),
                Err(WireError::Malformed),
                "{input:?}"
            );
        }
        assert_eq!(Reader::new("1:a1:b").finish(), Err(WireError::Malformed));
    }

    #[test]
    fn header_values_that_did_not_cross_intact_are_unreadable() {
        let mut r = Reader::new("6:cookie1!\u{fffd}4:host1:h");
        assert_eq!(
            r.headers(2),
            Ok(Some(vec![("cookie", UNREADABLE_VALUE), ("host", "h")]))
        );
        assert_eq!(Reader::new("").headers(-1), Ok(None));
        assert_eq!(Reader::new("1:a").headers(1), Err(WireError::Malformed));
    }

    #[test]
    fn written_fields_read_back() {
        let mut out = String::new();
        for text in ["", "a", "\0", "caf\u{e9}", "\u{1f600}x", &"y".repeat(12_345)] {
            push_field(&mut out, text);
        }
        let mut r = Reader::new(&out);
        for text in ["", "a", "\0", "caf\u{e9}", "\u{1f600}x", &"y".repeat(12_345)] {
            assert_eq!(r.field().map(|f| f.text), Ok(text));
        }
        assert_eq!(r.finish(), Ok(()));
    }
}
