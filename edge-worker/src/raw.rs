//! The raw boundary `wasm-pkg/index.js` calls: the same string protocol (crate documentation)
//! carried in linear memory instead of through wasm-bindgen's string conversions, which cost
//! an allocation, a copy and a `TextDecoder` call each way per event.
//!
//! One call: the glue asks [`edge_input`] for room, writes the input as UTF-8 straight into
//! it (`Buffer.write` / `TextEncoder.encodeInto`: a lone surrogate becomes U+FFFD, as with
//! the string entry points, and its field is marked `!`), calls [`edge_viewer_request`] or
//! [`edge_origin_response`] with the byte length written, and gets back the answer's byte
//! length: `0` means `"=0:"` (leave the input as it is, nothing to log), answered without
//! building a string; otherwise the answer is the UTF-8 at [`edge_answer`]. Input that is
//! not UTF-8 or longer than the room asked for reads as malformed, never out of bounds.
//!
//! Plain `extern "C"` exports (no wasm-bindgen shims), so the glue can load the module with
//! `new WebAssembly.Module` and no generated JavaScript.

use std::cell::RefCell;

thread_local! {
    /// Where the glue writes the input.
    static INPUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    /// The last answer, kept until the next call.
    static ANSWER: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Room for an input of `len` bytes: a pointer to at least `len` writable bytes, valid until
/// the next call to this function.
#[no_mangle]
pub extern "C" fn edge_input(len: usize) -> *mut u8 {
    INPUT.with_borrow_mut(|buf| {
        if buf.len() < len {
            buf.resize(len, 0);
        }
        buf.as_mut_ptr()
    })
}

/// The answer of the last call: `edge_answer()[..length it returned]`.
#[no_mangle]
pub extern "C" fn edge_answer() -> *const u8 {
    ANSWER.with_borrow(|answer| answer.as_ptr())
}

/// [`crate::viewer_request`] on the first `len` bytes of the input buffer; the answer's byte
/// length, `0` for `"=0:"`.
#[cfg(feature = "viewer-request")]
#[no_mangle]
pub extern "C" fn edge_viewer_request(len: usize, count: i32) -> usize {
    answer(len, |input| crate::viewer_request_answer(input, count))
}

/// [`crate::origin_response`] on the first `len` bytes of the input buffer; the answer's
/// byte length, `0` for `"=0:"`.
#[cfg(feature = "origin-response")]
#[no_mangle]
pub extern "C" fn edge_origin_response(len: usize, request_count: i32, count: i32, now_ms: f64) -> usize {
    answer(len, |input| {
        crate::origin_response_answer(input, request_count, count, now_ms)
    })
}

/// The header names each policy reads, comma-separated, as constants: computing them at
/// load cost a cold start a lazy compile of the join code (~0.5 ms). `the_read_lists_are_the_policys`
/// checks that they are exactly what `edge_policy` names.
const READS: [&str; 3] = [
    "x-forwarded-host,x-host,x-forwarded-server,x-forwarded-scheme,x-forwarded-port,x-original-url,\
     x-rewrite-url,x-http-method-override,x-http-method,x-method-override,forwarded,accept-encoding,cookie,\
     authorization,x-viewer-authorization",
    "cache-control,set-cookie,vary,expires,date,surrogate-key,cdn-cache-control,cloudflare-cdn-cache-control",
    "authorization,x-viewer-authorization",
];

/// The list `which` names: 0 [`crate::viewer_request_reads`], 1 [`crate::origin_response_reads`],
/// 2 [`crate::origin_response_request_reads`], anything else the empty list.
fn reads(which: u32) -> &'static str {
    usize::try_from(which)
        .ok()
        .and_then(|i| READS.get(i))
        .copied()
        .unwrap_or("")
}

/// The byte length of read list `which` (see [`reads`]).
#[no_mangle]
pub extern "C" fn edge_reads(which: u32) -> usize {
    reads(which).len()
}

/// Where read list `which` is (see [`reads`]); static, never freed.
#[no_mangle]
pub extern "C" fn edge_reads_at(which: u32) -> *const u8 {
    reads(which).as_ptr()
}

