//! Validation, once for every host (RFC 9110 §13.1–13.2, RFC 9111 §4.3): whether a viewer's
//! conditional request is answered `304` from a stored copy ([`not_modified`]: `If-None-Match`,
//! else `If-Modified-Since`), which validators a revalidation sends ([`Validators`]: the
//! stored `ETag` and `Last-Modified`, both when both exist), whether a `304` refreshes the
//! copy now stored ([`refreshes`]), and how a `304`'s header fields update it. The local
//! edge, the origin and the Worker call these; none keeps a copy of its own.

use crate::cache_control::http_date_secs;
use crate::headers::connection_options;
use crate::view::{HeaderField, HeaderStore};

/// Splits an entity-tag into its weakness and its opaque-tag (quotes included). RFC 9110
/// §8.8.3: `entity-tag = [ weak ] opaque-tag`, `weak = %s"W/"`, `opaque-tag = DQUOTE *etagc
/// DQUOTE`. `None` when it is not one.
fn entity_tag(tag: &str) -> Option<(bool, &str)> {
    let tag = tag.trim_matches([' ', '\t']);
    let (weak, opaque) = match tag.strip_prefix("W/") {
        Some(rest) => (true, rest),
        None => (false, tag),
    };
    let body = opaque.strip_prefix('"')?.strip_suffix('"')?;
    (!body.contains('"')).then_some((weak, opaque))
}

/// RFC 9110 §13.1.2: "A recipient MUST use the weak comparison function when comparing
/// entity tags for If-None-Match", and "If the field value is "*", the condition is false if
/// the origin server has a current representation for the target resource". Whether the
/// field's every line (`lines`) matches `etag`, the `ETag` of what would be sent. A malformed
/// member ends the reading with no match: the full answer is sent, and a viewer never gets a
/// bodyless answer it did not ask for.
pub fn if_none_match_matches<'a>(lines: impl IntoIterator<Item = &'a str>, etag: &str) -> bool {
    let Some((_, wanted)) = entity_tag(etag) else {
        return false;
    };
    for line in lines {
        let mut rest = line.trim_matches([' ', '\t']);
        while !rest.is_empty() {
            rest = rest.trim_start_matches([' ', '\t', ',']);
            if let Some(after) = rest.strip_prefix('*') {
                let after = after.trim_start_matches([' ', '\t']);
                return after.is_empty() || after.starts_with(',');
            }
            // RFC 9110 §8.8.3.2, weak comparison: "two entity tags are equivalent if their
            // opaque-tags match character-by-character, regardless of either or both being
            // tagged as "weak"".
            let member = rest.strip_prefix("W/").unwrap_or(rest);
            let Some(body) = member.strip_prefix('"') else {
                return false;
            };
            let Some(end) = body.find('"') else {
                return false;
            };
            if &member[..end + 2] == wanted {
                return true;
            }
            rest = &body[end + 1..];
        }
    }
    false
}

/// The validators of a stored copy (RFC 9110 §8.8): its first `ETag` and its first
/// `Last-Modified`, as received.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Validators<'h> {
    /// `ETag`.
    pub etag: Option<&'h str>,
    /// `Last-Modified`.
    pub last_modified: Option<&'h str>,
}

