//! The origin's cache layers as one type: L1, the optional L2 with its breaker and the lease
//! owner id ([`Layers`]), and one invocation's use of them at its clock ([`Session`]): L2
//! under the invocation's budget, and the writes to L1 (a promoted hit, a stored load).
//!
//! Fail-open (origin-cache.md, "Never"): every L2 call runs under the breaker, the client's
//! own deadlines **and** what is left of the invocation's one L2 budget: the time spent in
//! L2 calls and in lease waits together (`get`, lease, waits, write and release; the source
//! load in between does not count). A fault — an error, a deadline or the budget passing, or an
//! answer slower than `ORIGIN_L2_SLOW_MS` — is counted, reported to the breaker, and the
//! rest of the invocation goes on without L2. An unreadable item is a miss, not a fault.
//!
//! Purge (purge.md): the layers also hold the purge store and this environment's view of the
//! purge log ([`PurgeView`]). The log's head is read before L1 answers ([`Session::purge_refresh`],
//! under the store's own deadline, not the L2 budget: one read per interval), and every
//! storable load is indexed before it answers ([`Session::index`], under what is left of the
//! budget; a failure is counted, never an error).

use std::sync::Arc;
use std::time::{Duration, Instant};

use edge_policy::cache_control::FreshnessState;

use crate::breaker::{Breaker, BreakerState, Permit};
use crate::clock::Now;
use crate::config::{Config, L2Backend};
use crate::entry::StoredEntry;
use crate::error::{L2Fault, OriginError};
use crate::l1::L1;
use crate::l2::item::{Encoded, Found, MissReason, TooLarge, MAX_BODY_BYTES};
use crate::l2::{L2Future, WriteOutcome, L2};
use crate::metrics::Metrics;
use crate::purge::store::{IndexWrite, PurgeStore};
use crate::purge::view::{PurgeView, Refreshed};
use crate::purge::KeyParts;

/// The layers of one execution environment.
pub struct Layers {
    l1: L1,
    l2: Option<Arc<dyn L2>>,
    breaker: Breaker,
    /// This environment's lease owner id.
    owner: String,
    settings: Settings,
    /// The purge store (indexes and log) and this environment's view of the log; `None`
    /// when purging is off or there is no L2.
    purge: Option<(Arc<dyn PurgeStore>, PurgeView)>,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    budget: Duration,
    /// The backend's own deadline for one call (the client bounds every call by it).
    call_deadline: Duration,
    slow: Duration,
    lease_ms: u64,
    lease_wait: Duration,
    lease_poll: Duration,
    compress_min_bytes: usize,
    max_item_bytes: usize,
}

/// What a read of L2 found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum L2Read {
    /// An item was read and judged.
    Found(Found),
    /// L2 is not configured, skipped (breaker, budget) or failed.
    Unavailable,
}

/// The load lease, as far as this caller can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// This caller holds it.
    Held,
    /// Another caller holds it.
    Elsewhere,
    /// L2 cannot tell (unavailable).
    Unknown,
}

/// How a wait for another environment's load ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Waited {
    /// The entry appeared, fresh.
    Filled(Arc<StoredEntry>),
    /// The holder gave the lease back (or it expired): this caller holds it now.
    Acquired,
    /// The wait, the budget or L2 ran out: this caller loads without the lease.
    GaveUp,
}

/// What a write to L2 did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// Written.
    Written,
    /// Over the item limit: never attempted.
    TooLarge,
    /// A newer entry is stored: nothing written.
    Superseded,
    /// L2 is not configured.
    NoL2,
    /// L2 is unavailable (skipped or failed).
    Unavailable,
    /// A purge marker above the entry's `S₀` kept it out: the load began before that purge,
    /// so it is not kept in L1 either.
    Purged,
}

impl Layers {
    /// The layers `config` asks for, over `l2` (`None`: no L2) and the purge store `purge`
    /// (`None`: purging off).
    pub fn new(config: &Config, l2: Option<Arc<dyn L2>>, purge: Option<Arc<dyn PurgeStore>>) -> Self {
        Layers {
            purge: purge.map(|store| (store, PurgeView::new(config.purge_poll, config.purge_log_retention))),
            l1: L1::new(config.l1_max_entries, config.l1_max_bytes, config.l1_ttl_seconds),
            l2,
            breaker: Breaker::new(config.breaker_failures, config.breaker_cooldown_ms),
            owner: format!("{:016x}", rand::random::<u64>()),
            settings: Settings {
                budget: config.l2_budget,
                call_deadline: match config.l2_backend {
                    L2Backend::DynamoDb => config.l2_operation_timeout,
                    L2Backend::Redis => config.redis_command_timeout,
                },
                slow: config.l2_slow,
                lease_ms: config.lease_ms,
                lease_wait: Duration::from_millis(config.lease_wait_ms),
                lease_poll: Duration::from_millis(config.lease_poll_ms.max(1)),
                compress_min_bytes: config.l2_compress_min_bytes,
                max_item_bytes: config.l2_max_item_bytes,
            },
        }
    }

