//! The `explain` binary, black-box: golden explanations of reference requests (text and
//! JSON), `--vs` on pairs from cache-key.md (the same canonical key ↔ reported shared), and
//! bad input (exit 2 with a message naming the problem).
//!
//! After reviewing a change of output: `UPDATE_GOLDEN=1 cargo test -p explain --test cli`.

use std::path::PathBuf;
use std::process::Command;

use edge_policy::{canonical_request, RequestView, RuleSet};
use serde_json::Value;

fn manifest() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs `explain` with `args`: (exit code, stdout, stderr).
fn explain(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_explain"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .output()
        .expect("explain runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

const GOLDEN: &[(&str, &[&str])] = &[
    (
        "product-with-tracking-and-cookie",
        &[
            "https://d111.cloudfront.net/api/products/42?utm_source=x&page=2",
            "-H",
            "Cookie: a=1",
        ],
    ),
    (
        "default-behaviour-but-bypass-route",
        &["/API/Users/7", "-H", "Cookie: session=abc"],
    ),
    (
        "credential-on-a-private-behaviour",
        &[
            "/api/me",
            "-H",
            "Authorization: Bearer user-7",
            "-H",
            "X-Origin-Verify: guess",
        ],
    ),
    (
        "404-with-cache-control",
        &[
            "/api/products/42?fbclid=x&page=2",
            "--status",
            "404",
            "--response-header",
            "Cache-Control: max-age=60",
        ],
    ),
    (
        "static-with-encodings",
        &[
            "/static//app.js?v=3",
            "-H",
            "Accept-Encoding: gzip, deflate, br",
            "--status",
            "200",
        ],
    ),
    ("post-passes-through", &["-X", "POST", "/api//products?utm_source=x"]),
    (
        "vs-shared",
        &[
            "/api/products?sort=price&category=books&fbclid=1",
            "--vs",
            "/api/products?category=books&sort=price",
        ],
    ),
    (
        "vs-query",
        &[
            "/api/products/42?page=2",
            "--vs",
            "/api/products/42?page=3&utm_source=x",
        ],
    ),
    ("vs-json", &["/a/%7euser", "--vs", "/a/~user/", "--json"]),
    (
        "rules-file-keeps-a-cookie",
        &[
            "/catalogue/lamps",
            "-H",
            "Cookie: theme=dark; session=s",
            "--rules",
            "RULES",
        ],
    ),
    ("product-json", &["/api/products/42?utm_source=x&page=2", "--json"]),
];

#[test]
fn golden_explanations() {
    let dir = manifest().join("tests/golden");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let rules = manifest().join("tests/fixtures/theme-cookie-rules.toml");
    let mut failures = Vec::new();
    for (name, args) in GOLDEN {
        let args: Vec<&str> = args
            .iter()
            .map(|a| if *a == "RULES" { rules.to_str().unwrap() } else { a })
            .collect();
        let (code, out, err) = explain(&args);
        assert_eq!(code, 0, "{name}: {err}");
        let ext = if args.contains(&"--json") { "json" } else { "txt" };
        let path = dir.join(format!("{name}.{ext}"));
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &out).unwrap();
            continue;
        }
        let golden = std::fs::read_to_string(&path).unwrap_or_default();
        if golden != out {
            failures.push(format!("{name}:\n--- {}\n{golden}\n+++ now\n{out}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nreview, then: UPDATE_GOLDEN=1 cargo test -p explain --test cli",
        failures.join("\n")
    );
}

#[test]
fn the_issue_example_names_the_dropped_parameter_the_keys_and_redacts_nothing_it_needs_not() {
    let (code, out, _) = explain(&[
        "https://d111.cloudfront.net/api/products/42?utm_source=x&page=2",
        "-H",
        "Cookie: a=1",
    ]);
    assert_eq!(code, 0);
    for needle in [
        "behaviour  /api/products/*",
        "route      products (public)",
        "dropped \"utm_source=x\": tracking parameter utm_source",
        "header     cookie deleted",
        "request    GET /api/products/42?page=2",
        "cloudfront cache key d111.cloudfront.net/api/products/42?page=2",
        "origin     L1/L2 key localorigin.lambda-url.us-east-1.on.aws/api/products/42?page=2",
    ] {
        assert!(out.contains(needle), "{needle:?} in:\n{out}");
    }
}

#[test]
fn credentials_and_cookie_values_never_show() {
    let (code, out, _) = explain(&[
        "/api/me",
        "-H",
        "Authorization: Bearer SECRET-A",
        "-H",
        "X-Viewer-Authorization: Bearer SECRET-B",
        "-H",
        "Cookie: session=SECRET-C",
        "-H",
        "X-Origin-Verify: SECRET-D",
        "--json",
    ]);
    assert_eq!(code, 0);
    assert!(!out.contains("SECRET-"), "{out}");
    assert!(out.contains("[redacted]"), "{out}");
}

/// Pairs of cache-key.md: each spelled two ways.
const PAIRS: &[(&str, &str)] = &[
    ("/a%2fb", "/a%2Fb"),                                       // Path 1: hex upper-cased
    ("/%7Euser", "/~user"),                                     // Path 1: unreserved decoded
    ("/a%2Eb", "/a.b"),                                         // Path 1
    ("/a%2Fb", "/a/b"),                                         // reserved stays encoded
    ("/a%zz", "/a%25zz"),                                       // Path 1-2: a lone % is %25
    ("/a b", "/a%20b"),                                         // Path 2
    ("/a\\b", "/a%5Cb"),                                        // Path 2: backslash
    ("/a\\b", "/a/b"),                                          // never a separator
    ("//api///products//42", "/api/products/42"),               // Path 3
    ("/a/b/../c/./d", "/a/c/d"),                                // Path 4
    ("/a/%2E%2e/b", "/b"),                                      // Path 4 after 1
    ("/a/..%2Fb", "/b"),                                        // ..%2F is a segment
    ("/../../etc/x", "/etc/x"),                                 // .. never above /
    ("/Static/A/", "/static/a"),                                // Path 5: case and slash kept
    ("/p?a=1;b=2", "/p?a=1&b=2"),                               // Query 1: ; is data
    ("/p?a=1&&b=2&", "/p?a=1&b=2"),                             // Query 1: empty items
    ("/p?a", "/p?a="),                                          // Query 2: a vs a=
    ("/p?=x&a=1", "/p?a=1"),                                    // Query 2: empty names
    ("/p?q=a+b", "/p?q=a%20b"),                                 // Query 3: + kept
    ("/p?s=%7e", "/p?s=~"),                                     // Query 3
    ("/p?UTM_Source=x&id=9", "/p?id=9"),                        // Query 4
    ("/p?utm%5Fsource=x&id=9", "/p?id=9"),                      // Query 4
    ("/p?gclid=1&fbclid=2", "/p"),                              // Query 4, 7
    ("/api/products?color=red&page=2", "/api/products?page=2"), // Query 5
    ("/p?b=1&a=2&a=1", "/p?a=2&a=1&b=1"),                       // Query 6
    ("/p?a=1&a=2", "/p?a=2&a=1"),                               // Query 6: order of repeats kept
    ("/static/app.js?v=1", "/static/app.js?v=2"),               // a route dropping the query
    ("/api/config?v=1", "/api/config"),                         // a route dropping the query
];

/// The canonical key cache-key.md gives, for the distribution's domain.
fn canonical_key(url: &str) -> String {
    let (uri, query) = url.split_once('?').unwrap_or((url, ""));
    let view = RequestView {
        method: "GET",
        uri,
        querystring: query,
        headers: &[],
    };
    canonical_request(RuleSet::embedded(), "d111111abcdef8.cloudfront.net", &view)
        .unwrap()
        .key
        .to_string()
}

#[test]
fn vs_reports_shared_exactly_when_the_spec_gives_one_key() {
    let mut checked = (0, 0);
    for (a, b) in PAIRS {
        let (code, out, err) = explain(&[a, "--vs", b, "--json"]);
        assert_eq!(code, 0, "{a} vs {b}: {err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        let same = canonical_key(a) == canonical_key(b);
        assert_eq!(
            report["vs"]["shared"].as_bool(),
            Some(same),
            "{a} vs {b}: keys {} / {}: {}",
            canonical_key(a),
            canonical_key(b),
            report["vs"]
        );
        if same {
            checked.0 += 1;
            assert!(report["vs"]["parts_at"].is_null());
        } else {
            checked.1 += 1;
            assert!(report["vs"]["parts_at"]["step"].is_string(), "{}", report["vs"]);
        }
    }
    assert!(checked.0 >= 10 && checked.1 >= 5, "{checked:?}");
}

#[test]
fn a_pair_that_parts_names_the_first_step() {
    let step = |a: &str, b: &str| {
        let (_, out, _) = explain(&[a, "--vs", b, "--json"]);
        let report: Value = serde_json::from_str(&out).unwrap();
        report["vs"]["parts_at"]["step"].as_str().unwrap_or("").to_owned()
    };
    assert_eq!(step("/p?a", "/p?a="), "query");
    assert_eq!(step("/a%2Fb", "/a/b"), "path");
    assert_eq!(step("/api/products/1", "/api/config"), "route");
    assert_eq!(step("/api/me", "/api/products/1"), "behaviour");
    assert_eq!(step("/API/Users/7", "/API/Users/7"), "private");
}

#[test]
fn bad_input_is_a_clear_error_and_exit_2() {
    let invalid_rules = manifest().join("../tests/fixtures/rules/invalid-no-catch-all.toml");
    for (args, needle) in [
        (vec!["api/products/42"], "neither a URL"),
        (vec!["ftp://h/x"], "neither a URL"),
        (vec!["https:///x"], "no host"),
        (vec!["/p", "-H", "Cookie a=1"], "no colon"),
        (vec!["/p", "--response-header", "no colon here"], "no colon"),
        (vec!["/p", "-H", "Bad Name: x"], "not a header name"),
        (vec!["/p", "--vs", "nope"], "neither a URL"),
        (vec!["/p", "--rules", "/nonexistent/rules.toml"], "rules file"),
        (vec!["/p", "--rules", invalid_rules.to_str().unwrap()], "catch-all"),
        (vec!["/p", "--status", "99"], "99"),
        (vec![], "<URL>"),
    ] {
        let (code, out, err) = explain(&args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(needle), "{args:?}: {needle:?} in {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
    }
}
