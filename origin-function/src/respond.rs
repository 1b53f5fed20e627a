//! Building the HTTP answer, in one place for every path: `Cache-Control` (decided once,
//! aged for stored answers), `Cache-Status` (rendered from the typed value the metrics count),
//! `ETag` and `304`, `Date`, and `HEAD` without a body. No answer carries `Age`
//! (origin-cache.md, "What it says about itself"): a stored answer says how much freshness it
//! has left in its lowered `max-age`/`s-maxage` instead, so an edge that reads `Age` (RFC 9111
//! §4.2.3: the Worker, downstream caches) never subtracts the age a second time, and the age
//! stays visible in `Cache-Status` (`ttl=`).

use std::time::{Duration, UNIX_EPOCH};

use edge_policy::validation::if_none_match_matches;
use lambda_http::http::header::{self, HeaderMap, HeaderName, HeaderValue};

use crate::cache_status::CacheStatus;
use crate::entry::{strong_etag, StoredEntry};
use crate::event::HttpResponse;
use crate::metrics::Metrics;
use crate::source::SourceResponse;

/// RFC 9211 §2: the field's name.
pub const CACHE_STATUS: HeaderName = HeaderName::from_static("cache-status");

/// What answers a request.
#[derive(Debug, Clone, Copy)]
pub enum Answer<'a> {
    /// A stored entry from a cache (L1, L2, a copy served on a failing source): sent with its
    /// remaining freshness (its directives lowered by its age), never an `Age` beside it.
    Stored(&'a StoredEntry),
    /// The entry this request's load just stored: the source's answer, as decided.
    Loaded(&'a StoredEntry),
    /// The source's answer, not stored, with its decided `Cache-Control` line.
    Source {
        /// The answer.
        response: &'a SourceResponse,
        /// The decided `Cache-Control`.
        cache_control: &'a str,
    },
}

/// What of the request shapes the answer.
#[derive(Debug, Clone, Copy, Default)]
pub struct Conditions<'a> {
    /// A `HEAD` request: no body.
    pub head: bool,
    /// The request's `If-None-Match`.
    pub if_none_match: Option<&'a str>,
}

fn value(text: impl Into<String>) -> HeaderValue {
    // Every value written here is ASCII the origin produced; anything else (a catalogue
    // content type with a control byte) becomes a harmless placeholder.
    HeaderValue::try_from(text.into()).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// RFC 9110 §6.6.1: "An origin server with a clock ... MUST generate a Date header field in
/// all 2xx (Successful), 3xx (Redirection), and 4xx (Client Error) responses, and MAY
/// generate a Date header field in 1xx and 5xx responses": always sent.
fn http_date(now_ms: u64) -> HeaderValue {
    value(httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_millis(now_ms)))
}

/// The response for `answer`, counted into `m` with `status`.
pub fn respond(
    answer: Answer<'_>,
    status: CacheStatus,
    when: Conditions<'_>,
    now_ms: u64,
    m: &mut Metrics,
) -> HttpResponse {
    let (code, content_type, body, etag, cache_control) = match answer {
        Answer::Stored(e) => (
            e.status,
            e.content_type.as_str(),
            e.body.as_str(),
            Some(e.etag.clone()),
            e.aged_cache_control(now_ms).to_header_value(),
        ),
        Answer::Loaded(e) => (
            e.status,
            e.content_type.as_str(),
            e.body.as_str(),
            Some(e.etag.clone()),
            e.cache_control.to_header_value(),
        ),
        Answer::Source {
            response,
            cache_control,
        } => (
            response.status,
            response.content_type.as_str(),
            response.body.as_str(),
            (response.status == 200).then(|| strong_etag(&response.body)),
            cache_control.to_owned(),
        ),
    };
    let not_modified =
        code == 200 && matches!((&etag, when.if_none_match), (Some(e), Some(inm)) if if_none_match_matches([inm], e));
    let mut headers = HeaderMap::with_capacity(8);
    headers.insert(header::CACHE_CONTROL, value(cache_control));
    headers.insert(CACHE_STATUS, value(status.to_string()));
    headers.insert(header::DATE, http_date(now_ms));
    if let Some(etag) = etag {
        headers.insert(header::ETAG, value(etag));
    }
    let (code, body) = if not_modified {
        (304, String::new())
    } else {
        headers.insert(header::CONTENT_TYPE, value(content_type));
        (code, if when.head { String::new() } else { body.to_owned() })
    };
    m.status = code;
    m.count(&status);
    HttpResponse {
        status: code,
        headers,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_imf_fixdate() {
        assert_eq!(http_date(1_729_152_929_000), "Thu, 17 Oct 2024 08:15:29 GMT");
    }
}
