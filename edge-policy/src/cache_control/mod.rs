//! `Cache-Control` on the way back: parse → interpret → decide → write (cache-control.md).
//!
//! [`parse_directives`] reads the field lines, [`CacheControl`] interprets them, [`decide`]
//! applies the first rule that fits, and [`CacheControl::to_header_value`] writes the one
//! line that leaves the edge. [`freshness`] says how long a cache keeps that line's response
//! and what a stored copy may do at a given moment.

mod age;
mod cdn;
mod decide;
mod extensions;
mod facts;
pub mod freshness;
mod parse;
mod stamp;
mod structured_field;

use extensions::first_occurrences;

pub use age::initial_age_ms;
pub use cdn::{CdnCacheControl, CdnLines, CLOUDFRONT_TARGETS, TARGETED_FIELDS, WORKER_TARGETS};
pub use decide::{decide, decide_response, decide_response_targeted, Decision, ResponseDecision, Rule};
pub(crate) use facts::http_date_secs;
pub use facts::ResponseFacts;
pub use freshness::{FreshnessState, Lifetime, TtlBounds};
pub use parse::{line_elements, parse_elements, words, Element, RawDirective};
pub use stamp::Stamp;

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

/// The directives this policy interprets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    Public,
    Private,
    NoStore,
    NoCache,
    MustRevalidate,
    ProxyRevalidate,
    NoTransform,
    Immutable,
    MaxAge,
    SMaxage,
    StaleWhileRevalidate,
    StaleIfError,
}

impl Known {
    const ALL: [(&'static str, Known); 12] = [
        ("public", Known::Public),
        ("private", Known::Private),
        ("no-store", Known::NoStore),
        ("no-cache", Known::NoCache),
        ("must-revalidate", Known::MustRevalidate),
        ("proxy-revalidate", Known::ProxyRevalidate),
        ("no-transform", Known::NoTransform),
        ("immutable", Known::Immutable),
        ("max-age", Known::MaxAge),
        ("s-maxage", Known::SMaxage),
        ("stale-while-revalidate", Known::StaleWhileRevalidate),
        ("stale-if-error", Known::StaleIfError),
    ];

    /// Directive names are case-insensitive (RFC 9111 §5.2).
    fn of(name: &str) -> Option<Known> {
        Known::ALL
            .iter()
            .find(|(known, _)| known.len() == name.len() && known.eq_ignore_ascii_case(name))
            .map(|(_, k)| *k)
    }
}

/// Interpreted `Cache-Control` directives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CacheControl {
    /// `public`.
    pub public: bool,
    /// `private`; a qualified `private="…"` counts as bare (cache-control.md).
    pub private: bool,
    /// `no-store`.
    pub no_store: bool,
    /// `no-cache`; a qualified `no-cache="…"` counts as bare (cache-control.md).
    pub no_cache: bool,
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
    /// The `s-maxage` received was not a valid delta-seconds (empty, bare, `abc`,
    /// malformed): it reads as `0`, and it is not an explicit permission to share
    /// (cache-control.md rule 4).
    pub s_maxage_malformed: bool,
    /// `stale-while-revalidate` (RFC 5861 §3), seconds.
    pub stale_while_revalidate: Option<u64>,
    /// `stale-if-error` (RFC 5861 §4), seconds.
    pub stale_if_error: Option<u64>,
    /// Directives this policy doesn't know, as written (name, then `=` and the argument if
    /// any), the first occurrence of each name in the order received, joined with `, `:
    /// what is written back after the known ones. One string, so reading and copying a
    /// header of many unknown directives costs one allocation, not one per directive.
    pub extensions: String,
}

/// Which of the directives read first-occurrence-wins have been seen (RFC 9111 §4.2.1).
#[derive(Default)]
struct Seen {
    max_age: bool,
    s_maxage: bool,
    stale_while_revalidate: bool,
    stale_if_error: bool,
}

