//! The viewer's `If-None-Match`, answered by the edge from what it serves (the viewer's
//! conditionals never reach a shared origin fetch), and a `304`'s headers merged into the
//! stored copy it refreshes. The rules are the policy's (`edge_policy::validation`); this
//! file only builds the edge's messages with them.

use edge_policy::validation::{self, if_none_match_matches};
use http::header::HeaderMap;
use http::StatusCode;

use crate::message::{first, values, EdgeResponse};

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