impl<'h> Validators<'h> {
    /// The validators of a copy's header fields (lower-case names).
    pub fn of(stored: &[HeaderField<'h>]) -> Self {
        let first = |name: &str| stored.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        Validators {
            etag: first("etag"),
            last_modified: first("last-modified"),
        }
    }

    /// Whether the copy has neither.
    pub fn is_empty(&self) -> bool {
        self.etag.is_none() && self.last_modified.is_none()
    }

    /// The conditional header fields a revalidation of the copy sends. RFC 9111 §4.3.1: "When
    /// generating a conditional request for validation, a cache ... MUST send the relevant
    /// entity tags (using If-Match, If-None-Match, or If-Range) if the entity tags were
    /// provided in the stored response(s) being validated" and "SHOULD send the Last-Modified
    /// value (using If-Modified-Since) if the request is not for a subrange, a single stored
    /// response is being validated, and that response contains a Last-Modified value": the
    /// `ETag` as `If-None-Match` and the `Last-Modified` as `If-Modified-Since`, both when the
    /// copy has both (CloudFront sends "one or both", "Request and response behavior for
    /// custom origins", Conditional requests).
    pub fn conditional_headers(&self) -> Vec<(&'static str, &'h str)> {
        let mut headers = Vec::with_capacity(2);
        if let Some(etag) = self.etag {
            headers.push(("if-none-match", etag));
        }
        if let Some(last_modified) = self.last_modified {
            headers.push(("if-modified-since", last_modified));
        }
        headers
    }
}

/// Whether a `304` refreshes the copy stored now. RFC 9111 §4.3.4: "If the new response
/// contains one or more strong validators ..., then each of those strong validators
/// identifies a selected representation for update. ... If none of the stored responses
/// contain at least one of the same strong validators, then the cache MUST NOT use the new
/// response to update any stored responses", and a weak one identifies a stored response it
/// matches weakly.
///
/// `stored` are the validators of the copy stored now (it may have been replaced meanwhile:
/// a `304` for an older copy never re-marks a newer one), `sent` those the revalidation sent
/// (the copy's own when it was sent), `answered` the `304`'s own. The copy stored now must
/// still be the one validated; an `ETag` the `304` carries must be the one sent (strong
/// against strong, or weakly against a weak one); a `Last-Modified` it carries must be the
/// one sent; a `304` naming an `ETag` when none was sent names another representation. A
/// `304` nothing was sent for refreshes nothing.
pub fn refreshes(stored: Validators<'_>, sent: Validators<'_>, answered: Validators<'_>) -> bool {
    if sent.is_empty() || stored != sent {
        return false;
    }
    let etag_agrees = match (answered.etag, sent.etag) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(answered), Some(sent)) => match (entity_tag(answered), entity_tag(sent)) {
            (Some((false, a)), Some((false, s))) => a == s,
            (Some((true, a)), Some((_, s))) => a == s,
            _ => false,
        },
    };
    let date_agrees = match (answered.last_modified, sent.last_modified) {
        (Some(answered), Some(sent)) => answered == sent,
        _ => true,
    };
    etag_agrees && date_agrees
}

/// Whether a cache answers a viewer's `GET`/`HEAD` with `304 Not Modified` from a stored
/// `200`, after its freshness decision (RFC 9111 §4.3.2, "Handling a Received Validation
/// Request"): "the If-Match and If-Unmodified-Since conditional header fields are not
/// applicable to a cache, and If-None-Match takes precedence over If-Modified-Since"
/// (RFC 9110 §13.2.2's order, as a cache reads it).
///
/// - `If-None-Match` ([`if_none_match_matches`], weak comparison) against the stored `ETag`:
///   when the field is present it alone decides (RFC 9110 §13.1.3: "A recipient MUST
///   ignore If-Modified-Since if the request contains an If-None-Match header field").
/// - Else `If-Modified-Since`: RFC 9110 §13.1.3, "A recipient MUST ignore the
///   If-Modified-Since header field if the received field value is not a valid HTTP-date,
///   the field value has more than one member"; otherwise "the condition is false" (a `304`)
///   when the copy's last modification is "earlier or equal to the date provided". RFC 9111
///   §4.3.2: without `Last-Modified` "a cache SHOULD use the stored response's Date field
///   value (or, if no Date field is present, the time that the stored response was
///   received)": `received_ms`, ms since the Unix epoch.
///
/// `request` and `stored` are lower-case header fields; `status` the stored status (only a
/// `200` is answered `304`: RFC 9110 §13.2.1 has a server ignore preconditions on a response
/// that would not be a `2xx`, and a partial one is never stored).
pub fn not_modified(request: &[HeaderField<'_>], status: u16, stored: &[HeaderField<'_>], received_ms: u64) -> bool {
    if status != 200 {
        return false;
    }
    let stored_validators = Validators::of(stored);
    let mut if_none_match = request.iter().filter(|(n, _)| *n == "if-none-match").peekable();
    if if_none_match.peek().is_some() {
        return stored_validators
            .etag
            .is_some_and(|etag| if_none_match_matches(if_none_match.map(|(_, v)| *v), etag));
    }
    let mut since = request.iter().filter(|(n, _)| *n == "if-modified-since");
    let (Some((_, since)), None) = (since.next(), since.next()) else {
        return false;
    };
    let Some(since) = http_date_secs(since) else {
        return false;
    };
    let stored_date = |name: &str| {
        stored
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, v)| http_date_secs(v))
    };
    let modified = stored_date("last-modified")
        .or_else(|| stored_date("date"))
        .unwrap_or(received_ms / 1000);
    modified <= since
}

