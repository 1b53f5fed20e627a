//! `explain`: what the edge does with a URL, and why.
//!
//! ```text
//! explain 'https://d111.cloudfront.net/api/products/42?utm_source=x&page=2' -H 'Cookie: a=1'
//! explain '/API/Users/7'                       # a path alone takes the distribution's domain
//! explain /api/products/42 --status 404 --response-header 'Cache-Control: max-age=60'
//! explain '/api/products?page=2&utm_source=a' --vs '/api/products?fbclid=b&page=2'
//! explain /p --rules my-rules.toml --json
//! ```
//!
//! It prints the behaviour CloudFront picks from the raw viewer path, the policy's steps
//! (the route it matches on the normalized path, each rewrite, each header edit, the
//! bypass), the canonical request, the CloudFront cache key as that behaviour's cache policy
//! makes it and the origin's L1/L2 key ([`local_edge::explain`], the same explanation the
//! local edge's live page shows); with `--status` / `--response-header`, origin-response's
//! decision and how long CloudFront keeps the answer; with `--vs`, whether two URLs share a
//! key and, if not, the first step where they part ([`compare`]). Credentials, cookie values
//! and the origin's secret header show as `[redacted]`.
//!
//! Bad input (neither a URL nor a path, a header without a colon, an unreadable rules or
//! behaviour file) is an [`InputError`]: the CLI prints it and exits 2.

use std::fmt;
use std::path::PathBuf;

use bytes::Bytes;
use clap::Parser;
use edge_policy::RuleSet;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use local_edge::explain::{explain, EdgeExplanation, EdgeKeyNote, OriginAnswer, Redaction, Setting};
use local_edge::message::EdgeRequest;
use local_edge::stack::ORIGIN_DOMAIN;
use local_edge::{Distribution, DISTRIBUTION_DOMAIN};
use serde::Serialize;
use serde_json::json;

/// The deployed behaviour table, embedded at build time (`--behaviours` reads another).
const DEPLOYED_BEHAVIOURS: &str = include_str!("../../deploy/behaviours.toml");

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

fn headers(list: &[String]) -> Result<HeaderMap, InputError> {
    let mut map = HeaderMap::new();
    for text in list {
        let (name, value) = parse_header(text)?;
        map.append(name, value);
    }
    Ok(map)
}

/// The rules, the behaviour table and the domains an explanation is made with.
pub struct Edge {
    /// The behaviour table.
    pub distribution: Distribution,
    /// The route rules.
    pub rules: RuleSet,
    /// The origin's domain.
    pub origin_domain: String,
}

impl Edge {
    /// The rules and table `args` names (the embedded ones by default).
    pub fn load(args: &Args) -> Result<Edge, InputError> {
        let read = |path: &PathBuf, what: &str| {
            std::fs::read_to_string(path).map_err(|e| InputError(format!("{what} {}: {e}", path.display())))
        };
        let rules = match &args.rules {
            Some(path) => RuleSet::from_toml(&read(path, "rules file")?)
                .map_err(|e| InputError(format!("rules file {}: {e}", path.display())))?,
            None => RuleSet::embedded().clone(),
        };
        let distribution = match &args.behaviours {
            Some(path) => Distribution::from_toml(&read(path, "behaviour table")?)
                .map_err(|e| InputError(format!("behaviour table {}: {e}", path.display())))?,
            None => Distribution::from_toml(DEPLOYED_BEHAVIOURS).expect("the embedded behaviour table is valid"),
        };
        Ok(Edge {
            distribution,
            rules,
            origin_domain: args.origin_domain.clone(),
        })
    }
}

/// One request, read from the command line and explained.
#[derive(Debug, Clone, Serialize)]
pub struct Explained {
    /// The URL as given.
    pub url: String,
    /// The distribution's domain used.
    pub domain: String,
    /// The explanation (not yet redacted: [`Report`] redacts what it shows).
    pub explanation: EdgeExplanation,
    /// Whether the policy makes the request private.
    #[serde(skip)]
    pub private: bool,
}

/// Explains `url` with `headers` (and the response `answer`) at `edge`.
pub fn explain_url(
    edge: &Edge,
    args: &Args,
    url: &str,
    answer: Option<&OriginAnswer>,
) -> Result<Explained, InputError> {
    let target = parse_target(url)?;
    let method = Method::from_bytes(args.method.as_bytes())
        .map_err(|_| InputError(format!("{:?} is not a method", args.method)))?;
    let domain = args
        .domain
        .clone()
        .or_else(|| target.host.clone())
        .unwrap_or_else(|| DISTRIBUTION_DOMAIN.to_owned())
        .to_ascii_lowercase();
    let mut map = headers(&args.headers)?;
    if !map.contains_key("host") {
        let host = target.host.as_deref().unwrap_or(&domain);
        let value = HeaderValue::from_str(host).map_err(|_| InputError(format!("{url:?}: the host is not valid")))?;
        map.insert("host", value);
    }
    let request = EdgeRequest {
        method,
        uri: target.uri,
        querystring: target.querystring,
        headers: map,
        client_ip: "203.0.113.10".into(),
        body: Bytes::new(),
    };
    let setting = Setting {
        distribution: &edge.distribution,
        rules: &edge.rules,
        domain: &domain,
        origin_domain: &edge.origin_domain,
    };
    let explanation = explain(setting, &request, answer);
    let private = explanation.policy.as_ref().is_some_and(|p| p.bypass.is_some());
    Ok(Explained {
        url: url.to_owned(),
        domain,
        explanation,
        private,
    })
}

