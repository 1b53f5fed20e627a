//! Golden explanations: for every example of cache-key.md (`golden/viewer-request.json`) and
//! of cache-control.md (`golden/origin-response.json`), the explanation the policy gives —
//! its steps, the final request and the key, or the rule, the header written and the
//! lifetime — in both stable forms, text and JSON, one fixture per example under
//! `tests/fixtures/golden/explain/`.
//!
//! A change to what the policy says shows up here as a diff to review. After reviewing it,
//! `UPDATE_GOLDEN=1 cargo test -p edge-policy --test explain_golden` rewrites the fixtures.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{fixture, FIXTURES, NOW_MS};
use edge_policy::explain::{explain_origin_response, explain_viewer_request};
use edge_policy::{RequestView, ResponseView, RuleSet};
use serde_json::{json, Value};

/// The distribution domain the examples arrive at (the `host` of every viewer case).
const DOMAIN: &str = "d111111abcdef8.cloudfront.net";

fn dir(kind: &str) -> PathBuf {
    PathBuf::from(FIXTURES).join("golden/explain").join(kind)
}

/// `07-dot-segments-removed`: the example's place and its name, as a file name.
fn slug(index: usize, name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars() {
        match c {
            c if c.is_ascii_alphanumeric() => slug.push(c.to_ascii_lowercase()),
            _ if !slug.ends_with('-') => slug.push('-'),
            _ => {}
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(60).collect();
    format!("{:02}-{}", index + 1, slug.trim_end_matches('-'))
}

/// `{"name": ["v1", "v2"]}` → one field per value, in order.
fn fields(headers: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, values) in headers.as_object().expect("headers object") {
        for v in values.as_array().expect("values array") {
            out.push((name.clone(), v.as_str().expect("a string value").to_owned()));
        }
    }
    out
}

fn borrowed(owned: &[(String, String)]) -> Vec<(&str, &str)> {
    owned.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

/// Compares each example's explanation with its fixture (or writes the fixtures), and
/// fails on a fixture no example has.
fn check(kind: &str, explained: Vec<(String, Value)>) {
    let dir = dir(kind);
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    if update {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
    }
    let mut failures = Vec::new();
    let mut expected_files = BTreeSet::new();
    for (file, value) in explained {
        let path = dir.join(format!("{file}.json"));
        let text = serde_json::to_string_pretty(&value).unwrap() + "\n";
        expected_files.insert(format!("{file}.json"));
        if update {
            std::fs::write(&path, text).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(golden) if golden == text => {}
            Ok(golden) => failures.push(format!(
                "{file}: the explanation changed\n--- fixture\n{golden}\n+++ now\n{text}"
            )),
            Err(e) => failures.push(format!("{file}: {e}")),
        }
    }
    let present: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    for stale in present.difference(&expected_files) {
        failures.push(format!("{stale}: a fixture no example has"));
    }
    assert!(
        failures.is_empty(),
        "{}\n\nreview, then: UPDATE_GOLDEN=1 cargo test -p edge-policy --test explain_golden",
        failures.join("\n\n")
    );
}

#[test]
fn every_cache_key_example_explains_its_steps_and_its_key() {
    let cases: Vec<Value> = serde_json::from_str(&fixture("golden/viewer-request.json")).unwrap();
    let mut explained = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let request = &case["request"];
        let owned = fields(&request["headers"]);
        let headers = borrowed(&owned);
        let view = RequestView {
            method: request["method"].as_str().unwrap(),
            uri: request["uri"].as_str().unwrap(),
            querystring: request["querystring"].as_str().unwrap(),
            headers: &headers,
        };
        let explanation = explain_viewer_request(RuleSet::embedded(), DOMAIN, &view);
        // The explanation ends where the golden case does.
        if case["expect"]["unchanged"].as_bool() != Some(true) {
            assert_eq!(explanation.uri, case["expect"]["uri"].as_str().unwrap(), "{name}");
            assert_eq!(
                explanation.querystring,
                case["expect"]["querystring"].as_str().unwrap(),
                "{name}"
            );
        }
        let text: Vec<String> = explanation.to_string().lines().map(str::to_owned).collect();
        explained.push((
            slug(index, name),
            json!({
                "name": name,
                "spec": case["spec"],
                "request": request,
                "text": text,
                "explanation": explanation,
            }),
        ));
    }
    check("viewer-request", explained);
}

#[test]
fn every_cache_control_example_explains_its_rule_header_and_lifetime() {
    let cases: Vec<Value> = serde_json::from_str(&fixture("golden/origin-response.json")).unwrap();
    let mut explained = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let name = case["name"].as_str().unwrap();
        let request_owned = fields(&case["request"]["headers"]);
        let request_headers = borrowed(&request_owned);
        let owned = fields(&case["response"]["headers"]);
        let headers = borrowed(&owned);
        let view = ResponseView {
            status: case["response"]["status"].as_str().unwrap(),
            request_method: case["request"]["method"].as_str().unwrap(),
            request_uri: case["request"]["uri"].as_str().unwrap(),
            request_headers: &request_headers,
            headers: &headers,
            now_ms: NOW_MS,
        };
        let explanation = explain_origin_response(RuleSet::embedded(), &view);
        assert_eq!(
            explanation.cache_control,
            case["expect"]["cache_control"].as_str().unwrap(),
            "{name}"
        );
        let text: Vec<String> = explanation.to_string().lines().map(str::to_owned).collect();
        explained.push((
            slug(index, name),
            json!({
                "name": name,
                "spec": case["spec"],
                "request": case["request"],
                "response": case["response"],
                "text": text,
                "explanation": explanation,
            }),
        ));
    }
    check("origin-response", explained);
}
