//! What the live page remembers: the last [`CAPACITY`] viewer requests as they were received
//! and answered ([`Record`]), and per behaviour, how many were hits in each [`BUCKET_SECS`]
//! of the last [`BUCKETS`] buckets. Bounded: the oldest record and bucket go first.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::message::EdgeRequest;
use crate::stats::XCache;

tokio::task_local! {
    /// What viewer-request returned, for the request this task serves ([`note_rewrite`]).
    /// `None` when nothing is recorded (the page is off): the flow then copies nothing.
    pub(crate) static REWRITTEN: Option<RefCell<Option<Rewritten>>>;
}

/// Called by the flow with the request viewer-request returned: kept for the record of the
/// request this task serves (nothing when the page is off).
pub(crate) fn note_rewrite(request: &EdgeRequest) {
    let _ = REWRITTEN.try_with(|r| {
        if let Some(r) = r {
            *r.borrow_mut() = Some(Rewritten {
                uri: request.uri.clone(),
                querystring: request.querystring.clone(),
                headers: request.headers.clone(),
            });
        }
    });
}

/// Requests kept.
pub(crate) const CAPACITY: usize = 500;
/// Seconds per bucket of the hit-ratio chart.
pub(crate) const BUCKET_SECS: u64 = 5;
/// Buckets kept per behaviour (5 minutes).
pub(crate) const BUCKETS: usize = 60;

/// The request after viewer-request, as the handler (Wasm in Node, or native) returned it.
#[derive(Debug, Clone)]
pub(crate) struct Rewritten {
    pub(crate) uri: String,
    pub(crate) querystring: String,
    pub(crate) headers: http::HeaderMap,
}

/// One viewer request and how it was answered.
#[derive(Debug)]
pub(crate) struct Record {
    /// Set by [`Recorder::push`], from 1.
    pub(crate) id: u64,
    /// When it arrived, ms since the epoch.
    pub(crate) at_ms: u64,
    /// As received (never shown without [`crate::explain::Redaction`]; no body).
    pub(crate) viewer: EdgeRequest,
    /// The behaviour's path pattern.
    pub(crate) behaviour: String,
    pub(crate) status: u16,
    pub(crate) x_cache: XCache,
    /// The answer's `Cache-Status` members (each layer that reported).
    pub(crate) cache_status: Vec<String>,
    pub(crate) latency_ms: f64,
    /// What viewer-request returned (`None`: it did not run, or generated or failed).
    pub(crate) handler: Option<Rewritten>,
    /// The native policy's canonical path and query for the same viewer request (`None`:
    /// a request the policy leaves alone).
    pub(crate) native: Option<(String, String)>,
    /// The canonical key of what the handler returned, from the distribution's domain.
    pub(crate) key: Option<String>,
}

impl Record {
    /// Whether the native canonical form differs from what the handler returned.
    pub(crate) fn differs(&self) -> bool {
        match (&self.handler, &self.native) {
            (Some(h), Some((uri, query))) => h.uri != *uri || h.querystring != *query,
            _ => false,
        }
    }

    fn hit(&self) -> bool {
        matches!(self.x_cache, XCache::Hit | XCache::RefreshHit)
    }
}

/// One bucket of one behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Bucket {
    /// Seconds since the edge started, divided by [`BUCKET_SECS`].
    pub(crate) index: u64,
    pub(crate) hits: u64,
    pub(crate) requests: u64,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    records: VecDeque<Arc<Record>>,
    series: Vec<(String, VecDeque<Bucket>)>,
}

/// The records and the buckets.
pub(crate) struct Recorder {
    started: Instant,
    inner: Mutex<Inner>,
}

impl Recorder {
    pub(crate) fn new() -> Self {
        Recorder {
            started: Instant::now(),
            inner: Mutex::new(Inner {
                next_id: 1,
                ..Inner::default()
            }),
        }
    }