/// Where two requests part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Parting {
    /// The step: `behaviour`, `method`, `route`, `path`, `query`, `header <name>`, `cookies`,
    /// `accept-encoding`, `host`, or `private` (the same key, but never shared).
    pub step: String,
    /// The first request's side.
    pub first: String,
    /// The second's.
    pub second: String,
    /// What it means.
    pub why: String,
}

/// Whether two requests share CloudFront's cache entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Comparison {
    /// The same CloudFront cache key.
    pub same_key: bool,
    /// The same key, and the policy shares it (neither request is private).
    pub shared: bool,
    /// The first step where they part (`None` when shared).
    pub parts_at: Option<Parting>,
}

fn parting(step: &str, first: impl Into<String>, second: impl Into<String>, why: impl Into<String>) -> Parting {
    Parting {
        step: step.to_owned(),
        first: first.into(),
        second: second.into(),
        why: why.into(),
    }
}

/// The path steps a request went through, named.
fn path_steps(e: &EdgeExplanation) -> String {
    use edge_policy::trace::{Note, PathStep};
    let steps: Vec<&str> = e
        .policy
        .iter()
        .flat_map(|p| &p.steps)
        .filter_map(|s| match s {
            Note::Path { rule, .. } => Some(match rule {
                PathStep::PercentEncoding => "percent-encoding normalized",
                PathStep::MergeSlashes => "slashes merged",
                PathStep::DotSegments => "dot-segments removed",
            }),
            _ => None,
        })
        .collect();
    if steps.is_empty() {
        "kept as received".to_owned()
    } else {
        steps.join(", ")
    }
}

/// Does `a` share `b`'s CloudFront cache entry, and if not, where do they part? The steps are
/// taken in the order the request goes through them: the behaviour (does it cache?), the
/// method, the route, then each component of the key in the order it is built.
pub fn compare(a: &Explained, b: &Explained) -> Comparison {
    let (ea, eb) = (&a.explanation, &b.explanation);
    let (ka, kb) = match (&ea.cloudfront.key, &eb.cloudfront.key) {
        (Some(ka), Some(kb)) => (ka, kb),
        _ => {
            let side = |e: &EdgeExplanation| match &e.cloudfront.key {
                Some(_) => format!("behaviour {} caches", e.behaviour.path_pattern),
                None => format!("behaviour {} does not cache", e.behaviour.path_pattern),
            };
            return Comparison {
                same_key: false,
                shared: false,
                parts_at: Some(parting(
                    "behaviour",
                    side(ea),
                    side(eb),
                    "a behaviour that does not cache keeps no entry to share",
                )),
            };
        }
    };
    if ka.text == kb.text {
        if a.private || b.private {
            let side = |x: &Explained| if x.private { "private" } else { "shared" };
            return Comparison {
                same_key: true,
                shared: false,
                parts_at: Some(parting(
                    "private",
                    side(a),
                    side(b),
                    "the same key, but the policy makes a request private: origin-response keeps its answer out of shared caches",
                )),
            };
        }
        return Comparison {
            same_key: true,
            shared: true,
            parts_at: None,
        };
    }
    let route = |e: &EdgeExplanation| {
        e.policy
            .as_ref()
            .and_then(|p| p.route.as_ref())
            .map(|r| r.name.clone())
            .unwrap_or_else(|| "(none)".into())
    };
    let parts_at = if ka.head != kb.head {
        parting(
            "method",
            if ka.head { "HEAD" } else { "GET" },
            if kb.head { "HEAD" } else { "GET" },
            "HEAD answers are kept apart from GET's",
        )
    } else if route(ea) != route(eb) {
        parting(
            "route",
            route(ea),
            route(eb),
            "different routes: different query, cookie and freshness rules",
        )
    } else if ka.path != kb.path {
        parting(
            "path",
            &ka.path,
            &kb.path,
            format!(
                "the paths differ after normalization (first: {}; second: {})",
                path_steps(ea),
                path_steps(eb)
            ),
        )
    } else if ka.query != kb.query {
        query_parting(ka, kb)
    } else if ka.headers != kb.headers {
        let (na, nb) = (&ka.headers, &kb.headers);
        let at = (0..na.len().max(nb.len()))
            .find(|i| na.get(*i) != nb.get(*i))
            .unwrap_or(0);
        let show = |h: Option<&(String, String)>| h.map_or("(absent)".to_owned(), |(n, v)| format!("{n}: {v}"));
        let name = na.get(at).or(nb.get(at)).map_or("", |(n, _)| n.as_str());
        parting(
            &format!("header {name}"),
            show(na.get(at)),
            show(nb.get(at)),
            "the cache policy keys this header",
        )
    } else if ka.cookies != kb.cookies {
        parting(
            "cookies",
            ka.cookies.join("; "),
            kb.cookies.join("; "),
            "the cache policy keys these cookies",
        )
    } else if ka.accept_encoding != kb.accept_encoding {
        let show = |e: Option<&str>| e.unwrap_or("(none)").to_owned();
        parting(
            "accept-encoding",
            show(ka.accept_encoding),
            show(kb.accept_encoding),
            "CloudFront keys the codings the viewer accepts (br, gzip)",
        )
    } else {
        parting(
            "host",
            &ka.host,
            &kb.host,
            "CloudFront's key starts from the distribution's domain",
        )
    };
    Comparison {
        same_key: false,
        shared: false,
        parts_at: Some(parts_at),
    }
}