    /// The breaker in front of L2.
    pub fn breaker(&self) -> &Breaker {
        &self.breaker
    }

    /// L1.
    pub fn l1(&self) -> &L1 {
        &self.l1
    }

    /// This environment's view of the purge log, when purging is on.
    pub fn purge_view(&self) -> Option<&PurgeView> {
        self.purge.as_ref().map(|(_, view)| view)
    }

    /// `S₀` for a load starting now: the highest purge this environment has read.
    pub fn purge_seq(&self) -> u64 {
        self.purge_view().map_or(0, PurgeView::seq)
    }

    /// Whether a purge this environment has read selects `entry` (never served, never
    /// promoted).
    pub fn purged(&self, entry: &StoredEntry) -> bool {
        self.purge_view().is_some_and(|v| v.selects(entry))
    }

    /// Opens the L2 connection now (init, warm-up), under the connect deadline. A failure is
    /// only reported: requests fail open and connect again.
    pub async fn connect_l2(&self) -> Result<(), OriginError> {
        match &self.l2 {
            Some(l2) => l2.connect().await,
            None => Ok(()),
        }
    }

    /// One invocation's use of the layers, starting now, at `now` on the handler's clocks.
    pub fn session(&self, now: Now) -> Session<'_> {
        Session {
            layers: self,
            l2: self.l2.as_deref(),
            now_ms: now.wall_ms,
            monotonic_ms: now.monotonic_ms,
            started: Instant::now(),
            spent: Duration::ZERO,
            down: false,
            answered: false,
            faulted: false,
        }
    }
}

/// One invocation's use of the layers: its clock, its L2 budget, and whether L2 is still
/// usable for it.
pub struct Session<'a> {
    layers: &'a Layers,
    l2: Option<&'a dyn L2>,
    /// The wall clock (L2's times, leases).
    now_ms: u64,
    /// The monotonic clock (the breaker, L1).
    monotonic_ms: u64,
    started: Instant,
    /// Time spent in L2 calls and lease waits so far.
    spent: Duration,
    down: bool,
    /// Some call answered / some call was a fault, in this invocation.
    answered: bool,
    faulted: bool,
}

/// The breaker hears one verdict per invocation: a fault as soon as it happens, a success
/// only when the whole invocation had none. An invocation whose `get` answers but whose
/// lease runs into the budget is a faulty one, so a slow L2 still trips the breaker.
impl Drop for Session<'_> {
    fn drop(&mut self) {
        if self.answered && !self.faulted {
            self.layers.breaker.record_success();
        }
    }
}

