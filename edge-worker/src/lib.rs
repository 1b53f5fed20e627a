//! The Lambda@Edge handler's Wasm core.
//!
//! The boundary carries only strings, and as few as it can: a JSON round trip of the whole
//! event costs more than the normalization itself (shared/TOOLCHAIN.md), and every string
//! crossing costs an allocation and an encode. So `wasm-pkg/index.js` sends one string per
//! call holding the few fields the policy reads, then applies the edits this crate answers
//! with. All policy lives in `edge-policy`; this crate only decodes and encodes.
//!
//! # The protocol
//!
//! Every field, both ways, is **length-prefixed**: `length ":" text`, `length` being the
//! text's length in UTF-16 code units (JavaScript's `String.length`), in decimal. Any text
//! crosses, NULs included: how the glue passes a request never changes what it means
//! (cache-key.md, "Limits and bad input"). In the input, `length "!" text` marks a text that
//! was not well-formed UTF-16 (a lone surrogate, which crosses as U+FFFD, or not a string at
//! all): it did not cross intact, so the core treats it as unreadable — a header value as
//! [`edge_policy::headers::UNREADABLE_VALUE`] (deleted at viewer-request, `no-store` in a
//! `Cache-Control`), a `uri` or `querystring` by keeping the URL as received.
//!
//! **Input.** viewer-request: `method uri querystring`, then `count` headers as `name value`
//! fields, one per value: the headers the policy reads ([`viewer_request_reads`]) and every
//! header with a value that holds a NUL or is not well-formed (sent as `0!`), which
//! viewer-request deletes. origin-response: `method uri status`, `request_count` request
//! headers ([`origin_response_request_reads`]), then `count` response headers
//! ([`origin_response_reads`]), and the clock (`Date.now()`) beside them, since Wasm has none.
//! A negative count: the event had no `headers` map.
//!
//! **Answer.** `"=" log`: leave the input as it is. Or `"~" log` then, for a request,
//! `"K"` (keep the URL) or `"U" uri querystring`, then edits; for a response, edits only.
//! `log` is a field: empty, or one JSON line for the log. An edit is `"-" name` (delete the
//! header) or `"+" name key value` (replace it with one value).
//!
//! **Crossing.** The deployed glue crosses through [`raw`]: it writes the input as UTF-8
//! into the module's memory and reads the answer from it, and `"=0:"` comes back as the
//! length 0 without a string being built. The string entry points below
//! ([`viewer_request`], [`origin_response`]) carry the same strings as Rust `&str`, for the
//! boundary tests and the fuzz targets; feature `bindgen` (off by default and in the
//! deployed modules: see `Cargo.toml`) also exports them through wasm-bindgen, for
//! `wasm-pack test`.
//!
//! A header *name* that is not well-formed UTF-16 cannot be named back intact; CloudFront
//! only sends header names that are HTTP tokens.
#![warn(missing_docs)]

pub mod arena;
#[cfg(feature = "glue")]
pub mod glue;
pub mod raw;
mod wire;

use edge_policy::{origin_response as policy_origin_response, viewer_request as policy_viewer_request};
use edge_policy::{
    viewer_request_reads as policy_viewer_request_reads, ORIGIN_RESPONSE_READS, ORIGIN_RESPONSE_REQUEST_READS,
};
use edge_policy::{HeaderField, Passthrough, RequestView, ResponseView, RuleSet, ViewerOutcome};
#[cfg(feature = "bindgen")]
use wasm_bindgen::prelude::wasm_bindgen;
use wire::{push_edits, push_field, Reader, WireError};

/// The Wasm build's allocator: [`arena::Arena`] over the system one (dlmalloc). A raw call's
/// allocations ([`raw`]) bump up from the start of a 128 KiB zeroed region (no bytes in the
/// `.wasm`) and are forgotten at the next call; the few lasting ones (the glue's buffers, the
/// embedded rules) come down from its end; what does not fit spills to dlmalloc. One thread
/// only: without the `atomics` feature `wasm32` has no others. `--cfg edge_arena` installs it
/// natively, for the single-threaded native benchmark only (`make bench`).
#[cfg(any(all(target_arch = "wasm32", not(target_feature = "atomics")), edge_arena))]
#[global_allocator]
static ALLOCATOR: arena::Arena<{ 128 * 1024 }> = arena::Arena::new();

