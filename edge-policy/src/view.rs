//! The policy's vocabulary, on the crate's ground floor: a header field, an edit to a header
//! map, and the views of a request and a response that every rule reads. Nothing here
//! decides anything; every other module of the crate may use these, and this file uses none
//! of them.

/// One header value as the policy sees it: the lower-case name and one value. A header with
/// several values appears once per value, in order.
pub type HeaderField<'a> = (&'a str, &'a str);

/// A change to a header map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderEdit<'a> {
    /// Delete every value of this header.
    Remove(&'a str),
    /// Replace every value of this header with one.
    Set {
        /// The lower-case name (the map key).
        name: &'static str,
        /// The name as written in the `key` field.
        key: &'static str,
        /// The one value.
        value: String,
    },
}

/// The parts of a request the policy reads.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// The method, e.g. `GET`.
    pub method: &'a str,
    /// The path, which must start with `/`.
    pub uri: &'a str,
    /// The query string without `?`.
    pub querystring: &'a str,
    /// The header values.
    pub headers: &'a [HeaderField<'a>],
}

/// The parts of an origin response (and the request it answers) the policy reads.
#[derive(Debug, Clone, Copy)]
pub struct ResponseView<'a> {
    /// The status as CloudFront gives it (a string).
    pub status: &'a str,
    /// The request's method.
    pub request_method: &'a str,
    /// The request's path.
    pub request_uri: &'a str,
    /// The request's header values.
    pub request_headers: &'a [HeaderField<'a>],
    /// The response's header values.
    pub headers: &'a [HeaderField<'a>],
    /// When the response is decided, ms since the Unix epoch: what a missing `Date` stands
    /// for when `Expires` is read (read once by the caller; the Wasm handler has no clock of
    /// its own, so the glue sends `Date.now()`).
    pub now_ms: u64,
}

/// Header storage the policy can read as [`HeaderField`]s: owned `(name, value)` pairs here,
/// `http::HeaderMap` with the feature `http` ([`crate::http_views`]).
pub trait HeaderSource {
    /// Every value as a field, one per value, in order. Names must be lower-case already (as
    /// `http` and the runtimes keep them).
    fn header_fields(&self) -> Vec<HeaderField<'_>>;
}

impl HeaderSource for [(String, String)] {
    fn header_fields(&self) -> Vec<HeaderField<'_>> {
        self.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
    }
}

impl HeaderSource for Vec<(String, String)> {
    fn header_fields(&self) -> Vec<HeaderField<'_>> {
        self.as_slice().header_fields()
    }
}

/// The policy's fields over any [`HeaderSource`]: the one adapter between a host's headers and
/// the views.
pub fn header_fields<S: HeaderSource + ?Sized>(source: &S) -> Vec<HeaderField<'_>> {
    source.header_fields()
}

/// Header storage a rule can update in place (the `304` merge, [`crate::validation`]).
pub trait HeaderStore: HeaderSource {
    /// Deletes every value of `name`.
    fn remove_all(&mut self, name: &str);
    /// Appends every value of `name` that `from` holds, as it is there.
    fn append_all_from(&mut self, from: &Self, name: &str);
}

impl HeaderStore for Vec<(String, String)> {
    fn remove_all(&mut self, name: &str) {
        self.retain(|(n, _)| n != name);
    }

    fn append_all_from(&mut self, from: &Self, name: &str) {
        self.extend(from.iter().filter(|(n, _)| n == name).cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_pairs_read_as_fields_in_order() {
        let owned = vec![("a".to_owned(), "1".to_owned()), ("a".to_owned(), "2".to_owned())];
        assert_eq!(header_fields(&owned), [("a", "1"), ("a", "2")]);
        assert_eq!(header_fields(owned.as_slice()), [("a", "1"), ("a", "2")]);
    }

    #[test]
    fn owned_pairs_are_updated_per_name() {
        let mut stored = vec![("a".to_owned(), "1".to_owned()), ("b".to_owned(), "x".to_owned())];
        let from = vec![("a".to_owned(), "2".to_owned()), ("a".to_owned(), "3".to_owned())];
        stored.remove_all("a");
        stored.append_all_from(&from, "a");
        assert_eq!(header_fields(&stored), [("b", "x"), ("a", "2"), ("a", "3")]);
    }
}
