//! Every example of cache-key.md and cache-control.md, as golden cases shared with the
//! Node suite that replays them through the built Wasm package.

mod common;

use common::{compact, fixture, origin_response_event, viewer_request_event};
use edge_policy::event::{handle, HandlerResult};
use edge_policy::RuleSet;
use serde_json::Value;

#[test]
fn viewer_request_golden_cases() {
    let cases: Vec<Value> = serde_json::from_str(&fixture("golden/viewer-request.json")).unwrap();
    assert!(cases.len() > 30);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let event = viewer_request_event(&case["request"]);
        let (result, _) = handle(RuleSet::embedded(), &event, common::NOW_MS).unwrap();
        let HandlerResult::Request(out) = result else {
            panic!("{name}: not a request")
        };
        let input = event.records[0].cf.request.as_ref().unwrap();
        if case["expect"]["unchanged"].as_bool() == Some(true) {
            assert_eq!(&out, input, "{name}");
            continue;
        }
        assert_eq!(out.uri, case["expect"]["uri"].as_str().unwrap(), "{name}: uri");
        assert_eq!(
            out.querystring,
            case["expect"]["querystring"].as_str().unwrap(),
            "{name}: querystring"
        );
        assert_eq!(
            compact(out.headers.as_ref().unwrap()),
            case["expect"]["headers"],
            "{name}: headers"
        );
    }
}

#[test]
fn origin_response_golden_cases() {
    let cases: Vec<Value> = serde_json::from_str(&fixture("golden/origin-response.json")).unwrap();
    assert!(cases.len() > 20);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let event = origin_response_event(&case["request"], &case["response"]);
        let (result, _) = handle(RuleSet::embedded(), &event, common::NOW_MS).unwrap();
        let HandlerResult::Response(out) = result else {
            panic!("{name}: not a response")
        };
        let headers = out.headers.unwrap();
        let cc = &headers["cache-control"];
        assert_eq!(cc.len(), 1, "{name}: exactly one cache-control entry");
        assert_eq!(cc[0].key.as_deref(), Some("Cache-Control"), "{name}");
        assert_eq!(cc[0].value, case["expect"]["cache_control"].as_str().unwrap(), "{name}");
        let removed = case["expect"]["set_cookie_removed"].as_bool().unwrap();
        let had = case["response"]["headers"].get("set-cookie").is_some();
        assert_eq!(
            headers.contains_key("set-cookie"),
            had && !removed,
            "{name}: set-cookie"
        );
        // RFC 9213 §3: forwarded downstream, unless the answer is not shared (or the route
        // removes it).
        if let Some(removed) = case["expect"]["cdn_removed"].as_bool() {
            assert_eq!(
                headers.contains_key("cdn-cache-control"),
                !removed,
                "{name}: cdn-cache-control"
            );
        }
    }
}
