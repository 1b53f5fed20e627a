//! The viewer's `If-None-Match`, answered by the edge from what it serves (the viewer's
//! conditionals never reach a shared origin fetch), and a `304`'s headers merged into the
//! stored copy it refreshes.

use http::header::HeaderMap;
use http::StatusCode;

use crate::message::{first, values, EdgeResponse};

/// RFC 9110 §13.1.2: "An origin server MUST use the weak comparison function when comparing
/// entity tags for If-None-Match"; `*` matches any current representation. `header` is the
/// field's every line; a malformed member matches nothing (the full answer is sent: a
/// viewer never gets a bodyless answer it did not ask for).
pub fn if_none_match_matches<'a>(lines: impl IntoIterator<Item = &'a str>, etag: &str) -> bool {
    let opaque = |tag: &str| tag.strip_prefix("W/").unwrap_or(tag).to_owned();
    let wanted = opaque(etag.trim());
    for line in lines {
        let mut rest = line.trim();
        while !rest.is_empty() {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if let Some(after) = rest.strip_prefix('*') {
                if after.trim_start().is_empty() || after.trim_start().starts_with(',') {
                    return true;
                }
                return false;
            }
            let weak = rest.starts_with("W/");
            let tag_start = if weak { &rest[2..] } else { rest };
            let Some(body) = tag_start.strip_prefix('"') else {
                return false;
            };
            let Some(end) = body.find('"') else {
                return false;
            };
            if format!("\"{}\"", &body[..end]) == wanted {
                return true;
            }
            rest = &body[end + 1..];
        }
    }
    false
}

/// The `304 Not Modified` the edge answers a viewer whose `If-None-Match` matches a `200`:
/// the same header fields (RFC 9110 §15.4.5: those "that would have been sent in a 200"),
/// no body and no `Content-Length`. `None` when the viewer's conditional does not match.
pub fn not_modified_for(viewer: &HeaderMap, response: &EdgeResponse) -> Option<EdgeResponse> {
    if response.status != StatusCode::OK || !viewer.contains_key("if-none-match") {
        return None;
    }
    let etag = first(&response.headers, "etag")?;
    if !if_none_match_matches(values(viewer, "if-none-match"), etag) {
        return None;
    }
    let mut headers = response.headers.clone();
    headers.remove("content-length");
    headers.remove("transfer-encoding");
    Some(EdgeResponse {
        status: StatusCode::NOT_MODIFIED,
        headers,
        body: bytes::Bytes::new(),
    })
}

/// The stored copy's headers updated with a `304`'s (RFC 9111 §3.2: "add each header field
/// in the provided response to the stored response, replacing field values that are
/// already present"), framing headers excepted.
pub fn merge_not_modified(stored: &HeaderMap, not_modified: &HeaderMap) -> HeaderMap {
    let mut merged = stored.clone();
    for name in not_modified.keys() {
        if matches!(
            name.as_str(),
            "content-length" | "transfer-encoding" | "content-encoding"
        ) {
            continue;
        }
        merged.remove(name);
        for value in not_modified.get_all(name) {
            merged.append(name.clone(), value.clone());
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn weak_comparison_and_lists() {
        assert!(if_none_match_matches(["\"a\""], "\"a\""));
        assert!(if_none_match_matches(["W/\"a\""], "\"a\""));
        assert!(if_none_match_matches(["\"x\", W/\"a\""], "W/\"a\""));
        assert!(if_none_match_matches(["\"x\"", "\"a\""], "\"a\""));
        assert!(if_none_match_matches(["*"], "\"a\""));
        assert!(if_none_match_matches(["\"a,b\""], "\"a,b\""));
        assert!(!if_none_match_matches(["\"b\""], "\"a\""));
        assert!(!if_none_match_matches(["a"], "\"a\""), "unquoted is malformed");
        assert!(!if_none_match_matches(["\"a"], "\"a\""));
        assert!(!if_none_match_matches(["*x"], "\"a\""));
        assert!(!if_none_match_matches([""], "\"a\""));
    }

    #[test]
    fn only_a_matching_200_becomes_a_304() {
        let mut response = EdgeResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: bytes::Bytes::from_static(b"body"),
        };
        response.headers.insert("etag", HeaderValue::from_static("\"a\""));
        response.headers.insert("content-length", HeaderValue::from_static("4"));
        let mut viewer = HeaderMap::new();
        assert!(not_modified_for(&viewer, &response).is_none());
        viewer.insert("if-none-match", HeaderValue::from_static("\"b\""));
        assert!(not_modified_for(&viewer, &response).is_none());
        viewer.insert("if-none-match", HeaderValue::from_static("\"a\""));
        let nm = not_modified_for(&viewer, &response).unwrap();
        assert_eq!(nm.status, StatusCode::NOT_MODIFIED);
        assert!(nm.body.is_empty() && nm.headers.get("content-length").is_none());
        assert_eq!(nm.headers["etag"], "\"a\"");
        response.status = StatusCode::NOT_FOUND;
        assert!(not_modified_for(&viewer, &response).is_none());
    }

    #[test]
    fn a_304_replaces_the_fields_it_carries() {
        let mut stored = HeaderMap::new();
        stored.insert("cache-control", HeaderValue::from_static("s-maxage=1"));
        stored.insert("content-type", HeaderValue::from_static("application/json"));
        stored.insert("content-length", HeaderValue::from_static("10"));
        let mut nm = HeaderMap::new();
        nm.insert("cache-control", HeaderValue::from_static("s-maxage=60"));
        nm.insert("content-length", HeaderValue::from_static("0"));
        let merged = merge_not_modified(&stored, &nm);
        assert_eq!(merged["cache-control"], "s-maxage=60");
        assert_eq!(merged["content-type"], "application/json");
        assert_eq!(merged["content-length"], "10");
    }
}
