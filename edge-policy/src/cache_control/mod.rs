//! `Cache-Control` on the way back: parse → interpret → decide → write (cache-control.md).
//!
//! [`parse_directives`] reads the field lines, [`CacheControl`] interprets them, [`decide`]
//! applies the first rule that fits, and [`CacheControl::to_header_value`] writes the one
//! line that leaves the edge. [`freshness`] says how long a cache keeps that line's response
//! and what a stored copy may do at a given moment.

mod decide;
pub mod freshness;
mod parse;

pub use decide::{decide, Decision, ResponseFacts, Rule};
pub use freshness::{FreshnessState, Lifetime, TtlBounds};
pub use parse::{parse_directives, RawDirective};

/// RFC 9111 §1.2.2: "If a cache receives a delta-seconds value greater than the greatest
/// integer it can represent, or if any of its subsequent calculations overflows, the cache
/// MUST consider the value to be 2147483648 (2^31) or the greatest positive integer it can
/// conveniently represent."
pub const DELTA_SECONDS_MAX: u64 = 2_147_483_648;

/// Parses `delta-seconds = 1*DIGIT` (RFC 9111 §1.2.2); the quoted form is accepted too, as
/// §5.2 asks of `max-age`. `None` when it is not a non-negative integer.
fn delta_seconds(directive: &RawDirective<'_>) -> Option<u64> {
    let value = directive.unquoted_value()?;
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        value
            .parse::<u64>()
            .map_or(DELTA_SECONDS_MAX, |v| v.min(DELTA_SECONDS_MAX)),
    )
}

/// Interpreted `Cache-Control` directives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `public`.
    pub public: bool,
    /// `private`, with its field-name argument as written, if any.
    pub private: Option<Option<String>>,
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache`, with its field-name argument as written, if any.
    pub no_cache: Option<Option<String>>,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `proxy-revalidate`.
    pub proxy_revalidate: bool,
    /// `no-transform`.
    pub no_transform: bool,
    /// `immutable` (RFC 8246).
    pub immutable: bool,
    /// `max-age`, seconds.
    pub max_age: Option<u64>,
    /// `s-maxage`, seconds.
    pub s_maxage: Option<u64>,
    /// `stale-while-revalidate` (RFC 5861 §3), seconds.
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` (RFC 5861 §4), seconds.
    pub stale_if_error: Option<u64>,
    /// Directives this policy doesn't know, in the order received, name and argument as written.
    pub extensions: Vec<(String, Option<String>)>,
}

impl CacheControl {
    /// Reads every `Cache-Control` field line as one list.
    ///
    /// An invalid `max-age`/`s-maxage` counts as `0` (RFC 9111 §4.2.1 lets a cache treat
    /// the response as stale); an invalid `stale-while-revalidate`/`stale-if-error` is dropped.
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Self {
        let mut cc = CacheControl::default();
        for d in parse_directives(lines) {
            match d.name.to_ascii_lowercase().as_str() {
                "public" => cc.public = true,
                "private" => cc.private = Some(d.value.map(str::to_owned)),
                "no-store" => cc.no_store = true,
                "no-cache" => cc.no_cache = Some(d.value.map(str::to_owned)),
                "must-revalidate" => cc.must_revalidate = true,
                "proxy-revalidate" => cc.proxy_revalidate = true,
                "no-transform" => cc.no_transform = true,
                "immutable" => cc.immutable = true,
                "max-age" => cc.max_age = Some(delta_seconds(&d).unwrap_or(0)),
                "s-maxage" => cc.s_maxage = Some(delta_seconds(&d).unwrap_or(0)),
                "stale-while-revalidate" => cc.stale_while_revalidate = delta_seconds(&d),
                "stale-if-error" => cc.stale_if_error = delta_seconds(&d),
                _ => cc.extensions.push((d.name.to_owned(), d.value.map(str::to_owned))),
            }
        }
        cc
    }

