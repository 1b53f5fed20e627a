//! CloudFront's invalidations for the local edge's one distribution (purge.md, "Interfaces";
//! local-edge.md, "Invalidations"): what `CreateInvalidation`, `GetInvalidation` and
//! `ListInvalidations` read and answer, the in-progress limits, an optional completion delay,
//! `TooManyInvalidationsInProgress` on demand, and the matching CloudFront does.
//!
//! CloudFront Developer Guide, "What you need to know when invalidating files": an
//! invalidation path removes every header, cookie and encoding variant of that exact path;
//! when the cache policy keys the query string, a copy stored under a query string needs the
//! exact `path?query`, or a path ending in `*`, which "must be the last character in the
//! invalidation path" and matches every string that begins with the text before it. Paths are
//! case-sensitive. "Concurrent invalidation request maximum": 3,000 file paths and 15
//! wildcard paths in progress per distribution. API Reference, `CreateInvalidation`: "If you
//! make a second invalidation request with the same value for CallerReference, and if the
//! contents of the InvalidationBatch object are the same, CloudFront returns information about
//! the invalidation request that you previously created"; with other contents it answers
//! `InvalidationBatchAlreadyExists`.
//!
//! Completion is on a monotonic clock (the delay is real time); `CreateTime` is wall time.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::clock::{wall_ms, Utc};

/// Exact paths in progress per distribution.
pub const MAX_EXACT_IN_PROGRESS: usize = 3000;
/// Wildcard paths in progress per distribution.
pub const MAX_WILDCARDS_IN_PROGRESS: usize = 15;

/// One invalidation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalidation {
    /// Its id.
    pub id: String,
    /// The caller's reference.
    pub caller_reference: String,
    /// Its paths, as sent.
    pub paths: Vec<String>,
    /// When it was created, epoch ms.
    pub created_ms: u64,
    completes: Instant,
}

impl Invalidation {
    /// `InProgress` or `Completed` at `now`.
    pub fn status(&self, now: Instant) -> &'static str {
        if now >= self.completes {
            "Completed"
        } else {
            "InProgress"
        }
    }
}

/// Why a create was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// `TooManyInvalidationsInProgress` (400).
    TooMany,
    /// `InvalidationBatchAlreadyExists` (409): the reference was used with other paths.
    AlreadyExists,
    /// `InvalidArgument` (400): a path that does not begin with `/`, `*` not last, no path.
    InvalidArgument(String),
}

/// A create's outcome: the invalidation, and whether it is new (its paths still to apply).
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The invalidation.
    pub invalidation: Invalidation,
    /// `false` when the same reference and paths returned an earlier one.
    pub new: bool,
}

/// The distribution's invalidations.
#[derive(Debug)]
pub struct Invalidations {
    /// The distribution's id.
    pub distribution_id: String,
    delay: Duration,
    list: Mutex<Vec<Invalidation>>,
    /// Creates still to refuse with `TooManyInvalidationsInProgress`.
    refuse: AtomicU32,
    next: AtomicU64,
    /// Creates refused with `TooManyInvalidationsInProgress`.
    pub refused: AtomicU64,
}

/// Whether invalidation path `path` removes the copy stored under `target` (`path` or
/// `path?query`).
pub fn matches(path: &str, target: &str) -> bool {
    match path.strip_suffix('*') {
        Some(prefix) => target.starts_with(prefix),
        None => path == target,
    }
}

fn in_progress(list: &[Invalidation], now: Instant) -> (usize, usize) {
    list.iter()
        .filter(|i| i.status(now) == "InProgress")
        .flat_map(|i| i.paths.iter())
        .fold((0, 0), |(exact, wild), p| {
            if p.ends_with('*') {
                (exact, wild + 1)
            } else {
                (exact + 1, wild)
            }
        })
}

impl Invalidations {
    /// The invalidations of `distribution_id`, each completing `delay` after it is created.
    pub fn new(distribution_id: impl Into<String>, delay: Duration) -> Self {
        Invalidations {
            distribution_id: distribution_id.into(),
            delay,
            list: Mutex::new(Vec::new()),
            refuse: AtomicU32::new(0),
            next: AtomicU64::new(1),
            refused: AtomicU64::new(0),
        }
    }

