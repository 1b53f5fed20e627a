//! The Lambda@Edge handler's Wasm core.
//!
//! The boundary carries only strings, and as few as it can: a JSON round trip of the whole
//! event costs more than the normalization itself (shared/TOOLCHAIN.md), and every string
//! crossing costs an allocation and an encode. So `wasm-pkg/index.js` sends one string per
//! call holding the few fields the policy reads, and only the headers this crate names in
//! `*_reads()` (a browser's long `user-agent` never crosses), then applies the edits this
//! crate answers with. All policy lives in `edge-policy`; this crate only decodes and encodes.
//!
//! **Input**: NUL-terminated fields. viewer-request: `method`, `uri`, `querystring`, then a
//! header block. origin-response: `method`, `uri`, `status`, the request's header block, the
//! response's header block. A **header block** is `name`, `value` once per header value;
//! its number of values is passed beside it (negative: the event had no `headers` map). A
//! NUL inside a field changes the field count, so it is detected, never misread.
//!
//! **Answer**: `=` followed by an optional JSON log line: leave the input as it is. Or `~`
//! followed by NUL-terminated fields: for a request, `uri`, `querystring`, then edits; for a
//! response, edits only. An edit is `-name` (delete the header) or `+name`, `Key`, `value`
//! (replace it with one value).
#![warn(missing_docs)]

use edge_policy::{origin_response as policy_origin_response, viewer_request as policy_viewer_request};
use edge_policy::{
    viewer_request_reads as policy_viewer_request_reads, ORIGIN_RESPONSE_READS, ORIGIN_RESPONSE_REQUEST_READS,
};
use edge_policy::{HeaderEdit, HeaderField, RequestView, ResponseView, RuleSet, ViewerOutcome};
use wasm_bindgen::prelude::wasm_bindgen;

/// Why the block could not be read.
#[derive(Debug, PartialEq, Eq)]
enum BlockError {
    /// The event had no `headers` map.
    Missing,
    /// The field count did not match: a NUL inside a field.
    Malformed,
}

/// Takes one header block of `count` values from the NUL-separated parts.
fn take_block<'a>(parts: &mut std::str::Split<'a, char>, count: i32) -> Result<Vec<HeaderField<'a>>, BlockError> {
    let count = usize::try_from(count).map_err(|_| BlockError::Missing)?;
    let mut fields = Vec::with_capacity(count);
    for _ in 0..count {
        match (parts.next(), parts.next()) {
            (Some(name), Some(value)) => fields.push((name, value)),
            _ => return Err(BlockError::Malformed),
        }
    }
    Ok(fields)
}

/// After the last field, a well-formed input leaves exactly one empty piece.
fn at_end(parts: &mut std::str::Split<'_, char>) -> Result<(), BlockError> {
    match (parts.next(), parts.next()) {
        (Some(""), None) => Ok(()),
        _ => Err(BlockError::Malformed),
    }
}

/// Splits off the three leading fields.
fn take_three<'a>(parts: &mut std::str::Split<'a, char>) -> Result<(&'a str, &'a str, &'a str), BlockError> {
    match (parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(b), Some(c)) => Ok((a, b, c)),
        _ => Err(BlockError::Malformed),
    }
}

fn passthrough_log(trigger: &str, reason: &str) -> String {
    format!("={{\"level\":\"warn\",\"msg\":\"edge handler left the input unchanged\",\"trigger\":\"{trigger}\",\"reason\":\"{reason}\"}}")
}

fn block_error_log(trigger: &str, error: BlockError) -> String {
    match error {
        BlockError::Missing => passthrough_log(trigger, "no-headers"),
        BlockError::Malformed => passthrough_log(trigger, "nul-in-header"),
    }
}

