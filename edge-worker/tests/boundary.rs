//! The Wasm boundary never changes what a request means (cache-key.md, "Limits and bad
//! input"): natively, the glue's encoding ([`edge_worker::glue`]) through the core and back
//! gives exactly the request the policy gives, and an unreadable URL is kept while the
//! header rules still apply. `wasm-pack test` runs the same core under Node (`web.rs`), and
//! the Node suite the real glue (`tests/wasm-pkg/`).
#![cfg(not(target_arch = "wasm32"))]

use edge_policy::headers::UNREADABLE_VALUE;
use edge_policy::oracle::{check_rewritten, viewer_pass, OwnedRequest};
use edge_policy::RuleSet;
use edge_worker::glue::{apply_viewer_request_answer, viewer_request_input};
use edge_worker::viewer_request;
use proptest::prelude::*;
use proptest::sample::select;

/// Through the boundary: the request CloudFront goes on with, and whether its URL was kept.
fn across(request: &OwnedRequest, url_intact: bool) -> (OwnedRequest, bool) {
    let (input, count) = viewer_request_input(request, url_intact);
    let answer = viewer_request(&input, count);
    apply_viewer_request_answer(request, &answer).unwrap_or_else(|e| panic!("{e}"))
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => select(&["/api/me", "//a/../b", "/p%2f%zz", "gzip, br", "session=1", "Bearer t", "\0", "a\0b", "é😀"][..])
            .prop_map(str::to_owned),
        2 => any::<String>(),
        1 => Just(UNREADABLE_VALUE.to_owned()),
    ]
}

fn request() -> impl Strategy<Value = OwnedRequest> {
    const NAMES: &[&str] = &[
        "host",
        "accept-encoding",
        "cookie",
        "authorization",
        "x-viewer-authorization",
        "x-forwarded-host",
        "user-agent",
        "x-custom",
        "x-\0name",
    ];
    (
        select(&["GET", "HEAD", "POST", "G\0T"][..]),
        prop_oneof![text(), text().prop_map(|t| format!("/{t}"))],
        text(),
        prop::collection::vec((select(NAMES).prop_map(str::to_owned), text()), 0..8),
    )
        .prop_map(|(method, uri, querystring, headers)| OwnedRequest {
            method: method.to_owned(),
            uri,
            querystring,
            headers,
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn the_boundary_gives_exactly_what_the_policy_gives(request in request()) {
        let (after, url_kept) = across(&request, true);
        match viewer_pass(RuleSet::embedded(), &request) {
            None => prop_assert_eq!(&after, &request),
            Some(pass) => {
                prop_assert_eq!(&after, &pass.after);
                prop_assert_eq!(url_kept, pass.url_kept || (pass.after.uri == request.uri && pass.after.querystring == request.querystring));
            }
        }
    }

    #[test]
    fn an_unreadable_url_is_kept_and_the_header_rules_still_apply(mut request in request()) {
        request.method = "GET".into();
        let (after, url_kept) = across(&request, false);
        prop_assert!(url_kept);
        if let Err(breach) = check_rewritten(RuleSet::embedded(), &request, &after, true) {
            return Err(TestCaseError::fail(breach.to_string()));
        }
    }
}
