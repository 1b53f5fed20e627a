//! The facts a `Cache-Control` decision reads from a response and the request it answers:
//! the origin's directives (with `Expires` read as `max-age`, RFC 9111 §5.3), `Set-Cookie`,
//! `Vary` and the viewer's credential. Reading only; [`super::decide`] decides.

use std::time::{SystemTime, UNIX_EPOCH};

use super::cdn::{CdnCacheControl, CLOUDFRONT_TARGETS};
use super::{CacheControl, DELTA_SECONDS_MAX};
use crate::headers::viewer_credential;
use crate::view::HeaderField;

/// What the decision reads from a response and the request it answers.
#[derive(Debug, Clone, Default)]
pub struct ResponseFacts<'a> {
    /// The status, `None` when it is not a number.
    pub status: Option<u16>,
    /// The origin's `Cache-Control`, every line read as one list, with a `max-age` from
    /// `Expires` when it sent none (and does not forbid sharing).
    pub cache_control: CacheControl,
    /// Whether the response carries `Set-Cookie`.
    pub has_set_cookie: bool,
    /// The `Vary` field lines.
    pub vary: Vec<&'a str>,
    /// Whether the request carried the viewer's credential
    /// ([`crate::headers::viewer_credential`]: never an AWS signature).
    pub request_had_authorization: bool,
    /// When the response is decided, ms since the Unix epoch (the clock a missing `Date`
    /// stands in for).
    pub now_ms: u64,
    /// What the targeted fields on the cache's target list say (RFC 9213).
    pub cdn: CdnCacheControl,
}

impl<'a> ResponseFacts<'a> {
    /// Reads the facts from a response's and its request's header fields (lower-case names,
    /// one entry per value), with CloudFront's target list (`CDN-Cache-Control`). `status`
    /// is `None` when it is not a number.
    pub fn read(
        status: Option<u16>,
        response_headers: &[HeaderField<'a>],
        request_headers: &[HeaderField<'_>],
        now_ms: u64,
    ) -> Self {
        Self::read_targeted(status, response_headers, request_headers, now_ms, CLOUDFRONT_TARGETS)
    }

    /// [`ResponseFacts::read`] with the cache's own target list of targeted fields (RFC 9213
    /// §2.2; lower-case names, most applicable first).
    // Out of line: a stage, not inlined into its trigger (crate docs, "Stages stay out of line").
    #[inline(never)]
    pub fn read_targeted(
        status: Option<u16>,
        response_headers: &[HeaderField<'a>],
        request_headers: &[HeaderField<'_>],
        now_ms: u64,
        targets: &[&str],
    ) -> Self {
        let values = |name: &'static str| {
            response_headers
                .iter()
                .filter(move |(n, _)| *n == name)
                .map(|(_, v)| *v)
        };
        let mut cache_control = CacheControl::parse(values("cache-control"));
        // `Expires` only matters to a cache that may store the response: under `private` or
        // `no-store` the browser reads the `Expires` left as it came, and the edge's output
        // stays the same when run on itself (a written `private, no-store` has no max-age).
        if cache_control.max_age.is_none() && !cache_control.forbids_sharing() {
            if let Some(expires) = values("expires").next() {
                cache_control.max_age = Some(expires_max_age(expires, values("date").next(), now_ms));
            }
        }
        ResponseFacts {
            status,
            cache_control,
            has_set_cookie: values("set-cookie").next().is_some(),
            vary: values("vary").collect(),
            request_had_authorization: viewer_credential(request_headers.iter().copied()).is_some(),
            now_ms,
            cdn: CdnCacheControl::read(targets, response_headers),
        }
    }
}

/// Seconds since the Unix epoch of an HTTP-date (RFC 9110 §5.6.7, all three formats).
pub(crate) fn http_date_secs(value: &str) -> Option<u64> {
    let at: SystemTime = httpdate::parse_http_date(value.trim_matches([' ', '\t'])).ok()?;
    Some(at.duration_since(UNIX_EPOCH).ok()?.as_secs())
}

/// The `max-age` an `Expires` stands for, when the origin sent no `max-age`
/// (cache-control.md, "Expires"; RFC 9111 §5.3 and §4.2.1: "If the Expires response header
/// field is present, use its value minus the value of the Date response header field (using
/// the time the message was received if it is not present ...)").
///
/// RFC 9111 §5.3: "A cache recipient MUST interpret invalid date formats, especially the
/// value "0", as representing a time in the past (i.e., "already expired")": `0`. An
/// invalid `Date` counts as absent (RFC 9110 §6.6.1: a recipient "MUST record the time it
/// was received"): the `now` passed in stands for it, and without a clock either (`now_ms`
/// 0) the lifetime cannot be known: `0`. The first `Expires` line counts, as for every
/// directive (§4.2.1).
fn expires_max_age(expires: &str, date: Option<&str>, now_ms: u64) -> u64 {
    let Some(expires) = http_date_secs(expires) else {
        return 0;
    };
    let clock = (now_ms > 0).then_some(now_ms / 1000);
    let Some(date) = date.and_then(http_date_secs).or(clock) else {
        return 0;
    };
    expires.saturating_sub(date).min(DELTA_SECONDS_MAX)
}
