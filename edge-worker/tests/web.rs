//! The Wasm boundary, run under Node by `wasm-pack test --node` (offline): the string
//! protocol's length prefixes count UTF-16 code units, as JavaScript does, on both sides.
//! The tests call the Rust functions, which need no feature; `make test-wasm` builds them
//! with `bindgen` too, so their wasm-bindgen exports keep building and pass wasm-bindgen.
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

/// The raw boundary as the glue uses it: write into [`edge_input`], call, read the answer.
fn raw_viewer_request(input: &[u8], count: i32) -> String {
    let room = edge_worker::raw::edge_input(input.len());
    // SAFETY: `edge_input` returned room for `input.len()` bytes.
    unsafe { std::ptr::copy_nonoverlapping(input.as_ptr(), room, input.len()) };
    match edge_worker::raw::edge_viewer_request(input.len(), count) {
        0 => "=0:".to_owned(),
        // SAFETY: the answer holds `n` bytes until the next call.
        n => unsafe {
            String::from_utf8_lossy(std::slice::from_raw_parts(edge_worker::raw::edge_answer(), n)).into_owned()
        },
    }
}

#[wasm_bindgen_test]
fn the_raw_boundary_answers_what_the_string_one_does_grown_memory_and_bad_bytes_included() {
    let big = format!("3:GET2:/a{}:{}", 3 * 1_000_000, "b=1".repeat(1_000_000));
    for (input, count) in [
        (
            "3:GET13:/api/products44:sort=price&utm_source=x&category=b%6foks&q=\u{0}6:cookie3:s=1",
            1,
        ),
        ("3:GET7:/caf\u{e9} \u{1}4:q=\u{1F600}", 0),
        ("3:GET15:/api/products/10:", 0),
        ("", 0),
        (big.as_str(), 0),
    ] {
        assert_eq!(
            raw_viewer_request(input.as_bytes(), count),
            viewer_request(input, count)
        );
    }
    // Bytes that are not UTF-8 read as malformed input, never as a trap.
    assert!(raw_viewer_request(b"3:GET2:/\xff0:", 0).contains("malformed-input"));
}

/// One field of the protocol: `length:text`, the length in UTF-16 code units.
fn field(out: &mut String, text: &str) {
    out.push_str(&text.encode_utf16().count().to_string());
    out.push(':');
    out.push_str(text);
}

/// The raw calls run in the per-call arena (`edge_worker::arena`); the string entry points
/// never do. Hundreds of varied calls in a row — small ones, ones that spill past the arena
/// into dlmalloc, origin-response ones between them — must each answer exactly what the
/// string entry point answers, and an answer read back after later calls must be the same:
/// a block that outlived its session, or a session that wrote over the glue's buffers or the
/// embedded rules, would show here.
#[wasm_bindgen_test]
fn arena_sessions_never_leak_into_each_other_or_the_glue_buffers() {
    let mut seed: u32 = 17;
    let mut next = move |n: u32| {
        seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (seed >> 8) % n
    };
    let paths = [
        "/api/products/7",
        "//a/./b/../c",
        "/static/app.js",
        "/api/me",
        "/API/%70roducts",
        "/",
    ];
    let params = [
        "utm_source=x",
        "page=2",
        "b=%zz",
        "a=1",
        "category=books",
        "gclid=9",
        "q=caf\u{e9}",
    ];
    let mut first: Option<(String, i32, String)> = None;
    for round in 0..400 {
        let mut input = String::new();
        field(&mut input, "GET");
        let spill = round % 50 == 7;
        let path = if spill {
            // Past the 128 KiB arena: the input and the allocations spill to dlmalloc.
            format!("/{}", "x/".repeat(100_000))
        } else {
            paths[next(paths.len() as u32) as usize].to_owned()
        };
        field(&mut input, &path);
        let query: Vec<&str> = (0..next(6))
            .map(|_| params[next(params.len() as u32) as usize])
            .collect();
        field(&mut input, &query.join("&"));
        let mut count = 0;
        for (name, value) in [
            ("accept-encoding", "gzip, deflate, br"),
            ("cookie", "session=1; theme=dark"),
            ("x-forwarded-host", "evil"),
            ("authorization", "Bearer t"),
        ] {
            if next(2) == 0 {
                field(&mut input, name);
                field(&mut input, value);
                count += 1;
            }
        }
        let expected = viewer_request(&input, count);
        assert_eq!(raw_viewer_request(input.as_bytes(), count), expected, "round {round}");
        if round % 3 == 0 {
            // An origin-response call between viewer-request ones.
            let response = "3:GET15:/api/products/13:20013:cache-control10:max-age=60";
            let room = edge_worker::raw::edge_input(response.len());
            // SAFETY: `edge_input` returned room for `response.len()` bytes.
            unsafe { std::ptr::copy_nonoverlapping(response.as_ptr(), room, response.len()) };
            let n = edge_worker::raw::edge_origin_response(response.len(), 0, 1, 0.0);
            // SAFETY: the answer holds `n` bytes until the next call.
            let raw = unsafe { std::slice::from_raw_parts(edge_worker::raw::edge_answer(), n) };
            assert_eq!(std::str::from_utf8(raw).unwrap(), origin_response(response, 0, 1, 0.0));
        }
        match &first {
            None => first = Some((input, count, expected)),
            // The first call, asked again after every later one, answers as it did.
            Some((input, count, answer)) => assert_eq!(&raw_viewer_request(input.as_bytes(), *count), answer),
        }
    }
}
