//! What the edge does with one request, explained, natively: the behaviour CloudFront picks
//! from the raw viewer path; the policy's own explanation (`edge_policy::explain`: the route
//! it matches on the normalized path, each step, the header edits, the bypass, the canonical
//! key); a note when the behaviour and the route tell different stories; the CloudFront
//! cache key as the behaviour's cache policy makes it ([`crate::cache_key`], on the request
//! viewer-request leaves); the origin's L1/L2 key (the canonical key of what CloudFront
//! forwards, [`crate::forward`]); and for a response, the origin-response decision and how
//! long the edge keeps the answer ([`crate::cache::storing`]).
//!
//! The live page (`/__edge/`) and the `explain` CLI both show this, in the same words
//! ([`EdgeExplanation`]'s `Display`) and as JSON (its `Serialize`). Neither shows a
//! credential or a secret: [`Redaction`] takes them out first.

mod redact;

use std::fmt;

use edge_policy::cache_control::CacheControl;
use edge_policy::explain::{explain_origin_response, explain_viewer_request, RequestExplanation, ResponseExplanation};
use edge_policy::{canonical_request, header_fields, HeaderField, RequestView, ResponseView, RuleSet};
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;

pub use self::redact::{Redaction, REDACTED};
use crate::cache::{storing, NotStored, Storing};
use crate::cache_key::{cache_key, EdgeKey};
use crate::distribution::{Behaviour, Distribution};
use crate::forward::{origin_request, EdgeIdentity};
use crate::message::{first, values, EdgeRequest};
use crate::triggers::apply_viewer_request;
use edge_policy::cloudfront::Trigger;

/// The edge an explanation is for.
#[derive(Debug, Clone, Copy)]
pub struct Setting<'a> {
    /// The behaviour table.
    pub distribution: &'a Distribution,
    /// The route rules viewer-request runs.
    pub rules: &'a RuleSet,
    /// The distribution's domain: CloudFront's cache key starts from it (cache-key.md, "The
    /// canonical key"), never from the viewer's `Host`.
    pub domain: &'a str,
    /// The origin's (function URL's) domain: the `Host` the origin keys its L1 and L2 with.
    pub origin_domain: &'a str,
}

/// A response to explain: the status and headers the origin answers with.
#[derive(Debug, Clone)]
pub struct OriginAnswer {
    /// The status.
    pub status: StatusCode,
    /// The headers (lower-case names).
    pub headers: HeaderMap,
    /// The clock `Expires` is read against, ms since the epoch.
    pub now_ms: u64,
}

/// The behaviour CloudFront picks, by the raw viewer path.
#[derive(Debug, Clone, Serialize)]
pub struct BehaviourNote {
    /// Its `PathPattern` (`*`: the default behaviour).
    pub path_pattern: String,
    /// Its place in the table, from 1.
    pub position: usize,
    /// The raw path it was picked by.
    pub raw_path: String,
    /// The cache policy's name.
    pub cache_policy: String,
    /// Whether it looks up and stores answers to this method.
    pub caches: bool,
    /// Whether viewer-request runs on it.
    pub runs_viewer_request: bool,
}

/// CloudFront's cache key, as one line and by component.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeKeyNote {
    /// The key as one line.
    pub text: String,
    /// Its components (serialized beside `text`).
    #[serde(flatten)]
    pub key: EdgeKey,
}

impl EdgeKeyNote {
    fn new(key: EdgeKey) -> Self {
        let mut text = String::new();
        if key.head {
            text.push_str("HEAD ");
        }
        text.push_str(&key.host);
        text.push_str(&key.path);
        if !key.query.is_empty() {
            text.push('?');
            text.push_str(&key.query);
        }
        for (name, value) in &key.headers {
            text.push_str(&format!("|{name}={value}"));
        }
        if !key.cookies.is_empty() {
            text.push_str(&format!("|cookie={}", key.cookies.join("; ")));
        }
        if let Some(encoding) = key.accept_encoding {
            text.push_str(&format!("|accept-encoding={encoding}"));
        }
        EdgeKeyNote { text, key }
    }
}