/// The log line of an input left (at least partly) as it came. Out of line and cold: the
/// formatting machinery is compiled (lazily, by V8) only when something is logged.
#[cold]
#[inline(never)]
fn log_line(trigger: &str, reason: &str) -> String {
    format!("{{\"level\":\"warn\",\"msg\":\"edge handler left the input unchanged\",\"trigger\":\"{trigger}\",\"reason\":\"{reason}\"}}")
}

/// `"=" log`; `None` for the commonest answer, `"=0:"` (unchanged, nothing to log), which
/// the raw boundary ([`raw`]) answers without building a string.
fn unchanged(log: Option<String>) -> Option<String> {
    let log = log?;
    let mut out = String::from("=");
    push_field(&mut out, &log);
    Some(out)
}

/// The answer `"=0:"`, spelled out for the string entry points.
const UNCHANGED_QUIET: &str = "=0:";

/// The request headers the viewer-request policy reads, comma-separated: the glue sends
/// these, and every header holding a NUL or an unreadable value.
#[cfg_attr(feature = "bindgen", wasm_bindgen)]
pub fn viewer_request_reads() -> String {
    policy_viewer_request_reads().collect::<Vec<_>>().join(",")
}

/// The response headers the origin-response policy reads, comma-separated.
#[cfg_attr(feature = "bindgen", wasm_bindgen)]
pub fn origin_response_reads() -> String {
    ORIGIN_RESPONSE_READS.join(",")
}

/// The request headers the origin-response policy reads, comma-separated.
#[cfg_attr(feature = "bindgen", wasm_bindgen)]
pub fn origin_response_request_reads() -> String {
    ORIGIN_RESPONSE_REQUEST_READS.join(",")
}

/// The viewer-request trigger: the request's canonical form as an answer string.
#[cfg_attr(feature = "bindgen", wasm_bindgen)]
pub fn viewer_request(input: &str, count: i32) -> String {
    viewer_request_answer(input, count).unwrap_or_else(|| UNCHANGED_QUIET.to_owned())
}

/// [`viewer_request`]'s answer; `None` for `"=0:"`.
fn viewer_request_answer(input: &str, count: i32) -> Option<String> {
    const TRIGGER: &str = "viewer-request";
    let mut reader = Reader::new(input);
    let decoded = (|| {
        let (method, uri, querystring) = (reader.field()?, reader.field()?, reader.field()?);
        let headers = reader.headers(count)?;
        Ok::<_, WireError>((method, uri, querystring, headers))
    })()
    .and_then(|decoded| reader.finish().map(|()| decoded));
    let (method, uri, querystring, headers) = match decoded {
        Ok((m, u, q, Some(headers))) => (m, u, q, headers),
        Ok((_, _, _, None)) => return unchanged(Some(log_line(TRIGGER, WireError::NoHeaders.label()))),
        Err(e) => return unchanged(Some(log_line(TRIGGER, e.label()))),
    };
    let view = RequestView {
        method: method.text,
        uri: uri.text,
        querystring: querystring.text,
        headers: &headers,
    };
    let rewrite = match policy_viewer_request(RuleSet::embedded(), &view) {
        ViewerOutcome::Passthrough(Passthrough::MethodNotNormalized) => return unchanged(None),
        ViewerOutcome::Passthrough(p) => return unchanged(Some(log_line(TRIGGER, p.label()))),
        ViewerOutcome::Rewrite(rewrite) => rewrite,
    };
    // A URL that did not cross intact is kept as it came; its route (read from what did
    // cross) still decides the header rules.
    let intact = uri.intact && querystring.intact;
    let reason = if !uri.text.starts_with('/') {
        Some("uri-not-absolute")
    } else if !intact {
        Some("url-unreadable")
    } else {
        None
    };
    let log = reason.map(|reason| log_line(TRIGGER, reason));
    let keep_url = rewrite.url_kept || !intact || (rewrite.uri == uri.text && rewrite.querystring == querystring.text);
    if keep_url && rewrite.headers.is_empty() {
        return unchanged(log);
    }
    let mut out = String::with_capacity(rewrite.uri.len() + rewrite.querystring.len() + 64);
    out.push('~');
    push_field(&mut out, log.as_deref().unwrap_or(""));
    if keep_url {
        out.push('K');
    } else {
        out.push('U');
        push_field(&mut out, &rewrite.uri);
        push_field(&mut out, &rewrite.querystring);
    }
    push_edits(&mut out, &rewrite.headers);
    Some(out)
}