impl Session<'_> {
    /// The handler's clock moved on by the real time spent since the session began (a
    /// lease compared during a long wait).
    fn now_ms(&self) -> u64 {
        self.now_ms
            .saturating_add(u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    /// What is left of the invocation's L2 budget.
    fn remaining(&self) -> Duration {
        self.layers.settings.budget.saturating_sub(self.spent)
    }

    /// Whether L2 is configured but unusable for the rest of this invocation (skipped by
    /// the breaker, failed, or out of budget).
    pub fn l2_unavailable(&self) -> bool {
        self.l2.is_some() && self.down
    }

    /// Runs one L2 call under the breaker, the budget and the slow-answer rule. `None` when
    /// it was skipped or failed (L2 is then down for the rest of the invocation).
    async fn call<R>(&mut self, m: &mut Metrics, call: L2Future<'_, R>) -> Option<Result<R, OriginError>> {
        if self.down {
            return None;
        }
        let remaining = self.remaining();
        if remaining.is_zero() {
            // Spent on waits, not on a fault of L2.
            self.down = true;
            return None;
        }
        let permit = self.layers.breaker.permit(self.monotonic_ms);
        if permit == Permit::Skip {
            m.l2_skipped = 1;
            self.down = true;
            return None;
        }
        m.l2_calls += 1;
        let started = Instant::now();
        // The client's own deadline bounds the call; the budget's only when it is shorter.
        let result = if remaining >= self.layers.settings.call_deadline {
            call.await
        } else {
            match tokio::time::timeout(remaining, call).await {
                Ok(result) => result,
                Err(_) => Err(OriginError::L2 {
                    op: "call",
                    fault: L2Fault::Budget,
                    message: format!("the invocation's L2 budget ran out after {} ms", remaining.as_millis()),
                }),
            }
        };
        let took = started.elapsed();
        self.spent += took;
        m.l2_ms += took.as_secs_f64() * 1000.0;
        match result {
            Err(OriginError::L2 { fault, .. }) => {
                self.fault(m, fault);
                None
            }
            answered if took > self.layers.settings.slow => {
                // A slow answer is a fault too: used, but L2 is done for this invocation.
                self.fault(m, L2Fault::Slow);
                Some(answered)
            }
            answered => {
                if permit == Permit::Probe {
                    // The half-open probe answered: L2 is back, for this invocation too.
                    self.layers.breaker.record_success();
                }
                self.answered = true;
                Some(answered)
            }
        }
    }

    fn fault(&mut self, m: &mut Metrics, fault: L2Fault) {
        self.layers.breaker.record_failure(self.monotonic_ms);
        m.l2_fault(fault);
        self.faulted = true;
        self.down = true;
    }

    /// Reads and judges the entry for `key` (under `digest`).
    pub async fn read(&mut self, key: &str, digest: &str, consistent: bool, m: &mut Metrics) -> L2Read {
        let Some(l2) = self.l2 else {
            return L2Read::Unavailable;
        };
        let now_ms = self.now_ms;
        match self.call(m, l2.get(digest, consistent)).await {
            Some(Ok(raw)) => {
                let found = Found::judge(raw, key, now_ms, MAX_BODY_BYTES);
                if found == Found::Missing(MissReason::KeyMismatch) {
                    m.l2_key_mismatch = 1;
                }
                L2Read::Found(found)
            }
            // An item that cannot be read is a miss (and gets overwritten by the load).
            Some(Err(_)) => L2Read::Found(Found::Missing(MissReason::Unreadable)),
            None => L2Read::Unavailable,
        }
    }

    /// Tries to take the load lease for `digest`.
    pub async fn lease(&mut self, digest: &str, m: &mut Metrics) -> Lease {
        let Some(l2) = self.l2 else {
            return Lease::Unknown;
        };
        let layers = self.layers;
        let now_ms = self.now_ms();
        match self
            .call(m, l2.try_lease(digest, &layers.owner, now_ms, layers.settings.lease_ms))
            .await
        {
            Some(Ok(true)) => Lease::Held,
            Some(Ok(false)) => Lease::Elsewhere,
            _ => Lease::Unknown,
        }
    }

    /// Gives the lease back (a load that stores nothing).
    pub async fn release(&mut self, digest: &str, m: &mut Metrics) {
        if let Some(l2) = self.l2 {
            let layers = self.layers;
            let _ = self.call(m, l2.release_lease(digest, &layers.owner)).await;
        }
    }

    /// Waits while another environment holds the lease: re-reads the entry (strongly
    /// consistent) and tries the lease again every poll interval, so a release or an expiry
    /// is noticed at the next poll. Ends when the entry is fresh, the lease is taken, or the
    /// wait is over (`ORIGIN_LEASE_WAIT_MS`, and enough budget kept for the write that
    /// follows a load). The waits count against the budget.
    pub async fn wait_for_fill(&mut self, key: &str, digest: &str, m: &mut Metrics) -> Waited {
        let settings = self.layers.settings;
        let mut waited = Duration::ZERO;
        loop {
            let over_wait = waited + settings.lease_poll > settings.lease_wait;
            let over_budget = settings.lease_poll + settings.slow > self.remaining();
            if over_wait || over_budget {
                return Waited::GaveUp;
            }
            let slept = Instant::now();
            tokio::time::sleep(settings.lease_poll).await;
            waited += slept.elapsed();
            self.spent += slept.elapsed();
            match self.read(key, digest, true, m).await {
                L2Read::Found(Found::Entry(entry)) if entry.stamp.state(self.now_ms) == FreshnessState::Fresh => {
                    return Waited::Filled(entry)
                }
                L2Read::Found(_) => {}
                L2Read::Unavailable => return Waited::GaveUp,
            }
            match self.lease(digest, m).await {
                Lease::Held => return Waited::Acquired,
                Lease::Elsewhere => {}
                Lease::Unknown => return Waited::GaveUp,
            }
        }
    }

    /// `S₀` for a load starting now.
    pub fn purge_seq(&self) -> u64 {
        self.layers.purge_seq()
    }

    /// Whether a purge this environment has read selects `entry`.
    pub fn purged(&self, entry: &StoredEntry) -> bool {
        self.layers.purged(entry)
    }

    /// Whether L2's breaker has given up on its service (open, no probe due): the purge table,
    /// which shares it, is then not asked either.
    fn l2_given_up(&self) -> bool {
        matches!(self.layers.breaker.state(self.monotonic_ms), BreakerState::Open)
    }

    /// Reads the purge log's head if a read is due (purge.md, step 3: before anything is
    /// served from L1), under the store's own deadline; clears L1 after a gap. While L2's
    /// breaker is open the log counts as unreadable without a read ([`PurgeView::unreadable`]).
    pub async fn purge_refresh(&self, m: &mut Metrics) {
        let Some((store, view)) = &self.layers.purge else {
            return;
        };
        let started = Instant::now();
        let refreshed = if self.l2_given_up() {
            // Fail-open, bounded: no deadline paid on a service the breaker has given up on.
            view.unreadable(self.monotonic_ms)
        } else {
            view.refresh(store.as_ref(), self.monotonic_ms).await
        };
        if refreshed != Refreshed::NotDue {
            m.purge_log_reads += 1;
            m.l2_ms += started.elapsed().as_secs_f64() * 1000.0;
        }
        match refreshed {
            Refreshed::Cleared => {
                self.layers.l1.clear();
                m.purge_l1_cleared = 1;
            }
            Refreshed::Failed => m.purge_log_errors += 1,
            Refreshed::NotDue | Refreshed::Read => {}
        }
    }

    /// Records a storable load's `entry` in the path and tag indexes (purge.md, "Tags":
    /// before the answer returns, for every shareable load, L2-sized or not), under what is
    /// left of the invocation's L2 budget (skipped while L2's breaker is open). A failure is
    /// counted, never an error.
    pub async fn index(&mut self, entry: &StoredEntry, m: &mut Metrics) {
        let Some((store, _)) = &self.layers.purge else {
            return;
        };
        let parts = KeyParts::of(&entry.key);
        let until_ms = entry.edge_usable_until_ms();
        let write = IndexWrite {
            key: entry.key.clone(),
            path: parts.path.to_owned(),
            path_and_query: parts.path_and_query(),
            tags: entry.tags.clone(),
            expires_at_s: until_ms.div_ceil(1000),
            ttl_ms: until_ms.saturating_sub(self.now_ms),
        };
        m.purge_index_writes += 1;
        if self.l2_given_up() {
            // The purge table sits on L2's service: counted as a failed write, no deadline paid.
            m.purge_index_errors += 1;
            return;
        }
        let remaining = self.remaining();
        let started = Instant::now();
        let written = tokio::time::timeout(remaining, store.index(&write)).await;
        let took = started.elapsed();
        self.spent += took;
        m.l2_ms += took.as_secs_f64() * 1000.0;
        if !matches!(written, Ok(Ok(()))) {
            m.purge_index_errors += 1;
        }
    }

    /// Puts `entry` into L1 at the invocation's clocks (a hit from L2, or a filled wait).
    pub async fn promote(&self, entry: Arc<StoredEntry>) {
        let now = Now {
            wall_ms: self.now_ms,
            monotonic_ms: self.monotonic_ms,
        };
        self.layers.l1.insert(entry, now).await;
    }

    /// Stores a load's `entry` under `digest`: in L2 (never when over the item limit, never
    /// over a newer entry or a later purge's marker; the lease is given back whenever nothing
    /// is written), then in L1 — unless a purge's marker kept it out of L2.
    pub async fn store(&mut self, digest: &str, entry: &Arc<StoredEntry>, m: &mut Metrics) -> Stored {
        let stored = self.write_l2(digest, entry, m).await;
        if stored != Stored::Purged {
            self.promote(Arc::clone(entry)).await;
        }
        stored
    }

    async fn write_l2(&mut self, digest: &str, entry: &StoredEntry, m: &mut Metrics) -> Stored {
        let Some(l2) = self.l2 else {
            return Stored::NoL2;
        };
        let layers = self.layers;
        let settings = layers.settings;
        let encoded = match Encoded::new(entry, settings.compress_min_bytes, settings.max_item_bytes) {
            Ok(encoded) => encoded,
            Err(TooLarge { .. }) => {
                m.l2_oversize = 1;
                self.release(digest, m).await;
                return Stored::TooLarge;
            }
        };
        match self.call(m, l2.put(digest, encoded, &layers.owner)).await {
            Some(Ok(WriteOutcome::Written)) => Stored::Written,
            Some(Ok(WriteOutcome::Superseded)) => Stored::Superseded,
            Some(Ok(WriteOutcome::Purged)) => Stored::Purged,
            Some(Err(_)) | None => Stored::Unavailable,
        }
    }
}