/// What CloudFront's cache does with the request.
#[derive(Debug, Clone, Serialize)]
pub struct CloudFrontNote {
    /// The key, when the behaviour caches the method.
    pub key: Option<EdgeKeyNote>,
    /// Why there is none.
    pub not_cached: Option<&'static str>,
}

/// What the origin's caches do with the request.
#[derive(Debug, Clone, Serialize)]
pub struct OriginNote {
    /// The L1/L2 key, when the origin's caches may answer.
    pub key: Option<String>,
    /// Why they may not.
    pub not_cached: Option<&'static str>,
}

/// How long the edge keeps an answer.
#[derive(Debug, Clone, Serialize)]
pub struct StoringNote {
    /// Whether it is stored.
    pub stored: bool,
    /// Fresh for, seconds.
    pub fresh: u64,
    /// Then served while revalidating, seconds.
    pub stale_while_revalidate: u64,
    /// Then served on an origin error, seconds.
    pub stale_if_error: u64,
    /// Kept under the error-caching settings.
    pub error: bool,
    /// Why it is not stored.
    pub not_stored: Option<&'static str>,
}

/// A response's fate.
#[derive(Debug, Clone, Serialize)]
pub struct ResponseNote {
    /// The origin's status.
    pub status: u16,
    /// What origin-response writes, and why (`None`: the behaviour runs no origin-response).
    pub policy: Option<ResponseExplanation>,
    /// What the edge does with the answer.
    pub edge: StoringNote,
}

/// What the edge does with one request, step by step.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeExplanation {
    /// The method.
    pub method: String,
    /// The path and query as received.
    pub received: String,
    /// The behaviour CloudFront picks by the raw path.
    pub behaviour: BehaviourNote,
    /// The policy's explanation of viewer-request: route, steps, headers, bypass, canonical
    /// key (from the distribution's domain). `None` when the behaviour runs no
    /// viewer-request.
    pub policy: Option<RequestExplanation>,
    /// Where the behaviour and the route tell different stories.
    pub notes: Vec<String>,
    /// CloudFront's cache key.
    pub cloudfront: CloudFrontNote,
    /// The origin's L1/L2 key.
    pub origin: OriginNote,
    /// The response decision, when a response was given.
    pub response: Option<ResponseNote>,
}

/// Explains `request` (as the viewer sends it) at the edge `setting` describes, and
/// `answer` when given.
pub fn explain(setting: Setting<'_>, request: &EdgeRequest, answer: Option<&OriginAnswer>) -> EdgeExplanation {
    let distribution = setting.distribution;
    let behaviour = distribution.behaviour_for(&request.uri);
    let position = distribution
        .behaviours
        .iter()
        .position(|b| std::sync::Arc::ptr_eq(b, behaviour))
        .map_or(distribution.behaviours.len(), |i| i + 1);
    let runs = behaviour.runs(Trigger::ViewerRequest);
    let policy = runs.then(|| {
        let fields = header_fields(&request.headers);
        explain_viewer_request(setting.rules, setting.domain, &view(request, &fields))
    });
    let after = if runs {
        apply_viewer_request(setting.rules, request.clone())
    } else {
        request.clone()
    };
    let cloudfront = cloudfront_key(setting, behaviour, &after);
    let identity = EdgeIdentity {
        distribution_domain: setting.domain.to_owned(),
        origin_domain: setting.origin_domain.to_owned(),
    };
    let forwarded = origin_request(behaviour, &after, &[], &identity);
    let origin = origin_key(setting, &forwarded);
    let response = answer.map(|a| response_note(setting, behaviour, &forwarded, a));
    EdgeExplanation {
        method: request.method.to_string(),
        received: match request.querystring.as_str() {
            "" => request.uri.clone(),
            query => format!("{}?{query}", request.uri),
        },
        notes: disagreement(behaviour, policy.as_ref(), &request.method)
            .into_iter()
            .chain(unkeyed_components(behaviour, policy.as_ref(), &cloudfront))
            .collect(),
        behaviour: BehaviourNote {
            path_pattern: behaviour.path_pattern.clone(),
            position,
            raw_path: request.uri.clone(),
            cache_policy: behaviour.cache_policy_name.clone(),
            caches: behaviour.caches(&request.method),
            runs_viewer_request: runs,
        },
        policy,
        cloudfront,
        origin,
        response,
    }
}

