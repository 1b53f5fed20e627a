//! The policy's views built from the `http` crate's types, and its edits applied back
//! (feature `http`). The origin (`lambda_http` re-exports `http`) and the local edge (hyper)
//! use these, so headers take one form on each side of the policy.
//!
//! A header value that is not UTF-8 (obs-text in another charset) is handed to the policy
//! as a single NUL: the policy reads a value holding a NUL as unreadable and deletes it
//! (cache-key.md, "Limits and bad input"), so an unreadable value never reaches a cache key
//! or an origin unexamined.

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::view::{HeaderEdit, HeaderField, HeaderSource, HeaderStore, RequestView};

pub use crate::headers::UNREADABLE_VALUE;

/// Every header value of a map as the policy's fields ([`crate::header_fields`]): lower-case
/// name (as `http` keeps it) and value, one entry per value, in the map's order.
impl HeaderSource for HeaderMap {
    fn header_fields(&self) -> Vec<HeaderField<'_>> {
        self.iter()
            .map(|(name, value)| {
                let text = std::str::from_utf8(value.as_bytes()).unwrap_or(UNREADABLE_VALUE);
                (name.as_str(), text)
            })
            .collect()
    }
}

/// A map updated per name, its values copied as bytes (an unreadable value stays as it was).
impl HeaderStore for HeaderMap {
    fn remove_all(&mut self, name: &str) {
        self.remove(name);
    }

    fn append_all_from(&mut self, from: &Self, name: &str) {
        let Ok(name) = HeaderName::from_bytes(name.as_bytes()) else {
            return;
        };
        for value in from.get_all(&name) {
            self.append(name.clone(), value.clone());
        }
    }
}

/// The request view of `parts` over `fields` (built with [`crate::header_fields`] from
/// `parts.headers`, or a subset of them).
pub fn request_view<'a>(parts: &'a http::request::Parts, fields: &'a [HeaderField<'a>]) -> RequestView<'a> {
    RequestView {
        method: parts.method.as_str(),
        uri: parts.uri.path(),
        querystring: parts.uri.query().unwrap_or(""),
        headers: fields,
    }
}

/// Applies the policy's header edits to `map`. A value `http` refuses (a control byte) is
/// never written: the header is removed instead, which never shares more than the edit
/// would have.
pub fn apply_edits(map: &mut HeaderMap, edits: &[HeaderEdit<'_>]) {
    for edit in edits {
        match edit {
            HeaderEdit::Remove(name) => {
                map.remove(*name);
            }
            HeaderEdit::Set { name, value, .. } => {
                let name = HeaderName::from_static(name);
                match HeaderValue::from_str(value) {
                    Ok(value) => {
                        map.insert(name, value);
                    }
                    Err(_) => {
                        map.remove(name);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header_fields;

    #[test]
    fn fields_keep_every_value_and_mark_unreadable_ones() {
        let mut map = HeaderMap::new();
        map.append("accept-encoding", HeaderValue::from_static("gzip"));
        map.append("accept-encoding", HeaderValue::from_static("br"));
        map.append("cookie", HeaderValue::from_bytes(b"a=\xff").unwrap());
        assert_eq!(
            header_fields(&map),
            [
                ("accept-encoding", "gzip"),
                ("accept-encoding", "br"),
                ("cookie", UNREADABLE_VALUE)
            ]
        );
    }

    #[test]
    fn edits_apply_and_an_unwritable_value_removes() {
        let mut map = HeaderMap::new();
        map.insert("x-forwarded-host", HeaderValue::from_static("evil"));
        map.append("cookie", HeaderValue::from_static("a=1"));
        map.append("cookie", HeaderValue::from_static("b=2"));
        map.insert("accept-encoding", HeaderValue::from_static("gzip"));
        apply_edits(
            &mut map,
            &[
                HeaderEdit::Remove("x-forwarded-host"),
                HeaderEdit::Set {
                    name: "cookie",
                    key: "Cookie",
                    value: "a=1".into(),
                },
                HeaderEdit::Set {
                    name: "accept-encoding",
                    key: "Accept-Encoding",
                    value: "bad\nvalue".into(),
                },
            ],
        );
        assert!(map.get("x-forwarded-host").is_none());
        assert_eq!(map.get_all("cookie").iter().collect::<Vec<_>>(), ["a=1"]);
        assert!(map.get("accept-encoding").is_none());
    }

    #[test]
    fn the_request_view_reads_path_and_query() {
        let (parts, ()) = http::Request::get("/a/b?x=1&y").body(()).unwrap().into_parts();
        let fields = header_fields(&parts.headers);
        let view = request_view(&parts, &fields);
        assert_eq!((view.method, view.uri, view.querystring), ("GET", "/a/b", "x=1&y"));
    }
}
