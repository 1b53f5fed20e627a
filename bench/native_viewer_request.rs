//! Times `edge_policy::viewer_request` natively over the event corpus that
//! `bench/edge-handler.js` writes (one JSON object per line: method, uri, querystring,
//! headers as `[[name, value], ...]`), and prints `ns_per_event=<median of rounds>`.

use std::time::Instant;
use std::{env, fs, hint};

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
        .expect("usage: native-viewer-request <corpus.jsonl> [rounds]");
    let rounds: usize = env::args().nth(2).and_then(|r| r.parse().ok()).unwrap_or(15);
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
    let rules = RuleSet::embedded();
    let mut per_round = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        let mut rewritten = 0usize;
        for _ in 0..20 {
            for e in &corpus {
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
        per_round.push(start.elapsed().as_nanos() as f64 / (20 * corpus.len()) as f64);
    }
    per_round.sort_by(|a, b| a.total_cmp(b));
    println!("ns_per_event={:.1}", per_round[per_round.len() / 2]);
}
