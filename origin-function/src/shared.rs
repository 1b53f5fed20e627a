//! The shared read path (origin-cache.md, "Read path"): L1, then L2 (read by every caller,
//! before any coalescing), then — only when a load is needed — one coalesced load per key:
//! the lease (or a wait on another environment's), the source, the decision, the writes.
//!
//! A cache layer never makes an answer worse than the layer below it would: the copy a
//! caller already holds (fresh for an XFetch refresh, stale for a refresh or a miss inside
//! `stale-if-error`, from L1 or L2, whichever is newer) answers when the source fails, and
//! an optional refresh that cannot get the lease serves the copy instead of loading.

use std::sync::Arc;
use std::time::Instant;

use edge_policy::cache_control::FreshnessState;

use crate::cache_status::{CacheStatus, Detail, Fwd};
use crate::coalesce::LoadRole;
use crate::entry::{Found, StoredEntry};
use crate::event::HttpResponse;
use crate::l2::digest;
use crate::layers::{L2Read, L2Session, Lease, Stored, Waited};
use crate::metrics::Metrics;
use crate::origin::{millis, Origin, Prepared};
use crate::policy::Decided;
use crate::respond::{respond, Answer};
use crate::source::SourceResponse;
use crate::xfetch;

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

/// Why a load runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    /// Nothing usable was found: take the lease (or wait for its holder) first.
    Miss,
    /// An XFetch early refresh of a fresh copy; the lease is held.
    Early,
    /// A refresh of a stale copy inside `stale-while-revalidate`; `held` when the lease is
    /// (it is unknown when L2 is unavailable).
    Stale { held: bool },
}

/// The newer of two copies (by the time they were loaded).
fn newest(a: Option<Arc<StoredEntry>>, b: Arc<StoredEntry>) -> Option<Arc<StoredEntry>> {
    match a {
        Some(a) if a.stamp.stored_at_ms >= b.stamp.stored_at_ms => Some(a),
        _ => Some(b),
    }
}

impl Origin {
    /// Serves a shared request (not private, no unkeyed input) through the layers.
    pub(crate) async fn serve_shared(&self, p: &Prepared<'_>, now_ms: u64, m: &mut Metrics) -> HttpResponse {
        let key = p.canonical.key.as_str();
        let started = Instant::now();
        let l1 = self.layers.l1.get(key).await;
        m.l1_ms += millis(started);
        if let Some(hit) = l1.as_ref().filter(|e| e.is_fresh(now_ms)) {
            return respond(
                Answer::Stored(&hit.entry),
                CacheStatus::hit(hit.l1.ttl_secs(now_ms), Detail::L1),
                p.when,
                now_ms,
                m,
            );
        }
        // An L1 copy past its L1 freshness still answers a failing source.
        let mut held = l1.map(|e| e.entry);
        let digest = digest(key);
        let mut session = self.layers.session(now_ms);
        let mut load = Load::Miss;
        if let L2Read::Found(Found::Entry(entry)) = session.read(key, &digest, false, m).await {
            match entry.stamp.state(now_ms) {
                FreshnessState::Fresh => {
                    let beta = self.config.xfetch_beta;
                    let early = xfetch::should_refresh_early(
                        now_ms,
                        entry.delta_ms,
                        beta,
                        entry.stamp.fresh_until_ms(),
                        (self.rand)(),
                    );
                    // An optional refresh runs only under the lease: if another caller holds
                    // it, or L2 cannot tell, the fresh copy answers.
                    if !early || session.lease(&digest, m).await != Lease::Held {
                        self.layers.l1.insert(Arc::clone(&entry), now_ms).await;
                        let status = CacheStatus::hit(entry.stamp.ttl_secs(now_ms), Detail::L2);
                        return respond(Answer::Stored(&entry), status, p.when, now_ms, m);
                    }
                    load = Load::Early;
                }
                FreshnessState::StaleWhileRevalidate => match session.lease(&digest, m).await {
                    Lease::Elsewhere => {
                        let status = CacheStatus::hit(entry.stamp.ttl_secs(now_ms), Detail::L2Stale);
                        return respond(Answer::Stored(&entry), status, p.when, now_ms, m);
                    }
                    lease => {
                        load = Load::Stale {
                            held: lease == Lease::Held,
                        }
                    }
                },
                // Usable only on error: ask the source first, keep the copy for a failure.
                FreshnessState::StaleIfError | FreshnessState::Expired => {}
            }
            held = newest(held, entry);
        }
        let (loaded, role) = self
            .layers
            .flights
            .run(key, async {
                Arc::new(self.load(p, &mut session, &digest, load, held, now_ms, m).await)
            })
            .await;
        let collapsed = |status: CacheStatus| match role {
            LoadRole::Loaded => status,
            LoadRole::Collapsed => CacheStatus {
                stored: false,
                ..status.collapsed()
            },
        };
        match &*loaded {
            Loaded::Fresh(entry, status) => respond(Answer::Loaded(entry), collapsed(*status), p.when, now_ms, m),
            Loaded::Stored(entry, status) => respond(Answer::Stored(entry), collapsed(*status), p.when, now_ms, m),
            Loaded::Source(response, decided, status) => {
                let answer = Answer::Source {
                    response,
                    cache_control: &decided.header,
                };
                respond(answer, collapsed(*status), p.when, now_ms, m)
            }
        }
    }

