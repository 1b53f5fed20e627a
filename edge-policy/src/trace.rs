//! What the policy notes while it works, for an explanation ([`crate::explain`]): each stage
//! that changes something says what and why. A stage takes a [`Trace`]; the triggers pass
//! [`Quiet`], whose notes compile to nothing, so the deployed handler's time and size do not
//! move. Nothing here decides anything.

/// A rewrite of the path (cache-key.md, "Path").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "events", derive(serde::Serialize), serde(rename_all = "kebab-case"))]
pub enum PathStep {
    /// Steps 1–2: percent-encoding normalized (upper-case hex, unreserved decoded, bytes
    /// outside `pchar` encoded).
    PercentEncoding,
    /// Step 3: runs of `/` merged.
    MergeSlashes,
    /// Step 4: dot-segments removed (RFC 3986 §5.2.4).
    DotSegments,
}

/// Why a query item was dropped (cache-key.md, "Query string").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "events", derive(serde::Serialize), serde(rename_all = "kebab-case"))]
pub enum Dropped {
    /// Step 1: an empty item (`&&`).
    EmptyItem,
    /// Step 2: an item with an empty name (`=x`).
    EmptyName,
    /// Step 4: a tracking parameter.
    Tracking,
    /// Step 5: not on the route's allow-list.
    NotAllowed,
    /// The route drops every parameter (`query = "drop"`).
    RouteDropsQuery,
}

/// Why the URL was kept as received (cache-key.md, "Limits and bad input").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "events", derive(serde::Serialize), serde(rename_all = "kebab-case"))]
pub enum UrlKept {
    /// The `uri` does not start with `/`.
    NotAbsolute,
    /// The rewrite would exceed CloudFront's 8,192 bytes, or CloudFront would refuse it.
    RefusedByCloudFront,
}

/// One thing a stage did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(
    feature = "events",
    derive(serde::Serialize),
    serde(tag = "step", rename_all = "kebab-case")
)]
pub enum Note {
    /// A path rewrite: before → after.
    Path {
        /// Which step.
        rule: PathStep,
        /// The path before it.
        before: String,
        /// The path after it.
        after: String,
    },
    /// A query item dropped.
    QueryDropped {
        /// The item as received (name, then `=` and the value if any).
        item: String,
        /// The name after percent-normalization (what was compared).
        name: String,
        /// Why.
        why: Dropped,
    },
    /// A query item's percent-encoding normalized.
    QueryEncoded {
        /// As received.
        before: String,
        /// Normalized.
        after: String,
    },
    /// The kept items sorted by name (only noted when the order changed).
    QuerySorted {
        /// In the order received, normalized.
        before: String,
        /// Sorted.
        after: String,
    },
    /// The URL was kept as received; the header rules still apply.
    UrlKept {
        /// Why.
        why: UrlKept,
    },
}

/// Where a stage's notes go.
pub trait Trace {
    /// Whether notes are kept: work done only for an explanation is guarded by it, so a
    /// quiet trace compiles it away.
    const ON: bool;

    /// Notes what `note` builds, if anything (`None`: nothing changed); a quiet trace never
    /// calls it, so even the comparison that decides whether to note is never made.
    fn note(&mut self, note: impl FnOnce() -> Option<Note>);
}

/// The trace the triggers run with: notes nothing, costs nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Trace for Quiet {
    const ON: bool = false;

    #[inline(always)]
    fn note(&mut self, _note: impl FnOnce() -> Option<Note>) {}
}

/// Every note, in order.
impl Trace for Vec<Note> {
    const ON: bool = true;

    fn note(&mut self, note: impl FnOnce() -> Option<Note>) {
        self.extend(note());
    }
}
