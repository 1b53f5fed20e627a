//! `Cache-Control` from the origin, checked by the shared oracle (`edge_policy::oracle`):
//! parse → write → reparse gives the same line, and origin-response keeps every promise —
//! one valid line, idempotent, never shareable where the origin names `private`/`no-store`
//! outside a well-formed quoted string (or on a bypass route, a 5xx, a kept `Set-Cookie`, a
//! credential without `public`/`s-maxage`), a `304` as its `200`.
//!
//! Input: the first byte picks the request (route, status, method, credential, extra
//! headers); the rest, split on `\n`, is one `Cache-Control` field line each (a line that is
//! not UTF-8 is handed over as `UNREADABLE_VALUE`, as the boundaries do).
#![no_main]

use edge_policy::cache_control::CacheControl;
use edge_policy::headers::UNREADABLE_VALUE;
use edge_policy::oracle::{check_origin_response, OwnedResponse};
use edge_policy::RuleSet;
use libfuzzer_sys::fuzz_target;

const URIS: [&str; 8] = [
    "/api/products/1",
    "/api/me",
    "/static/app.js",
    "/api/config",
    "/",
    "/api/users%2F7",
    "/static/..%2Fapi/me",
    "/API/Users/7",
];
const STATUSES: [&str; 8] = ["200", "304", "502", "404", "302", "503", "204", "x"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, text)) = data.split_first() else {
        return;
    };
    let lines: Vec<&str> = text
        .split(|b| *b == b'\n')
        .map(|line| std::str::from_utf8(line).unwrap_or(UNREADABLE_VALUE))
        .collect();
    let once = CacheControl::parse(lines.iter().copied()).to_header_value();
    let twice = CacheControl::parse([once.as_str()]).to_header_value();
    assert_eq!(twice, once, "the writer's output reads back to itself");

    let pick = usize::from(pick);
    let mut headers: Vec<(String, String)> = lines
        .iter()
        .map(|l| ("cache-control".to_owned(), (*l).to_owned()))
        .collect();
    if pick & 0x40 != 0 {
        headers.push(("expires".into(), "Sun, 29 Nov 2026 12:10:00 GMT".into()));
    }
    if pick & 0x80 != 0 {
        headers.push(("set-cookie".into(), "id=1".into()));
    }
    let mut request_headers = vec![("host".to_owned(), "example.com".to_owned())];
    match (pick >> 3) & 3 {
        1 => request_headers.push(("authorization".into(), "Bearer user-7".into())),
        2 => request_headers.push(("x-viewer-authorization".into(), "Bearer user-7".into())),
        3 => request_headers.push((
            "authorization".into(),
            "AWS4-HMAC-SHA256 Credential=x, Signature=y".into(),
        )),
        _ => {}
    }
    let response = OwnedResponse {
        status: STATUSES[pick % 8].to_owned(),
        request_method: if pick & 0x20 != 0 { "HEAD" } else { "GET" }.to_owned(),
        request_uri: URIS[(pick / 3) % 8].to_owned(),
        request_headers,
        headers,
        now_ms: 1_795_953_600_000,
    };
    if let Err(breach) = check_origin_response(RuleSet::embedded(), &response) {
        panic!("{breach}");
    }
});
