//! The origin's load at its peak, for sizing the origin function's reserved concurrency
//! (`lambda-edge-rules.md`, Throttling: reserve at least the larger of the peak concurrency
//! and the peak requests per second ÷ 10), and the peak origin-response invocations per
//! second in one Region (Lambda@Edge's concurrency is counted per Region).

use std::collections::{HashMap, VecDeque};

use serde::Serialize;

/// Lambda serves at most this many requests per second per unit of concurrency
/// (`lambda-edge-rules.md`, Throttling).
pub const REQUESTS_PER_SECOND_PER_CONCURRENCY: u64 = 10;

/// The peaks of a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Peaks {
    /// Most origin requests that started in one second of the trace's clock (whole
    /// seconds, aligned to the trace's start).
    pub origin_requests_per_second: u64,
    /// Most origin requests in flight at once, each taking the simulation's origin latency:
    /// an upper bound on the origin function's concurrency (the function itself runs for
    /// part of that time).
    pub origin_concurrency: u64,
    /// Most origin-response invocations that started in one second in one Region.
    pub origin_response_per_second: u64,
    /// That Region.
    pub origin_response_region: Option<&'static str>,
    /// Reserved concurrency for the origin function: the larger of the peak concurrency
    /// and the peak requests per second ÷ 10, rounded up.
    pub reserved_concurrency: u64,
}

/// Counts per whole second of the clock, keeping the largest.
#[derive(Debug, Clone, Default)]
struct PerSecond {
    second: u64,
    count: u64,
    peak: u64,
}

impl PerSecond {
    fn add(&mut self, at_ms: u64) {
        let second = at_ms / 1000;
        if second != self.second {
            self.second = second;
            self.count = 0;
        }
        self.count += 1;
        self.peak = self.peak.max(self.count);
    }
}

/// Measures origin requests as they start (in non-decreasing time).
#[derive(Debug, Clone)]
pub struct PeakMeter {
    latency_ms: u64,
    origin: PerSecond,
    in_flight: VecDeque<u64>,
    concurrency: u64,
    origin_response: HashMap<&'static str, PerSecond>,
}

impl PeakMeter {
    /// A meter for origin requests that each take `latency_ms` (at least 1 ms).
    pub fn new(latency_ms: u64) -> Self {
        PeakMeter {
            latency_ms: latency_ms.max(1),
            origin: PerSecond::default(),
            in_flight: VecDeque::new(),
            concurrency: 0,
            origin_response: HashMap::new(),
        }
    }

    /// An origin request starts at `at_ms`; `origin_response`: the Region whose Lambda@Edge
    /// runs origin-response on its answer, if the behaviour associates it.
    pub fn origin_request(&mut self, at_ms: u64, origin_response: Option<&'static str>) {
        self.origin.add(at_ms);
        while self
            .in_flight
            .front()
            .is_some_and(|started| started + self.latency_ms <= at_ms)
        {
            self.in_flight.pop_front();
        }
        self.in_flight.push_back(at_ms);
        self.concurrency = self.concurrency.max(self.in_flight.len() as u64);
        if let Some(region) = origin_response {
            self.origin_response.entry(region).or_default().add(at_ms);
        }
    }

    /// The peaks so far.
    pub fn peaks(&self) -> Peaks {
        let busiest = self
            .origin_response
            .iter()
            .max_by_key(|(region, s)| (s.peak, std::cmp::Reverse(**region)));
        let per_second = self.origin.peak;
        Peaks {
            origin_requests_per_second: per_second,
            origin_concurrency: self.concurrency,
            origin_response_per_second: busiest.map_or(0, |(_, s)| s.peak),
            origin_response_region: busiest.map(|(region, _)| *region),
            reserved_concurrency: self
                .concurrency
                .max(per_second.div_ceil(REQUESTS_PER_SECOND_PER_CONCURRENCY)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peaks_count_per_second_and_overlapping_requests() {
        let mut m = PeakMeter::new(100);
        for at in [0, 10, 50, 99, 150, 1_000, 1_001] {
            m.origin_request(at, Some("us-east-1"));
        }
        m.origin_request(1_002, Some("eu-central-1"));
        let p = m.peaks();
        assert_eq!(p.origin_requests_per_second, 5, "0, 10, 50, 99, 150 in second 0");
        assert_eq!(p.origin_concurrency, 4, "0, 10, 50, 99 overlap; 0 has ended by 150");
        assert_eq!(
            (p.origin_response_per_second, p.origin_response_region),
            (5, Some("us-east-1"))
        );
        assert_eq!(p.reserved_concurrency, 4);
        let mut burst = PeakMeter::new(1);
        for at in (0..1_000).step_by(10) {
            burst.origin_request(at, None);
        }
        let p = burst.peaks();
        assert_eq!((p.origin_requests_per_second, p.origin_concurrency), (100, 1));
        assert_eq!(p.reserved_concurrency, 10, "100 requests/s need 10 units");
        assert_eq!(p.origin_response_region, None);
    }
}