    /// The coalesced part: lease or wait, source, decision, writes.
    #[allow(clippy::too_many_arguments)]
    async fn load(
        &self,
        p: &Prepared<'_>,
        session: &mut L2Session<'_, Loaded>,
        digest: &str,
        load: Load,
        held: Option<Arc<StoredEntry>>,
        now_ms: u64,
        m: &mut Metrics,
    ) -> Loaded {
        let key = p.canonical.key.as_str();
        let mut lease_held = matches!(load, Load::Early | Load::Stale { held: true });
        if load == Load::Miss {
            match session.lease(digest, m).await {
                Lease::Held => lease_held = true,
                Lease::Elsewhere => match session.wait_for_fill(key, digest, m).await {
                    Waited::Filled(entry) => {
                        self.layers.l1.insert(Arc::clone(&entry), now_ms).await;
                        return Loaded::Stored(entry, CacheStatus::fwd(Fwd::Miss).collapsed().detail(Detail::L2));
                    }
                    Waited::Acquired => lease_held = true,
                    Waited::GaveUp => {}
                },
                Lease::Unknown => {}
            }
        }
        let (fwd, detail) = match load {
            Load::Miss => (Fwd::Miss, None),
            Load::Early => (Fwd::Miss, Some(Detail::Xfetch)),
            Load::Stale { .. } => (Fwd::Stale, None),
        };

        let started = Instant::now();
        let response = self.load_source(&p.source_request(), m).await;
        let delta_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let decided = self.policies.shared(p.canonical.route, response.status);
        let unavailable = |session: &L2Session<'_, Loaded>| {
            (self.layers.has_l2() && !session.usable()).then_some(Detail::L2Unavailable)
        };

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
            let status = CacheStatus::fwd(fwd).detail_or(detail).detail_or(unavailable(session));
            return Loaded::Source(response, decided, status);
        };

        let entry = Arc::new(StoredEntry::new(key, response, &decided, lifetime, now_ms, delta_ms));
        let written = session.store(digest, &entry, m).await;
        self.layers.l1.insert(Arc::clone(&entry), now_ms).await;
        let detail = detail.or(match written {
            Stored::Written | Stored::NoL2 => None,
            Stored::TooLarge => Some(Detail::L2Oversize),
            Stored::Superseded => Some(Detail::L2Superseded),
            Stored::Unavailable => Some(Detail::L2Unavailable),
        });
        Loaded::Fresh(entry, CacheStatus::fwd(fwd).stored().detail_or(detail))
    }
}
