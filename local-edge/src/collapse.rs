//! Request collapsing: concurrent misses for one cache key wait on one fetch.
//!
//! CloudFront Developer Guide, "Request and response behavior for custom origins",
//! "Simultaneous requests for the same object (request collapsing)": requests with the same
//! cache key that arrive while the first one's origin request is in flight are held, and
//! answered with that one response. Not on CachingDisabled, and never with an answer whose
//! TTL is 0 (`lambda-edge-rules.md`, "Caching facts the edge relies on"): the flow decides
//! that.
//!
//! The first request for a key leads a flight ([`Flights::join_or_lead`]); later ones join
//! it and wait for the outcome the leader shares ([`Leader::finish`]). The key is freed
//! however the leader ends: when it finishes, and also when it is dropped unfinished (its task
//! aborted, or a panic unwinding it), so a vanished leader never keeps a key busy and never
//! leaves its waiters waiting. What a waiter does with an outcome, or with none, is the
//! request flow's choice (`flow.rs`): this file knows nothing of HTTP.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::watch;

type InFlight<K, V> = HashMap<K, watch::Receiver<Option<V>>>;

/// The flights in progress, by key.
pub struct Flights<K, V> {
    in_flight: Arc<Mutex<InFlight<K, V>>>,
}

impl<K, V> Default for Flights<K, V> {
    fn default() -> Self {
        Flights {
            in_flight: Arc::default(),
        }
    }
}

/// What a request for a key becomes.
pub enum Role<K: Hash + Eq, V> {
    /// No flight was in progress: this request leads a new one.
    Lead(Leader<K, V>),
    /// A flight was in progress: this request waits for its outcome.
    Join(Flight<V>),
}

/// The leader of a flight. It frees the key when it finishes or is dropped.
pub struct Leader<K: Hash + Eq, V> {
    in_flight: Arc<Mutex<InFlight<K, V>>>,
    key: K,
    outcome: watch::Sender<Option<V>>,
}

/// A flight as a waiter holds it.
pub struct Flight<V> {
    outcome: watch::Receiver<Option<V>>,
}

fn lock<K, V>(in_flight: &Mutex<InFlight<K, V>>) -> MutexGuard<'_, InFlight<K, V>> {
    // A poisoned lock only means a panic elsewhere while it was held; the map is still valid.
    in_flight.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl<K: Hash + Eq + Clone, V> Flights<K, V> {
    /// Joins the flight in progress for `key`, or leads a new one.
    pub fn join_or_lead(&self, key: K) -> Role<K, V> {
        let mut in_flight = lock(&self.in_flight);
        if let Some(outcome) = in_flight.get(&key) {
            return Role::Join(Flight {
                outcome: outcome.clone(),
            });
        }
        let (outcome, receiver) = watch::channel(None);
        in_flight.insert(key.clone(), receiver);
        Role::Lead(Leader {
            in_flight: self.in_flight.clone(),
            key,
            outcome,
        })
    }
}

impl<K: Hash + Eq, V> Leader<K, V> {
    /// The flight as its waiters see it (the leader may wait on its own flight elsewhere).
    pub fn flight(&self) -> Flight<V> {
        Flight {
            outcome: self.outcome.subscribe(),
        }
    }

    /// Frees the key, then hands `outcome` to every waiter. A request arriving after this
    /// leads a flight of its own.
    pub fn finish(self, outcome: V) {
        self.free();
        self.outcome.send_replace(Some(outcome));
        // Dropping `self` frees the key again: a no-op, the key is no longer this flight's.
    }

    /// Removes the key if it still names this flight.
    fn free(&self) {
        let mut in_flight = lock(&self.in_flight);
        if in_flight
            .get(&self.key)
            .is_some_and(|mine| mine.same_channel(&self.outcome.subscribe()))
        {
            in_flight.remove(&self.key);
        }
    }
}

impl<K: Hash + Eq, V> Drop for Leader<K, V> {
    /// A leader dropped unfinished frees its key; its waiters, seeing the flight end without
    /// an outcome, are released with none.
    fn drop(&mut self) {
        self.free();
    }
}

impl<V: Clone> Flight<V> {
    /// The leader's outcome, once it finishes; `None` when the leader went away without one.
    pub async fn outcome(mut self) -> Option<V> {
        match self.outcome.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone(),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::task::JoinHandle;

    use super::*;

    type Tested = Flights<&'static str, u32>;

    fn lead(flights: &Tested) -> Leader<&'static str, u32> {
        match flights.join_or_lead("k") {
            Role::Lead(leader) => leader,
            Role::Join(_) => panic!("already in flight"),
        }
    }

    fn join(flights: &Tested) -> Flight<u32> {
        match flights.join_or_lead("k") {
            Role::Join(flight) => flight,
            Role::Lead(_) => panic!("not in flight"),
        }
    }

    fn is_free(flights: &Tested) -> bool {
        matches!(flights.join_or_lead("k"), Role::Lead(_))
    }

    #[tokio::test]
    async fn waiters_share_the_leaders_outcome_and_the_key_is_freed() {
        let flights = Tested::default();
        let leader = lead(&flights);
        let (mine, waiter) = (leader.flight(), join(&flights));
        assert!(matches!(flights.join_or_lead("other"), Role::Lead(_)), "keys fly apart");
        leader.finish(7);
        assert_eq!((mine.outcome().await, waiter.outcome().await), (Some(7), Some(7)));
        assert!(is_free(&flights), "a request after the outcome leads anew");
    }

    /// A leader whose task `end` ends unfinished: its waiter is released with no outcome and
    /// the key is free again.
    async fn leader_ends_unfinished(end: impl FnOnce(Leader<&'static str, u32>) -> JoinHandle<()>) {
        let flights = Tested::default();
        let waiter = {
            let leader = lead(&flights);
            let waiter = join(&flights);
            let task = end(leader);
            assert!(task.await.is_err(), "the task ended unfinished");
            waiter
        };
        let released = tokio::time::timeout(Duration::from_secs(5), waiter.outcome()).await;
        assert_eq!(released, Ok(None), "released, with no outcome");
        assert!(is_free(&flights));
    }

    #[tokio::test]
    async fn a_dropped_leader_frees_the_key_and_releases_its_waiters() {
        leader_ends_unfinished(|leader| {
            let task = tokio::spawn(async move {
                let _leader = leader;
                std::future::pending::<()>().await;
            });
            task.abort();
            task
        })
        .await;
    }

    #[tokio::test]
    async fn a_leader_that_panics_frees_the_key_and_releases_its_waiters() {
        leader_ends_unfinished(|leader| {
            tokio::spawn(async move {
                let _leader = leader;
                panic!("the fill panicked");
            })
        })
        .await;
    }
}
