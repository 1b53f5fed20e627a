//! CloudFront standard access logs, legacy format, as a trace.
//!
//! The format ("Standard logging reference", log file fields,
//! <https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/standard-logs-reference.html>):
//! W3C extended, tab-separated, `#Version:` and `#Fields:` header lines (the fields are read by
//! name from `#Fields:`, so older files with fewer fields read too); `date` and `time` in UTC
//! mark when the edge **finished** responding, to the second, and `time-taken` how long it
//! took, so a request arrived at `date time - time-taken`; records are not in time order
//! (a file gathers every edge location's lines), so they are sorted by arrival; `-` stands for
//! an empty value; values are URL-encoded, a `%` written `%25`, and are decoded **exactly
//! once** (`%2526` is the viewer's `%26`, never `&`). Only `Host`, `Referer`, `User-Agent`
//! and `Cookie` are logged: the viewer's `Accept-Encoding` is not, so the trace carries an
//! assumed one, which the report states.

use std::collections::BTreeMap;

use crate::trace::TraceRequest;

/// A line that is not a record of the format, with its line number (1-based).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A record came before any `#Fields:` line.
    #[error("line {line}: a record before the #Fields line")]
    NoFields {
        /// The line.
        line: usize,
    },
    /// The `#Fields:` line lacks a field the replay needs.
    #[error("line {line}: the #Fields line names no {field}")]
    MissingField {
        /// The line.
        line: usize,
        /// The field.
        field: &'static str,
    },
    /// A record with another number of tab-separated values than `#Fields:` names.
    #[error("line {line}: {found} tab-separated values, the #Fields line names {expected}")]
    FieldCount {
        /// The line.
        line: usize,
        /// Values found.
        found: usize,
        /// Fields named.
        expected: usize,
    },
    /// A value that does not read.
    #[error("line {line}: {field} {value:?}: {reason}")]
    BadValue {
        /// The line.
        line: usize,
        /// The field.
        field: String,
        /// The value as written.
        value: String,
        /// Why.
        reason: &'static str,
    },
}

/// One logged request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Its line in the file (1-based).
    pub line: usize,
    /// When it arrived: ms since the epoch (`date time` minus `time-taken`).
    pub arrived_ms: u64,
    /// `cs-method`.
    pub method: String,
    /// `cs-uri-stem` and `cs-uri-query`, decoded once: path and query as the viewer sent them.
    pub path: String,
    /// `cs(User-Agent)`, `cs(Referer)`, `cs(Cookie)` when logged, decoded once.
    pub headers: Vec<(String, String)>,
    /// `sc-status` (0 when the viewer went before an answer: `000`).
    pub status: u16,
    /// `x-edge-location`, e.g. `IAD89-C1`.
    pub edge_location: String,
    /// `x-edge-result-type`: `Hit`, `RefreshHit`, `Miss`, `Error`, …
    pub result_type: String,
}

impl LogRecord {
    /// The edge location's cache: the code before the `-` (`IAD89` of `IAD89-C1`; an
    /// assumption: the part after the dash names servers of one location).
    pub fn location(&self) -> &str {
        self.edge_location.split('-').next().unwrap_or(&self.edge_location)
    }
}

/// The fields the replay reads, and where they are.
struct Columns {
    count: usize,
    date: usize,
    time: usize,
    location: usize,
    method: usize,
    stem: usize,
    status: usize,
    result: usize,
    query: Option<usize>,
    taken: Option<usize>,
    headers: Vec<(usize, &'static str)>,
}

impl Columns {
    fn read(names: &[&str], line: usize) -> Result<Columns, LogError> {
        let at = |n: &str| names.iter().position(|f| *f == n);
        let need = |field: &'static str| at(field).ok_or(LogError::MissingField { line, field });
        Ok(Columns {
            count: names.len(),
            date: need("date")?,
            time: need("time")?,
            location: need("x-edge-location")?,
            method: need("cs-method")?,
            stem: need("cs-uri-stem")?,
            status: need("sc-status")?,
            result: need("x-edge-result-type")?,
            query: at("cs-uri-query"),
            taken: at("time-taken"),
            headers: [
                ("cs(User-Agent)", "user-agent"),
                ("cs(Referer)", "referer"),
                ("cs(Cookie)", "cookie"),
            ]
            .into_iter()
            .filter_map(|(field, header)| at(field).map(|i| (i, header)))
            .collect(),
        })
    }
}

/// Parses a log file's text: the records, in arrival order (ties in file order).
pub fn parse(text: &str) -> Result<Vec<LogRecord>, LogError> {
    let mut columns: Option<Columns> = None;
    let mut records = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let (line, text) = (i + 1, raw.trim_end_matches('\r'));
        if let Some(fields) = text.strip_prefix("#Fields:") {
            columns = Some(Columns::read(&fields.split_whitespace().collect::<Vec<_>>(), line)?);
            continue;
        }
        if text.starts_with('#') || text.trim().is_empty() {
            continue;
        }
        let c = columns.as_ref().ok_or(LogError::NoFields { line })?;
        records.push(record(c, text, line)?);
    }
    records.sort_by_key(|r| (r.arrived_ms, r.line));
    Ok(records)
}

