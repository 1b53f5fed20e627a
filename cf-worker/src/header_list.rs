//! Headers as the policy sees them: an owned list of lower-case name and value, one entry
//! per value, taken from a `worker::Headers` once, edited by the policy's edits, and written
//! back into a fresh `worker::Headers` (the runtime's request and cached-response headers are
//! immutable, so every outgoing message gets new ones).

use edge_policy::headers::{connection_options, is_hop_by_hop};
use edge_policy::{HeaderEdit, HeaderField, HeaderSource, HeaderStore};
use js_sys::Array;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Headers;

/// An owned header list: lower-case names (the runtime's `Headers` iterates them so).
#[derive(Debug, Clone, Default)]
pub struct HeaderList(Vec<(String, String)>);

impl HeaderList {
    /// Every entry of `headers`. `Set-Cookie` values come one per entry; other repeated
    /// fields arrive joined with `, ` (the Fetch standard's `Headers`).
    pub fn of(headers: &Headers) -> Result<Self, JsValue> {
        let mut list = Vec::new();
        let Some(entries) = js_sys::try_iter(headers)? else {
            return Ok(HeaderList(list));
        };
        for entry in entries {
            let pair: Array = entry?.dyn_into()?;
            match (pair.get(0).as_string(), pair.get(1).as_string()) {
                (Some(name), Some(value)) => list.push((name.to_ascii_lowercase(), value)),
                _ => return Err(JsValue::from_str("a header entry is not a pair of strings")),
            }
        }
        Ok(HeaderList(list))
    }

    /// The policy's view.
    pub fn fields(&self) -> Vec<HeaderField<'_>> {
        self.0.header_fields()
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Whether `name` is present.
    pub fn has(&self, name: &str) -> bool {
        self.0.iter().any(|(n, _)| n == name)
    }

    /// Removes every value of the names `drop` selects.
    pub fn remove_where(&mut self, drop: impl Fn(&str) -> bool) {
        self.0.retain(|(n, _)| !drop(n));
    }

    /// Replaces every value of `name` with one.
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.0.retain(|(n, _)| n != name);
        self.0.push((name.to_owned(), value.into()));
    }

    /// Adds a value.
    pub fn append(&mut self, name: &str, value: impl Into<String>) {
        self.0.push((name.to_owned(), value.into()));
    }

    /// Removes the hop-by-hop fields: `Connection`, every field it names, and the fixed ones
    /// (RFC 9110 §7.6.1). The runtime's `fetch` shows them on an origin's answer, so a
    /// `Connection: x-foo` would otherwise store and forward `X-Foo`.
    pub fn strip_hop_by_hop(&mut self) {
        let options = connection_options(self.iter());
        self.remove_where(|n| is_hop_by_hop(n, &options));
    }

    /// Applies the policy's edits (`Remove` deletes every value; `Set` replaces them).
    pub fn apply(&mut self, edits: &[HeaderEdit<'_>]) {
        for edit in edits {
            match edit {
                HeaderEdit::Remove(name) => self.remove_where(|n| n == *name),
                HeaderEdit::Set { name, value, .. } => self.set(name, value.clone()),
            }
        }
    }

    /// The entries.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Fresh runtime headers holding every entry the filter keeps. A value the runtime
    /// refuses fails the whole message (the caller then forwards the request unchanged).
    pub fn to_headers(&self, keep: impl Fn(&str) -> bool) -> Result<Headers, JsValue> {
        let headers = Headers::new()?;
        for (name, value) in self.iter().filter(|(n, _)| keep(n)) {
            headers.append(name, value)?;
        }
        Ok(headers)
    }
}

/// The policy reads the list as fields ([`edge_policy::header_fields`]).
impl HeaderSource for HeaderList {
    fn header_fields(&self) -> Vec<HeaderField<'_>> {
        self.0.header_fields()
    }
}

/// The policy's `304` merge updates the list per name (`edge_policy::validation`).
impl HeaderStore for HeaderList {
    fn remove_all(&mut self, name: &str) {
        self.0.remove_all(name);
    }

    fn append_all_from(&mut self, from: &Self, name: &str) {
        self.0.append_all_from(&from.0, name);
    }
}