/// The policy's view of `request` over `fields` (its headers, [`header_fields`]).
pub fn view<'a>(request: &'a EdgeRequest, fields: &'a [HeaderField<'a>]) -> RequestView<'a> {
    RequestView {
        method: request.method.as_str(),
        uri: &request.uri,
        querystring: &request.querystring,
        headers: fields,
    }
}

/// The key CloudFront looks up, on the request viewer-request left, from the
/// distribution's domain.
fn cloudfront_key(setting: Setting<'_>, behaviour: &Behaviour, after: &EdgeRequest) -> CloudFrontNote {
    if !behaviour.caches(&after.method) {
        let why = if behaviour.cache_policy.caching {
            "the behaviour does not cache this method: every request goes to the origin"
        } else {
            "the behaviour's cache policy disables caching: every request goes to the origin"
        };
        return CloudFrontNote {
            key: None,
            not_cached: Some(why),
        };
    }
    let key = cache_key(&behaviour.cache_policy, after, setting.domain);
    CloudFrontNote {
        key: Some(EdgeKeyNote::new(key)),
        not_cached: None,
    }
}

/// The origin's key: the canonical key of what CloudFront forwards, from the `Host` it
/// forwards (the function URL's domain).
fn origin_key(setting: Setting<'_>, forwarded: &EdgeRequest) -> OriginNote {
    let fields = header_fields(&forwarded.headers);
    let host = first(&forwarded.headers, "host").unwrap_or(setting.origin_domain);
    match canonical_request(setting.rules, host, &view(forwarded, &fields)) {
        Ok(canonical) if canonical.bypass => OriginNote {
            key: None,
            not_cached: Some(
                "private (a bypass route or the viewer's credential): L1 and L2 are never read or written",
            ),
        },
        Ok(canonical) => OriginNote {
            key: Some(canonical.key.to_string()),
            not_cached: None,
        },
        Err(_) => OriginNote {
            key: None,
            not_cached: Some("the policy keys only GET and HEAD with a path starting with '/'"),
        },
    }
}

fn response_note(
    setting: Setting<'_>,
    behaviour: &Behaviour,
    forwarded: &EdgeRequest,
    answer: &OriginAnswer,
) -> ResponseNote {
    let status = answer.status.as_u16().to_string();
    let request_fields = header_fields(&forwarded.headers);
    let fields = header_fields(&answer.headers);
    let policy = behaviour.runs(Trigger::OriginResponse).then(|| {
        explain_origin_response(
            setting.rules,
            &ResponseView {
                status: &status,
                request_method: forwarded.method.as_str(),
                request_uri: &forwarded.uri,
                request_headers: &request_fields,
                headers: &fields,
                now_ms: answer.now_ms,
            },
        )
    });
    let cache_control = match &policy {
        Some(p) => CacheControl::parse([p.cache_control.as_str()]),
        None => CacheControl::parse(values(&answer.headers, "cache-control")),
    };
    let stored = if behaviour.caches(&forwarded.method) {
        storing(
            answer.status,
            &cache_control,
            &behaviour.cache_policy,
            &setting.distribution.error_caching,
        )
    } else {
        Storing::Skip(NotStored::CachingDisabled)
    };
    let edge = match stored {
        Storing::Store { lifetime, error } => StoringNote {
            stored: true,
            fresh: lifetime.ttl,
            stale_while_revalidate: lifetime.stale_while_revalidate,
            stale_if_error: lifetime.stale_if_error,
            error,
            not_stored: None,
        },
        Storing::Skip(why) => StoringNote {
            stored: false,
            fresh: 0,
            stale_while_revalidate: 0,
            stale_if_error: 0,
            error: false,
            not_stored: Some(match why {
                NotStored::CachingDisabled => "the behaviour does not cache it",
                NotStored::ForbidsSharing => "private or no-store (or a lifetime of 0) under a minimum TTL of 0",
                NotStored::ErrorCachingOff => "an error whose error-caching minimum TTL and directives come to 0",
                NotStored::StatusNotCached => "a status CloudFront does not cache",
            }),
        },
    };
    ResponseNote {
        status: answer.status.as_u16(),
        policy,
        edge,
    }
}

