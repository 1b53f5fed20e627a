//! The viewer's `If-None-Match` and `If-Modified-Since`, answered by the edge from what it
//! serves (the viewer's conditionals never reach a shared origin fetch), and a `304`'s
//! headers merged into the stored copy it refreshes. The rules are the policy's
//! (`edge_policy::validation`); this file only builds the edge's messages with them.

use edge_policy::header_fields;
use edge_policy::validation::{self, kept_in_304, not_modified};
use http::header::HeaderMap;
use http::StatusCode;

use crate::message::EdgeResponse;

/// The `304 Not Modified` the edge answers a viewer whose conditional a `200` does not pass
/// ([`not_modified`]: `If-None-Match` over `If-Modified-Since`, RFC 9110 §13.2.2): the fields
/// RFC 9110 §15.4.5 lists from those "that would have been sent in a 200" ([`kept_in_304`]),
/// no body. `age`: the served copy's `Age`, seconds (`None` for a fresh fetch), which dates
/// its receipt when it has neither `Last-Modified` nor `Date`. `None` when the viewer's
/// conditional does not call for a `304`.
pub fn not_modified_for(viewer: &HeaderMap, response: &EdgeResponse, age: Option<u64>) -> Option<EdgeResponse> {
    if !viewer.contains_key("if-none-match") && !viewer.contains_key("if-modified-since") {
        return None;
    }
    let (request, stored) = (header_fields(viewer), header_fields(&response.headers));
    let received_ms = crate::clock::wall_ms().saturating_sub(age.unwrap_or(0).saturating_mul(1000));
    if !not_modified(&request, response.status.as_u16(), &stored, received_ms) {
        return None;
    }
    let has_etag = response.headers.contains_key("etag");
    let mut headers = HeaderMap::new();
    for (name, value) in &response.headers {
        if kept_in_304(name.as_str(), has_etag) {
            headers.append(name.clone(), value.clone());
        }
    }
    Some(EdgeResponse {
        status: StatusCode::NOT_MODIFIED,
        headers,
        body: bytes::Bytes::new(),
    })
}

/// The stored copy's headers updated with a `304`'s, by the policy's one merge
/// ([`validation::merge_not_modified`]: never a framing, hop-by-hop, `Proxy-*` or
/// `Set-Cookie` field). The local edge adds nothing of its own to keep: it takes the `304`'s
/// `Cache-Control`, which gives the refreshed lifetime, as CloudFront does.
pub fn refreshed_headers(stored: &HeaderMap, not_modified: &HeaderMap) -> HeaderMap {
    let mut merged = stored.clone();
    validation::merge_not_modified(&mut merged, not_modified, |_| false);
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn only_a_matching_200_becomes_a_304() {
        let mut response = EdgeResponse {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: bytes::Bytes::from_static(b"body"),
        };
        response.headers.insert("etag", HeaderValue::from_static("\"a\""));
        response.headers.insert("content-length", HeaderValue::from_static("4"));
        response
            .headers
            .insert("content-type", HeaderValue::from_static("text/plain"));
        response.headers.insert(
            "last-modified",
            HeaderValue::from_static("Mon, 30 Nov 2026 08:00:00 GMT"),
        );
        let mut viewer = HeaderMap::new();
        assert!(not_modified_for(&viewer, &response, None).is_none());
        viewer.insert("if-none-match", HeaderValue::from_static("\"b\""));
        assert!(not_modified_for(&viewer, &response, None).is_none());
        viewer.insert("if-none-match", HeaderValue::from_static("\"a\""));
        let nm = not_modified_for(&viewer, &response, None).unwrap();
        assert_eq!(nm.status, StatusCode::NOT_MODIFIED);
        assert!(nm.body.is_empty() && nm.headers.get("content-length").is_none());
        assert!(
            nm.headers.get("content-type").is_none(),
            "only what RFC 9110 §15.4.5 lists"
        );
        assert_eq!(nm.headers["etag"], "\"a\"");
        // If-Modified-Since, when there is no If-None-Match.
        viewer.remove("if-none-match");
        viewer.insert(
            "if-modified-since",
            HeaderValue::from_static("Mon, 30 Nov 2026 09:00:00 GMT"),
        );
        assert!(not_modified_for(&viewer, &response, Some(3)).is_some());
        viewer.insert(
            "if-modified-since",
            HeaderValue::from_static("Mon, 30 Nov 2026 07:00:00 GMT"),
        );
        assert!(not_modified_for(&viewer, &response, Some(3)).is_none());
        response.status = StatusCode::NOT_FOUND;
        assert!(not_modified_for(&viewer, &response, None).is_none());
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
        let merged = refreshed_headers(&stored, &nm);
        assert_eq!(merged["cache-control"], "s-maxage=60");
        assert_eq!(merged["content-type"], "application/json");
        assert_eq!(merged["content-length"], "10");
    }

    #[test]
    fn a_304_never_touches_set_cookie_or_hop_by_hop_fields() {
        let mut stored = HeaderMap::new();
        stored.insert("set-cookie", HeaderValue::from_static("stored=1"));
        stored.insert("content-type", HeaderValue::from_static("application/json"));
        stored.insert("content-encoding", HeaderValue::from_static("gzip"));
        let mut nm = HeaderMap::new();
        nm.insert("set-cookie", HeaderValue::from_static("session=attacker"));
        nm.insert("connection", HeaderValue::from_static("x-hop"));
        nm.insert("x-hop", HeaderValue::from_static("1"));
        nm.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        nm.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        nm.insert("upgrade", HeaderValue::from_static("h2c"));
        nm.insert("proxy-authenticate", HeaderValue::from_static("Basic"));
        nm.insert("content-encoding", HeaderValue::from_static("br"));
        nm.insert("etag", HeaderValue::from_static("\"2\""));
        let merged = refreshed_headers(&stored, &nm);
        assert_eq!(merged.get_all("set-cookie").iter().collect::<Vec<_>>(), ["stored=1"]);
        assert_eq!(merged["content-encoding"], "gzip");
        for hop in [
            "connection",
            "x-hop",
            "keep-alive",
            "transfer-encoding",
            "upgrade",
            "proxy-authenticate",
        ] {
            assert!(merged.get(hop).is_none(), "{hop}");
        }
        assert_eq!(merged["etag"], "\"2\"");
        assert_eq!(merged["content-type"], "application/json");
        // A 304 without Set-Cookie never removes the stored one either.
        let merged = refreshed_headers(&stored, &HeaderMap::new());
        assert_eq!(merged["set-cookie"], "stored=1");
    }
}
