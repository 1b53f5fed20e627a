//! A purge, in the order purge.md gives (so nothing re-caches the old value):
//!
//! 1. **Resolve** the selector to canonical keys and paths (a tag through the index).
//! 2. **L2**: replace every selected entry with a marker carrying `S`.
//! 3. **Log** `S`.
//! 4. **Wait `W`** from the log write's acknowledgement ([`Timing::w`]): by then every
//!    invocation that could have read the old value has ended.
//! 5. **Resolve again**, and mark what appeared since step 1.
//! 6. **The edge**: `CreateInvalidation` with the union of both resolves ([`crate::plan`],
//!    [`crate::edge`]); the Worker's Cache API copies through Cloudflare's API when
//!    configured ([`crate::cloudflare`]).
//! 7. **Report** ([`Report`]); with `--wait`, until CloudFront says `Completed`.
//!
//! Every step is safe to repeat; a failing step stops the purge there (an edge invalidated
//! while L2 still held the old value would fetch it again), and the report says what was done
//! and what was not.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use origin_function::purge::command::{PurgeCommand, PurgeReply, Resolved, ScanCost};
use origin_function::purge::{PurgeRecord, Selector};
use serde::Serialize;

use crate::cloudflare::{Cloudflare, Purged};
use crate::edge::{caller_reference, Created, Edge};
use crate::error::PurgeError;
use crate::plan::{covers, is_wildcard, plan, Collapse, Limits};
use crate::selector::Parsed;
use crate::stores::Stores;

/// The durations `W` is made of (purge.md, step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Timing {
    /// The origin's `ORIGIN_PURGE_POLL_MS`.
    pub poll_ms: u64,
    /// The deadline of one L2 call (a log read).
    pub l2_deadline_ms: u64,
    /// The origin function's timeout.
    pub function_timeout_ms: u64,
    /// The origin-response trigger's timeout.
    pub trigger_timeout_ms: u64,
}

impl Default for Timing {
    /// The deployed values: poll 1 s, L2 deadline 300 ms, origin 10 s, trigger 5 s.
    fn default() -> Self {
        Timing {
            poll_ms: 1000,
            l2_deadline_ms: 300,
            function_timeout_ms: 10_000,
            trigger_timeout_ms: 5_000,
        }
    }
}

impl Timing {
    /// `W = max(PURGE_POLL_MS + the L2 deadline, the origin function's timeout + the
    /// origin-response trigger's timeout)`.
    pub fn w(&self) -> Duration {
        Duration::from_millis(
            (self.poll_ms + self.l2_deadline_ms).max(self.function_timeout_ms + self.trigger_timeout_ms),
        )
    }

    /// How long a marker stays: the longest invocation (and a margin of one `W`).
    pub fn marker_ms(&self) -> u64 {
        self.function_timeout_ms + self.trigger_timeout_ms + self.w().as_millis() as u64
    }
}

/// How to run a purge.
pub struct Purge {
    /// The origin's stores.
    pub stores: Stores,
    /// CloudFront's invalidation API (`None`: no edge step).
    pub edge: Option<Edge>,
    /// Cloudflare's purge API (`None`: not configured).
    pub cloudflare: Option<Cloudflare>,
    /// What `W` is made of.
    pub timing: Timing,
    /// Batching limits.
    pub limits: Limits,
    /// How long the log keeps a purge.
    pub retention: Duration,
    /// Wait for CloudFront's `Completed`: at most this long, polling `GetInvalidation` this
    /// often.
    pub wait: Option<(Duration, Duration)>,
    /// List what each wildcard also covers (a prefix resolve per wildcard).
    pub list_covered: bool,
    /// The wall clock, epoch ms (tests move it).
    pub clock: fn() -> u64,
}

/// The wall clock, epoch ms.
pub fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A wildcard and the known paths it covers beyond what the purge selected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlsoCovered {
    /// The wildcard.
    pub wildcard: String,
    /// Indexed `path?query` it covers that the purge did not select (they miss at the edge
    /// once, then load again).
    pub paths: Vec<String>,
}

/// A failed step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    /// The step.
    pub step: &'static str,
    /// What went wrong.
    pub error: String,
}