    /// `private, no-store`: what a response that must never be shared carries.
    pub fn private_no_store() -> Self {
        CacheControl {
            private: Some(None),
            no_store: true,
            ..CacheControl::default()
        }
    }

    /// Whether no directive is present.
    pub fn is_empty(&self) -> bool {
        *self == CacheControl::default()
    }

    /// RFC 9111 §3: a shared cache MUST NOT store a response with `no-store`
    /// (§5.2.2.5) or `private` (§5.2.2.7; a qualified `private` is treated as unqualified,
    /// as CloudFront does).
    pub fn forbids_sharing(&self) -> bool {
        self.no_store || self.private.is_some()
    }

    /// Whether the origin explicitly allowed shared caching (RFC 9111 §3.5: `public` or
    /// `s-maxage`; `must-revalidate` also, but this policy asks for the explicit two).
    pub fn explicitly_shared(&self) -> bool {
        self.public || self.s_maxage.is_some()
    }

    /// The one header line: directives in the fixed order of cache-control.md, each once,
    /// separated by `, `, unknown directives last as received. `private` wins over `public`.
    pub fn to_header_value(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let with_arg = |name: &str, arg: &Option<String>| match arg {
            Some(a) => format!("{name}={a}"),
            None => name.to_owned(),
        };
        match &self.private {
            Some(arg) => parts.push(with_arg("private", arg)),
            None if self.public => parts.push("public".to_owned()),
            None => {}
        }
        if self.no_store {
            parts.push("no-store".to_owned());
        }
        if let Some(arg) = &self.no_cache {
            parts.push(with_arg("no-cache", arg));
        }
        for (on, name) in [
            (self.must_revalidate, "must-revalidate"),
            (self.proxy_revalidate, "proxy-revalidate"),
            (self.no_transform, "no-transform"),
            (self.immutable, "immutable"),
        ] {
            if on {
                parts.push(name.to_owned());
            }
        }
        for (value, name) in [
            (self.max_age, "max-age"),
            (self.s_maxage, "s-maxage"),
            (self.stale_while_revalidate, "stale-while-revalidate"),
            (self.stale_if_error, "stale-if-error"),
        ] {
            if let Some(v) = value {
                parts.push(format!("{name}={v}"));
            }
        }
        for (name, arg) in &self.extensions {
            parts.push(with_arg(name, arg));
        }
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(lines: &[&str]) -> String {
        CacheControl::parse(lines.iter().copied()).to_header_value()
    }

    #[test]
    fn written_in_the_fixed_order() {
        assert_eq!(
            round(&[
                "stale-if-error=5, s-maxage=60",
                "max-age=1, immutable, no-transform, public, x-ext=\"a,b\""
            ]),
            "public, no-transform, immutable, max-age=1, s-maxage=60, stale-if-error=5, x-ext=\"a,b\""
        );
    }

    #[test]
    fn invalid_freshness_counts_as_zero_and_invalid_windows_drop() {
        assert_eq!(
            round(&["max-age=abc, s-maxage=-1, stale-while-revalidate=x, stale-if-error"]),
            "max-age=0, s-maxage=0"
        );
    }

    #[test]
    fn quoted_delta_seconds_are_accepted_and_huge_values_clamp() {
        assert_eq!(
            round(&["max-age=\"60\", s-maxage=99999999999999999999999"]),
            "max-age=60, s-maxage=2147483648"
        );
    }

    #[test]
    fn directive_names_are_case_insensitive() {
        assert_eq!(round(&["Public, MAX-AGE=5"]), "public, max-age=5");
    }

    #[test]
    fn private_wins_over_public_and_keeps_its_argument() {
        assert_eq!(round(&["public, private=\"set-cookie\""]), "private=\"set-cookie\"");
    }

    #[test]
    fn writing_is_idempotent() {
        let once = round(&["no-cache, max-age=0, foo, public, stale-while-revalidate=30"]);
        assert_eq!(round(&[&once]), once);
    }
}