impl CacheControl {
    /// Reads every `Cache-Control` field line as one list (cache-control.md, "Reading what
    /// the origin sent"), in time linear in their length:
    ///
    /// - RFC 9111 §4.2.1: "When there is more than one value present for a given directive
    ///   (e.g., two Expires header field lines or multiple Cache-Control: max-age
    ///   directives), either the first occurrence should be used or the response should be
    ///   considered stale." The first occurrence is used, for every directive.
    /// - An invalid `max-age`/`s-maxage` counts as `0` (§4.2.1 lets a cache treat the
    ///   response as stale), including one in a malformed element (`max-age=5 6`,
    ///   `s-maxage="60`); an invalid `stale-while-revalidate`/`stale-if-error` is dropped.
    /// - **Fails closed**: the word `private` or `no-store` anywhere outside a well-formed
    ///   quoted string ([`words`]) — in a malformed element, a token argument or an
    ///   extension's name — reads as that directive. A malformed element is otherwise
    ///   dropped (it cannot be written back).
    /// - A field line holding a NUL reads as `no-store`: the boundaries hand an unreadable
    ///   value (not UTF-8) to the policy as a NUL (`headers::UNREADABLE_VALUE`), and what
    ///   the origin said there cannot be known.
    /// - Qualified `private="…"`/`no-cache="…"` count as the bare directive.
    // Out of line: a stage, not inlined into its trigger (crate docs, "Stages stay out of line").
    #[inline(never)]
    pub fn parse<'a>(lines: impl IntoIterator<Item = &'a str>) -> Self {
        let mut cc = CacheControl::default();
        let mut seen = Seen::default();
        let mut extensions: Vec<(&'a str, &'a str)> = Vec::new();
        for line in lines {
            if line.contains('\0') {
                cc.no_store = true;
            }
            for element in line_elements(line) {
                match element {
                    Element::Directive(d) => {
                        cc.mark_words(d.name);
                        if !d.is_quoted() {
                            cc.mark_words(d.value.unwrap_or(""));
                        }
                        match Known::of(d.name) {
                            Some(known) => cc.apply(known, Some(&d), &mut seen),
                            None => extensions.push((d.name, d.text)),
                        }
                    }
                    Element::Malformed(text) => {
                        cc.mark_words(text);
                        if let Some(known) = element.name().and_then(Known::of) {
                            cc.apply(known, None, &mut seen);
                        }
                    }
                }
            }
        }
        let kept = first_occurrences(&extensions);
        let mut written = String::with_capacity(kept.iter().map(|text| text.len() + 2).sum());
        for text in kept {
            if !written.is_empty() {
                written.push_str(", ");
            }
            written.push_str(text);
        }
        cc.extensions = written;
        cc
    }

    /// `private` or `no-store` as a word of `text` reads as that directive.
    fn mark_words(&mut self, text: &str) {
        // Only a 7- or 8-byte run of word bytes can be either word.
        if text.len() < 7 {
            return;
        }
        for word in words(text).filter(|w| matches!(w.len(), 7 | 8)) {
            if word.eq_ignore_ascii_case("private") {
                self.private = true;
            } else if word.eq_ignore_ascii_case("no-store") {
                self.no_store = true;
            }
        }
    }

    /// One element naming a known directive; `directive` is `None` for a malformed one,
    /// whose argument then counts as invalid.
    fn apply(&mut self, known: Known, directive: Option<&RawDirective<'_>>, seen: &mut Seen) {
        let seconds = directive.and_then(delta_seconds);
        let first = |flag: &mut bool| !std::mem::replace(flag, true);
        match known {
            Known::MaxAge if first(&mut seen.max_age) => self.max_age = Some(seconds.unwrap_or(0)),
            Known::SMaxage if first(&mut seen.s_maxage) => {
                self.s_maxage = Some(seconds.unwrap_or(0));
                self.s_maxage_malformed = seconds.is_none();
            }
            Known::StaleWhileRevalidate if first(&mut seen.stale_while_revalidate) => {
                self.stale_while_revalidate = seconds;
            }
            Known::StaleIfError if first(&mut seen.stale_if_error) => self.stale_if_error = seconds,
            Known::MaxAge | Known::SMaxage | Known::StaleWhileRevalidate | Known::StaleIfError => {}
            // A malformed element naming a flag (`public=`, `no-cache x`) is dropped; the two
            // that share less, `private` and `no-store`, were read by `mark_words`.
            _ if directive.is_none() => {}
            Known::Public => self.public = true,
            Known::Private => self.private = true,
            Known::NoStore => self.no_store = true,
            Known::NoCache => self.no_cache = true,
            Known::MustRevalidate => self.must_revalidate = true,
            Known::ProxyRevalidate => self.proxy_revalidate = true,
            Known::NoTransform => self.no_transform = true,
            Known::Immutable => self.immutable = true,
        }
    }

    /// `private, no-store`: what a response that must never be shared carries.
    pub fn private_no_store() -> Self {
        CacheControl {
            private: true,
            no_store: true,
            ..CacheControl::default()
        }
    }

    /// A negative answer's header when the origin sent none (cache-control.md rule 6):
    /// `public, max-age=0, s-maxage=N`, no `immutable`, no stale window.
    pub fn negative(s_maxage: u64) -> Self {
        CacheControl {
            public: true,
            max_age: Some(0),
            s_maxage: Some(s_maxage),
            ..CacheControl::default()
        }
    }

    /// `no-store` alone.
    pub fn no_store() -> Self {
        CacheControl {
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
        self.no_store || self.private
    }

    /// Whether the origin explicitly allowed shared caching (RFC 9111 §3.5: `public` or
    /// `s-maxage`; `must-revalidate` also, but this policy asks for the explicit two). A
    /// malformed `s-maxage` is not explicit.
    pub fn explicitly_shared(&self) -> bool {
        self.public || (self.s_maxage.is_some() && !self.s_maxage_malformed)
    }

    /// Removes every directive that lets a shared cache keep the response: `public`,
    /// `s-maxage`, `stale-while-revalidate`, `stale-if-error` (cache-control.md rule 0).
    pub fn without_sharing(mut self) -> Self {
        self.public = false;
        self.s_maxage = None;
        self.s_maxage_malformed = false;
        self.stale_while_revalidate = None;
        self.stale_if_error = None;
        self
    }

    /// The one header line: directives in the fixed order of cache-control.md, each once,
    /// separated by `, `, unknown directives last as received. `private` wins over `public`;
    /// `private` and `no-cache` are written bare.
    // Out of line: a stage, not inlined into its trigger (crate docs, "Stages stay out of line").
    #[inline(never)]
    pub fn to_header_value(&self) -> String {
        let mut out = String::with_capacity(64);
        let mut push = |part: &str, value: Option<&str>| {
            if !out.is_empty() {
                out.push_str(", ");
            }
            out.push_str(part);
            if let Some(value) = value {
                out.push('=');
                out.push_str(value);
            }
        };
        for (on, name) in [
            (self.private, "private"),
            (self.public && !self.private, "public"),
            (self.no_store, "no-store"),
            (self.no_cache, "no-cache"),
            (self.must_revalidate, "must-revalidate"),
            (self.proxy_revalidate, "proxy-revalidate"),
            (self.no_transform, "no-transform"),
            (self.immutable, "immutable"),
        ] {
            if on {
                push(name, None);
            }
        }
        for (value, name) in [
            (self.max_age, "max-age"),
            (self.s_maxage, "s-maxage"),
            (self.stale_while_revalidate, "stale-while-revalidate"),
            (self.stale_if_error, "stale-if-error"),
        ] {
            if let Some(v) = value {
                push(name, Some(&v.to_string()));
            }
        }
        if !self.extensions.is_empty() {
            push(&self.extensions, None);
        }
        out
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
    fn empty_and_malformed_freshness_counts_as_zero() {
        for line in [
            "max-age=, s-maxage=",
            "max-age=\"60, s-maxage=5 6",
            "max-age = 60, s-maxage =1",
        ] {
            assert_eq!(round(&[line]), "max-age=0, s-maxage=0", "{line}");
        }
        // The first occurrence wins even when it is the malformed one.
        assert_eq!(round(&["max-age=, max-age=60"]), "max-age=0");
        assert_eq!(round(&["max-age=60, max-age="]), "max-age=60");
        assert_eq!(round(&["stale-if-error= 5, stale-if-error=6"]), "");
    }

    #[test]
    fn a_malformed_or_bare_s_maxage_is_not_explicit() {
        for line in ["s-maxage=abc", "s-maxage", "s-maxage=", "s-maxage=\"1"] {
            let cc = CacheControl::parse([line]);
            assert_eq!(cc.s_maxage, Some(0), "{line}");
            assert!(!cc.explicitly_shared(), "{line}");
        }
        assert!(CacheControl::parse(["s-maxage=0"]).explicitly_shared());
        assert!(CacheControl::parse(["s-maxage=\"5\""]).explicitly_shared());
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
    fn qualified_private_and_no_cache_are_read_and_written_bare() {
        assert_eq!(round(&["public, private=\"set-cookie\""]), "private");
        assert_eq!(round(&["no-cache=\"set-cookie, x\", max-age=5"]), "no-cache, max-age=5");
    }

    #[test]
    fn malformed_elements_naming_private_or_no_store_fail_closed() {
        for (line, written) in [
            ("private; max-age=0", "private"),
            ("no-cache no-store", "no-store"),
            ("private max-age=0", "private"),
            ("no-store=", "no-store"),
            ("PRIVATE=", "private"),
            ("community=\"x, private", "private"),
            ("x=private", "private, x=private"),
            ("public, x.no-store", "public, no-store, x.no-store"),
        ] {
            assert_eq!(round(&[line]), written, "{line}");
        }
        // Inside a well-formed quoted string the word is data.
        assert_eq!(round(&["x=\"private\""]), "x=\"private\"");
        assert_eq!(round(&["no-cache=\"no-store\""]), "no-cache");
        // Other malformed elements are dropped; a word must stand alone.
        assert_eq!(round(&["public=, x-private, privately, a b"]), "x-private, privately");
    }

    #[test]
    fn an_unterminated_quote_hides_no_later_element_or_line() {
        let cc = CacheControl::parse(["x=\"a, max-age=5, s-maxage=7", "no-store"]);
        assert_eq!((cc.max_age, cc.s_maxage, cc.no_store), (Some(5), Some(7), true));
    }

    #[test]
    fn a_line_holding_a_nul_is_unreadable_and_reads_no_store() {
        assert_eq!(round(&["public, max-age=60", "\0"]), "public, no-store, max-age=60");
        assert_eq!(round(&["public\0, s-maxage=5"]), "no-store, s-maxage=5");
    }

    #[test]
    fn without_sharing_removes_the_four_sharing_directives() {
        let cc = CacheControl::parse([
            "public, no-store, max-age=5, s-maxage=600, stale-while-revalidate=1, stale-if-error=2, immutable",
        ]);
        assert_eq!(cc.without_sharing().to_header_value(), "no-store, immutable, max-age=5");
    }

    #[test]
    fn writing_is_idempotent() {
        let once = round(&["no-cache, max-age=0, foo, public, stale-while-revalidate=30"]);
        assert_eq!(round(&[&once]), once);
    }
}