/// What a purge did.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Report {
    /// The selector, as written.
    pub selector: String,
    /// Only planned.
    pub dry_run: bool,
    /// `S`.
    pub seq: Option<u64>,
    /// Entries (full canonical keys, every host) the first resolve found.
    pub keys: Vec<String>,
    /// Entries the second resolve found that the first had not.
    pub keys_after_wait: Vec<String>,
    /// Canonical `path?query` the indexes know.
    pub paths: Vec<String>,
    /// A prefix scan's cost.
    pub scan: Option<ScanCost>,
    /// L2 markers written (entries loaded after the purge are kept).
    pub marked: u32,
    /// Entries kept because they were loaded after the purge.
    pub kept: u32,
    /// `W`, ms.
    pub wait_ms: u64,
    /// The invalidation batches planned.
    pub batches: Vec<Vec<String>>,
    /// Wildcards chosen in place of many query variants.
    pub collapsed: Vec<Collapse>,
    /// What each wildcard also covers.
    pub also_covered: Vec<AlsoCovered>,
    /// Invalidation paths billed (a wildcard counts as one).
    pub billed_paths: usize,
    /// Their price past the free 1,000 a month, USD ($0.005 each).
    pub price_usd_past_free_tier: f64,
    /// Invalidations CloudFront accepted.
    pub invalidations: Vec<Created>,
    /// With `--wait`: every invalidation `Completed`.
    pub completed: Option<bool>,
    /// The Worker's Cache API copies purged through Cloudflare.
    pub cloudflare: Option<Purged>,
    /// The steps done, in order.
    pub done: Vec<&'static str>,
    /// The step that failed, if one did (the purge stopped there).
    pub failed: Option<Failure>,
    /// When each step ended, ms after the purge began.
    pub step_ms: Vec<(&'static str, u64)>,
}

impl Report {
    /// Whether every step succeeded.
    pub fn ok(&self) -> bool {
        self.failed.is_none()
    }
}

/// USD per invalidation path past the free 1,000 a month (CloudFront pricing).
pub const PRICE_PER_PATH_USD: f64 = 0.005;

impl Purge {
    async fn resolve(&self, selector: &Selector) -> Result<Resolved, PurgeError> {
        match self
            .stores
            .run(PurgeCommand::Resolve {
                selector: selector.clone(),
                now_ms: (self.clock)(),
            })
            .await?
        {
            PurgeReply::Resolve(resolved) => Ok(resolved),
            other => Err(PurgeError::Invoke(format!("unexpected answer {other:?}"))),
        }
    }

    async fn mark(&self, keys: &[String], seq: u64) -> Result<(u32, u32), PurgeError> {
        if keys.is_empty() {
            return Ok((0, 0));
        }
        let now_ms = (self.clock)();
        match self
            .stores
            .run(PurgeCommand::Mark {
                seq,
                keys: keys.to_vec(),
                until_ms: now_ms + self.timing.marker_ms(),
                now_ms,
            })
            .await?
        {
            PurgeReply::Mark { marked, kept } => Ok((marked, kept)),
            other => Err(PurgeError::Invoke(format!("unexpected answer {other:?}"))),
        }
    }

    /// What each wildcard of `wildcards` covers among the indexed paths, beyond `selected`.
    async fn also_covered(&self, wildcards: &[String], selected: &BTreeSet<String>) -> Vec<AlsoCovered> {
        let mut out = Vec::new();
        for wildcard in wildcards {
            let text = wildcard.trim_end_matches('*');
            let path_prefix = text.split('?').next().unwrap_or(text).to_owned();
            let Ok(found) = self.resolve(&Selector::Prefix(path_prefix)).await else {
                continue;
            };
            let paths: Vec<String> = found
                .paths
                .into_iter()
                .filter(|p| covers(wildcard, p) && !selected.contains(p))
                .collect();
            out.push(AlsoCovered {
                wildcard: wildcard.clone(),
                paths,
            });
        }
        out
    }

    /// Plans the purge of `parsed` without changing anything: the paths, the wildcard
    /// choices, the read cost and the invalidation cost.
    pub async fn dry_run(&self, parsed: &Parsed) -> Report {
        let mut report = Report {
            selector: parsed.selector.describe(),
            dry_run: true,
            wait_ms: self.timing.w().as_millis() as u64,
            ..Report::default()
        };
        match self.resolve(&parsed.selector).await {
            Ok(resolved) => {
                report.done.push("resolve");
                self.fill_plan(&mut report, parsed, resolved).await;
            }
            Err(e) => {
                report.failed = Some(Failure {
                    step: "resolve",
                    error: e.to_string(),
                })
            }
        }
        report
    }

    async fn fill_plan(&self, report: &mut Report, parsed: &Parsed, resolved: Resolved) {
        report.keys = resolved.keys;
        report.paths = resolved.paths;
        report.scan = resolved.scan;
        let edge_paths = report.paths.iter().cloned().chain(parsed.edge_paths.iter().cloned());
        let planned = plan(edge_paths, self.limits);
        report.billed_paths = planned.billed_paths();
        report.price_usd_past_free_tier = report.billed_paths as f64 * PRICE_PER_PATH_USD;
        report.batches = planned.batches;
        report.collapsed = planned.collapsed;
        if self.list_covered || report.dry_run {
            let selected: BTreeSet<String> = report.paths.iter().cloned().collect();
            let wildcards: Vec<String> = report
                .batches
                .iter()
                .flatten()
                .filter(|p| is_wildcard(p))
                .cloned()
                .collect();
            report.also_covered = self.also_covered(&wildcards, &selected).await;
        }
    }

