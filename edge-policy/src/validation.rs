//! Validation, once for every host (RFC 9110 §13.1.2, RFC 9111 §4.3): whether a viewer's
//! `If-None-Match` matches, which validator a revalidation sends, whether a `304` refreshes
//! the copy now stored, and how a `304`'s header fields update it. The local edge, the origin
//! and the Worker call these; none keeps a copy of its own.

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

/// The conditional header a revalidation sends for a stored copy (RFC 9111 §4.3.1: "When
/// generating a conditional request for validation, a cache ... MUST send the relevant entity
/// tags (using If-Match, If-None-Match, or If-Range) if the entity tags were provided in the
/// stored response(s) being validated" and "SHOULD send the Last-Modified value (using
/// If-Modified-Since) if the request is not for a subrange"): its `ETag` as
/// `If-None-Match`, else its `Last-Modified` as `If-Modified-Since`.
pub fn validator<'h>(stored: &[HeaderField<'h>]) -> Option<(&'static str, &'h str)> {
    let first = |name: &str| stored.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    first("etag")
        .map(|v| ("if-none-match", v))
        .or_else(|| first("last-modified").map(|v| ("if-modified-since", v)))
}

/// Whether a `304` refreshes the copy stored now. RFC 9111 §4.3.4: "If the new response
/// contains one or more strong validators ..., then each of those strong validators
/// identifies a selected representation for update. ... If none of the stored responses
/// contain at least one of the same strong validators, then the cache MUST NOT use the new
/// response to update any stored responses", and a weak one identifies a stored response it
/// matches weakly.
///
/// `sent` is the `ETag` the revalidation sent; `stored` the `ETag` of the copy stored now
/// (the copy may have been replaced meanwhile: a `304` for an older copy never re-marks a
/// newer one); `not_modified` the `304`'s own `ETag`, when it carries one.
pub fn refreshes(stored: Option<&str>, sent: &str, not_modified: Option<&str>) -> bool {
    if stored != Some(sent) {
        return false;
    }
    let Some(answered) = not_modified else {
        return true;
    };
    match (entity_tag(answered), entity_tag(sent)) {
        (Some((false, a)), Some((false, s))) => a == s,
        (Some((true, a)), Some((_, s))) => a == s,
        _ => false,
    }
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
    let connection_named = |name: &str| {
        fields
            .iter()
            .filter(|(n, _)| *n == "connection")
            .flat_map(|(_, v)| v.split(','))
            .any(|option| option.trim_matches([' ', '\t']).eq_ignore_ascii_case(name))
    };
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
    fn the_validator_prefers_the_etag() {
        assert_eq!(
            validator(&[("last-modified", "x"), ("etag", "\"e\"")]),
            Some(("if-none-match", "\"e\""))
        );
        assert_eq!(validator(&[("last-modified", "x")]), Some(("if-modified-since", "x")));
        assert_eq!(validator(&[]), None);
    }

    #[test]
    fn a_304_refreshes_only_the_copy_it_validates() {
        assert!(refreshes(Some("\"a\""), "\"a\"", None));
        assert!(refreshes(Some("\"a\""), "\"a\"", Some("\"a\"")));
        assert!(refreshes(Some("\"a\""), "\"a\"", Some("W/\"a\"")));
        assert!(!refreshes(Some("\"b\""), "\"a\"", None), "replaced meanwhile");
        assert!(!refreshes(None, "\"a\"", None), "gone meanwhile");
        assert!(
            !refreshes(Some("\"a\""), "\"a\"", Some("\"b\"")),
            "another representation"
        );
        assert!(
            !refreshes(Some("W/\"a\""), "W/\"a\"", Some("\"a\"")),
            "strong needs strong"
        );
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