    /// The bucket now falls in.
    pub(crate) fn bucket_now(&self) -> u64 {
        self.started.elapsed().as_secs() / BUCKET_SECS
    }

    /// Keeps `record` (its id assigned) and counts it in its behaviour's bucket.
    pub(crate) fn push(&self, mut record: Record) {
        let index = self.bucket_now();
        let Ok(mut inner) = self.inner.lock() else { return };
        record.id = inner.next_id;
        inner.next_id += 1;
        let series = match inner.series.iter().position(|(b, _)| *b == record.behaviour) {
            Some(i) => &mut inner.series[i].1,
            None => {
                inner.series.push((record.behaviour.clone(), VecDeque::new()));
                &mut inner.series.last_mut().expect("just pushed").1
            }
        };
        match series.back_mut() {
            Some(last) if last.index == index => {
                last.requests += 1;
                last.hits += u64::from(record.hit());
            }
            _ => series.push_back(Bucket {
                index,
                hits: u64::from(record.hit()),
                requests: 1,
            }),
        }
        while series.front().is_some_and(|b| b.index + (BUCKETS as u64) <= index) {
            series.pop_front();
        }
        inner.records.push_back(Arc::new(record));
        if inner.records.len() > CAPACITY {
            inner.records.pop_front();
        }
    }

    /// The records after `after`, oldest first, and the newest id.
    pub(crate) fn since(&self, after: u64) -> (Vec<Arc<Record>>, u64) {
        let Ok(inner) = self.inner.lock() else {
            return (Vec::new(), 0);
        };
        let newer = inner.records.iter().filter(|r| r.id > after).cloned().collect();
        (newer, inner.next_id - 1)
    }

    /// The record `id`, while it is kept.
    pub(crate) fn get(&self, id: u64) -> Option<Arc<Record>> {
        let inner = self.inner.lock().ok()?;
        inner.records.iter().find(|r| r.id == id).cloned()
    }

    /// Each behaviour's buckets within the last [`BUCKETS`], in order of first request.
    pub(crate) fn series(&self) -> Vec<(String, Vec<Bucket>)> {
        let now = self.bucket_now();
        let Ok(inner) = self.inner.lock() else {
            return Vec::new();
        };
        inner
            .series
            .iter()
            .map(|(b, buckets)| {
                let recent = buckets
                    .iter()
                    .filter(|x| x.index + (BUCKETS as u64) > now)
                    .copied()
                    .collect();
                (b.clone(), recent)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fixtures::get;

    fn record(behaviour: &str, x_cache: XCache) -> Record {
        Record {
            id: 0,
            at_ms: 0,
            viewer: get("/p", "", &[]),
            behaviour: behaviour.into(),
            status: 200,
            x_cache,
            cache_status: Vec::new(),
            latency_ms: 1.0,
            handler: None,
            native: None,
            key: None,
        }
    }

    #[test]
    fn the_oldest_records_go_first_and_ids_keep_counting() {
        let r = Recorder::new();
        for _ in 0..CAPACITY + 3 {
            r.push(record("*", XCache::Miss));
        }
        let (all, latest) = r.since(0);
        assert_eq!((all.len(), latest), (CAPACITY, (CAPACITY + 3) as u64));
        assert_eq!(all[0].id, 4);
        assert!(r.get(3).is_none() && r.get(4).is_some());
        assert_eq!(r.since(latest - 1).0.len(), 1);
    }

    #[test]
    fn hits_are_counted_per_behaviour_and_bucket() {
        let r = Recorder::new();
        r.push(record("/api/products/*", XCache::Miss));
        r.push(record("/api/products/*", XCache::Hit));
        r.push(record("*", XCache::RefreshHit));
        let series = r.series();
        assert_eq!(series.len(), 2);
        assert_eq!((series[0].1[0].hits, series[0].1[0].requests), (1, 2));
        assert_eq!((series[1].1[0].hits, series[1].1[0].requests), (1, 1));
    }
}
