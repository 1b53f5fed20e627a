//! AWS's sample Lambda@Edge events: they parse, round-trip without loss, and every
//! trigger's handler answers them.

mod common;

use common::fixture;
use edge_policy::event::{handle, Event, HandlerResult, Outcome, Response};
use edge_policy::RuleSet;
use serde_json::Value;

const SAMPLES: &[&str] = &[
    "viewer-request",
    "origin-request",
    "origin-response",
    "viewer-response",
    "viewer-request-body",
];

#[test]
fn sample_events_round_trip() {
    for sample in SAMPLES {
        let text = fixture(&format!("events/{sample}.json"));
        let event: Event = serde_json::from_str(&text).unwrap();
        let again: Event = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(event, again, "{sample}");
        let original: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            original,
            "{sample}: nothing lost"
        );
    }
}

#[test]
fn generated_response_round_trips() {
    let text = fixture("events/generated-response.json");
    let response: Response = serde_json::from_str(&text).unwrap();
    assert_eq!(
        serde_json::to_value(&response).unwrap(),
        serde_json::from_str::<Value>(&text).unwrap()
    );
    let result: HandlerResult = serde_json::from_str(&text).unwrap();
    assert!(matches!(result, HandlerResult::Response(_)));
}

fn run(sample: &str) -> (Event, HandlerResult, Outcome) {
    let event: Event = serde_json::from_str(&fixture(&format!("events/{sample}.json"))).unwrap();
    let (result, outcome) = handle(RuleSet::embedded(), &event, common::NOW_MS).unwrap();
    (event, result, outcome)
}

#[test]
fn every_trigger_answers_its_sample() {
    let (event, result, _) = run("viewer-request");
    let HandlerResult::Request(req) = result else { panic!() };
    assert_eq!(req.uri, "/");
    assert_eq!(req.headers, event.records[0].cf.request.as_ref().unwrap().headers);

    let (event, result, outcome) = run("origin-request");
    assert_eq!(
        result,
        HandlerResult::Request(event.records[0].cf.request.clone().unwrap())
    );
    assert_eq!(outcome, Outcome::Unchanged("hook"));

    let (_, result, _) = run("origin-response");
    let HandlerResult::Response(resp) = result else {
        panic!()
    };
    let cc = &resp.headers.unwrap()["cache-control"];
    assert_eq!(
        cc[0].value,
        "public, max-age=0, s-maxage=60, stale-while-revalidate=300, stale-if-error=86400"
    );

    let (event, result, _) = run("viewer-response");
    assert_eq!(
        result,
        HandlerResult::Response(event.records[0].cf.response.clone().unwrap())
    );

    let (event, result, outcome) = run("viewer-request-body");
    assert_eq!(
        result,
        HandlerResult::Request(event.records[0].cf.request.clone().unwrap())
    );
    assert_eq!(outcome, Outcome::Unchanged("method-not-normalized"));
}

#[test]
fn unusable_events_are_errors_not_panics() {
    for text in [
        r#"{"Records": []}"#,
        r#"{"Records": [{"cf": {"config": {"distributionDomainName": "d", "distributionId": "x", "eventType": "nope", "requestId": "r"}}}]}"#,
    ] {
        let event: Event = serde_json::from_str(text).unwrap();
        assert!(handle(RuleSet::embedded(), &event, common::NOW_MS).is_err());
    }
}

#[test]
fn missing_headers_leave_the_request_unchanged() {
    let text = r#"{"Records": [{"cf": {"config": {"distributionDomainName": "d", "distributionId": "x", "eventType": "viewer-request", "requestId": "r"},
        "request": {"clientIp": "1.2.3.4", "method": "GET", "uri": "//a?", "querystring": "utm_source=x"}}}]}"#;
    let event: Event = serde_json::from_str(text).unwrap();
    let (result, outcome) = handle(RuleSet::embedded(), &event, common::NOW_MS).unwrap();
    assert_eq!(
        result,
        HandlerResult::Request(event.records[0].cf.request.clone().unwrap())
    );
    assert_eq!(outcome, Outcome::Unchanged("no-headers"));
}
