//! `Cache-Control`: parse → write → reparse gives the same line (cache-control.md, "Writing").
//!
//! Input: UTF-8 text, one field line per `\n`.
#![no_main]

use edge_policy::cache_control::CacheControl;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let once = CacheControl::parse(text.split('\n')).to_header_value();
    let twice = CacheControl::parse([once.as_str()]).to_header_value();
    assert_eq!(twice, once);
});
