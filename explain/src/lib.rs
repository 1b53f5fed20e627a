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
use edge_policy::RuleSet;
use http::header::HeaderValue;
use http::{Method, StatusCode};
use local_edge::explain::{explain, EdgeExplanation, OriginAnswer, Redaction, Setting};
use local_edge::message::EdgeRequest;
use local_edge::{Distribution, DISTRIBUTION_DOMAIN};
use serde::Serialize;
use serde_json::json;

/// The deployed behaviour table, embedded at build time (`--behaviours` reads another).
const DEPLOYED_BEHAVIOURS: &str = include_str!("../../deploy/behaviours.toml");

mod compare;
mod input;

pub use compare::{compare, Comparison, Parting};
use input::headers;
pub use input::{parse_header, parse_target, Args, InputError, Target, BAD_INPUT};

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
