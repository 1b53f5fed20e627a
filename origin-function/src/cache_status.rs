//! How a request was answered, as a value (RFC 9211 `Cache-Status`): rendered into the
//! header in one place ([`CacheStatus`]'s `Display`) and counted by
//! [`crate::metrics::Metrics::count`] from the same value, so the header and the metrics can
//! never tell two stories.
//!
//! RFC 9211 §2: "The Cache-Status HTTP response header field indicates how caches have
//! handled that response and its corresponding request." Each member is a cache's name
//! (here always `origin`) with parameters `hit`, `fwd`, `fwd-status`, `ttl`, `stored`,
//! `collapsed`, `key` (never sent: the key stays at the origin) and `detail`.

use std::fmt;

/// The cache's name in the header.
pub const CACHE_NAME: &str = "origin";

/// RFC 9211 §2.2: why the request went on past the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fwd {
    /// "The cache was configured to not handle this request": private routes, credentials.
    Bypass,
    /// "The request method's semantics require the request to be forwarded".
    Method,
    /// "The cache was able to select a fresh response, but the request's semantics did not
    /// allow its use": here, a request the caches may not answer (unverified, unkeyed input,
    /// malformed).
    Request,
    /// "The cache did not find a response that could be used".
    Miss,
    /// "The cache was able to select a response for the request, but it was stale".
    Stale,
}

impl Fwd {
    fn as_str(self) -> &'static str {
        match self {
            Fwd::Bypass => "bypass",
            Fwd::Method => "method",
            Fwd::Request => "request",
            Fwd::Miss => "miss",
            Fwd::Stale => "stale",
        }
    }
}

/// Whether the cache answered or forwarded (RFC 9211 §2.1 `hit`, §2.2 `fwd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// `hit`: answered without asking the source.
    Hit,
    /// `fwd=…`: the source was asked (or would have been, for a collapsed request).
    Fwd(Fwd),
    /// Neither: not an HTTP answer (warm-up).
    Neither,
}

/// RFC 9211 §2.8 `detail`: which layer answered, or why something was not done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// The execution environment's memory answered.
    L1,
    /// L2 answered (directly, or after another environment filled it).
    L2,
    /// A stale L2 copy answered while another caller refreshes it.
    L2Stale,
    /// L2 was skipped or failed during this request.
    L2Unavailable,
    /// The answer is over the L2 item limit: kept in L1 only.
    L2Oversize,
    /// L2 already holds a newer entry than this load: the load was not written there.
    L2Superseded,
    /// A purge that began after this load's source read kept it out of L2 and L1 (purge.md,
    /// step 2): it answers only this request.
    Purged,
    /// An XFetch early refresh.
    Xfetch,
    /// The refresh of a still-fresh copy failed; the copy answered.
    RefreshFailed,
    /// The source failed; a stale copy inside `stale-if-error` answered.
    StaleIfError,
    /// The request carries an input outside the key (e.g. `X-Forwarded-Host`).
    UnkeyedInput,
    /// The request lacks CloudFront's secret header.
    Unverified,
    /// The request could not be read as HTTP.
    Malformed,
    /// A warm-up event.
    Warmup,
}

impl Detail {
    fn as_str(self) -> &'static str {
        match self {
            Detail::L1 => "l1",
            Detail::L2 => "l2",
            Detail::L2Stale => "l2-stale",
            Detail::L2Unavailable => "l2-unavailable",
            Detail::L2Oversize => "l2-oversize",
            Detail::L2Superseded => "l2-superseded",
            Detail::Purged => "purged",
            Detail::Xfetch => "xfetch",
            Detail::RefreshFailed => "refresh-failed",
            Detail::StaleIfError => "stale-if-error",
            Detail::UnkeyedInput => "unkeyed-input",
            Detail::Unverified => "unverified",
            Detail::Malformed => "malformed",
            Detail::Warmup => "warmup",
        }
    }
}

/// One `Cache-Status` member of the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStatus {
    /// Hit or forward.
    pub served: Served,
    /// §2.3 `fwd-status`: the status the source answered, when a cached copy answered instead.
    pub fwd_status: Option<u16>,
    /// §2.4 `ttl`: the response's remaining freshness in seconds (negative when stale).
    pub ttl: Option<i64>,
    /// §2.5 `stored`: the source's answer was stored.
    pub stored: bool,
    /// §2.6 `collapsed`: the request waited for another request's load.
    pub collapsed: bool,
    /// §2.8 `detail`.
    pub detail: Option<Detail>,
}

