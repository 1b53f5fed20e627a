//! `CDN-Cache-Control` (RFC 9213, a Structured Fields Dictionary) from the origin, checked by
//! the shared oracle (`edge_policy::oracle`): origin-response keeps every promise with the
//! field present — it never makes an answer shareable that is not without it, and one that
//! names `private`/`no-store` outside a string (parsable or not) is never shared — and the
//! Worker's target list reads it without panicking.
//!
//! Input: the first byte picks the request (route, status, credential) and the
//! `Cache-Control` line; the rest, split on `\n`, is one `CDN-Cache-Control` field line each
//! (a line that is not UTF-8 is handed over as `UNREADABLE_VALUE`, as the boundaries do).
#![no_main]

use edge_policy::cache_control::{decide_response_targeted, CdnCacheControl, WORKER_TARGETS};
use edge_policy::headers::UNREADABLE_VALUE;
use edge_policy::oracle::{check_origin_response, OwnedResponse};
use edge_policy::RuleSet;
use libfuzzer_sys::fuzz_target;

const URIS: [&str; 4] = ["/api/products/1", "/api/me", "/", "/api/config"];
const STATUSES: [&str; 4] = ["200", "304", "404", "503"];
const CACHE_CONTROL: [&str; 4] = ["", "max-age=0", "private, max-age=60", "no-cache, s-maxage=7"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let lines: Vec<&str> = text
        .split(|b| *b == b'\n')
        .map(|line| std::str::from_utf8(line).unwrap_or(UNREADABLE_VALUE))
        .collect();
    let pick = usize::from(pick);
    let mut headers: Vec<(String, String)> = lines
        .iter()
        .map(|l| ("cdn-cache-control".to_owned(), (*l).to_owned()))
        .collect();
    let cache_control = CACHE_CONTROL[(pick >> 4) & 3];
    if !cache_control.is_empty() {
        headers.push(("cache-control".into(), cache_control.into()));
    }
    let mut request_headers = vec![("host".to_owned(), "example.com".to_owned())];
    if pick & 0x40 != 0 {
        request_headers.push(("authorization".into(), "Bearer user-7".into()));
    }
    let response = OwnedResponse {
        status: STATUSES[pick & 3].to_owned(),
        request_method: "GET".to_owned(),
        request_uri: URIS[(pick >> 2) & 3].to_owned(),
        request_headers,
        headers,
        now_ms: 1_795_953_600_000,
    };
    if let Err(breach) = check_origin_response(RuleSet::embedded(), &response) {
        panic!("{breach}");
    }
    // The Worker's list: Cloudflare's own field first.
    let fields: Vec<(&str, &str)> = lines.iter().map(|l| ("cloudflare-cdn-cache-control", *l)).collect();
    let _ = CdnCacheControl::read(WORKER_TARGETS, &fields);
    let route = RuleSet::embedded().route_for(&response.request_uri);
    let _ = decide_response_targeted(Some(route), Some(200), &fields, &[], 0, WORKER_TARGETS);
});