    /// Runs the purge of `parsed`.
    pub async fn run(&self, parsed: &Parsed) -> Report {
        let started = Instant::now();
        let mut report = Report {
            selector: parsed.selector.describe(),
            wait_ms: self.timing.w().as_millis() as u64,
            ..Report::default()
        };
        if let Err((step, e)) = self.steps(parsed, &mut report, started).await {
            report.failed = Some(Failure {
                step,
                error: e.to_string(),
            });
        }
        report
    }

    async fn steps(
        &self,
        parsed: &Parsed,
        report: &mut Report,
        started: Instant,
    ) -> Result<(), (&'static str, PurgeError)> {
        let done = |report: &mut Report, step: &'static str| {
            report.done.push(step);
            report.step_ms.push((step, started.elapsed().as_millis() as u64));
        };
        let seq = match self.stores.run(PurgeCommand::Allocate).await {
            Ok(PurgeReply::Allocate { seq }) => seq,
            Ok(other) => return Err(("allocate", PurgeError::Invoke(format!("unexpected answer {other:?}")))),
            Err(e) => return Err(("allocate", e)),
        };
        report.seq = Some(seq);
        done(report, "allocate");
        // 1. Resolve.
        let first = self.resolve(&parsed.selector).await.map_err(|e| ("resolve", e))?;
        done(report, "resolve");
        // 2. L2 markers.
        let (marked, kept) = self.mark(&first.keys, seq).await.map_err(|e| ("mark", e))?;
        (report.marked, report.kept) = (marked, kept);
        done(report, "mark");
        // 3. Log.
        let record = PurgeRecord {
            seq,
            selector: parsed.selector.clone(),
        };
        let logged = self
            .stores
            .run(PurgeCommand::Log {
                record,
                now_ms: (self.clock)(),
                retention_ms: self.retention.as_millis() as u64,
            })
            .await;
        logged.map_err(|e| ("log", e))?;
        done(report, "log");
        // 4. Wait W from the log write's acknowledgement.
        tokio::time::sleep(self.timing.w()).await;
        done(report, "wait");
        // 5. Resolve again; mark what appeared since step 1.
        let second = self.resolve(&parsed.selector).await.map_err(|e| ("resolve-again", e))?;
        let known: BTreeSet<&String> = first.keys.iter().collect();
        let new_keys: Vec<String> = second.keys.iter().filter(|k| !known.contains(k)).cloned().collect();
        let (marked, kept) = self.mark(&new_keys, seq).await.map_err(|e| ("mark-again", e))?;
        report.marked += marked;
        report.kept += kept;
        report.keys_after_wait = new_keys;
        done(report, "resolve-again");
        // 6. The edge: the union of both resolves.
        let mut union = first.clone();
        union.keys.extend(second.keys);
        union.keys.sort();
        union.keys.dedup();
        union.paths.extend(second.paths);
        union.paths.sort();
        union.paths.dedup();
        union.scan = first.scan;
        self.fill_plan(report, parsed, union).await;
        if let Some(edge) = &self.edge {
            for (index, batch) in report.batches.clone().iter().enumerate() {
                let created = edge
                    .create(&caller_reference(seq, index), batch)
                    .await
                    .map_err(|e| ("invalidate", e))?;
                report.invalidations.push(created);
            }
            done(report, "invalidate");
        }
        if let Some(cloudflare) = &self.cloudflare {
            let purged = cloudflare.purge(&report.keys).await.map_err(|e| ("cloudflare", e))?;
            report.cloudflare = Some(purged);
            done(report, "cloudflare");
        }
        // 7. With --wait: until CloudFront says Completed.
        if let (Some(edge), Some((within, every))) = (&self.edge, self.wait) {
            let ids: Vec<String> = report.invalidations.iter().map(|c| c.id.clone()).collect();
            let pending = edge
                .wait(&ids, every, within)
                .await
                .map_err(|e| ("wait-completed", e))?;
            report.completed = Some(pending.is_empty());
            done(report, "wait-completed");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w_is_the_longer_of_the_poll_and_the_longest_invocation() {
        assert_eq!(Timing::default().w(), Duration::from_secs(15));
        let short = Timing {
            poll_ms: 200,
            l2_deadline_ms: 300,
            function_timeout_ms: 100,
            trigger_timeout_ms: 100,
        };
        assert_eq!(short.w(), Duration::from_millis(500));
    }
}
