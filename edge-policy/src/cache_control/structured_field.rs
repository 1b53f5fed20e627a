//! RFC 8941 Structured Fields: the Dictionary parser a targeted field (RFC 9213 §2.1) is
//! read with ([`parse_dictionary`]), down to the bare items a directive's value needs. Parsing
//! only: what the members mean is `cdn.rs`'s job.

/// A Structured Fields bare item's type, as far as a directive's value needs it
/// (RFC 8941 §3.3). Inner lists count as one value of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Value {
    /// An Integer (§3.3.1).
    Integer(i64),
    /// A Decimal (§3.3.2).
    Decimal,
    /// A String (§3.3.3).
    String,
    /// A Token (§3.3.4).
    Token,
    /// A Byte Sequence (§3.3.5).
    Bytes,
    /// A Boolean (§3.3.6).
    Boolean(bool),
    /// An Inner List (§3.1.1).
    InnerList,
}

/// A cursor over an ASCII field value (RFC 8941 §4.2).
struct Input<'a> {
    bytes: &'a [u8],
    at: usize,
}

type Parsed<T> = Result<T, ()>;

impl<'a> Input<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn is_empty(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn skip_sp(&mut self) {
        while self.peek() == Some(b' ') {
            self.at += 1;
        }
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.at += 1;
        }
    }

    /// §4.2.3.3 Parsing a Key: `( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" )`.
    fn key(&mut self) -> Parsed<&'a str> {
        let start = self.at;
        match self.peek() {
            Some(b'a'..=b'z' | b'*') => self.at += 1,
            _ => return Err(()),
        }
        while matches!(self.peek(), Some(b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' | b'*')) {
            self.at += 1;
        }
        let bytes: &'a [u8] = self.bytes;
        std::str::from_utf8(&bytes[start..self.at]).map_err(|_| ())
    }

    /// §4.2.3.1 Parsing a Bare Item.
    fn bare_item(&mut self) -> Parsed<Value> {
        match self.peek() {
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'"') => self.string(),
            Some(b'A'..=b'Z' | b'a'..=b'z' | b'*') => self.token(),
            Some(b':') => self.byte_sequence(),
            Some(b'?') => self.boolean(),
            _ => Err(()),
        }
    }

    /// §4.2.4 Parsing an Integer or Decimal: at most 15 digits for an Integer, at most 12
    /// before and 3 after the point for a Decimal.
    fn number(&mut self) -> Parsed<Value> {
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(());
        }
        let (mut integer, mut digits, mut point) = (0i64, 0usize, None::<usize>);
        while let Some(b) = self.peek() {
            match b {
                b'0'..=b'9' => {
                    if point.is_none() {
                        integer = integer * 10 + i64::from(b - b'0');
                    }
                    digits += 1;
                }
                b'.' if point.is_none() => {
                    if digits > 12 {
                        return Err(());
                    }
                    point = Some(digits);
                }
                _ => break,
            }
            self.at += 1;
            match point {
                None if digits > 15 => return Err(()),
                Some(_) if digits > 15 => return Err(()),
                _ => {}
            }
        }
        match point {
            None => Ok(Value::Integer(if negative { -integer } else { integer })),
            // The point ends the number, or more than three fraction digits follow it.
            Some(before) if digits == before || digits - before > 3 => Err(()),
            Some(_) => Ok(Value::Decimal),
        }
    }

    /// §4.2.5 Parsing a String: `\` escapes only `"` and `\`; no control or non-ASCII byte.
    fn string(&mut self) -> Parsed<Value> {
        self.at += 1;
        loop {
            match self.next().ok_or(())? {
                b'\\' => match self.next() {
                    Some(b'"' | b'\\') => {}
                    _ => return Err(()),
                },
                b'"' => return Ok(Value::String),
                0x00..=0x1f | 0x7f..=0xff => return Err(()),
                _ => {}
            }
        }
    }

    /// §4.2.6 Parsing a Token: `( ALPHA / "*" ) *( tchar / ":" / "/" )`.
    fn token(&mut self) -> Parsed<Value> {
        self.at += 1;
        while self
            .peek()
            .is_some_and(|b| super::parse::is_tchar(b) || b == b':' || b == b'/')
        {
            self.at += 1;
        }
        Ok(Value::Token)
    }

    /// §4.2.7 Parsing a Byte Sequence: base64 characters between colons.
    fn byte_sequence(&mut self) -> Parsed<Value> {
        self.at += 1;
        loop {
            match self.next().ok_or(())? {
                b':' => return Ok(Value::Bytes),
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' | b'=' => {}
                _ => return Err(()),
            }
        }
    }

    /// §4.2.8 Parsing a Boolean: `?1` or `?0`.
    fn boolean(&mut self) -> Parsed<Value> {
        self.at += 1;
        match self.next() {
            Some(b'1') => Ok(Value::Boolean(true)),
            Some(b'0') => Ok(Value::Boolean(false)),
            _ => Err(()),
        }
    }

    /// §4.2.3.2 Parsing Parameters (read for validity; RFC 9213 §2.1: "Parameters received
    /// on directives are to be ignored").
    fn parameters(&mut self) -> Parsed<()> {
        while self.peek() == Some(b';') {
            self.at += 1;
            self.skip_sp();
            self.key()?;
            if self.peek() == Some(b'=') {
                self.at += 1;
                self.bare_item()?;
            }
        }
        Ok(())
    }

    /// §4.2.1.1 Parsing an Item or Inner List.
    fn item_or_inner_list(&mut self) -> Parsed<Value> {
        if self.peek() != Some(b'(') {
            let value = self.bare_item()?;
            self.parameters()?;
            return Ok(value);
        }
        // §4.2.1.2 Parsing an Inner List.
        self.at += 1;
        loop {
            self.skip_sp();
            match self.peek() {
                None => return Err(()),
                Some(b')') => {
                    self.at += 1;
                    self.parameters()?;
                    return Ok(Value::InnerList);
                }
                Some(_) => {
                    self.bare_item()?;
                    self.parameters()?;
                    if !matches!(self.peek(), Some(b' ' | b')')) {
                        return Err(());
                    }
                }
            }
        }
    }
}

/// Parses a Dictionary (RFC 8941 §4.2, "Parsing Structured Fields", with §4.2.2 "Parsing a
/// Dictionary"): its members in order, a key given twice keeping its first place and its
/// last value ("If dictionary already contains a key this_key ..., overwrite its value").
/// `Err` on any parsing failure, and for input that is not ASCII.
pub fn parse_dictionary(field: &str) -> Result<Vec<(&str, Value)>, ()> {
    if !field.is_ascii() {
        return Err(());
    }
    let mut input = Input {
        bytes: field.as_bytes(),
        at: 0,
    };
    input.skip_sp();
    let mut members: Vec<(&str, Value)> = Vec::new();
    while !input.is_empty() {
        let key = input.key()?;
        let value = if input.peek() == Some(b'=') {
            input.at += 1;
            input.item_or_inner_list()?
        } else {
            input.parameters()?;
            Value::Boolean(true)
        };
        match members.iter_mut().find(|(k, _)| *k == key) {
            Some(member) => member.1 = value,
            None => members.push((key, value)),
        }
        input.skip_ows();
        if input.is_empty() {
            break;
        }
        if input.next() != Some(b',') {
            return Err(());
        }
        input.skip_ows();
        if input.is_empty() {
            return Err(());
        }
    }
    // §4.2: "Discard any leading SP characters" then "If input_string is not empty, fail
    // parsing": trailing spaces were consumed as OWS above.
    Ok(members)
}