    /// How long an invalidation takes to complete.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The next `count` creates answer `TooManyInvalidationsInProgress`.
    pub fn refuse_next(&self, count: u32) {
        self.refuse.store(count, Ordering::SeqCst);
    }

    fn with<R>(&self, f: impl FnOnce(&mut Vec<Invalidation>) -> R) -> R {
        let mut list = self.list.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut list)
    }

    /// Creates an invalidation of `paths` for `reference`, at `now`.
    pub fn create(&self, reference: &str, paths: Vec<String>, now: Instant) -> Result<Accepted, Refused> {
        if paths.is_empty() {
            return Err(Refused::InvalidArgument(
                "an invalidation needs at least one path".into(),
            ));
        }
        if let Some(bad) = paths
            .iter()
            .find(|p| !p.starts_with('/') || p.trim_end_matches('*').contains('*'))
        {
            return Err(Refused::InvalidArgument(format!(
                "{bad}: a path begins with / and holds * only as its last character"
            )));
        }
        self.with(|list| {
            if let Some(earlier) = list.iter().find(|i| i.caller_reference == reference) {
                return if earlier.paths == paths {
                    Ok(Accepted {
                        invalidation: earlier.clone(),
                        new: false,
                    })
                } else {
                    Err(Refused::AlreadyExists)
                };
            }
            let refuse = self
                .refuse
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            let (exact, wild) = in_progress(list, now);
            let (new_wild, new_exact) = (
                paths.iter().filter(|p| p.ends_with('*')).count(),
                paths.iter().filter(|p| !p.ends_with('*')).count(),
            );
            if refuse || exact + new_exact > MAX_EXACT_IN_PROGRESS || wild + new_wild > MAX_WILDCARDS_IN_PROGRESS {
                self.refused.fetch_add(1, Ordering::Relaxed);
                return Err(Refused::TooMany);
            }
            let invalidation = Invalidation {
                id: format!("I{:013}", self.next.fetch_add(1, Ordering::Relaxed)),
                caller_reference: reference.to_owned(),
                paths,
                created_ms: wall_ms(),
                completes: now + self.delay,
            };
            list.insert(0, invalidation.clone());
            Ok(Accepted {
                invalidation,
                new: true,
            })
        })
    }

    /// Invalidation `id`.
    pub fn get(&self, id: &str) -> Option<Invalidation> {
        self.with(|list| list.iter().find(|i| i.id == id).cloned())
    }

    /// Every invalidation, newest first.
    pub fn list(&self) -> Vec<Invalidation> {
        self.with(|list| list.clone())
    }
}

/// `2026-12-06T09:40:02.000Z`.
fn iso_time(ms: u64) -> String {
    let t = Utc::from_epoch_ms(ms);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        ms % 1000
    )
}

/// XML text with `&`, `<`, `>` escaped.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// XML character data read back: the five predefined entities and numeric references.
fn unescape(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';')? + i;
        let entity = &rest[i + 1..end];
        let c = match entity {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = match entity.strip_prefix("#x") {
                    Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                    None => entity.strip_prefix('#')?.parse().ok()?,
                };
                char::from_u32(code)?
            }
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Every `<name>…</name>` text in `xml`, unescaped.
fn elements(xml: &str, name: &str) -> Option<Vec<String>> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let end = after.find(&close)?;
        found.push(unescape(&after[..end])?);
        rest = &after[end + close.len()..];
    }
    Some(found)
}

/// A `CreateInvalidation` body read: `(CallerReference, paths)`; `None` when unreadable.
pub fn read_batch(xml: &str) -> Option<(String, Vec<String>)> {
    let reference = elements(xml, "CallerReference")?.into_iter().next()?;
    let paths = elements(xml, "Path")?;
    let quantity: usize = elements(xml, "Quantity")?.first()?.trim().parse().ok()?;
    (quantity == paths.len()).then_some((reference, paths))
}

const XMLNS: &str = "http://cloudfront.amazonaws.com/doc/2020-05-31/";

/// The `Invalidation` document.
pub fn invalidation_xml(i: &Invalidation, now: Instant) -> String {
    let items: String = i.paths.iter().map(|p| format!("<Path>{}</Path>", escape(p))).collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><Invalidation xmlns="{XMLNS}"><Id>{}</Id><Status>{}</Status><CreateTime>{}</CreateTime><InvalidationBatch><Paths><Quantity>{}</Quantity><Items>{items}</Items></Paths><CallerReference>{}</CallerReference></InvalidationBatch></Invalidation>"#,
        i.id,
        i.status(now),
        iso_time(i.created_ms),
        i.paths.len(),
        escape(&i.caller_reference)
    )
}