/// The origin-response trigger at `now_ms` (the glue's `Date.now()`): the one
/// `Cache-Control` (and `Set-Cookie` removal) as an answer string.
#[cfg_attr(feature = "bindgen", wasm_bindgen)]
pub fn origin_response(input: &str, request_count: i32, count: i32, now_ms: f64) -> String {
    origin_response_answer(input, request_count, count, now_ms).unwrap_or_else(|| UNCHANGED_QUIET.to_owned())
}

/// [`origin_response`]'s answer; `None` for `"=0:"` (which it never answers today).
fn origin_response_answer(input: &str, request_count: i32, count: i32, now_ms: f64) -> Option<String> {
    let mut reader = Reader::new(input);
    // A request without headers reads as one without `Authorization`, and a response
    // without headers as one without directives: the decision still runs, so exactly one
    // Cache-Control always leaves.
    let decoded = (|| {
        let (method, uri, status) = (reader.field()?, reader.field()?, reader.field()?);
        let request_headers = reader.headers(request_count)?.unwrap_or_default();
        let headers = reader.headers(count)?.unwrap_or_default();
        Ok::<_, WireError>((method, uri, status, request_headers, headers))
    })()
    .and_then(|decoded| reader.finish().map(|()| decoded));
    let (method, uri, status, request_headers, headers): (_, _, _, Vec<HeaderField<'_>>, Vec<HeaderField<'_>>) =
        match decoded {
            Ok(decoded) => decoded,
            Err(e) => return unchanged(Some(log_line("origin-response", e.label()))),
        };
    let view = ResponseView {
        status: status.text,
        request_method: method.text,
        request_uri: uri.text,
        request_headers: &request_headers,
        headers: &headers,
        // `as` saturates: NaN and negative clocks read 0.
        now_ms: now_ms as u64,
    };
    let rewrite = policy_origin_response(RuleSet::embedded(), &view);
    let mut out = String::with_capacity(rewrite.cache_control.len() + 64);
    out.push('~');
    push_field(&mut out, "");
    push_edits(&mut out, &rewrite.headers);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The glue's encoding, for tests: every field intact.
    fn fields(texts: &[&str]) -> String {
        let mut out = String::new();
        for text in texts {
            push_field(&mut out, text);
        }
        out
    }

    #[test]
    fn viewer_request_answers_edits() {
        let input = fields(&[
            "GET",
            "//a",
            "b=1&a=2&utm_source=x",
            "x-forwarded-host",
            "evil",
            "accept-encoding",
            "gzip, br",
        ]);
        assert_eq!(
            viewer_request(&input, 2),
            "~0:U2:/a7:a=2&b=1-16:x-forwarded-host+15:accept-encoding15:Accept-Encoding7:br,gzip"
        );
    }

    #[test]
    fn a_canonical_request_answers_unchanged() {
        let input = fields(&["GET", "/api/products/1", "page=2", "accept-encoding", "br,gzip"]);
        assert_eq!(viewer_request(&input, 1), "=0:");
    }

    #[test]
    fn a_nul_crosses_as_a_byte_and_the_other_rules_still_run() {
        let input = fields(&[
            "GET",
            "/a\0b",
            "q=\0&utm_source=x",
            "accept-encoding",
            "gzip\0",
            "x-forwarded-host",
            "evil",
        ]);
        assert_eq!(
            viewer_request(&input, 2),
            "~0:U6:/a%00b5:q=%00-15:accept-encoding-16:x-forwarded-host"
        );
    }

    #[test]
    fn an_unreadable_url_is_kept_and_the_header_rules_still_apply() {
        let input = format!(
            "3:GET7!/api/x\u{fffd}0:{}",
            fields(&["cookie", "session=1", "x-forwarded-host", "evil"])
        );
        let out = viewer_request(&input, 2);
        assert!(out.starts_with("~"), "{out}");
        assert!(out.contains("\"reason\":\"url-unreadable\""), "{out}");
        assert!(out.ends_with("K-16:x-forwarded-host-6:cookie"), "{out}");
        // An unreadable header value is deleted.
        let input = format!("{}6:cookie1!\u{fffd}", fields(&["GET", "/p", ""]));
        assert_eq!(viewer_request(&input, 1), "~0:K-6:cookie");
    }

    #[test]
    fn passthroughs_log_only_when_unusual() {
        assert_eq!(
            viewer_request(&fields(&["POST", "/a", "", "x-forwarded-host", "e"]), 1),
            "=0:"
        );
        let not_absolute = viewer_request(&fields(&["GET", "a", "", "x-forwarded-host", "e"]), 1);
        assert!(
            not_absolute.contains("\"reason\":\"uri-not-absolute\""),
            "{not_absolute}"
        );
        assert!(not_absolute.ends_with("K-16:x-forwarded-host"), "{not_absolute}");
        assert!(viewer_request(&fields(&["GET", "/a", ""]), -1).contains("no-headers"));
        for (input, count) in [("3:GET", 0), ("", 0), ("3:GET2:/a0:1:x", 1), ("3:GET2:/a0:x", 0)] {
            let out = viewer_request(input, count);
            assert!(
                out.starts_with('=') && out.contains("malformed-input"),
                "{input:?}: {out}"
            );
        }
    }

    #[test]
    fn origin_response_answers_one_cache_control() {
        let input = fields(&[
            "GET",
            "/static/a.js",
            "200",
            "set-cookie",
            "a=1",
            "cache-control",
            "max-age=5",
        ]);
        assert_eq!(
            origin_response(&input, 0, 2, 0.0),
            "~0:+13:cache-control13:Cache-Control47:public, immutable, max-age=5, s-maxage=31536000-10:set-cookie"
        );
        let none = origin_response(&fields(&["GET", "/x", "500"]), -1, -1, 0.0);
        assert_eq!(none, "~0:+13:cache-control13:Cache-Control8:no-store");
        // An unreadable Cache-Control reads no-store.
        let unreadable = format!("{}13:cache-control2!x\u{fffd}", fields(&["GET", "/x", "200"]));
        assert_eq!(
            origin_response(&unreadable, 0, 1, 0.0),
            "~0:+13:cache-control13:Cache-Control8:no-store"
        );
    }

    #[test]
    fn origin_response_reads_expires_against_the_clock_sent() {
        let input = fields(&["GET", "/x", "200", "expires", "Sun, 29 Nov 2026 12:01:40 GMT"]);
        let out = origin_response(&input, 0, 1, 1_795_953_600_000.0);
        assert!(out.contains("max-age=100,"), "{out}");
        // No usable clock: an Expires without Date cannot be aged, so it reads 0.
        for clock in [f64::NAN, -1.0, 0.0] {
            assert!(origin_response(&input, 0, 1, clock).contains("max-age=0,"), "{clock}");
        }
    }

    #[test]
    fn reads_lists_name_the_policy_inputs() {
        assert!(viewer_request_reads().split(',').any(|h| h == "x-forwarded-host"));
        assert!(viewer_request_reads().split(',').any(|h| h == "x-viewer-authorization"));
        assert_eq!(
            origin_response_reads(),
            "cache-control,set-cookie,vary,expires,date,surrogate-key,cdn-cache-control,cloudflare-cdn-cache-control"
        );
        assert_eq!(origin_response_request_reads(), "authorization,x-viewer-authorization");
    }
}
