//! Where two requests part: the first step, in the order a request goes through them,
//! at which two explanations stop sharing CloudFront's cache entry.

use local_edge::cache_key::EdgeKey;
use local_edge::explain::EdgeExplanation;
use serde::Serialize;

use crate::Explained;

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
    let (ka, kb) = (&ka.key, &kb.key);
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
fn query_parting(ka: &EdgeKey, kb: &EdgeKey) -> Parting {
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
