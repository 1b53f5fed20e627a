//! Reading a selector as an operator writes it (purge.md, "Selectors"), refusing every
//! malformed form before anything is purged:
//!
//! - `--url`: a viewer URL as a user would type it (`/path?query`, or `https://host/path?query`),
//!   normalized by `edge-policy` exactly as viewer-request would (tracking parameters, order,
//!   encoding), so every spelling a viewer could use selects the same canonical path.
//! - `--prefix`: a path ending in `*`, the `*` only at the end (as CloudFront).
//! - `--tag`: a surrogate key, 1–128 bytes of `[A-Za-z0-9:_.-]`.

use edge_policy::{canonical_request, RequestView, RuleSet};
use origin_function::purge::{is_valid_tag, Selector};

use crate::error::PurgeError;

/// The host a URL selector is normalized under: the host never changes the path or query,
/// and a path selects its entries under every host (purge.md).
const ANY_HOST: &str = "purge.invalid";

/// A selector, read: what the origin's stores resolve, and what the edge must invalidate
/// besides what the indexes know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    /// What L1 and L2 drop.
    pub selector: Selector,
    /// Invalidation paths the selector itself names: the canonical `path?query` typed and
    /// `<path>*` (variants nobody recorded) for a URL; `<prefix>*` for a prefix.
    pub edge_paths: Vec<String>,
}

fn malformed(why: impl Into<String>) -> PurgeError {
    PurgeError::Selector(why.into())
}

/// Whether `text` holds a byte no selector may hold (whitespace, a control byte, `#`).
fn has_forbidden(text: &str) -> bool {
    text.bytes()
        .any(|b| b.is_ascii_whitespace() || b.is_ascii_control() || b == b'#' || b >= 0x80)
}

/// `--url`.
pub fn url(text: &str) -> Result<Parsed, PurgeError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(malformed("an empty URL"));
    }
    let target = match text.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http") => {
            rest.find('/').map(|i| &rest[i..]).unwrap_or("/")
        }
        Some(_) => return Err(malformed(format!("{text:?} is not an http(s) URL or a path"))),
        None => text,
    };
    if !target.starts_with('/') {
        return Err(malformed(format!("{text:?} is not a path (it must begin with /)")));
    }
    if target.contains('*') {
        return Err(malformed("a URL holds no *: use --prefix PATH* for a prefix"));
    }
    if has_forbidden(target) {
        return Err(malformed(format!(
            "{text:?} holds whitespace, a control byte, # or non-ASCII"
        )));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let view = RequestView {
        method: "GET",
        uri: path,
        querystring: query,
        headers: &[],
    };
    let canonical = canonical_request(RuleSet::embedded(), ANY_HOST, &view)
        .map_err(|p| malformed(format!("{text:?} cannot be normalized ({p:?})")))?;
    let exact = if canonical.querystring.is_empty() {
        canonical.uri.clone()
    } else {
        format!("{}?{}", canonical.uri, canonical.querystring)
    };
    let wildcard = format!("{}*", canonical.uri);
    Ok(Parsed {
        selector: Selector::Url(canonical.uri),
        edge_paths: vec![exact, wildcard],
    })
}

/// `--prefix`.
pub fn prefix(text: &str) -> Result<Parsed, PurgeError> {
    let text = text.trim();
    let Some(prefix) = text.strip_suffix('*') else {
        return Err(malformed(format!("{text:?}: a prefix ends with *")));
    };
    if !prefix.starts_with('/') {
        return Err(malformed(format!("{text:?} is not a path (it must begin with /)")));
    }
    if prefix.contains('*') {
        return Err(malformed(format!("{text:?}: * only at the end, as CloudFront")));
    }
    if prefix.contains('?') || has_forbidden(prefix) {
        return Err(malformed(format!(
            "{text:?} holds ?, whitespace, a control byte, # or non-ASCII"
        )));
    }
    Ok(Parsed {
        selector: Selector::Prefix(prefix.to_owned()),
        edge_paths: vec![text.to_owned()],
    })
}

/// `--tag`.
pub fn tag(text: &str) -> Result<Parsed, PurgeError> {
    if !is_valid_tag(text) {
        return Err(malformed(format!(
            "{text:?} is not a tag (1-128 bytes of A-Z a-z 0-9 : _ . -, no spaces)"
        )));
    }
    Ok(Parsed {
        selector: Selector::Tag(text.to_owned()),
        edge_paths: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_malformed_form_is_refused() {
        for bad in [
            "",
            " ",
            "api/products",
            "ftp://h/a",
            "/a*b",
            "/a b",
            "/a#b",
            "/a\u{7f}",
            "/é",
        ] {
            assert!(url(bad).is_err(), "url {bad:?}");
        }
        for bad in ["", "/a", "a*", "/a*b*", "/a?b*", "/a *", "*"] {
            assert!(prefix(bad).is_err(), "prefix {bad:?}");
        }
        for bad in ["", "a b", "a*", "ä", &"t".repeat(129)] {
            assert!(tag(bad).is_err(), "tag {bad:?}");
        }
    }

    #[test]
    fn a_url_is_normalized_as_viewer_request_does() {
        let p = url("/api/products?sort=price&utm_source=x&category=books").unwrap();
        assert_eq!(p.selector, Selector::Url("/api/products".into()));
        assert_eq!(
            p.edge_paths,
            ["/api/products?category=books&sort=price", "/api/products*"]
        );
        let full = url("https://d111111abcdef8.cloudfront.net//api//products/%34%32").unwrap();
        assert_eq!(full.selector, Selector::Url("/api/products/42".into()));
        assert_eq!(
            prefix("/api/products/*").unwrap().selector,
            Selector::Prefix("/api/products/".into())
        );
        assert_eq!(tag("product:42").unwrap().selector, Selector::Tag("product:42".into()));
    }
}
