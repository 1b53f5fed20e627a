//! The viewer-request header rules (cache-key.md, "Headers", "Which requests", "Limits and
//! bad input"): the edits after which no unreadable value, no unkeyed header and no cookie on
//! a public route reaches the origin, and the viewer's credential is relayed on bypass
//! requests. They apply to every `GET`/`HEAD`, whatever happens to its URL.

use std::borrow::Cow;

use crate::cloudfront::Trigger;
use crate::headers::{filter_cookies, is_aws_signature, is_unkeyed, normalize_accept_encoding, VIEWER_AUTHORIZATION};
use crate::rules::Route;
use crate::text;
use crate::view::{HeaderEdit, HeaderField};

/// What the header rules decided for one request.
pub(crate) struct HeaderRules<'a> {
    /// The edits, in a stable order: removals by name, then `accept-encoding`, `cookie`,
    /// `x-viewer-authorization`.
    pub(crate) edits: Vec<HeaderEdit<'a>>,
    /// Private by rule or by the viewer's credential: cookies and `Authorization` pass.
    pub(crate) bypass: bool,
}

/// Whether a header is unreadable: its name or a value holds a NUL (cache-key.md: "a header
/// value holding one is deleted"; the boundaries hand a value that is not UTF-8 over as a
/// NUL, `headers::UNREADABLE_VALUE`). Read-only headers are never edited (lambda-edge-rules.md).
pub(crate) fn unreadable(name: &str, value: &str) -> bool {
    (name.as_bytes().contains(&0) || value.as_bytes().contains(&0))
        && !Trigger::ViewerRequest.read_only_headers().contains(&name)
}

/// Makes a header whose values are `current` hold exactly `wanted`: one value, or none.
fn set_exactly<'a>(
    edits: &mut Vec<HeaderEdit<'a>>,
    current: &[&str],
    name: &'static str,
    key: &'static str,
    wanted: Option<String>,
) {
    match (wanted, current) {
        (None, []) => {}
        (None, _) => edits.push(HeaderEdit::Remove(name)),
        (Some(value), [only]) if *only == value => {}
        (Some(value), _) => edits.push(HeaderEdit::Set { name, key, value }),
    }
}

/// `names` sorted (bytewise) without repeats.
fn sorted_unique<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let bytes: Vec<&[u8]> = names.iter().map(|name| name.as_bytes()).collect();
    let mut out: Vec<&'a str> = Vec::with_capacity(names.len());
    for i in text::stable_order(&bytes) {
        if out.last() != Some(&names[i]) {
            out.push(names[i]);
        }
    }
    out
}

