//! What one execution environment knows of the purge log (purge.md, "Order of a purge",
//! step 3), read before anything is served from L1.
//!
//! - Before it serves from L1, an environment reads the log's head when its last read was
//!   **sent** more than `poll` ago (one read per environment per interval, and only while
//!   requests arrive), and the purges logged since when the head has moved.
//! - It never serves from L1, nor promotes from L2 into L1, an entry a purge it has read
//!   selects ([`PurgeView::selects`]).
//! - Purges older than the retention may be dropped from the log: an environment whose last
//!   successful read is older than that, or that finds a gap in the sequence, clears its
//!   whole L1 ([`Refreshed::Cleared`]).
//! - Fail closed: when the log cannot be read, L1 entries stored before the last successful
//!   read are not served once that read is older than `poll` ([`PurgeView::allows_l1`]):
//!   they load again, once.
//!
//! Times are the handler's clock (`now_ms`, passed in), the same clock L1 stamps with.

use std::sync::Mutex;
use std::time::Duration;

use super::store::PurgeStore;
use super::{KeyParts, PurgeRecord};
use crate::entry::StoredEntry;

/// The most purges one environment remembers; past it, the oldest are forgotten and L1 is
/// cleared (as for a gap), so nothing a forgotten purge selects can be served.
const MAX_REMEMBERED: usize = 4096;

#[derive(Debug, Default)]
struct Known {
    /// The highest sequence read: `S₀` of a load that starts now.
    seq: u64,
    /// The purges read, by sequence.
    records: Vec<PurgeRecord>,
    /// When the last read was sent.
    last_sent_ms: Option<u64>,
    /// When the last successful read was sent.
    last_ok_ms: Option<u64>,
    /// The last read failed.
    failing: bool,
}

/// What a refresh did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refreshed {
    /// No read was due.
    NotDue,
    /// The head was read (and the new purges, if it moved).
    Read,
    /// A gap, the retention passed or too many purges: L1 must be cleared.
    Cleared,
    /// The read failed: fail closed.
    Failed,
}

/// One environment's view of the purge log.
#[derive(Debug)]
pub struct PurgeView {
    known: Mutex<Known>,
    /// One read at a time per environment.
    reading: tokio::sync::Mutex<()>,
    poll_ms: u64,
    retention_ms: u64,
}

