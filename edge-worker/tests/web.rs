//! The Wasm boundary, run under Node by `wasm-pack test --node` (offline): the string
//! protocol's length prefixes count UTF-16 code units, as JavaScript does, on both sides.
#![cfg(target_arch = "wasm32")]

use edge_worker::{origin_response, viewer_request, viewer_request_reads};
use wasm_bindgen_test::wasm_bindgen_test;

#[wasm_bindgen_test]
fn viewer_request_crosses_the_boundary() {
    let out = viewer_request(
        "3:GET13:/api/products44:sort=price&utm_source=x&category=b%6foks&q=\u{0}6:cookie3:s=1",
        1,
    );
    assert_eq!(out, "~0:U13:/api/products31:category=books&q=%00&sort=price-6:cookie");
}

#[wasm_bindgen_test]
fn non_ascii_astral_and_controls_survive_the_utf8_crossing() {
    // "/café \u{1}" is 7 UTF-16 units; "q=😀" is 4 (the emoji is a surrogate pair).
    let out = viewer_request("3:GET7:/caf\u{e9} \u{1}4:q=\u{1F600}", 0);
    assert_eq!(out, "~0:U16:/caf%C3%A9%20%0114:q=%F0%9F%98%80");
}

#[wasm_bindgen_test]
fn malformed_input_never_traps() {
    for (input, count) in [
        ("", 0),
        ("3:GET4:nope0:", 0),
        ("3:GET2:/a1:%", -1),
        ("3:GET2:/a0:1:a1:b", 7),
        ("0:0:0:0:0:", 2),
        ("9999999999:x", 0),
        ("3:GET2:/a0:1:a1!\u{fffd}", 1),
    ] {
        let out = viewer_request(input, count);
        assert!(out.starts_with('=') || out.starts_with('~'), "{out}");
    }
    let huge = format!("3:GET5001:/{}0:", "\u{e9}".repeat(5000));
    assert_eq!(viewer_request(&huge, 0), "=0:");
}

#[wasm_bindgen_test]
fn origin_response_crosses_the_boundary() {
    let input = "3:GET15:/api/products/13:20013:cache-control20:public, max-age=360013:cache-control12:s-maxage=600";
    let out = origin_response(input, 0, 2, 1_795_953_600_000.0);
    assert_eq!(
        out,
        "~0:+13:cache-control13:Cache-Control86:public, max-age=3600, s-maxage=600, stale-while-revalidate=86400, stale-if-error=86400"
    );
}

#[wasm_bindgen_test]
fn the_glue_learns_which_headers_to_send() {
    assert!(viewer_request_reads().contains("accept-encoding"));
}
