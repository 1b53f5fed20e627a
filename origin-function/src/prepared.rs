//! A request after normalization ([`Prepared`]), what both the routing and the read path
//! read: its header fields, the canonical request and key from the policy library (never a
//! key from a header), the viewer's credential, what the demo source reads, and what shapes
//! the answer.

use edge_policy::headers::viewer_credential;
use edge_policy::http_views::request_view;
use edge_policy::{canonical_request, header_fields, CanonicalRequest, HeaderField, Passthrough, RuleSet};
use lambda_http::http::Method;

use crate::event::HttpRequest;
use crate::respond::Conditions;
use crate::source::SourceRequest;

/// A request after normalization, for one invocation.
pub struct Prepared<'a> {
    /// The canonical request and its key.
    pub canonical: CanonicalRequest<'static>,
    /// The request's header fields (lower-case names, one per value).
    pub fields: Vec<HeaderField<'a>>,
    /// The `X-Forwarded-Host` the request still carries: an input outside the key.
    pub forwarded_host: Option<&'a str>,
    /// The host the demo source builds links from.
    pub link_host: &'a str,
    /// The viewer's credential (`edge_policy::headers::viewer_credential`).
    pub credential: Option<&'a str>,
    /// What shapes the answer (`HEAD`, `If-None-Match`).
    pub when: Conditions<'a>,
}

impl<'a> Prepared<'a> {
    /// Normalizes `request` with `rules`; a request the policy does not key (a method other
    /// than `GET`/`HEAD`, a URI that is not absolute) is the policy's [`Passthrough`].
    pub fn read(rules: &'static RuleSet, request: &'a HttpRequest) -> Result<Self, Passthrough> {
        let fields = header_fields(&request.parts.headers);
        let first = |name: &str| fields.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        let host = first("host").unwrap_or(&request.domain_name);
        let canonical = canonical_request(rules, host, &request_view(&request.parts, &fields))?;
        // The demo source builds links from `X-Forwarded-Host` when present, as many
        // frameworks do (reference-rules.md): that is what makes a poisoning attempt visible
        // when an edge fails to strip it.
        let forwarded_host = first("x-forwarded-host");
        Ok(Prepared {
            forwarded_host,
            link_host: forwarded_host.unwrap_or(host),
            credential: viewer_credential(fields.iter().copied()),
            when: Conditions {
                head: request.parts.method == Method::HEAD,
                if_none_match: first("if-none-match"),
            },
            canonical,
            fields,
        })
    }

    /// The request as the source sees it (the canonical path and query).
    pub fn source_request(&self) -> SourceRequest<'_> {
        SourceRequest {
            path: &self.canonical.uri,
            query: &self.canonical.querystring,
            link_host: self.link_host,
            authorization: self.credential,
        }
    }
}
