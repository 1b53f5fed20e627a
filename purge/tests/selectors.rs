//! URL selectors through `edge-policy` (purge.md, "Selectors"): every spelling a viewer
//! could use — tracking parameters, another order, percent-encoded unreserved bytes, doubled
//! slashes, a full URL — selects the same canonical path, and names the same `path?query` the
//! origin keys the request under (so the edge path sent is the one CloudFront stored).

use edge_policy::{canonical_request, RequestView, RuleSet};
use origin_function::purge::{KeyParts, Selector};
use proptest::prelude::*;
use purge::selector;

/// The origin's `path?query` for a viewer's `target`, as it keys the request.
fn origin_path_and_query(target: &str) -> String {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let view = RequestView {
        method: "GET",
        uri: path,
        querystring: query,
        headers: &[],
    };
    let canonical = canonical_request(RuleSet::embedded(), "d111111abcdef8.cloudfront.net", &view).unwrap();
    KeyParts::of(canonical.key.as_str()).path_and_query()
}

/// `text` with some unreserved bytes percent-encoded (upper or lower hex).
fn encode_some(text: &str, mask: u64, lower: bool) -> String {
    text.chars()
        .enumerate()
        .map(|(i, c)| {
            if c.is_ascii_alphanumeric() && mask & (1 << (i % 64)) != 0 {
                let hex = format!("%{:02X}", c as u32);
                if lower {
                    hex.to_lowercase()
                } else {
                    hex
                }
            } else {
                c.to_string()
            }
        })
        .collect()
}

const KEPT: &[(&str, &[&str])] = &[
    ("category", &["books", "music", "garden"]),
    ("sort", &["price", "-id"]),
    ("page", &["1", "2"]),
    ("per_page", &["20", "100"]),
];
const TRACKING: &[&str] = &["utm_source=x", "utm_medium=mail", "fbclid=abc", "gclid=1"];

proptest! {
    #[test]
    fn every_spelling_a_viewer_could_use_selects_the_same_key(
        picks in proptest::collection::vec((0usize..4, 0usize..3), 1..4),
        tracking in proptest::collection::vec(0usize..4, 0..3),
        order in any::<u64>(),
        mask in any::<u64>(),
        lower in any::<bool>(),
        doubled in any::<bool>(),
        full in any::<bool>(),
        product in 1u32..200,
    ) {
        let mut params: Vec<String> = picks
            .iter()
            .map(|(k, v)| {
                let (name, values) = KEPT[*k];
                format!("{name}={}", values[v % values.len()])
            })
            .collect();
        params.sort();
        params.dedup_by(|a, b| a.split('=').next() == b.split('=').next());
        let canonical_listing = format!("/api/products?{}", params.join("&"));
        let expected = origin_path_and_query(&canonical_listing);

        // Another order, tracking parameters, encoded bytes, doubled slashes, a full URL.
        let mut spelled: Vec<String> = params.iter().map(|p| encode_some(p, mask, lower)).collect();
        spelled.extend(tracking.iter().map(|t| TRACKING[*t].to_owned()));
        let n = spelled.len();
        spelled.rotate_left((order as usize) % n.max(1));
        let path = if doubled { "//api//products" } else { "/api/products" };
        let mut url = format!("{path}?{}", spelled.join("&"));
        if full {
            url = format!("https://d111111abcdef8.cloudfront.net{url}");
        }
        let parsed = selector::url(&url).unwrap();
        prop_assert_eq!(&parsed.selector, &Selector::Url("/api/products".into()));
        prop_assert_eq!(&parsed.edge_paths[0], &expected);
        prop_assert_eq!(&parsed.edge_paths[1], "/api/products*");

        // A product page, its id spelled with encoded digits.
        let page = format!("/api/products/{}?utm_campaign=z", encode_some(&product.to_string(), mask, lower));
        let parsed = selector::url(&page).unwrap();
        prop_assert_eq!(parsed.selector, Selector::Url(format!("/api/products/{product}")));
        prop_assert_eq!(&parsed.edge_paths[0], &origin_path_and_query(&format!("/api/products/{product}")));
    }

    #[test]
    fn a_selector_never_panics_and_a_refused_one_purges_nothing(text in "\\PC{0,40}") {
        let parsed = [selector::url(&text), selector::prefix(&text), selector::tag(&text)];
        for p in parsed.into_iter().flatten() {
            prop_assert!(p.edge_paths.iter().all(|e| e.starts_with('/')));
        }
    }
}
