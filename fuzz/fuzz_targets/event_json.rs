//! A Lambda@Edge event as JSON: whatever parses, the native handler answers without panicking.
#![no_main]

use edge_policy::event::{handle, Event};
use edge_policy::RuleSet;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = serde_json::from_slice::<Event>(data) else {
        return;
    };
    if let Ok((result, _)) = handle(RuleSet::embedded(), &event, 0) {
        let _ = serde_json::to_vec(&result);
    }
});
