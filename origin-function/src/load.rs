//! One coalesced load of a key (origin-cache.md, "Read path" steps 4–6): the lease, or a
//! wait on another environment's; the source; the decision (once per route and status,
//! [`Policies`]); the writes to L2 and L1.
//!
//! A cache layer never makes an answer worse than the layer below it would: when the source
//! fails, the copy the caller already holds (fresh for an XFetch refresh, stale for a
//! refresh or a miss inside `stale-if-error`) answers instead of the failure.

use std::sync::Arc;
use std::time::Instant;

use edge_policy::cache_control::FreshnessState;

use crate::cache_status::{CacheStatus, Detail, Fwd};
use crate::entry::StoredEntry;
use crate::layers::{Lease, Session, Stored, Waited};
use crate::metrics::Metrics;
use crate::policy::{Decided, Policies};
use crate::prepared::Prepared;
use crate::purge::Tags;
use crate::respond::Answer;
use crate::source::{Source, SourceResponse};

/// What a load produced, handed to every caller collapsed onto it.
#[derive(Debug)]
pub enum Loaded {
    /// The source's answer, stored.
    Fresh(Arc<StoredEntry>, CacheStatus),
    /// A cached entry answers: another environment's (after a wait), or the copy held when
    /// the source failed.
    Stored(Arc<StoredEntry>, CacheStatus),
    /// The source's answer, not stored, with its decision.
    Source(SourceResponse, Arc<Decided>, CacheStatus),
}

impl Loaded {
    /// What answers the caller whose load this was.
    pub fn answer(&self) -> Answer<'_> {
        match self {
            Loaded::Fresh(entry, _) => Answer::Loaded(entry),
            Loaded::Stored(entry, _) => Answer::Stored(entry),
            Loaded::Source(response, decided, _) => Answer::Source {
                response,
                cache_control: &decided.header,
            },
        }
    }

    /// How the load says it answered.
    pub fn status(&self) -> CacheStatus {
        match self {
            Loaded::Fresh(_, status) | Loaded::Stored(_, status) | Loaded::Source(_, _, status) => *status,
        }
    }
}

/// Why a load runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// Nothing usable was found: take the lease (or wait for its holder) first.
    Miss,
    /// An XFetch early refresh of a fresh copy; the lease is held.
    Early,
    /// A refresh of a stale copy inside `stale-while-revalidate`; `held` when the lease is
    /// (it is unknown when L2 is unavailable).
    Stale {
        /// Whether this caller holds the lease.
        held: bool,
    },
}

/// One load of a prepared request's key.
pub struct Load<'a> {
    /// The request.
    pub request: &'a Prepared<'a>,
    /// Its key's digest (the L2 item's and the lease's key).
    pub digest: &'a str,
    /// Why it runs.
    pub why: Why,
    /// The copy the caller holds, from L1 or L2 (the newer), for a failing source.
    pub held: Option<Arc<StoredEntry>>,
}

impl Load<'_> {
    /// Runs the load at `now_ms`: lease or wait, `source`, the decision from `policies`,
    /// the writes through `session`.
    pub async fn run(
        self,
        source: &Source,
        policies: &Policies,
        session: &mut Session<'_>,
        now_ms: u64,
        m: &mut Metrics,
    ) -> Loaded {
        let Load {
            request: p,
            digest,
            why,
            held,
        } = self;
        let key = p.canonical.key.as_str();
        let mut lease_held = matches!(why, Why::Early | Why::Stale { held: true });
        if why == Why::Miss {
            match session.lease(digest, m).await {
                Lease::Held => lease_held = true,
                Lease::Elsewhere => match session.wait_for_fill(key, digest, m).await {
                    Waited::Filled(entry) if !session.purged(&entry) => {
                        session.promote(Arc::clone(&entry)).await;
                        return Loaded::Stored(entry, CacheStatus::fwd(Fwd::Miss).collapsed().detail(Detail::L2));
                    }
                    Waited::Acquired => lease_held = true,
                    Waited::Filled(_) | Waited::GaveUp => {}
                },
                Lease::Unknown => {}
            }
        }
        let (fwd, detail) = match why {
            Why::Miss => (Fwd::Miss, None),
            Why::Early => (Fwd::Miss, Some(Detail::Xfetch)),
            Why::Stale { .. } => (Fwd::Stale, None),
        };

        // purge.md: S₀ is the highest purge this environment had read before it read the source.
        let seq = session.purge_seq();
        let started = Instant::now();
        let mut response = source.load(&p.source_request(), m).await;
        // The tags stay inside the origin: read here, never sent (purge.md, "Tags").
        let tags = Tags::parse(response.surrogate_key.take().as_deref());
        m.tags_dropped += tags.dropped;
        let delta_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let decided = policies.shared(p.canonical.route, response.status);

        let Some(lifetime) = decided.storable() else {
            if lease_held {
                session.release(digest, m).await;
            }
            // RFC 5861 §4: "when an error is encountered, a cached stale response MAY be used
            // to satisfy the request"; a copy still fresh (an early refresh) all the more.
            if response.status >= 500 {
                if let Some(copy) = held.filter(|c| c.stamp.state(now_ms).usable_on_error()) {
                    let status = if copy.stamp.state(now_ms) == FreshnessState::Fresh {
                        CacheStatus::hit(copy.stamp.ttl_secs(now_ms), Detail::RefreshFailed)
                    } else {
                        CacheStatus::fwd(Fwd::Stale)
                            .fwd_status(response.status)
                            .detail(Detail::StaleIfError)
                    };
                    return Loaded::Stored(copy, status);
                }
            }
            let unavailable = session.l2_unavailable().then_some(Detail::L2Unavailable);
            let status = CacheStatus::fwd(fwd).detail_or(detail).detail_or(unavailable);
            return Loaded::Source(response, decided, status);
        };

        let entry = Arc::new(StoredEntry::new(
            key,
            response,
            &decided,
            lifetime,
            (now_ms, delta_ms),
            (seq, tags.tags),
        ));
        // Indexed before the answer returns (Lambda freezes the environment once it has
        // answered), whether or not L2 takes it.
        session.index(&entry, m).await;
        let written = session.store(digest, &entry, m).await;
        let detail = detail.or(match written {
            Stored::Written | Stored::NoL2 => None,
            Stored::TooLarge => Some(Detail::L2Oversize),
            Stored::Superseded => Some(Detail::L2Superseded),
            Stored::Unavailable => Some(Detail::L2Unavailable),
            Stored::Purged => Some(Detail::Purged),
        });
        let status = CacheStatus::fwd(fwd);
        let status = if written == Stored::Purged {
            status
        } else {
            status.stored()
        };
        Loaded::Fresh(entry, status.detail_or(detail))
    }
}
