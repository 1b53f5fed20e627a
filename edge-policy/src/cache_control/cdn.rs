//! `CDN-Cache-Control` (RFC 9213, "Targeted HTTP Cache Control"): parse → interpret →
//! apply, as cache-control.md ("Reading what the origin sent") says.
//!
//! - **Parse** ([`parse_dictionary`], in `structured_field.rs`): a targeted field is a Structured Fields Dictionary
//!   (RFC 9213 §2.1; RFC 8941 §4.2.2), every field line of one name joined with a comma.
//! - **Interpret** ([`CdnCacheControl::read`]): a cache keeps a *target list*; RFC 9213 §2.2:
//!   "the cache MUST select the first (in target list order) field with a valid, non-empty
//!   value and use its value to determine the caching policy for the response". CloudFront's
//!   origin-response reads [`CLOUDFRONT_TARGETS`], the Worker [`WORKER_TARGETS`]. Of the
//!   directives a targeted cache "MUST implement" (max-age, must-revalidate, no-store,
//!   no-cache, private) all five are read; the others are ignored.
//! - **Apply** ([`apply`]): after rules 0–7 of cache-control.md, and only where they already
//!   share the answer.
//!
//! Deliberate departures from RFC 9213, listed together:
//! - §2.2 has a targeted cache "MUST ignore the Cache-Control and Expires header fields" when
//!   it uses a targeted field. Here the field may make the edge stricter, never looser:
//!   `private`/`no-store` in `Cache-Control`, bypass routes, `Set-Cookie`, the credential,
//!   `Vary` outside the key and 5xx always win (rules 0–6 decide first), so an origin cannot
//!   share by mistake what its `Cache-Control` keeps private. Its lifetime applies only where
//!   rule 7 (the route's policy) decides; negative answers and other statuses keep rule 6.
//! - §2.1: "If a targeted field in a given response is empty, or a parsing error is
//!   encountered, that field MUST be ignored by the cache". An unparsable field gives no
//!   lifetime, as the RFC says, but the word `private` or `no-store` anywhere in a field on the
//!   target list outside a well-formed string (parsable or not, a member, a token or a
//!   parameter) keeps the answer out of the edge, as for `Cache-Control` (fails closed); so
//!   does a line holding a NUL (an unreadable value at the boundaries).
//! - §2.1: "Targeted fields that are not on a cache's target list ... MUST be passed
//!   through". An answer the edge does not share leaves without any targeted field
//!   ([`TARGETED_FIELDS`]), so no downstream CDN reads a looser instruction than our
//!   `private`/`no-store`; and a route may remove them from every answer
//!   (`strip_cdn_cache_control`). Otherwise they are forwarded (§3: CDN caches "will
//!   typically forward this header so that downstream CDN caches can use it as well").
//! - On CloudFront the edge lifetime can only be written as `s-maxage` in the one header
//!   viewers also get, so downstream shared caches read it too, and a `no-cache` in
//!   `Cache-Control` still reaches CloudFront (which then keeps a TTL of 0). The Worker keeps
//!   the lifetime to itself ([`CdnLines`]).

use super::structured_field::{parse_dictionary, Value};
use super::{words, CacheControl, DELTA_SECONDS_MAX};
use crate::rules::Route;

/// The targeted fields origin-response reads on CloudFront: `CDN-Cache-Control`.
pub const CLOUDFRONT_TARGETS: &[&str] = &["cdn-cache-control"];

/// The Worker's target list: Cloudflare's own field first, then `CDN-Cache-Control`.
pub const WORKER_TARGETS: &[&str] = &["cloudflare-cdn-cache-control", "cdn-cache-control"];

/// Every targeted field the project knows: removed from an answer the edge does not share.
pub const TARGETED_FIELDS: &[&str] = &["cdn-cache-control", "cloudflare-cdn-cache-control"];

/// Whether a field line names `private` or `no-store` as a word (ASCII case-insensitive) outside
/// a well-formed Structured Fields string, or holds a NUL. An unterminated string hides
/// nothing: its bytes count as visible.
fn names_private_or_no_store(line: &str) -> bool {
    if line.contains('\0') {
        return true;
    }
    let bytes = line.as_bytes();
    let mut visible = bytes.to_vec();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let mut j = i + 1;
        let mut closed = None;
        while j < bytes.len() {
            match bytes[j] {
                b'\\' => j += 2,
                b'"' => {
                    closed = Some(j);
                    break;
                }
                _ => j += 1,
            }
        }
        match closed {
            Some(end) => {
                visible[i..=end].fill(b' ');
                i = end + 1;
            }
            None => break,
        }
    }
    names_a_forbidding_word(&String::from_utf8_lossy(&visible))
}

