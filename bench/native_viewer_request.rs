//! Times `edge_policy::viewer_request` natively over the event corpus that
//! `bench/edge-handler.js` writes (one JSON object per line: method, uri, querystring,
//! headers as `[[name, value], ...]`).
//!
//! `native-viewer-request CORPUS [ROUNDS]` prints `ns_per_event=<median of rounds>`.
//! `native-viewer-request CORPUS --serve` times one round per line read from stdin (the line
//! is the number of passes over the corpus, timed after one untimed pass that warms the
//! caches the process lost while it waited) and answers each with its ns per event on one
//! line: `bench/edge-handler.js` uses this to time the native core round by round,
//! interleaved with the Wasm core, so both see the same machine.

use std::io::{BufRead, Write};
use std::time::Instant;
use std::{env, fs, hint, io};

use edge_policy::{viewer_request, RequestView, RuleSet, ViewerOutcome};
use serde_json::Value;

struct Owned {
    method: String,
    uri: String,
    querystring: String,
    headers: Vec<(String, String)>,
}

fn main() {
    let path = env::args()
        .nth(1)
        .expect("usage: native-viewer-request <corpus.jsonl> [rounds | --serve]");
    let text = fs::read_to_string(&path).expect("read corpus");
    let corpus: Vec<Owned> = text
        .lines()
        .map(|line| {
            let v: Value = serde_json::from_str(line).expect("corpus line");
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            let headers = v["headers"]
                .as_array()
                .map(|hs| {
                    hs.iter()
                        .map(|h| {
                            (
                                h[0].as_str().unwrap_or("").to_owned(),
                                h[1].as_str().unwrap_or("").to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            Owned {
                method: s("method"),
                uri: s("uri"),
                querystring: s("querystring"),
                headers,
            }
        })
        .collect();
    if env::args().nth(2).as_deref() == Some("--serve") {
        let mut out = io::stdout().lock();
        for line in io::stdin().lock().lines() {
            let passes: usize = line.expect("stdin").trim().parse().expect("passes");
            round(&corpus, 1);
            writeln!(out, "{:.1}", round(&corpus, passes.max(1))).expect("stdout");
            out.flush().expect("stdout");
        }
        return;
    }
    let rounds: usize = env::args().nth(2).and_then(|r| r.parse().ok()).unwrap_or(15);
    let mut per_round: Vec<f64> = (0..rounds).map(|_| round(&corpus, 20)).collect();
    per_round.sort_by(|a, b| a.total_cmp(b));
    println!("ns_per_event={:.1}", per_round[per_round.len() / 2]);
}

/// Ns per event of `passes` passes over the corpus.
fn round(corpus: &[Owned], passes: usize) -> f64 {
    let rules = RuleSet::embedded();
    let start = Instant::now();
    let mut rewritten = 0usize;
    for _ in 0..passes {
        for e in corpus {
            // The view is built per event, as the Wasm boundary builds it from its block.
            let fields: Vec<(&str, &str)> = e.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            let view = RequestView {
                method: &e.method,
                uri: &e.uri,
                querystring: &e.querystring,
                headers: &fields,
            };
            if let ViewerOutcome::Rewrite(r) = hint::black_box(viewer_request(rules, &view)) {
                rewritten += r.uri.len();
            }
        }
    }
    hint::black_box(rewritten);
    start.elapsed().as_nanos() as f64 / (passes * corpus.len()) as f64
}
