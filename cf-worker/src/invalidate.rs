//! What this isolate invalidated, so that nothing started before an invalidation stores a
//! copy after it (RFC 9111 §4.4 through the Cache API: `cache.delete` is per data centre, and
//! a background revalidation or a `put` already in flight would otherwise put the stale copy
//! back).
//!
//! An *epoch* counts invalidations in this isolate. A store records the epoch when it starts
//! (a request, a background revalidation) and is dropped when its URL was invalidated at a
//! later epoch — checked before the `put` and again after it (deleting what it put). The
//! record keeps the newest [`KEPT`] URLs; past that, a store that started before the oldest
//! forgotten invalidation is dropped too (fail closed: a miss, never a stale copy). Other
//! isolates and other data centres are not told: a limit of the platform (docs/worker.md).

use std::cell::RefCell;
use std::collections::HashMap;

/// How many invalidated URLs the isolate remembers.
const KEPT: usize = 4096;

#[derive(Default)]
struct Record {
    /// The epoch of the last invalidation.
    epoch: u64,
    /// URL → the epoch it was last invalidated at.
    urls: HashMap<String, u64>,
    /// The newest epoch forgotten when the record was full.
    forgotten: u64,
}

thread_local! {
    static RECORD: RefCell<Record> = RefCell::new(Record::default());
}

/// The current epoch: what a store records when it starts.
pub fn epoch() -> u64 {
    RECORD.with(|r| r.borrow().epoch)
}

/// Records that `url` was invalidated now.
pub fn record(url: &str) {
    RECORD.with(|r| {
        let mut r = r.borrow_mut();
        r.epoch += 1;
        let epoch = r.epoch;
        if r.urls.len() >= KEPT && !r.urls.contains_key(url) {
            // Forget the oldest half; remember the newest epoch forgotten.
            let mut epochs: Vec<u64> = r.urls.values().copied().collect();
            epochs.sort_unstable();
            let cut = epochs[epochs.len() / 2];
            r.urls.retain(|_, e| *e > cut);
            r.forgotten = r.forgotten.max(cut);
        }
        r.urls.insert(url.to_owned(), epoch);
    });
}

/// Whether `url` was (or may have been) invalidated after `started` (an [`epoch`]).
pub fn since(url: &str, started: u64) -> bool {
    RECORD.with(|r| {
        let r = r.borrow();
        r.urls.get(url).is_some_and(|e| *e > started) || r.forgotten > started
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_started_before_an_invalidation_is_dropped() {
        let started = epoch();
        assert!(!since("https://h/a", started));
        record("https://h/a");
        assert!(since("https://h/a", started));
        assert!(!since("https://h/b", started));
        assert!(!since("https://h/a", epoch()), "a store started after it may put");
    }

    #[test]
    fn a_full_record_forgets_only_by_failing_closed() {
        let started = epoch();
        for i in 0..=KEPT {
            record(&format!("https://h/{i}"));
        }
        assert!(since("https://h/0", started), "forgotten, still dropped");
        assert!(since("https://h/never-invalidated", started), "fail closed");
        assert!(!since("https://h/never-invalidated", epoch()));
    }
}