fn names_a_forbidding_word(text: &str) -> bool {
    words(text).any(|w| w.eq_ignore_ascii_case("private") || w.eq_ignore_ascii_case("no-store"))
}

/// What the fields on a target list say to the edge (RFC 9213 §2.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CdnCacheControl {
    /// A field on the list parsed as a non-empty Dictionary: its directives are the edge's.
    pub valid: bool,
    /// `max-age`, seconds (an Integer; any other value, or a negative one, reads `0`, as an
    /// invalid `max-age` in `Cache-Control` does).
    pub max_age: Option<u64>,
    /// `no-cache` (a String argument counts as the bare directive, as in `Cache-Control`).
    pub no_cache: bool,
    /// `must-revalidate`.
    pub must_revalidate: bool,
    /// `private` or `no-store` in the selected field, or the word in any field on the list
    /// (parsable or not): the edge must not share the answer.
    pub forbids_sharing: bool,
}

impl CdnCacheControl {
    /// Reads the fields on `targets` (lower-case names, most applicable first) from a
    /// response's header fields (lower-case names, one entry per line).
    pub fn read<'a>(targets: &[&str], response_headers: &[(&'a str, &'a str)]) -> Self {
        let mut cdn = CdnCacheControl::default();
        for target in targets {
            let lines: Vec<&str> = response_headers
                .iter()
                .filter(|(n, _)| n == target)
                .map(|(_, v)| *v)
                .collect();
            if lines.is_empty() {
                continue;
            }
            cdn.forbids_sharing |= lines.iter().any(|line| names_private_or_no_store(line));
            if cdn.valid {
                continue;
            }
            let joined = lines.join(",");
            match parse_dictionary(&joined) {
                Ok(members) if !members.is_empty() => {
                    cdn.valid = true;
                    for (key, value) in members {
                        cdn.apply(key, value);
                    }
                }
                // RFC 9213 §2.1: empty or unparsable, "that field MUST be ignored".
                _ => {}
            }
        }
        cdn
    }

    fn apply(&mut self, key: &str, value: Value) {
        match key {
            // RFC 9213 §2.1: "the max-age directive ... has an integer value".
            "max-age" => {
                self.max_age = Some(match value {
                    Value::Integer(seconds) => u64::try_from(seconds).map_or(0, |s| s.min(DELTA_SECONDS_MAX)),
                    _ => 0,
                });
            }
            "no-cache" => self.no_cache = true,
            "must-revalidate" => self.must_revalidate = true,
            "private" | "no-store" => self.forbids_sharing = true,
            _ => {}
        }
    }

    /// Whether the edge must revalidate before every reuse once stale: `no-cache` or
    /// `must-revalidate` (the route then adds no stale window, as for the origin's own,
    /// cache-control.md rule 7).
    pub fn revalidates(&self) -> bool {
        self.valid && (self.no_cache || self.must_revalidate)
    }
}

/// The two lines a Worker keeps apart when `CDN-Cache-Control` set the edge's lifetime: what
/// a viewer gets (the decided line without the edge's `s-maxage`), and what the edge stores
/// by (the decided line, without `Cache-Control`'s `no-cache`: RFC 9213 §2.2 has the
/// targeted cache use its field instead).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CdnLines {
    /// The viewer's `Cache-Control`.
    pub viewer: CacheControl,
    /// The directives the edge's own lifetime is read from.
    pub edge: CacheControl,
}