/// The fields a `304` a cache generates carries from the `200` it stands for. RFC 9110
/// §15.4.5: "The server generating a 304 response MUST generate any of the following header
/// fields that would have been sent in a 200 (OK) response to the same request:
/// Content-Location, Date, ETag, and Vary; Cache-Control and Expires", and "a sender SHOULD
/// NOT generate representation metadata other than the above listed fields unless said
/// metadata exists for the purpose of guiding cache updates (e.g., Last-Modified might be
/// useful if the response does not have an ETag field)". `has_etag`: the `200` has an `ETag`.
pub fn kept_in_304(name: &str, has_etag: bool) -> bool {
    matches!(
        name,
        "cache-control" | "content-location" | "date" | "etag" | "expires" | "vary"
    ) || (name == "last-modified" && !has_etag)
}

/// The fields a `304` never updates in a stored copy, RFC 9111 §3.2: "the cache MUST add each
/// header field in the provided response to the stored response, replacing field values that
/// are already present, with the following exceptions":
/// - "Header fields excepted from storage in Section 3.1": `Connection` and the hop-by-hop
///   fields (RFC 9110 §7.6.1: `Keep-Alive`, `TE`, `Transfer-Encoding`, `Upgrade`,
///   `Proxy-Connection`), and the `Proxy-*` fields (`Proxy-Authenticate`,
///   `Proxy-Authentication-Info`, `Proxy-Authorization`), matched by prefix; fields named in
///   the `304`'s own `Connection` are skipped in [`merge_not_modified`];
/// - "Header fields that the cache's stored response depends upon": `Content-Encoding` and
///   `Content-Range` (the stored body is in that coding and range);
/// - "The Content-Length header field" (and `Trailer`, which frames the body too);
/// - our fail-closed addition: `Set-Cookie`, so a shared copy never takes a cookie from a
///   `304`.
pub const NOT_UPDATED_BY_304: &[&str] = &[
    "connection",
    "keep-alive",
    "te",
    "transfer-encoding",
    "upgrade",
    "proxy-connection",
    "content-encoding",
    "content-range",
    "content-length",
    "trailer",
    "set-cookie",
];

/// Whether a field of a `304` updates the stored copy (lower-case name; [`NOT_UPDATED_BY_304`]).
pub fn updated_by_304(name: &str) -> bool {
    !NOT_UPDATED_BY_304.contains(&name) && !name.starts_with("proxy-")
}