impl CacheStatus {
    fn new(served: Served) -> Self {
        CacheStatus {
            served,
            fwd_status: None,
            ttl: None,
            stored: false,
            collapsed: false,
            detail: None,
        }
    }

    /// `origin; hit; ttl=N; detail=…`.
    pub fn hit(ttl: i64, detail: Detail) -> Self {
        CacheStatus::new(Served::Hit).ttl(ttl).detail(detail)
    }

    /// `origin; fwd=…`.
    pub fn fwd(fwd: Fwd) -> Self {
        CacheStatus::new(Served::Fwd(fwd))
    }

    /// `origin; detail=warmup`.
    pub fn warmup() -> Self {
        CacheStatus::new(Served::Neither).detail(Detail::Warmup)
    }

    /// With `ttl`.
    pub fn ttl(mut self, ttl: i64) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// With `detail`.
    pub fn detail(mut self, detail: Detail) -> Self {
        self.detail = Some(detail);
        self
    }

    /// With `detail` unless one is already set (the first reason wins).
    pub fn detail_or(mut self, detail: Option<Detail>) -> Self {
        self.detail = self.detail.or(detail);
        self
    }

    /// With `stored`.
    pub fn stored(mut self) -> Self {
        self.stored = true;
        self
    }

    /// With `collapsed`.
    pub fn collapsed(mut self) -> Self {
        self.collapsed = true;
        self
    }

    /// With `fwd-status`.
    pub fn fwd_status(mut self, status: u16) -> Self {
        self.fwd_status = Some(status);
        self
    }

    /// Whether the source was read for this request by this caller (a shared request that
    /// was forwarded and not collapsed onto another caller's load).
    pub fn read_the_source(&self) -> bool {
        matches!(self.served, Served::Fwd(Fwd::Miss | Fwd::Stale)) && !self.collapsed
            || self.detail == Some(Detail::RefreshFailed)
    }
}

/// RFC 9211 §2: `cache-name *( ";" param )`, parameters in the order of §2.1–§2.8.
impl fmt::Display for CacheStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(CACHE_NAME)?;
        match self.served {
            Served::Hit => f.write_str("; hit")?,
            Served::Fwd(fwd) => write!(f, "; fwd={}", fwd.as_str())?,
            Served::Neither => {}
        }
        if let Some(status) = self.fwd_status {
            write!(f, "; fwd-status={status}")?;
        }
        if let Some(ttl) = self.ttl {
            write!(f, "; ttl={ttl}")?;
        }
        if self.stored {
            f.write_str("; stored")?;
        }
        if self.collapsed {
            f.write_str("; collapsed")?;
        }
        if let Some(detail) = self.detail {
            write!(f, "; detail={}", detail.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendered_in_rfc_9211_order() {
        assert_eq!(
            CacheStatus::hit(42, Detail::L1).to_string(),
            "origin; hit; ttl=42; detail=l1"
        );
        assert_eq!(
            CacheStatus::fwd(Fwd::Miss).stored().detail(Detail::Xfetch).to_string(),
            "origin; fwd=miss; stored; detail=xfetch"
        );
        assert_eq!(
            CacheStatus::fwd(Fwd::Stale)
                .fwd_status(503)
                .detail(Detail::StaleIfError)
                .to_string(),
            "origin; fwd=stale; fwd-status=503; detail=stale-if-error"
        );
        assert_eq!(
            CacheStatus::fwd(Fwd::Miss).collapsed().detail(Detail::L2).to_string(),
            "origin; fwd=miss; collapsed; detail=l2"
        );
        assert_eq!(CacheStatus::fwd(Fwd::Bypass).to_string(), "origin; fwd=bypass");
        assert_eq!(CacheStatus::warmup().to_string(), "origin; detail=warmup");
        assert_eq!(
            CacheStatus::hit(-10, Detail::L2Stale).to_string(),
            "origin; hit; ttl=-10; detail=l2-stale"
        );
    }

    #[test]
    fn the_first_detail_wins() {
        let s = CacheStatus::fwd(Fwd::Miss)
            .detail(Detail::Xfetch)
            .detail_or(Some(Detail::L2Unavailable));
        assert_eq!(s.detail, Some(Detail::Xfetch));
    }
}