/// Applies the targeted field to a decision of rules 6–7 (cache-control.md, "Reading": it may
/// make the edge stricter, never looser). `cache_control` is what the rules decided;
/// `by_route_policy` is whether rule 7 decided it (only then does the field set a lifetime);
/// `cdn` is what the targeted field says and `origin` the origin's own `Cache-Control`.
/// Returns the directives CloudFront writes, whether the field kept the answer out, and the
/// Worker's lines when the field set the edge's lifetime.
pub(super) fn apply(
    cache_control: CacheControl,
    by_route_policy: bool,
    cdn: &CdnCacheControl,
    origin: &CacheControl,
    route: &Route,
) -> (CacheControl, bool, Option<CdnLines>) {
    if cache_control.forbids_sharing() {
        return (cache_control, false, None);
    }
    if cdn.forbids_sharing {
        let mut kept_out = cache_control.without_sharing().without_quoted_extensions();
        kept_out.private = true;
        return (kept_out, true, None);
    }
    if !by_route_policy || !cdn.valid {
        return (cache_control, false, None);
    }
    // Its directives stand where the origin's freshness directives would in rule 7: its
    // `max-age` wins over the route's `s-maxage` unless the route sets `override`.
    let policy = &route.freshness;
    let route_s_maxage = policy.s_maxage.map(u64::from);
    let edge_ttl = if cdn.no_cache {
        // RFC 9213 §2.2: "no-store and no-cache make max-age inoperative".
        Some(0)
    } else if policy.override_origin && route_s_maxage.is_some() {
        route_s_maxage
    } else {
        cdn.max_age.or(route_s_maxage)
    };
    let mut shared = cache_control.clone();
    if let Some(ttl) = edge_ttl {
        shared.s_maxage = Some(ttl);
        shared.s_maxage_malformed = false;
    }
    // `proxy-revalidate` is `must-revalidate` for shared caches only (RFC 9111 §5.2.2.8).
    shared.proxy_revalidate |= cdn.revalidates();
    let mut viewer = cache_control;
    viewer.s_maxage = if policy.override_origin { None } else { origin.s_maxage };
    viewer.s_maxage_malformed = viewer.s_maxage.is_some() && origin.s_maxage_malformed;
    let mut edge = shared.clone();
    edge.no_cache = false;
    (shared, false, Some(CdnLines { viewer, edge }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache_control::{decide_response, ResponseDecision, Rule};
    use crate::rules::RuleSet;
    use crate::view::HeaderField;

    fn decided(path: &str, status: u16, response: &[HeaderField<'_>], request: &[HeaderField<'_>]) -> ResponseDecision {
        let route = RuleSet::embedded().route_for(path);
        decide_response(Some(route), Some(status), response, request, 0)
    }

    #[test]
    fn cdn_max_age_sets_the_edge_lifetime_and_only_the_edge_one() {
        // The default route: max-age 0, s-maxage 60, stale-while-revalidate 300, stale-if-error 1 day.
        let d = decided(
            "/anything",
            200,
            &[("cache-control", "max-age=0"), ("cdn-cache-control", "max-age=300")],
            &[],
        );
        assert_eq!(d.rule, Some(Rule::CdnLifetime));
        // CloudFront: one line, the edge lifetime as s-maxage (downstream shared caches read it too).
        assert_eq!(
            d.header_value(),
            "public, max-age=0, s-maxage=300, stale-while-revalidate=300, stale-if-error=86400"
        );
        // The Worker: the viewer never sees the edge's lifetime; the edge stores by it.
        assert_eq!(
            d.viewer_cache_control().to_header_value(),
            "public, max-age=0, stale-while-revalidate=300, stale-if-error=86400"
        );
        assert_eq!(d.edge_cache_control().to_header_value(), d.header_value());
        assert!(!d.strip_targeted, "forwarded downstream (RFC 9213 §3)");
        // An s-maxage the origin wrote for other shared caches reaches the viewer as sent.
        let d = decided(
            "/anything",
            200,
            &[
                ("cache-control", "max-age=60, s-maxage=120"),
                ("cdn-cache-control", "max-age=600"),
            ],
            &[],
        );
        assert_eq!(d.cache_control.s_maxage, Some(600));
        assert_eq!(d.viewer_cache_control().s_maxage, Some(120));
    }

    #[test]
    fn cdn_no_cache_and_must_revalidate_revalidate_at_the_edge_only() {
        let d = decided(
            "/api/products/1",
            200,
            &[
                ("cache-control", "max-age=60"),
                ("cdn-cache-control", "no-cache, max-age=300"),
            ],
            &[],
        );
        assert_eq!(d.header_value(), "public, proxy-revalidate, max-age=60, s-maxage=0");
        let d = decided("/api/products/1", 200, &[("cdn-cache-control", "must-revalidate")], &[]);
        assert_eq!(d.header_value(), "public, proxy-revalidate, max-age=60, s-maxage=300");
        assert_eq!(d.viewer_cache_control().to_header_value(), "public, max-age=60");
        // Cache-Control's no-cache is the browsers': the Worker's edge ignores it (RFC 9213 §2.2).
        let d = decided(
            "/api/products/1",
            200,
            &[("cache-control", "no-cache"), ("cdn-cache-control", "max-age=300")],
            &[],
        );
        assert!(d.cache_control.no_cache && !d.edge_cache_control().no_cache);
        assert_eq!(d.edge_cache_control().s_maxage, Some(300));
    }

    #[test]
    fn cdn_max_age_never_makes_an_unshared_answer_shared() {
        let cdn = ("cdn-cache-control", "max-age=300");
        let credential = [("authorization", "Bearer user-7")];
        for (label, path, status, response, request) in [
            ("private", "/x", 200, vec![("cache-control", "private"), cdn], &[][..]),
            ("no-store", "/x", 200, vec![("cache-control", "no-store"), cdn], &[]),
            ("set-cookie", "/x", 200, vec![("set-cookie", "s=1"), cdn], &[]),
            ("credential", "/x", 200, vec![cdn], &credential[..]),
            ("vary", "/x", 200, vec![("vary", "x-tenant"), cdn], &[]),
            (
                "5xx",
                "/x",
                503,
                vec![("cache-control", "public, s-maxage=60"), cdn],
                &[],
            ),
            ("bypass", "/api/me", 200, vec![cdn], &[]),
        ] {
            let d = decided(path, status, &response, request);
            assert!(d.cache_control.forbids_sharing(), "{label}: {}", d.header_value());
            assert!(d.edge_cache_control().forbids_sharing(), "{label}");
            assert_ne!(d.rule, Some(Rule::CdnLifetime), "{label}");
            assert!(
                d.strip_targeted,
                "{label}: no downstream CDN reads a looser instruction"
            );
        }
    }

    #[test]
    fn cdn_private_or_no_store_keeps_the_answer_out_and_browsers_keep_theirs() {
        for field in ["no-store", "private", "max-age=300 no-store", "x=private"] {
            let d = decided("/api/products/1", 200, &[("cdn-cache-control", field)], &[]);
            assert_eq!(d.rule, Some(Rule::CdnForbidsSharing), "{field}");
            assert_eq!(d.header_value(), "private, max-age=60", "{field}");
        }
        // A negative answer too.
        let d = decided("/x", 404, &[("cdn-cache-control", "no-store")], &[]);
        assert_eq!(d.header_value(), "private, max-age=0");
    }

    #[test]
    fn an_unparsable_cdn_field_sets_no_lifetime() {
        let plain = decided("/api/products/1", 200, &[], &[]);
        let broken = decided("/api/products/1", 200, &[("cdn-cache-control", "max-age=5,")], &[]);
        assert_eq!(broken.header_value(), plain.header_value());
        assert_eq!(broken.rule, Some(Rule::RoutePolicy));
    }

    #[test]
    fn override_routes_keep_their_s_maxage_and_negative_answers_keep_rule_6() {
        let mut route = RuleSet::embedded().route_for("/x").clone();
        route.freshness.override_origin = true;
        let d = decide_response(Some(&route), Some(200), &[("cdn-cache-control", "max-age=300")], &[], 0);
        assert_eq!(d.cache_control.s_maxage, Some(60));
        let d = decided("/x", 404, &[("cdn-cache-control", "max-age=300")], &[]);
        assert_eq!(d.header_value(), "public, max-age=0, s-maxage=10");
    }

    #[test]
    fn origin_response_reads_its_own_output_the_same_way() {
        for field in [
            "max-age=300",
            "no-cache",
            "must-revalidate, max-age=5",
            "no-store",
            "max-age=1,",
        ] {
            for cc in [
                "max-age=0",
                "no-cache",
                "public, s-maxage=7, stale-while-revalidate=9",
                "",
            ] {
                let first = decided("/x", 200, &[("cache-control", cc), ("cdn-cache-control", field)], &[]);
                let line = first.header_value();
                let mut again: Vec<HeaderField<'_>> = vec![("cache-control", line.as_str())];
                if !first.strip_targeted {
                    again.push(("cdn-cache-control", field));
                }
                assert_eq!(decided("/x", 200, &again, &[]).header_value(), line, "{cc} / {field}");
            }
        }
    }

    fn parsed(field: &str) -> Option<Vec<(&str, Value)>> {
        parse_dictionary(field).ok()
    }

    #[test]
    fn dictionaries_parse_as_rfc_8941_says() {
        assert_eq!(
            parsed("max-age=300, must-revalidate"),
            Some(vec![
                ("max-age", Value::Integer(300)),
                ("must-revalidate", Value::Boolean(true))
            ])
        );
        assert_eq!(
            parsed("no-cache=\"set-cookie\", a=?0, b=:aGk=:, c=tok/en, d=1.5, e=(1 \"x\");p"),
            Some(vec![
                ("no-cache", Value::String),
                ("a", Value::Boolean(false)),
                ("b", Value::Bytes),
                ("c", Value::Token),
                ("d", Value::Decimal),
                ("e", Value::InnerList),
            ])
        );
        assert_eq!(
            parsed("a;x=1;y, b=2;z"),
            Some(vec![("a", Value::Boolean(true)), ("b", Value::Integer(2))])
        );
        // Valid: `private` with a parameter (it still keeps the answer out, below).
        assert_eq!(
            parsed("private; max-age=0"),
            Some(vec![("private", Value::Boolean(true))])
        );
        // A key given twice keeps its place and takes the last value.
        assert_eq!(
            parsed("max-age=1, x, max-age=2"),
            Some(vec![("max-age", Value::Integer(2)), ("x", Value::Boolean(true))])
        );
        assert_eq!(parsed(""), Some(vec![]));
        assert_eq!(parsed("  a=1  "), Some(vec![("a", Value::Integer(1))]));
        assert_eq!(
            parsed("a=1,\tb=2"),
            Some(vec![("a", Value::Integer(1)), ("b", Value::Integer(2))])
        );
    }

    #[test]
    fn malformed_dictionaries_fail() {
        for field in [
            "Max-Age=300",
            "max-age=300,",
            "max-age = 300",
            "max-age=300;",
            "max-age=1234567890123456",
            "max-age=1.2345",
            "max-age=1.",
            "max-age=-",
            "a=\"unterminated",
            "a=\"bad\\escape\"",
            "a=:not base64!:",
            "a=?2",
            "a=(1 2",
            "a=(1,2)",
            "a b",
            "max-age=300 no-store",
            "é=1",
            "\ta=1",
        ] {
            assert!(parse_dictionary(field).is_err(), "{field:?}");
        }
    }

    fn read(field: &str) -> CdnCacheControl {
        CdnCacheControl::read(CLOUDFRONT_TARGETS, &[("cdn-cache-control", field)])
    }

    #[test]
    fn the_five_directives_are_read() {
        let cdn = read("max-age=300, must-revalidate, no-cache, x-other=1");
        assert!(cdn.valid && cdn.no_cache && cdn.must_revalidate && !cdn.forbids_sharing);
        assert_eq!(cdn.max_age, Some(300));
        assert!(read("no-store").forbids_sharing && read("private").forbids_sharing);
        assert!(read("private=\"x\"").forbids_sharing);
        // A max-age that is not a non-negative Integer reads 0; a huge one clamps.
        for field in ["max-age=-5", "max-age=1.5", "max-age=\"60\"", "max-age"] {
            assert_eq!(read(field).max_age, Some(0), "{field}");
        }
        assert_eq!(read("max-age=999999999999999").max_age, Some(DELTA_SECONDS_MAX));
    }

    #[test]
    fn an_unparsable_field_gives_no_lifetime_but_its_private_word_still_counts() {
        let cdn = read("max-age=300;;");
        assert!(!cdn.valid && cdn.max_age.is_none() && !cdn.forbids_sharing);
        for field in ["max-age=300 no-store", "Private, max-age=300", "x=\"a, no-store", "a\0"] {
            let cdn = read(field);
            assert!(!cdn.valid && cdn.forbids_sharing, "{field:?}");
        }
        // Inside a well-formed string the word is data; as a token or a parameter it counts.
        assert!(!read("x=\"private\", max-age=5").forbids_sharing);
        assert!(read("x=private, max-age=5").forbids_sharing);
        assert!(read("max-age=5;no-store").forbids_sharing);
        assert!(!read("").valid, "empty: ignored");
    }

    #[test]
    fn the_first_valid_field_on_the_target_list_is_used() {
        let both = [
            ("cdn-cache-control", "max-age=60"),
            ("cloudflare-cdn-cache-control", "max-age=600"),
        ];
        assert_eq!(CdnCacheControl::read(WORKER_TARGETS, &both).max_age, Some(600));
        assert_eq!(CdnCacheControl::read(CLOUDFRONT_TARGETS, &both).max_age, Some(60));
        let broken_first = [
            ("cloudflare-cdn-cache-control", "max-age=600,"),
            ("cdn-cache-control", "max-age=60"),
        ];
        assert_eq!(CdnCacheControl::read(WORKER_TARGETS, &broken_first).max_age, Some(60));
        // Lines of one name are one field.
        let lines = [
            ("cdn-cache-control", "max-age=60"),
            ("cdn-cache-control", "must-revalidate"),
        ];
        let cdn = CdnCacheControl::read(CLOUDFRONT_TARGETS, &lines);
        assert_eq!((cdn.max_age, cdn.must_revalidate), (Some(60), true));
        // Not on the list: no effect.
        let other = [("cloudflare-cdn-cache-control", "no-store")];
        assert_eq!(
            CdnCacheControl::read(CLOUDFRONT_TARGETS, &other),
            CdnCacheControl::default()
        );
    }
}
