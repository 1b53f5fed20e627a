//! Concurrent loads of one key inside an execution environment share one load (origin-cache.md,
//! read path step 4). Only the load is coalesced: every caller reads L1 and L2 itself first,
//! so an L2 hit never waits behind another caller.
//!
//! The first caller of a key leads: it runs its load and hands the result to every caller
//! that arrived meanwhile. A leader that goes away without finishing (its task was dropped)
//! lets each waiting caller run its own load instead: nobody waits for nothing.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use tokio::sync::watch;

/// How a caller's load was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadRole {
    /// This caller's load ran.
    Loaded,
    /// Another caller's load answered: the request was collapsed.
    Collapsed,
}

type Slot<T> = watch::Receiver<Option<T>>;

/// The loads in flight, by key.
pub struct Flights<T> {
    in_flight: Mutex<HashMap<String, Slot<T>>>,
}

impl<T> Default for Flights<T> {
    fn default() -> Self {
        Flights {
            in_flight: Mutex::new(HashMap::new()),
        }
    }
}

/// Removes the leader's slot however its load ends.
struct Leading<'a, T> {
    flights: &'a Flights<T>,
    key: &'a str,
}

impl<T> Drop for Leading<'_, T> {
    fn drop(&mut self) {
        self.flights.lock().remove(self.key);
    }
}

impl<T> Flights<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot<T>>> {
        // A poisoned lock only means a panic elsewhere; the map is still valid.
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<T: Clone> Flights<T> {
    /// The result of `load` for `key`, run once for all concurrent callers.
    pub async fn run<F>(&self, key: &str, load: F) -> (T, LoadRole)
    where
        F: Future<Output = T>,
    {
        let role = {
            let mut in_flight = self.lock();
            match in_flight.get(key) {
                Some(slot) => Err(slot.clone()),
                None => {
                    let (tx, rx) = watch::channel(None);
                    in_flight.insert(key.to_owned(), rx);
                    Ok(tx)
                }
            }
        };
        match role {
            Ok(tx) => {
                let _leading = Leading { flights: self, key };
                let value = load.await;
                tx.send_replace(Some(value.clone()));
                (value, LoadRole::Loaded)
            }
            Err(mut slot) => {
                let answered = match slot.wait_for(Option::is_some).await {
                    Ok(value) => value.clone(),
                    Err(_) => None,
                };
                match answered {
                    Some(value) => (value, LoadRole::Collapsed),
                    // The leader went away without an answer: load alone.
                    None => (load.await, LoadRole::Loaded),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn concurrent_callers_share_one_load() {
        let flights = Flights::<u32>::default();
        let loads = AtomicU32::new(0);
        let load = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            7
        };
        let (a, b, c) = tokio::join!(
            flights.run("k", load()),
            flights.run("k", load()),
            flights.run("k", load())
        );
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!((a.0, b.0, c.0), (7, 7, 7));
        let roles = [a.1, b.1, c.1];
        assert_eq!(roles.iter().filter(|r| **r == LoadRole::Loaded).count(), 1);
        // Finished: the next caller loads again.
        assert_eq!(flights.run("k", load()).await, (7, LoadRole::Loaded));
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_leader_that_goes_away_lets_the_others_load() {
        let flights = Arc::new(Flights::<u32>::default());
        let leader = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move {
                flights
                    .run("k", async {
                        tokio::time::sleep(Duration::from_secs(60)).await;
                        1
                    })
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let follower = {
            let flights = Arc::clone(&flights);
            tokio::spawn(async move { flights.run("k", async { 2 }).await })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        leader.abort();
        let answer = tokio::time::timeout(Duration::from_secs(5), follower)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answer, (2, LoadRole::Loaded));
    }
}
