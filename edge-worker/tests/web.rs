//! The Wasm boundary, run under Node by `wasm-pack test --node` (offline).
#![cfg(target_arch = "wasm32")]

use edge_worker::{origin_response, viewer_request, viewer_request_reads};
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn viewer_request_crosses_the_boundary() {
    let out = viewer_request(
        "GET\0/api/products\0sort=price&utm_source=x&category=b%6foks\0cookie\0s=1\0",
        1,
    );
    assert_eq!(out, "~/api/products\0category=books&sort=price\0-cookie\0");
}

#[wasm_bindgen_test]
fn non_ascii_and_controls_survive_the_utf8_crossing() {
    let out = viewer_request("GET\0/caf\u{e9} \u{1}\0q=\u{1F600}\0", 0);
    assert_eq!(out, "~/caf%C3%A9%20%01\0q=%F0%9F%98%80\0");
}

#[wasm_bindgen_test]
fn malformed_input_never_traps() {
    for (input, count) in [
        ("", 0),
        ("GET\0nope\0\0", 0),
        ("GET\0/a\0%\0", -1),
        ("GET\0/a\0\0a\0b\0", 7),
        ("\0\0\0\0\0", 2),
    ] {
        let out = viewer_request(input, count);
        assert!(out.starts_with('=') || out.starts_with('~'), "{out}");
    }
    let huge = format!("GET\0/{}\0\0", "\u{e9}".repeat(5000));
    assert_eq!(viewer_request(&huge, 0), "=");
}

#[wasm_bindgen_test]
fn origin_response_crosses_the_boundary() {
    let input = "GET\0/api/products/1\x00200\0cache-control\0public, max-age=3600\0cache-control\0s-maxage=600\0";
    let out = origin_response(input, 0, 2, 0.0);
    assert_eq!(
        out,
        "~+cache-control\0Cache-Control\0public, max-age=3600, s-maxage=600, stale-while-revalidate=86400, stale-if-error=86400\0"
    );
}

#[wasm_bindgen_test]
fn the_glue_learns_which_headers_to_send() {
    assert!(viewer_request_reads().contains("accept-encoding"));
}