/// Updates `stored` with the fields of `not_modified` (RFC 9111 §3.2 and §4.3.4): each field
/// the `304` carries replaces every value of that field in the copy, except the fields of
/// [`NOT_UPDATED_BY_304`], any field the `304`'s `Connection` names, and the fields
/// `host_keeps` names — each host's own additions, named at its call.
pub fn merge_not_modified<H: HeaderStore>(stored: &mut H, not_modified: &H, host_keeps: impl Fn(&str) -> bool) {
    let fields = not_modified.header_fields();
    // RFC 9110 §7.6.1: "a proxy or gateway MUST ... remove any header or trailer field(s)
    // whose names match a connection option".
    let options = connection_options(fields.iter().copied());
    let connection_named = |name: &str| options.iter().any(|o| o == name);
    let mut names: Vec<&str> = Vec::new();
    for (name, _) in &fields {
        if !names.contains(name) && updated_by_304(name) && !connection_named(name) && !host_keeps(name) {
            names.push(name);
        }
    }
    for name in names {
        stored.remove_all(name);
        stored.append_all_from(not_modified, name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::view::header_fields;

    #[test]
    fn weak_comparison_and_lists() {
        assert!(if_none_match_matches(["\"a\""], "\"a\""));
        assert!(if_none_match_matches(["W/\"a\""], "\"a\""));
        assert!(if_none_match_matches(["\"x\", W/\"a\""], "W/\"a\""));
        assert!(if_none_match_matches(["\"x\"", "\"a\""], "\"a\""));
        assert!(if_none_match_matches(["*"], "\"a\""));
        assert!(if_none_match_matches(["\"a,b\""], "\"a,b\""));
        assert!(!if_none_match_matches(["\"b\""], "\"a\""));
        assert!(!if_none_match_matches(["a"], "\"a\""), "unquoted is malformed");
        assert!(!if_none_match_matches(["\"a"], "\"a\""));
        assert!(!if_none_match_matches(["*x"], "\"a\""));
        assert!(!if_none_match_matches([""], "\"a\""));
    }

    #[test]
    fn the_origins_single_lines_match_as_before() {
        assert!(if_none_match_matches(["\"a\""], "\"a\""));
        assert!(if_none_match_matches(["W/\"a\", \"b\""], "\"a\""));
        assert!(if_none_match_matches(["*"], "\"a\""));
        assert!(!if_none_match_matches(["\"b\""], "\"a\""));
        assert!(!if_none_match_matches(["\"a\""], "not-an-etag"));
    }

    #[test]
    fn a_revalidation_sends_both_validators_when_the_copy_has_both() {
        let both = [("last-modified", "x"), ("etag", "\"e\"")];
        assert_eq!(
            Validators::of(&both).conditional_headers(),
            [("if-none-match", "\"e\""), ("if-modified-since", "x")]
        );
        assert_eq!(
            Validators::of(&[("last-modified", "x")]).conditional_headers(),
            [("if-modified-since", "x")]
        );
        assert!(Validators::of(&[]).conditional_headers().is_empty());
    }

    fn tag(etag: &str) -> Validators<'_> {
        Validators {
            etag: Some(etag),
            last_modified: None,
        }
    }

    #[test]
    fn a_304_refreshes_only_the_copy_it_validates() {
        let none = Validators::default();
        assert!(refreshes(tag("\"a\""), tag("\"a\""), none));
        assert!(refreshes(tag("\"a\""), tag("\"a\""), tag("\"a\"")));
        assert!(refreshes(tag("\"a\""), tag("\"a\""), tag("W/\"a\"")));
        assert!(!refreshes(tag("\"b\""), tag("\"a\""), none), "replaced meanwhile");
        assert!(!refreshes(none, tag("\"a\""), none), "gone meanwhile");
        assert!(
            !refreshes(tag("\"a\""), tag("\"a\""), tag("\"b\"")),
            "another representation"
        );
        assert!(
            !refreshes(tag("W/\"a\""), tag("W/\"a\""), tag("\"a\"")),
            "strong needs strong"
        );
        assert!(!refreshes(none, none, none), "nothing was asked");
    }

    #[test]
    fn a_last_modified_copy_is_refreshed_by_its_date() {
        let dated = |d| Validators {
            etag: None,
            last_modified: Some(d),
        };
        let monday = "Mon, 30 Nov 2026 08:00:00 GMT";
        let none = Validators::default();
        assert!(refreshes(dated(monday), dated(monday), none));
        assert!(refreshes(dated(monday), dated(monday), dated(monday)));
        assert!(
            !refreshes(dated(monday), dated(monday), dated("Tue, 01 Dec 2026 08:00:00 GMT")),
            "modified since"
        );
        assert!(
            !refreshes(dated(monday), dated(monday), tag("\"x\"")),
            "an entity tag the copy never had"
        );
        assert!(
            !refreshes(dated("Tue, 01 Dec 2026 08:00:00 GMT"), dated(monday), none),
            "replaced meanwhile"
        );
    }

    const STORED: &[(&str, &str)] = &[
        ("etag", "\"v1\""),
        ("last-modified", "Mon, 30 Nov 2026 08:00:00 GMT"),
        ("date", "Mon, 30 Nov 2026 09:00:00 GMT"),
    ];

    #[test]
    fn if_none_match_takes_precedence_over_if_modified_since() {
        let later = "Mon, 30 Nov 2026 10:00:00 GMT";
        assert!(not_modified(&[("if-none-match", "\"v1\"")], 200, STORED, 0));
        assert!(not_modified(&[("if-modified-since", later)], 200, STORED, 0));
        // A non-matching If-None-Match decides: the If-Modified-Since that would match is ignored.
        assert!(!not_modified(
            &[("if-none-match", "\"v0\""), ("if-modified-since", later)],
            200,
            STORED,
            0
        ));
        assert!(not_modified(
            &[
                ("if-modified-since", "Sun, 01 Jan 2026 00:00:00 GMT"),
                ("if-none-match", "W/\"v1\"")
            ],
            200,
            STORED,
            0
        ));
        // If-Match and If-Unmodified-Since are not a cache's to evaluate (RFC 9111 §4.3.2).
        assert!(!not_modified(&[("if-match", "\"v1\"")], 200, STORED, 0));
        assert!(!not_modified(&[("if-none-match", "\"v1\"")], 404, STORED, 0));
    }

    #[test]
    fn if_modified_since_compares_last_modified_then_date_then_receipt() {
        let at_lm = "Mon, 30 Nov 2026 08:00:00 GMT";
        let before = "Mon, 30 Nov 2026 07:59:59 GMT";
        assert!(not_modified(&[("if-modified-since", at_lm)], 200, STORED, 0), "equal");
        assert!(!not_modified(&[("if-modified-since", before)], 200, STORED, 0));
        // Invalid, or more than one: ignored.
        for bad in ["yesterday", "0", ""] {
            assert!(!not_modified(&[("if-modified-since", bad)], 200, STORED, 0), "{bad:?}");
        }
        assert!(!not_modified(
            &[("if-modified-since", at_lm), ("if-modified-since", at_lm)],
            200,
            STORED,
            0
        ));
        // Without Last-Modified, the Date; without either, when it was received.
        let dated = [("date", "Mon, 30 Nov 2026 09:00:00 GMT")];
        assert!(!not_modified(&[("if-modified-since", at_lm)], 200, &dated, 0));
        assert!(not_modified(
            &[("if-modified-since", "Mon, 30 Nov 2026 09:00:00 GMT")],
            200,
            &dated,
            0
        ));
        let received = 1_796_029_200_000; // 2026-11-30T09:00:00Z
        assert!(not_modified(
            &[("if-modified-since", "Mon, 30 Nov 2026 09:00:00 GMT")],
            200,
            &[],
            received
        ));
        assert!(!not_modified(&[("if-modified-since", at_lm)], 200, &[], received));
    }

    #[test]
    fn a_304_keeps_what_rfc_9110_lists() {
        for name in ["etag", "cache-control", "date", "expires", "vary", "content-location"] {
            assert!(kept_in_304(name, true), "{name}");
        }
        for name in ["content-type", "content-length", "set-cookie", "x-custom"] {
            assert!(!kept_in_304(name, true), "{name}");
        }
        assert!(kept_in_304("last-modified", false) && !kept_in_304("last-modified", true));
    }

    #[test]
    fn a_304_updates_only_what_rfc_9111_lets_it() {
        for name in ["etag", "date", "expires", "content-type", "x-custom", "cache-control"] {
            assert!(updated_by_304(name), "{name}");
        }
        for name in [
            "content-length",
            "content-encoding",
            "content-range",
            "connection",
            "keep-alive",
            "transfer-encoding",
            "proxy-authenticate",
            "proxy-anything",
            "set-cookie",
        ] {
            assert!(!updated_by_304(name), "{name}");
        }
    }

    fn owned(fields: &[(&str, &str)]) -> Vec<(String, String)> {
        fields.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn the_merge_replaces_what_the_304_carries_and_keeps_the_rest() {
        let mut stored = owned(&[
            ("cache-control", "s-maxage=1"),
            ("content-type", "application/json"),
            ("content-length", "10"),
            ("set-cookie", "stored=1"),
            ("x-multi", "1"),
            ("x-multi", "2"),
        ]);
        let not_modified = owned(&[
            ("cache-control", "s-maxage=60"),
            ("content-length", "0"),
            ("set-cookie", "new=1"),
            ("connection", "x-hop, close"),
            ("x-hop", "h"),
            ("keep-alive", "timeout=5"),
            ("x-multi", "3"),
            ("etag", "\"e\""),
        ]);
        merge_not_modified(&mut stored, &not_modified, |_| false);
        assert_eq!(
            header_fields(&stored),
            [
                ("content-type", "application/json"),
                ("content-length", "10"),
                ("set-cookie", "stored=1"),
                ("cache-control", "s-maxage=60"),
                ("x-multi", "3"),
                ("etag", "\"e\""),
            ]
        );
    }

    #[test]
    fn a_host_names_what_it_keeps_at_its_call() {
        let mut stored = owned(&[("cache-control", "public, s-maxage=100"), ("age", "3")]);
        let not_modified = owned(&[("cache-control", "no-store"), ("age", "9"), ("date", "d")]);
        merge_not_modified(&mut stored, &not_modified, |n| matches!(n, "cache-control" | "age"));
        assert_eq!(
            header_fields(&stored),
            [("cache-control", "public, s-maxage=100"), ("age", "3"), ("date", "d")]
        );
    }
}
