//! The parts of a request URL the policy reads. The runtime hands the Worker its request URL
//! already parsed and serialized by the WHATWG URL standard (`scheme://host[:port]/path
//! [?query]`, host lower-cased, path and query percent-encoded), so splitting it is enough;
//! a URL parser (and its IDNA tables) would triple the Worker's Wasm.

/// Host (with port), path and query (without `?`) of a serialized absolute URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestUrl<'u> {
    /// `host` or `host:port`.
    pub authority: &'u str,
    /// From the first `/` after the authority; `/` when empty.
    pub path: &'u str,
    /// After `?`, without a fragment; empty when absent.
    pub query: &'u str,
}

impl<'u> RequestUrl<'u> {
    /// Splits `url`; `None` when it is not `http(s)://authority…` with a non-empty
    /// authority and no userinfo.
    pub fn split(url: &'u str) -> Option<Self> {
        let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"))?;
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, rest) = rest.split_at(end);
        if authority.is_empty() || authority.contains('@') {
            return None;
        }
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        Some(RequestUrl {
            authority,
            path: if path.is_empty() { "/" } else { path },
            query,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_serialized_urls() {
        let parts = |u| RequestUrl::split(u).map(|p| (p.authority, p.path, p.query));
        assert_eq!(
            parts("https://api.example.com/a/b?x=1&y#f"),
            Some(("api.example.com", "/a/b", "x=1&y"))
        );
        assert_eq!(parts("http://127.0.0.1:8787"), Some(("127.0.0.1:8787", "/", "")));
        assert_eq!(parts("http://h?q"), Some(("h", "/", "q")));
        assert_eq!(parts("http://h/p?a?b"), Some(("h", "/p", "a?b")));
        assert_eq!(parts("ftp://h/"), None);
        assert_eq!(parts("https:///p"), None);
        assert_eq!(parts("https://u:p@h/"), None);
    }
}
