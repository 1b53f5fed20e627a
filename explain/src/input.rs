//! Reading the command line: the arguments, a URL or path, a header, and the error bad
//! input is (exit 2).

use std::fmt;
use std::path::PathBuf;

use clap::Parser;
use http::header::{HeaderName, HeaderValue};
use http::HeaderMap;
use local_edge::stack::ORIGIN_DOMAIN;
use serde::Serialize;

/// What the edge does with a URL, and why.
#[derive(Parser, Debug, Clone)]
#[command(name = "explain", version)]
pub struct Args {
    /// A URL (`https://host/path?query`) or a path alone (`/path?query`, which takes the
    /// distribution's domain).
    pub url: String,
    /// A request header, `Name: value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// The method.
    #[arg(short = 'X', long, default_value = "GET")]
    pub method: String,
    /// The origin's status: adds origin-response's decision and how long CloudFront keeps it.
    #[arg(long, value_parser = clap::value_parser!(u16).range(100..=599))]
    pub status: Option<u16>,
    /// A header of the origin's response, `Name: value` (repeatable; implies --status 200).
    #[arg(long = "response-header", value_name = "HEADER")]
    pub response_headers: Vec<String>,
    /// A second URL or path: do the two share a key, and if not, where do they part?
    #[arg(long, value_name = "URL2")]
    pub vs: Option<String>,
    /// Another rules file instead of the embedded rules.toml.
    #[arg(long, value_name = "FILE")]
    pub rules: Option<PathBuf>,
    /// Another behaviour table instead of the embedded deploy/behaviours.toml.
    #[arg(long, value_name = "FILE")]
    pub behaviours: Option<PathBuf>,
    /// The distribution's domain (CloudFront's cache key starts from it). Default: the URL's
    /// host, or d111111abcdef8.cloudfront.net for a path alone.
    #[arg(long)]
    pub domain: Option<String>,
    /// The origin's (function URL's) domain, which its L1/L2 key starts from.
    #[arg(long, default_value = ORIGIN_DOMAIN)]
    pub origin_domain: String,
    /// JSON for tools instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Input the CLI cannot explain: exit 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}

/// The exit status of an [`InputError`].
pub const BAD_INPUT: i32 = 2;

/// A URL or path, split as a viewer's request line carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Target {
    /// The host, when a URL names one.
    pub host: Option<String>,
    /// The path, as written (nothing decoded or normalized: that is the policy's job).
    pub uri: String,
    /// The query string without `?`.
    pub querystring: String,
}

/// Reads `text` as a URL (`http://` or `https://`, a host, then an optional path, query and
/// fragment) or a path alone (starting with `/`). The fragment never reaches a server.
pub fn parse_target(text: &str) -> Result<Target, InputError> {
    let split_query = |rest: &str| {
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        match rest.split_once('?') {
            Some((path, query)) => (path.to_owned(), query.to_owned()),
            None => (rest.to_owned(), String::new()),
        }
    };
    if text.starts_with('/') {
        let (uri, querystring) = split_query(text);
        return Ok(Target {
            host: None,
            uri,
            querystring,
        });
    }
    let lower = text.get(..8).unwrap_or(text).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        &text[8..]
    } else if lower.starts_with("http://") {
        &text[7..]
    } else {
        return Err(InputError(format!(
            "{text:?} is neither a URL (http:// or https://) nor a path (starting with /)"
        )));
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let host = &rest[..end];
    if host.is_empty() {
        return Err(InputError(format!("{text:?}: the URL has no host")));
    }
    if host.contains('@') {
        return Err(InputError(format!(
            "{text:?}: credentials in a URL never reach CloudFront; send them with -H 'Authorization: …'"
        )));
    }
    if host.bytes().any(|b| b.is_ascii_whitespace() || b.is_ascii_control()) {
        return Err(InputError(format!(
            "{text:?}: the host holds a space or a control character"
        )));
    }
    let (mut uri, querystring) = split_query(&rest[end..]);
    if uri.is_empty() {
        uri.push('/');
    }
    Ok(Target {
        host: Some(host.to_owned()),
        uri,
        querystring,
    })
}

/// Reads `Name: value` as a header (name lower-cased, value trimmed).
pub fn parse_header(text: &str) -> Result<(HeaderName, HeaderValue), InputError> {
    let Some((name, value)) = text.split_once(':') else {
        return Err(InputError(format!(
            "header {text:?} has no colon: write it as 'Name: value'"
        )));
    };
    let name = HeaderName::from_bytes(name.trim().to_ascii_lowercase().as_bytes())
        .map_err(|_| InputError(format!("header {text:?}: {:?} is not a header name", name.trim())))?;
    let value = HeaderValue::from_str(value.trim())
        .map_err(|_| InputError(format!("header {text:?}: the value holds a control character")))?;
    Ok((name, value))
}

pub(crate) fn headers(list: &[String]) -> Result<HeaderMap, InputError> {
    let mut map = HeaderMap::new();
    for text in list {
        let (name, value) = parse_header(text)?;
        map.append(name, value);
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_paths_split_as_a_request_line_carries_them() {
        let t = parse_target("https://D111.cloudfront.net/api/products/42?utm_source=x&page=2#top").unwrap();
        assert_eq!(t.host.as_deref(), Some("D111.cloudfront.net"));
        assert_eq!(
            (t.uri.as_str(), t.querystring.as_str()),
            ("/api/products/42", "utm_source=x&page=2")
        );
        let t = parse_target("http://h?x=1").unwrap();
        assert_eq!((t.uri.as_str(), t.querystring.as_str()), ("/", "x=1"));
        let t = parse_target("/a//b/../%7e?b=1&a=2").unwrap();
        assert_eq!((t.host, t.uri.as_str()), (None, "/a//b/../%7e"));
        for bad in [
            "",
            "api/products",
            "ftp://h/x",
            "https://",
            "https:///x",
            "https://u:p@h/x",
            "d111.cloudfront.net/x",
        ] {
            assert!(parse_target(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn headers_need_a_colon_and_a_name() {
        let (n, v) = parse_header("Cookie:  a=1 ").unwrap();
        assert_eq!((n.as_str(), v.to_str().unwrap()), ("cookie", "a=1"));
        assert!(parse_header("Cookie a=1").unwrap_err().0.contains("no colon"));
        assert!(parse_header(": x").is_err());
        assert!(parse_header("bad name: x").is_err());
    }
}