/// A sentence when the behaviour (by the raw path) and the route (by the normalized path)
/// disagree on whether the answer may be shared.
fn disagreement(behaviour: &Behaviour, policy: Option<&RequestExplanation>, method: &Method) -> Option<String> {
    use edge_policy::explain::BypassWhy;
    let policy = policy?;
    let route = policy.route.as_ref()?;
    let caches = behaviour.caches(method);
    match (&policy.bypass, caches) {
        (Some(BypassWhy::Route { .. }), true) => Some(format!(
            "behaviour {} caches (CloudFront picks it by the raw path), but route {} is private: \
             origin-response writes private, no-store (cache-control.md rule 0), so nothing is stored",
            behaviour.path_pattern, route.name
        )),
        (Some(BypassWhy::Credential { .. }), true) => Some(format!(
            "behaviour {} caches, but the request carries the viewer's credential: the answer is \
             shared only if the origin says public or s-maxage (cache-control.md rule 4)",
            behaviour.path_pattern
        )),
        (None, false) => Some(format!(
            "route {} is public, but behaviour {} never caches it (cache policy {}): every request \
             goes to the origin",
            route.name, behaviour.path_pattern, behaviour.cache_policy_name
        )),
        _ => None,
    }
}

/// A sentence for each component the policy keys (a kept cookie, a `key_headers` header)
/// that the behaviour's cache policy does not: CloudFront would share one entry across its
/// values.
fn unkeyed_components(
    behaviour: &Behaviour,
    policy: Option<&RequestExplanation>,
    cloudfront: &CloudFrontNote,
) -> Vec<String> {
    let (Some(key), Some(edge)) = (policy.and_then(|p| p.key.as_deref()), cloudfront.key.as_ref()) else {
        return Vec::new();
    };
    key.split('|')
        .skip(1)
        .filter_map(|component| component.split_once('=').map(|(name, _)| name))
        .filter(|name| match *name {
            "cookie" => edge.key.cookies.is_empty(),
            header => !edge.key.headers.iter().any(|(n, _)| n == header),
        })
        .map(|name| {
            format!(
                "the route keys {name}, but cache policy {} does not: CloudFront (and an origin it \
                 does not forward {name} to) would share one entry across its values",
                behaviour.cache_policy_name
            )
        })
        .collect()
}