/// The first query item where two keys differ.
fn query_parting(ka: &EdgeKeyNote, kb: &EdgeKeyNote) -> Parting {
    let items = |q: &str| {
        q.split('&')
            .filter(|i| !i.is_empty())
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let (ia, ib) = (items(&ka.query), items(&kb.query));
    let at = (0..ia.len().max(ib.len()))
        .find(|i| ia.get(*i) != ib.get(*i))
        .unwrap_or(0);
    let show = |i: Option<&String>| i.cloned().unwrap_or_else(|| "(no more items)".into());
    parting(
        "query",
        show(ia.get(at)),
        show(ib.get(at)),
        format!(
            "the queries differ after tracking parameters are dropped, the route's allow-list applied and the rest sorted: {:?} vs {:?}",
            ka.query, kb.query
        ),
    )
}

/// What the CLI prints.
pub struct Report {
    /// The first request.
    pub first: Explained,
    /// The second, with `--vs`.
    pub second: Option<Explained>,
    /// The two compared.
    pub comparison: Option<Comparison>,
    redaction: Redaction,
}

impl Report {
    /// The report as JSON (redacted).
    pub fn to_json(&self) -> serde_json::Value {
        let one = |x: &Explained| {
            json!({
                "url": self.redaction.text(&x.url),
                "domain": x.domain,
                "explanation": self.redaction.explanation(x.explanation.clone()),
            })
        };
        let mut out = one(&self.first);
        if let (Some(second), Some(comparison)) = (&self.second, &self.comparison) {
            let mut vs = one(second);
            vs["same_key"] = json!(comparison.same_key);
            vs["shared"] = json!(comparison.shared);
            vs["parts_at"] = json!(comparison.parts_at.as_ref().map(|p| Parting {
                step: p.step.clone(),
                first: self.redaction.key(&p.first),
                second: self.redaction.key(&p.second),
                why: p.why.clone(),
            }));
            out["vs"] = vs;
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = |f: &mut fmt::Formatter<'_>, x: &Explained| {
            writeln!(f, "{} {}", x.explanation.method, self.redaction.text(&x.url))?;
            write!(f, "{}", self.redaction.explanation(x.explanation.clone()))
        };
        one(f, &self.first)?;
        if let (Some(second), Some(comparison)) = (&self.second, &self.comparison) {
            writeln!(f)?;
            one(f, second)?;
            writeln!(f)?;
            match &comparison.parts_at {
                None => writeln!(
                    f,
                    "vs         shared: both have the cloudfront cache key {}",
                    self.first
                        .explanation
                        .cloudfront
                        .key
                        .as_ref()
                        .map_or(String::new(), |k| self.redaction.key(&k.text))
                )?,
                Some(p) => writeln!(
                    f,
                    "vs         {}: they part at the {}: {} vs {} ({})",
                    if comparison.same_key {
                        "the same key, not shared"
                    } else {
                        "not shared"
                    },
                    p.step,
                    self.redaction.key(&p.first),
                    self.redaction.key(&p.second),
                    p.why
                )?,
            }
        }
        Ok(())
    }
}

/// Explains what `args` asks.
pub fn report(args: &Args) -> Result<Report, InputError> {
    let edge = Edge::load(args)?;
    let answer = match (args.status, args.response_headers.is_empty()) {
        (None, true) => None,
        (status, _) => Some(OriginAnswer {
            status: StatusCode::from_u16(status.unwrap_or(200))
                .map_err(|_| InputError(format!("{status:?} is not a status")))?,
            headers: headers(&args.response_headers)?,
            now_ms: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
        }),
    };
    let first = explain_url(&edge, args, &args.url, answer.as_ref())?;
    let second = match &args.vs {
        Some(url) => Some(explain_url(&edge, args, url, answer.as_ref())?),
        None => None,
    };
    let comparison = second.as_ref().map(|s| compare(&first, s));
    Ok(Report {
        redaction: Redaction::new(&edge.distribution, None),
        first,
        second,
        comparison,
    })
}

/// The CLI's output for `args`: text, or JSON with `--json`.
pub fn run(args: &Args) -> Result<String, InputError> {
    let report = report(args)?;
    Ok(if args.json {
        format!("{:#}\n", report.to_json())
    } else {
        report.to_string()
    })
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