impl PurgeView {
    /// A view read every `poll` at most, for a log keeping purges `retention`.
    pub fn new(poll: Duration, retention: Duration) -> Self {
        PurgeView {
            known: Mutex::new(Known::default()),
            reading: tokio::sync::Mutex::new(()),
            poll_ms: poll.as_millis() as u64,
            retention_ms: retention.as_millis() as u64,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Known) -> R) -> R {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut known)
    }

    /// `S₀` for a load that reads the source now: the highest purge read.
    pub fn seq(&self) -> u64 {
        self.with(|k| k.seq)
    }

    fn due(&self, now_ms: u64) -> bool {
        self.with(|k| {
            k.last_sent_ms
                .is_none_or(|sent| now_ms.saturating_sub(sent) > self.poll_ms)
        })
    }

    /// Reads the head from `store` if a read is due at `now_ms`, and the purges logged
    /// since it last moved.
    pub async fn refresh(&self, store: &dyn PurgeStore, now_ms: u64) -> Refreshed {
        if !self.due(now_ms) {
            return Refreshed::NotDue;
        }
        let _reading = self.reading.lock().await;
        // Another invocation of this environment may have read meanwhile.
        if !self.due(now_ms) {
            return Refreshed::NotDue;
        }
        let (after, stale) = self.with(|k| {
            k.last_sent_ms = Some(now_ms);
            let stale = k
                .last_ok_ms
                .is_some_and(|ok| now_ms.saturating_sub(ok) > self.retention_ms);
            (k.seq, stale)
        });
        let read = async {
            let head = store.head().await?;
            let records = store.records(after, head).await?;
            Ok::<_, crate::error::OriginError>((head, records))
        };
        match read.await {
            Ok((head, records)) => self.with(|k| {
                k.failing = false;
                k.last_ok_ms = Some(now_ms);
                if head <= k.seq {
                    return if stale { Refreshed::Cleared } else { Refreshed::Read };
                }
                let gap = records.len() as u64 != head - k.seq;
                k.seq = head;
                k.records.extend(records);
                let overflow = k.records.len() > MAX_REMEMBERED;
                if overflow {
                    let drop = k.records.len() - MAX_REMEMBERED;
                    k.records.drain(..drop);
                }
                if gap || stale || overflow {
                    Refreshed::Cleared
                } else {
                    Refreshed::Read
                }
            }),
            Err(_) => {
                self.with(|k| k.failing = true);
                Refreshed::Failed
            }
        }
    }

    /// The log counted unreadable at `now_ms` without a read, when one is due (L2's breaker
    /// is open: the purge table sits on the same service, and a read would only pay its
    /// deadline). As after a failed read, L1 copies stored before the last good read stop
    /// once it is older than the interval.
    pub fn unreadable(&self, now_ms: u64) -> Refreshed {
        if !self.due(now_ms) {
            return Refreshed::NotDue;
        }
        self.with(|k| {
            k.last_sent_ms = Some(now_ms);
            k.failing = true;
        });
        Refreshed::Failed
    }

    /// Whether a purge this environment has read selects `entry`.
    pub fn selects(&self, entry: &StoredEntry) -> bool {
        let parts = KeyParts::of(&entry.key);
        self.with(|k| k.records.iter().any(|r| r.selects(entry.seq, &parts, &entry.tags)))
    }

    /// Whether an L1 entry put into L1 at `stored_in_l1_ms` may be served at `now_ms` (both
    /// on the environment's monotonic clock, as L1's stamps and this view's reads): no
    /// purge read selects it, and — while the log cannot be read — it was stored after the
    /// last successful read, or that read is at most `poll` old.
    pub fn allows_l1(&self, entry: &StoredEntry, stored_in_l1_ms: u64, now_ms: u64) -> bool {
        let closed = self.with(|k| {
            k.failing
                && k.last_ok_ms
                    .is_none_or(|ok| now_ms.saturating_sub(ok) > self.poll_ms && stored_in_l1_ms < ok)
        });
        !closed && !self.selects(entry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::OriginError;
    use crate::l2::L2Future;
    use crate::purge::store::{IndexWrite, PrefixScan};
    use crate::purge::Selector;
    use edge_policy::cache_control::{CacheControl, Stamp};

    /// A log in memory that can fail.
    #[derive(Default)]
    struct Log {
        records: Mutex<Vec<PurgeRecord>>,
        failing: std::sync::atomic::AtomicBool,
        reads: std::sync::atomic::AtomicU32,
    }

    impl Log {
        fn fail(&self) -> Result<(), OriginError> {
            self.reads.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(OriginError::L2Item("down".into()));
            }
            Ok(())
        }
    }

    impl PurgeStore for Log {
        fn index<'a>(&'a self, _: &'a IndexWrite) -> L2Future<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn head(&self) -> L2Future<'_, u64> {
            Box::pin(async move {
                self.fail()?;
                Ok(self.records.lock().unwrap().iter().map(|r| r.seq).max().unwrap_or(0))
            })
        }
        fn records(&self, after: u64, upto: u64) -> L2Future<'_, Vec<PurgeRecord>> {
            Box::pin(async move {
                let all = self.records.lock().unwrap();
                Ok(all.iter().filter(|r| r.seq > after && r.seq <= upto).cloned().collect())
            })
        }
        fn allocate(&self) -> L2Future<'_, u64> {
            Box::pin(async { Ok(0) })
        }
        fn log<'a>(&'a self, _: &'a PurgeRecord, _: u64, _: Duration) -> L2Future<'a, ()> {
            Box::pin(async { Ok(()) })
        }
        fn keys_for_path<'a>(&'a self, _: &'a str, _: u64) -> L2Future<'a, Vec<String>> {
            Box::pin(async { Ok(vec![]) })
        }
        fn paths_for_tag<'a>(&'a self, _: &'a str, _: u64) -> L2Future<'a, Vec<String>> {
            Box::pin(async { Ok(vec![]) })
        }
        fn prefix_scan<'a>(&'a self, _: &'a str, _: u64) -> L2Future<'a, PrefixScan> {
            Box::pin(async { Ok(PrefixScan::default()) })
        }
    }

    fn entry(key: &str, seq: u64, tags: &[&str]) -> StoredEntry {
        StoredEntry {
            key: key.into(),
            status: 200,
            content_type: "application/json".into(),
            etag: "\"e\"".into(),
            body: "{}".into(),
            cache_control: CacheControl::parse(["public, s-maxage=300"]),
            stamp: Stamp::default(),
            delta_ms: 1,
            seq,
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn tag(seq: u64, tag: &str) -> PurgeRecord {
        PurgeRecord {
            seq,
            selector: Selector::Tag(tag.into()),
        }
    }

    #[tokio::test]
    async fn the_head_is_read_at_most_once_per_interval_and_purges_select_older_entries() {
        let log = Log::default();
        let view = PurgeView::new(Duration::from_millis(1000), Duration::from_secs(3600));
        assert_eq!(view.refresh(&log, 0).await, Refreshed::Read);
        assert_eq!(view.refresh(&log, 1000).await, Refreshed::NotDue);
        log.records.lock().unwrap().push(tag(1, "product:42"));
        assert_eq!(view.refresh(&log, 1001).await, Refreshed::Read);
        assert_eq!(view.seq(), 1);
        assert_eq!(log.reads.load(std::sync::atomic::Ordering::SeqCst), 2);
        let old = entry("h/api/products/42", 0, &["product:42"]);
        assert!(view.selects(&old) && !view.allows_l1(&old, 0, 1001));
        assert!(
            !view.selects(&entry("h/api/products/42", 1, &["product:42"])),
            "loaded after"
        );
        assert!(!view.selects(&entry("h/api/products/7", 0, &["product:7"])));
    }

    #[tokio::test]
    async fn a_gap_clears_l1() {
        let log = Log::default();
        let view = PurgeView::new(Duration::from_millis(10), Duration::from_secs(3600));
        log.records.lock().unwrap().push(tag(2, "a"));
        assert_eq!(view.refresh(&log, 0).await, Refreshed::Cleared, "purge 1 is missing");
        assert_eq!(view.seq(), 2);
    }

    #[tokio::test]
    async fn a_failing_log_stops_old_l1_entries_once_the_last_read_is_older_than_the_interval() {
        let log = Log::default();
        let view = PurgeView::new(Duration::from_millis(1000), Duration::from_secs(3600));
        view.refresh(&log, 10_000).await;
        log.failing.store(true, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(view.refresh(&log, 11_001).await, Refreshed::Failed);
        let e = entry("h/a", 0, &[]);
        assert!(!view.allows_l1(&e, 9_000, 11_001), "stored before the last good read");
        assert!(view.allows_l1(&e, 11_001, 11_001), "loaded again after it: served");
        log.failing.store(false, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(view.refresh(&log, 12_002).await, Refreshed::Read);
        assert!(view.allows_l1(&e, 9_000, 12_002));
    }

    #[tokio::test]
    async fn an_unreadable_log_pays_no_read_and_fails_closed_on_old_l1_entries() {
        let log = Log::default();
        let view = PurgeView::new(Duration::from_millis(1000), Duration::from_secs(3600));
        view.refresh(&log, 10_000).await;
        let reads = log.reads.load(std::sync::atomic::Ordering::SeqCst);
        assert_eq!(view.unreadable(10_500), Refreshed::NotDue, "not due yet");
        assert_eq!(view.unreadable(11_001), Refreshed::Failed);
        assert_eq!(
            log.reads.load(std::sync::atomic::Ordering::SeqCst),
            reads,
            "no read sent"
        );
        let e = entry("h/a", 0, &[]);
        assert!(!view.allows_l1(&e, 9_000, 11_001), "stored before the last good read");
        assert_eq!(view.refresh(&log, 12_002).await, Refreshed::Read);
        assert!(view.allows_l1(&e, 9_000, 12_002));
    }
}
