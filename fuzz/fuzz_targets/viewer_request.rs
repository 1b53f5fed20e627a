//! viewer-request over arbitrary bytes, checked by the shared oracle (`edge_policy::oracle`):
//! CloudFront-valid, idempotent, no unkeyed header, NUL, tracking parameter or cookie on a
//! public route survives, the credential relayed exactly on bypass — through the policy and
//! through the Wasm core's string protocol (`edge_worker::glue`), which must agree.
//!
//! Input, split on `\n`: the method, the uri, the query string, then one header per line as
//! `name:value` (the name lower-cased, as CloudFront's map keys are). Bytes that are not
//! UTF-8 stand for what the boundaries cannot read: in a header value it becomes
//! `UNREADABLE_VALUE`; in the uri or query string the URL did not cross intact.
#![no_main]

use edge_policy::headers::UNREADABLE_VALUE;
use edge_policy::oracle::{check_rewritten, check_viewer_request, viewer_pass, OwnedRequest};
use edge_policy::RuleSet;
use edge_worker::glue::{apply_viewer_request_answer, viewer_request_input};
use libfuzzer_sys::fuzz_target;

/// The request, and whether its URL is readable.
fn parse(data: &[u8]) -> (OwnedRequest, bool) {
    let mut lines = data.split(|b| *b == b'\n');
    let mut next = || lines.next().unwrap_or(b"");
    let (method, uri, querystring) = (next(), next(), next());
    let url_intact = std::str::from_utf8(uri).is_ok() && std::str::from_utf8(querystring).is_ok();
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let headers = lines
        .map(|line| {
            let at = line.iter().position(|b| *b == b':').unwrap_or(line.len());
            let (name, value) = (&line[..at], line.get(at + 1..).unwrap_or(b""));
            let value = value.strip_prefix(b" ").unwrap_or(value);
            let value = std::str::from_utf8(value).map_or(UNREADABLE_VALUE.to_owned(), str::to_owned);
            (lossy(name).trim().to_ascii_lowercase(), value)
        })
        .collect();
    let request = OwnedRequest {
        method: lossy(method),
        uri: lossy(uri),
        querystring: lossy(querystring),
        headers,
    };
    (request, url_intact)
}

fuzz_target!(|data: &[u8]| {
    let rules = RuleSet::embedded();
    let (request, url_intact) = parse(data);
    if let Err(breach) = check_viewer_request(rules, &request) {
        panic!("policy: {breach}");
    }
    let (input, count) = viewer_request_input(&request, url_intact);
    let answer = edge_worker::viewer_request(&input, count);
    let (after, url_kept) = apply_viewer_request_answer(&request, &answer).unwrap_or_else(|e| panic!("{e}"));
    if url_intact {
        let expected = viewer_pass(rules, &request).map_or_else(|| request.clone(), |pass| pass.after);
        assert_eq!(after, expected, "the boundary changed the policy's answer");
    } else if matches!(request.method.as_str(), "GET" | "HEAD") {
        assert!(url_kept, "an unreadable URL was rewritten");
        if let Err(breach) = check_rewritten(rules, &request, &after, true) {
            panic!("boundary: {breach}");
        }
    }
});