fn record(c: &Columns, text: &str, line: usize) -> Result<LogRecord, LogError> {
    let values: Vec<&str> = text.split('\t').collect();
    if values.len() != c.count {
        return Err(LogError::FieldCount {
            line,
            found: values.len(),
            expected: c.count,
        });
    }
    let bad = |field: &str, value: &str, reason: &'static str| LogError::BadValue {
        line,
        field: field.to_owned(),
        value: value.to_owned(),
        reason,
    };
    let decoded = |i: usize, field: &str| -> Result<Option<String>, LogError> {
        match values[i] {
            "-" | "" => Ok(None),
            v => decode_once(v).map(Some).map_err(|reason| bad(field, v, reason)),
        }
    };
    let finished_s = epoch_seconds(values[c.date], values[c.time]).ok_or_else(|| {
        bad(
            "date time",
            &format!("{} {}", values[c.date], values[c.time]),
            "not YYYY-MM-DD HH:MM:SS",
        )
    })?;
    let taken_ms = match c.taken.map(|i| values[i]) {
        None | Some("-") => 0,
        Some(v) => seconds_to_ms(v).ok_or_else(|| bad("time-taken", v, "not a number of seconds"))?,
    };
    let stem = decoded(c.stem, "cs-uri-stem")?.unwrap_or_else(|| "/".into());
    let query = match c.query {
        Some(i) => decoded(i, "cs-uri-query")?,
        None => None,
    };
    let mut headers = Vec::new();
    for (i, header) in &c.headers {
        if let Some(value) = decoded(*i, header)? {
            headers.push(((*header).to_owned(), value));
        }
    }
    let status = values[c.status];
    Ok(LogRecord {
        line,
        arrived_ms: (finished_s * 1000).saturating_sub(taken_ms),
        method: values[c.method].to_owned(),
        path: match query {
            Some(q) => format!("{stem}?{q}"),
            None => stem,
        },
        headers,
        status: status
            .parse()
            .map_err(|_| bad("sc-status", status, "not a status code"))?,
        edge_location: values[c.location].to_owned(),
        result_type: values[c.result].to_owned(),
    })
}

/// `%XX` → the byte, once; a `%` not followed by two hex digits is malformed (CloudFront
/// writes a literal `%` as `%25`).
pub fn decode_once(value: &str) -> Result<String, &'static str> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'%' {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        let byte = hex
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .ok_or("a % not followed by two hex digits (CloudFront writes % as %25)")?;
        out.push(byte);
        i += 3;
    }
    String::from_utf8(out).map_err(|_| "not UTF-8 once decoded")
}

/// `2026-12-06` `09:26:22` (UTC) → seconds since the epoch.
fn epoch_seconds(date: &str, time: &str) -> Option<u64> {
    let number = |s: Option<&str>, len: usize| s.filter(|s| s.len() == len)?.parse::<u64>().ok();
    let mut d = date.split('-');
    let (year, month, day) = (number(d.next(), 4)?, number(d.next(), 2)?, number(d.next(), 2)?);
    let mut t = time.split(':');
    let (h, m, s) = (number(t.next(), 2)?, number(t.next(), 2)?, number(t.next(), 2)?);
    if d.next().is_some() || t.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    if h > 23 || m > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day)? * 86_400 + h * 3600 + m * 60 + s)
}

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = year as i64 - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = month as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).ok()
}

/// `0.002` seconds → 2 ms.
fn seconds_to_ms(value: &str) -> Option<u64> {
    let seconds: f64 = value.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| (seconds * 1000.0).round() as u64)
}

/// The records as a trace from the first arrival, each request carrying `accept_encoding`
/// (not logged: an assumption) when given.
pub fn trace(records: &[LogRecord], accept_encoding: Option<&str>) -> Vec<TraceRequest> {
    let start = records.first().map_or(0, |r| r.arrived_ms);
    records
        .iter()
        .map(|r| {
            let mut headers = r.headers.clone();
            if let Some(encoding) = accept_encoding.filter(|e| !e.is_empty()) {
                headers.push(("accept-encoding".into(), encoding.into()));
            }
            TraceRequest {
                at_ms: r.arrived_ms - start,
                method: r.method.clone(),
                path: r.path.clone(),
                headers,
            }
        })
        .collect()
}

/// Records per `x-edge-result-type`.
pub fn result_types(records: &[LogRecord]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for r in records {
        *counts.entry(r.result_type.clone()).or_insert(0) += 1;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations_read_as_utc() {
        assert_eq!(epoch_seconds("1970-01-01", "00:00:00"), Some(0));
        assert_eq!(epoch_seconds("2000-03-01", "00:00:01"), Some(951_868_801));
        assert_eq!(epoch_seconds("2026-12-06", "09:26:22"), Some(1_796_549_182));
        assert_eq!(epoch_seconds("2026-13-06", "09:26:22"), None);
        assert_eq!(epoch_seconds("2026-12-06", "9:26:22"), None);
        assert_eq!(seconds_to_ms("0.002"), Some(2));
        assert_eq!(seconds_to_ms("-1"), None);
    }

    #[test]
    fn decoding_happens_once() {
        assert_eq!(decode_once("a%2520b").unwrap(), "a%20b");
        assert_eq!(decode_once("q=b%256Foks%26x").unwrap(), "q=b%6Foks&x");
        assert_eq!(decode_once("%C3%A9").unwrap(), "é");
        assert!(decode_once("50%").is_err());
        assert!(decode_once("%zz").is_err());
        assert!(decode_once("%FF").is_err());
    }
}
