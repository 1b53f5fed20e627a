//! A Lambda@Edge event as JSON: whatever parses, the native handler answers without
//! panicking, and its answer keeps the shared oracle's promises (`edge_policy::oracle`):
//! a viewer request leaves with the header rules applied, an origin response with the one
//! `Cache-Control` the policy decides and every origin-response promise.
#![no_main]

use edge_policy::event::{handle, Event, HandlerResult, Headers, Request};
use edge_policy::oracle::{check_origin_response, check_rewritten, response_pass, OwnedRequest, OwnedResponse};
use edge_policy::RuleSet;
use libfuzzer_sys::fuzz_target;

const NOW_MS: u64 = 1_795_953_600_000;

fn pairs(headers: &Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .flat_map(|(name, values)| values.iter().map(move |v| (name.clone(), v.value.clone())))
        .collect()
}

fn owned(request: &Request) -> Option<OwnedRequest> {
    Some(OwnedRequest {
        method: request.method.clone(),
        uri: request.uri.clone(),
        querystring: request.querystring.clone(),
        headers: pairs(request.headers.as_ref()?),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<Event>(data) else {
        return;
    };
    let rules = RuleSet::embedded();
    let Ok((result, _)) = handle(rules, &event, NOW_MS) else {
        return;
    };
    let _ = serde_json::to_vec(&result);
    let Ok(cf) = event.cf() else { return };
    match (&result, cf.config.event_type.as_str(), cf.request.as_ref()) {
        (HandlerResult::Request(out), "viewer-request", Some(request))
            if matches!(request.method.as_str(), "GET" | "HEAD") =>
        {
            let (Some(before), Some(after)) = (owned(request), owned(out)) else {
                return;
            };
            let url_kept = after.uri == before.uri && after.querystring == before.querystring;
            if let Err(breach) = check_rewritten(rules, &before, &after, url_kept) {
                panic!("{breach}");
            }
        }
        (HandlerResult::Response(out), "origin-response", Some(request)) => {
            let Some(response) = cf.response.as_ref() else { return };
            let owned_response = OwnedResponse {
                status: response.status.clone(),
                request_method: request.method.clone(),
                request_uri: request.uri.clone(),
                request_headers: request.headers.as_ref().map(pairs).unwrap_or_default(),
                headers: response.headers.as_ref().map(pairs).unwrap_or_default(),
                now_ms: NOW_MS,
            };
            let (written, _) = response_pass(rules, &owned_response);
            let lines: Vec<&str> = out
                .headers
                .as_ref()
                .and_then(|h| h.get("cache-control"))
                .map(|values| values.iter().map(|v| v.value.as_str()).collect())
                .unwrap_or_default();
            assert_eq!(
                lines,
                [written.as_str()],
                "the native handler writes the policy's one Cache-Control"
            );
            if let Err(breach) = check_origin_response(rules, &owned_response) {
                panic!("{breach}");
            }
        }
        _ => {}
    }
});