fn encode_edits(out: &mut String, edits: &[HeaderEdit<'_>]) {
    for edit in edits {
        match edit {
            HeaderEdit::Remove(name) => {
                out.push('-');
                out.push_str(name);
                out.push('\0');
            }
            HeaderEdit::Set { name, key, value } => {
                out.push('+');
                out.push_str(name);
                out.push('\0');
                out.push_str(key);
                out.push('\0');
                out.push_str(value);
                out.push('\0');
            }
        }
    }
}

/// The request headers the viewer-request policy reads, comma-separated: the glue sends
/// only these.
#[wasm_bindgen]
pub fn viewer_request_reads() -> String {
    policy_viewer_request_reads().collect::<Vec<_>>().join(",")
}

/// The response headers the origin-response policy reads, comma-separated.
#[wasm_bindgen]
pub fn origin_response_reads() -> String {
    ORIGIN_RESPONSE_READS.join(",")
}

/// The request headers the origin-response policy reads, comma-separated.
#[wasm_bindgen]
pub fn origin_response_request_reads() -> String {
    ORIGIN_RESPONSE_REQUEST_READS.join(",")
}

/// The viewer-request trigger: the request's canonical form as an answer string.
#[wasm_bindgen]
pub fn viewer_request(input: &str, count: i32) -> String {
    let mut parts = input.split('\0');
    let decoded = take_three(&mut parts).and_then(|first| {
        let fields = take_block(&mut parts, count)?;
        at_end(&mut parts)?;
        Ok((first, fields))
    });
    let ((method, uri, querystring), fields) = match decoded {
        Ok(decoded) => decoded,
        Err(e) => return block_error_log("viewer-request", e),
    };
    let view = RequestView {
        method,
        uri,
        querystring,
        headers: &fields,
    };
    match policy_viewer_request(RuleSet::embedded(), &view) {
        ViewerOutcome::Passthrough(edge_policy::Passthrough::MethodNotNormalized) => "=".to_owned(),
        ViewerOutcome::Passthrough(p) => passthrough_log("viewer-request", p.label()),
        ViewerOutcome::Rewrite(r) if r.uri == uri && r.querystring == querystring && r.headers.is_empty() => {
            "=".to_owned()
        }
        ViewerOutcome::Rewrite(rewrite) => {
            let mut out = String::with_capacity(rewrite.uri.len() + rewrite.querystring.len() + 64);
            out.push('~');
            out.push_str(&rewrite.uri);
            out.push('\0');
            out.push_str(&rewrite.querystring);
            out.push('\0');
            encode_edits(&mut out, &rewrite.headers);
            out
        }
    }
}

/// The origin-response trigger: the one `Cache-Control` (and `Set-Cookie` removal) as an
/// answer string.
#[wasm_bindgen]
pub fn origin_response(input: &str, request_count: i32, count: i32, now_ms: f64) -> String {
    let mut parts = input.split('\0');
    let decoded = take_three(&mut parts).and_then(|first| {
        // A request without headers reads as one without `Authorization`, and a response
        // without headers as one without directives: the decision still runs, so exactly
        // one Cache-Control always leaves.
        let request_fields = take_block(&mut parts, request_count).or_else(missing_is_empty)?;
        let fields = take_block(&mut parts, count).or_else(missing_is_empty)?;
        at_end(&mut parts)?;
        Ok((first, request_fields, fields))
    });
    let ((method, uri, status), request_fields, fields) = match decoded {
        Ok(decoded) => decoded,
        Err(e) => return block_error_log("origin-response", e),
    };
    let view = ResponseView {
        status,
        request_method: method,
        request_uri: uri,
        request_headers: &request_fields,
        headers: &fields,
        now_ms: now_ms as u64,
    };
    let rewrite = policy_origin_response(RuleSet::embedded(), &view);
    let mut out = String::with_capacity(rewrite.cache_control.len() + 64);
    out.push('~');
    encode_edits(&mut out, &rewrite.headers);
    out
}

fn missing_is_empty<'a>(error: BlockError) -> Result<Vec<HeaderField<'a>>, BlockError> {
    match error {
        BlockError::Missing => Ok(Vec::new()),
        e => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_decode_and_nul_is_detected() {
        let mut p = "GET\0/a\0\0a\0b\0c\0d\0".split('\0');
        assert_eq!(take_three(&mut p), Ok(("GET", "/a", "")));
        assert_eq!(take_block(&mut p, 2), Ok(vec![("a", "b"), ("c", "d")]));
        assert_eq!(at_end(&mut p), Ok(()));
        assert_eq!(take_block(&mut "a\0b\0".split('\0'), -1), Err(BlockError::Missing));
        let mut extra = "a\0b\0x\0".split('\0');
        assert_eq!(take_block(&mut extra, 1), Ok(vec![("a", "b")]));
        assert_eq!(at_end(&mut extra), Err(BlockError::Malformed));
        assert_eq!(take_block(&mut "a\0".split('\0'), 2), Err(BlockError::Malformed));
    }

    #[test]
    fn viewer_request_answers_edits() {
        let out = viewer_request(
            "GET\0//a\0b=1&a=2&utm_source=x\0x-forwarded-host\0evil\0accept-encoding\0gzip, br\0",
            2,
        );
        assert_eq!(
            out,
            "~/a\0a=2&b=1\0-x-forwarded-host\0+accept-encoding\0Accept-Encoding\0br,gzip\0"
        );
    }

    #[test]
    fn a_canonical_request_answers_unchanged() {
        assert_eq!(
            viewer_request("GET\0/api/products/1\0page=2\0accept-encoding\0br,gzip\0", 1),
            "="
        );
    }

    #[test]
    fn passthroughs_log_only_when_unusual() {
        assert_eq!(viewer_request("POST\0/a\0\0", 0), "=");
        assert!(viewer_request("GET\0a\0\0", 0).contains("\"reason\":\"uri-not-absolute\""));
        assert!(viewer_request("GET\0/a\0\0", -1).contains("no-headers"));
        assert!(viewer_request("GET\0/a\0\0x\0y\0z\0", 1).contains("nul-in-header"));
        assert!(viewer_request("GET", 0).contains("nul-in-header"));
    }

    #[test]
    fn origin_response_answers_one_cache_control() {
        let out = origin_response(
            "GET\0/static/a.js\x00200\0set-cookie\0a=1\0cache-control\0max-age=5\0",
            0,
            2,
            0.0,
        );
        assert_eq!(
            out,
            "~+cache-control\0Cache-Control\0public, immutable, max-age=5, s-maxage=31536000\0-set-cookie\0"
        );
        let none = origin_response("GET\0/x\x00500\0", -1, -1, 0.0);
        assert_eq!(none, "~+cache-control\0Cache-Control\0no-store\0");
    }

    #[test]
    fn reads_lists_name_the_policy_inputs() {
        assert!(viewer_request_reads().split(',').any(|h| h == "x-forwarded-host"));
        assert_eq!(origin_response_reads(), "cache-control,set-cookie,vary,expires,date");
        assert_eq!(origin_response_request_reads(), "authorization,x-viewer-authorization");
    }
}