impl fmt::Display for EdgeExplanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.behaviour;
        writeln!(
            f,
            "behaviour  {} (#{}, picked by CloudFront from the raw path {}): cache policy {}, {}",
            b.path_pattern,
            b.position,
            b.raw_path,
            b.cache_policy,
            if b.caches {
                format!("caches {}", self.method)
            } else {
                format!("does not cache {}", self.method)
            }
        )?;
        match &self.policy {
            Some(policy) => write!(f, "{policy}")?,
            None => writeln!(
                f,
                "policy     the behaviour runs no viewer-request: the request goes on as received"
            )?,
        }
        for note in &self.notes {
            writeln!(f, "note       {note}")?;
        }
        match (&self.cloudfront.key, self.cloudfront.not_cached) {
            (Some(key), _) => writeln!(f, "cloudfront cache key {}", key.text)?,
            (None, why) => writeln!(f, "cloudfront not cached: {}", why.unwrap_or(""))?,
        }
        match (&self.origin.key, self.origin.not_cached) {
            (Some(key), _) => writeln!(f, "origin     L1/L2 key {key}")?,
            (None, why) => writeln!(f, "origin     not cached: {}", why.unwrap_or(""))?,
        }
        if let Some(response) = &self.response {
            writeln!(f, "response   {} from the origin", response.status)?;
            if let Some(policy) = &response.policy {
                write!(f, "{policy}")?;
            }
            let e = &response.edge;
            match e.not_stored {
                None => writeln!(
                    f,
                    "cloudfront stores it{}: fresh {} s, then stale-while-revalidate {} s, stale-if-error {} s",
                    if e.error { " as an error" } else { "" },
                    e.fresh,
                    e.stale_while_revalidate,
                    e.stale_if_error
                )?,
                Some(why) => writeln!(f, "cloudfront does not store it: {why}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distribution::fixtures::deployed;
    use crate::message::fixtures::get;

    fn explained(uri: &str, query: &str, headers: &[(&'static str, &'static str)]) -> EdgeExplanation {
        let d = deployed();
        let setting = Setting {
            distribution: &d,
            rules: RuleSet::embedded(),
            domain: "d111111abcdef8.cloudfront.net",
            origin_domain: "fn.lambda-url.us-east-1.on.aws",
        };
        explain(setting, &get(uri, query, headers), None)
    }

    #[test]
    fn a_product_with_a_tracking_parameter_has_one_key_at_each_layer() {
        let e = explained("/api/products/42", "utm_source=x&page=2", &[("host", "127.0.0.1:8080")]);
        assert_eq!(e.behaviour.path_pattern, "/api/products/*");
        assert_eq!(
            e.cloudfront.key.as_ref().unwrap().text,
            "d111111abcdef8.cloudfront.net/api/products/42?page=2"
        );
        assert_eq!(
            e.origin.key.as_deref(),
            Some("fn.lambda-url.us-east-1.on.aws/api/products/42?page=2")
        );
        let text = e.to_string();
        assert!(text.contains("tracking parameter utm_source"), "{text}");
        assert!(e.notes.is_empty());
    }

    #[test]
    fn the_default_behaviour_and_the_bypass_route_differ_and_say_so() {
        let e = explained("/API/Users/7", "", &[("cookie", "session=abc")]);
        assert_eq!(e.behaviour.path_pattern, "*");
        assert_eq!(e.policy.as_ref().unwrap().route.as_ref().unwrap().name, "private");
        assert!(e.notes[0].contains("route private is private"));
        assert!(e.origin.key.is_none());
    }

    #[test]
    fn a_private_behaviour_has_no_cloudfront_key() {
        let e = explained("/api/me", "", &[("authorization", "Bearer user-7")]);
        assert!(e.cloudfront.key.is_none());
        assert!(e.notes.is_empty(), "{:?}", e.notes);
    }

    #[test]
    fn accept_encoding_is_a_key_component() {
        let e = explained("/static/app.js", "v=1", &[("accept-encoding", "gzip, br")]);
        assert_eq!(
            e.cloudfront.key.unwrap().text,
            "d111111abcdef8.cloudfront.net/static/app.js|accept-encoding=br,gzip"
        );
    }

    #[test]
    fn a_404_is_kept_for_its_short_negative_lifetime() {
        let d = deployed();
        let setting = Setting {
            distribution: &d,
            rules: RuleSet::embedded(),
            domain: "d1.cloudfront.net",
            origin_domain: "fn.example",
        };
        let answer = OriginAnswer {
            status: StatusCode::NOT_FOUND,
            headers: HeaderMap::new(),
            now_ms: 0,
        };
        let e = explain(setting, &get("/nope", "", &[]), Some(&answer));
        let r = e.response.as_ref().unwrap();
        assert_eq!(r.policy.as_ref().unwrap().rule, Some(6));
        assert!(r.edge.stored && r.edge.fresh == 10 && r.edge.error, "{:?}", r.edge);
        assert!(e.to_string().contains("cloudfront stores it as an error: fresh 10 s"));
    }
}