/// The `InvalidationList` document (every invalidation: one page).
pub fn list_xml(list: &[Invalidation], now: Instant) -> String {
    let items: String = list
        .iter()
        .map(|i| {
            format!(
                "<InvalidationSummary><Id>{}</Id><CreateTime>{}</CreateTime><Status>{}</Status></InvalidationSummary>",
                i.id,
                iso_time(i.created_ms),
                i.status(now)
            )
        })
        .collect();
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><InvalidationList xmlns="{XMLNS}"><Marker></Marker><MaxItems>{}</MaxItems><IsTruncated>false</IsTruncated><Quantity>{}</Quantity><Items>{items}</Items></InvalidationList>"#,
        list.len().max(100),
        list.len()
    )
}

/// An `ErrorResponse` document.
pub fn error_xml(code: &str, message: &str, request_id: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><ErrorResponse xmlns="{XMLNS}"><Error><Type>Sender</Type><Code>{code}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"#,
        escape(message)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_as_cloudfront_does() {
        assert!(matches("/api/products/42", "/api/products/42"));
        assert!(
            !matches("/api/products/42", "/api/products/42?x=1"),
            "a query variant needs * or itself"
        );
        assert!(matches("/api/products/42?x=1", "/api/products/42?x=1"));
        assert!(matches("/api/products/42*", "/api/products/42?x=1"));
        assert!(
            matches("/api/products/42*", "/api/products/420"),
            "a wildcard covers longer paths too"
        );
        assert!(!matches("/API/products/42", "/api/products/42"), "case-sensitive");
    }

    #[test]
    fn a_batch_reads_back_and_a_reference_returns_its_invalidation() {
        let xml = r#"<InvalidationBatch xmlns="x"><Paths><Quantity>2</Quantity><Items><Path>/a?b=1&amp;c=2</Path><Path>/d*</Path></Items></Paths><CallerReference>edge-purge-7-0</CallerReference></InvalidationBatch>"#;
        let (reference, paths) = read_batch(xml).unwrap();
        assert_eq!(
            (reference.as_str(), paths.as_slice()),
            ("edge-purge-7-0", &["/a?b=1&c=2".to_owned(), "/d*".to_owned()][..])
        );
        let invalidations = Invalidations::new("E1", Duration::from_secs(60));
        let now = Instant::now();
        let first = invalidations.create(&reference, paths.clone(), now).unwrap();
        let again = invalidations.create(&reference, paths, now).unwrap();
        assert!(first.new && !again.new);
        assert_eq!(
            first.invalidation.id, again.invalidation.id,
            "a retry never bills twice"
        );
        assert_eq!(
            invalidations.create(&reference, vec!["/x".into()], now).unwrap_err(),
            Refused::AlreadyExists
        );
        assert_eq!(first.invalidation.status(now), "InProgress");
        assert_eq!(first.invalidation.status(now + Duration::from_secs(60)), "Completed");
        assert!(invalidation_xml(&first.invalidation, now).contains("<Path>/a?b=1&amp;c=2</Path>"));
    }

    #[test]
    fn in_progress_limits_and_refusals_on_demand() {
        let invalidations = Invalidations::new("E1", Duration::from_secs(60));
        let now = Instant::now();
        let wild: Vec<String> = (0..15).map(|i| format!("/w{i}*")).collect();
        invalidations.create("a", wild, now).unwrap();
        assert_eq!(
            invalidations.create("b", vec!["/x*".into()], now).unwrap_err(),
            Refused::TooMany
        );
        invalidations.create("c", vec!["/x".into()], now).unwrap();
        invalidations.refuse_next(1);
        assert_eq!(
            invalidations.create("d", vec!["/y".into()], now).unwrap_err(),
            Refused::TooMany
        );
        invalidations.create("d", vec!["/y".into()], now).unwrap();
        assert!(invalidations.create("e", vec!["/a*b".into()], now).is_err());
        assert_eq!(iso_time(1_795_925_700_123), "2026-11-29T04:15:00.123Z");
    }
}