/// The header rules of a `GET`/`HEAD` request on `route`.
// Out of line: a stage, not inlined into its trigger (crate docs, "Stages stay out of line").
#[inline(never)]
pub(crate) fn header_rules<'a>(route: &Route, headers: &[HeaderField<'a>]) -> HeaderRules<'a> {
    // Unreadable headers go first; every other rule reads only what is left. The names to
    // remove are a sorted, deduplicated Vec: one or two names on a real request, and a
    // `BTreeSet`'s code was most of what a cold start compiled for this function.
    let mut removed: Vec<&'a str> = headers
        .iter()
        .filter(|(n, v)| unreadable(n, v))
        .map(|(n, _)| *n)
        .collect();
    let readable: Cow<'_, [HeaderField<'a>]> = if removed.is_empty() {
        Cow::Borrowed(headers)
    } else {
        removed = sorted_unique(&removed);
        Cow::Owned(
            headers
                .iter()
                .copied()
                .filter(|(n, _)| removed.binary_search(n).is_err())
                .collect(),
        )
    };

    // One pass reads what every rule needs.
    let (mut accept_encoding, mut cookies, mut relayed) = (Vec::new(), Vec::new(), Vec::new());
    // The viewer's credential at the edge: an `Authorization` that is not an AWS signature
    // (origin-cache.md; a viewer-sent `X-Viewer-Authorization` is never one here).
    let mut credential = None;
    for &(name, value) in readable.iter() {
        match name {
            "accept-encoding" => accept_encoding.push(value),
            "cookie" => cookies.push(value),
            VIEWER_AUTHORIZATION => relayed.push(value),
            "authorization" if credential.is_none() && !is_aws_signature(value) => credential = Some(value),
            name if is_unkeyed(name) => removed.push(name),
            _ => {}
        }
    }
    let bypass = route.is_bypass() || credential.is_some();

    let mut edits: Vec<HeaderEdit<'a>> = sorted_unique(&removed).into_iter().map(HeaderEdit::Remove).collect();
    if !accept_encoding.is_empty() {
        let normalized = normalize_accept_encoding(accept_encoding.iter().copied()).map(str::to_owned);
        set_exactly(
            &mut edits,
            &accept_encoding,
            "accept-encoding",
            "Accept-Encoding",
            normalized,
        );
    }
    if !bypass {
        let kept = filter_cookies(cookies.iter().copied(), &route.cookies);
        set_exactly(&mut edits, &cookies, "cookie", "Cookie", kept);
    }
    // Origin Access Control overwrites `Authorization` on the way to the origin, so the
    // viewer's credential travels in `X-Viewer-Authorization` (cache-key.md, "Which
    // requests"): written on bypass requests, replacing a viewer-sent value; deleted otherwise.
    let relay = if bypass { credential.map(str::to_owned) } else { None };
    set_exactly(
        &mut edits,
        &relayed,
        VIEWER_AUTHORIZATION,
        "X-Viewer-Authorization",
        relay,
    );
    HeaderRules { edits, bypass }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules_of(route: &Route, headers: &[HeaderField<'_>]) -> (Vec<String>, bool) {
        let r = header_rules(route, headers);
        (r.edits.iter().map(|e| format!("{e:?}")).collect(), r.bypass)
    }

    #[test]
    fn a_header_holding_a_nul_is_deleted_and_the_other_rules_still_run() {
        let route = Route::public("d", &["/*"]);
        let (edits, bypass) = rules_of(
            &route,
            &[
                ("accept-encoding", "gzip\0"),
                ("x-forwarded-host", "evil"),
                ("cookie", "session=1"),
                ("user-agent", "a\0b"),
                ("host", "h\0"),
            ],
        );
        assert!(!bypass);
        assert_eq!(
            edits,
            [
                "Remove(\"accept-encoding\")",
                "Remove(\"user-agent\")",
                "Remove(\"x-forwarded-host\")",
                "Remove(\"cookie\")"
            ]
        );
    }

    #[test]
    fn an_unreadable_authorization_is_no_credential() {
        let route = Route::public("d", &["/*"]);
        let (edits, bypass) = rules_of(&route, &[("authorization", "\0"), ("cookie", "s=1")]);
        assert!(!bypass);
        assert_eq!(edits, ["Remove(\"authorization\")", "Remove(\"cookie\")"]);
    }

    #[test]
    fn the_credential_is_relayed_on_bypass_and_a_viewer_sent_relay_is_replaced_or_deleted() {
        let private = Route::bypass("p", &["/p"]);
        let public = Route::public("d", &["/*"]);
        let relay = |value: &str| {
            format!("Set {{ name: \"x-viewer-authorization\", key: \"X-Viewer-Authorization\", value: {value:?} }}")
        };
        assert_eq!(
            rules_of(
                &private,
                &[("authorization", "Bearer a"), (VIEWER_AUTHORIZATION, "Bearer forged")]
            ),
            (vec![relay("Bearer a")], true)
        );
        // Already relayed: nothing to do (idempotent).
        assert_eq!(
            rules_of(
                &private,
                &[("authorization", "Bearer a"), (VIEWER_AUTHORIZATION, "Bearer a")]
            ),
            (vec![], true)
        );
        // A credential makes a public route bypass, and is relayed there too.
        assert_eq!(
            rules_of(&public, &[("authorization", "Bearer a")]),
            (vec![relay("Bearer a")], true)
        );
        // No credential (none, or an AWS signature): a viewer-sent relay is deleted.
        let deleted = vec!["Remove(\"x-viewer-authorization\")".to_owned()];
        assert_eq!(
            rules_of(&private, &[(VIEWER_AUTHORIZATION, "Bearer forged")]),
            (deleted.clone(), true)
        );
        assert_eq!(
            rules_of(
                &public,
                &[
                    ("authorization", "AWS4-HMAC-SHA256 Credential=x"),
                    (VIEWER_AUTHORIZATION, "Bearer forged")
                ]
            ),
            (deleted, false)
        );
    }

    #[test]
    fn several_relay_values_become_one() {
        let private = Route::bypass("p", &["/p"]);
        let headers = [
            ("authorization", "Bearer a"),
            (VIEWER_AUTHORIZATION, "Bearer a"),
            (VIEWER_AUTHORIZATION, "Bearer a"),
        ];
        assert_eq!(rules_of(&private, &headers).0.len(), 1);
    }
}