/// What every module builds before its first call (the embedded rule set), built once at
/// build time: `make wasm` runs this export in `wasm-ctor-eval`, which keeps the memory it
/// leaves as the module's data and drops the export, so a cold start neither runs nor
/// compiles it. A module where that did not happen builds it at its first call instead.
#[no_mangle]
pub extern "C" fn edge_init() {
    let _ = edge_policy::RuleSet::embedded();
}

/// Runs `decide` on the input and keeps its answer. (Unused in a build with neither trigger.)
#[cfg_attr(not(any(feature = "viewer-request", feature = "origin-response")), allow(dead_code))]
fn answer(len: usize, decide: impl FnOnce(&str) -> Option<String>) -> usize {
    let decide = || {
        INPUT.with_borrow(|buf| match buf.get(..len).map(std::str::from_utf8) {
            Some(Ok(input)) => decide(input),
            // Not what the glue writes: the same answer as any malformed input.
            _ => decide("!"),
        })
    };
    // SAFETY: what the call allocates is the decision; its answer is copied out below, after
    // the session closed (into a lasting buffer, carved above the session's blocks), and then
    // dropped, all before the next call.
    let decided = unsafe { crate::arena::per_call(decide) };
    match decided {
        None => 0,
        Some(text) => ANSWER.with_borrow_mut(|answer| {
            answer.clear();
            answer.push_str(&text);
            answer.len()
        }),
    }
}

#[cfg(all(test, feature = "viewer-request"))]
mod tests {
    use super::*;

    /// What the glue does: write `input`, call, read the answer back.
    fn call(input: &str, count: i32) -> String {
        let at = edge_input(input.len());
        // SAFETY: `edge_input` returned room for `input.len()` bytes.
        unsafe { std::ptr::copy_nonoverlapping(input.as_ptr(), at, input.len()) };
        match edge_viewer_request(input.len(), count) {
            0 => "=0:".to_owned(),
            // SAFETY: the answer buffer holds `n` bytes of UTF-8 until the next call.
            n => unsafe { String::from_utf8_lossy(std::slice::from_raw_parts(edge_answer(), n)).into_owned() },
        }
    }

    #[test]
    fn the_read_lists_are_the_policys() {
        assert_eq!(reads(0), crate::viewer_request_reads());
        assert_eq!(reads(1), crate::origin_response_reads());
        assert_eq!(reads(2), crate::origin_response_request_reads());
        assert_eq!(reads(3), "");
    }

    #[test]
    fn raw_calls_answer_what_the_string_entry_point_answers() {
        let big = format!("3:GET2:/a{}:{}", 70_000, "b=1&".repeat(17_500));
        for (input, count) in [
            ("3:GET15:/api/products/16:page=2", 0),
            ("3:GET3://a3:b=1", 0),
            ("3:GET7:/caf\u{e9}\0 0:", 0),
            ("", 0),
            (big.as_str(), 0),
        ] {
            assert_eq!(call(input, count), crate::viewer_request(input, count), "{input:.40}");
        }
    }

    #[test]
    fn a_length_past_the_room_or_bad_utf8_reads_as_malformed() {
        let room = edge_input(4);
        // SAFETY: four bytes of room.
        unsafe { std::ptr::copy_nonoverlapping([0xff, b':', b'a', b'b'].as_ptr(), room, 4) };
        let n = edge_viewer_request(4, 0);
        // SAFETY: as in `call`.
        let answer = unsafe { std::str::from_utf8(std::slice::from_raw_parts(edge_answer(), n)) };
        assert!(answer.is_ok_and(|a| a.starts_with('=') && a.contains("malformed-input")));
        let n = edge_viewer_request(usize::MAX, 0);
        // SAFETY: as in `call`.
        let answer = unsafe { std::str::from_utf8(std::slice::from_raw_parts(edge_answer(), n)) };
        assert!(answer.is_ok_and(|a| a.contains("malformed-input")));
    }
}
