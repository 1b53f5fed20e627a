//! The viewer-request header rules (cache-key.md, "Headers", "Which requests", "Limits and
//! bad input"): the edits after which no unreadable value, no unkeyed header and no cookie on
//! a public route reaches the origin, and the viewer's credential is relayed on bypass
//! requests. They apply to every `GET`/`HEAD`, whatever happens to its URL.

use std::collections::BTreeSet;

use crate::cloudfront::Trigger;
use crate::headers::{filter_cookies, is_aws_signature, is_unkeyed, normalize_accept_encoding, VIEWER_AUTHORIZATION};
use crate::rules::Route;
use crate::trigger::{HeaderEdit, HeaderField};

/// What the header rules decided for one request.
pub(crate) struct HeaderRules<'a> {
    /// The edits, in a stable order: removals by name, then `accept-encoding`, `cookie`,
    /// `x-viewer-authorization`.
    pub(crate) edits: Vec<HeaderEdit<'a>>,
    /// Private by rule or by the viewer's credential: cookies and `Authorization` pass.
    pub(crate) bypass: bool,
}

fn values<'h, 'a: 'h>(headers: &'h [HeaderField<'a>], name: &'h str) -> impl Iterator<Item = &'a str> + Clone + 'h {
    headers.iter().filter(move |(n, _)| *n == name).map(|(_, v)| *v)
}

/// Whether a header is unreadable: its name or a value holds a NUL (cache-key.md: "a header
/// value holding one is deleted"; the boundaries hand a value that is not UTF-8 over as a
/// NUL, `headers::UNREADABLE_VALUE`). Read-only headers are never edited (lambda-edge-rules.md).
fn unreadable(name: &str, value: &str) -> bool {
    (name.contains('\0') || value.contains('\0')) && !Trigger::ViewerRequest.read_only_headers().contains(&name)
}

/// Makes `name` hold exactly `wanted`: one value, or none.
fn set_exactly<'a>(
    edits: &mut Vec<HeaderEdit<'a>>,
    headers: &[HeaderField<'a>],
    name: &'static str,
    key: &'static str,
    wanted: Option<String>,
) {
    let mut current = values(headers, name);
    let (first, more) = (current.next(), current.next().is_some());
    match (wanted, first) {
        (None, None) => {}
        (None, Some(_)) => edits.push(HeaderEdit::Remove(name)),
        (Some(value), Some(only)) if !more && only == value => {}
        (Some(value), _) => edits.push(HeaderEdit::Set { name, key, value }),
    }
}

/// The header rules of a `GET`/`HEAD` request on `route`.
pub(crate) fn header_rules<'a>(route: &Route, headers: &[HeaderField<'a>]) -> HeaderRules<'a> {
    // Unreadable headers go first; every other rule reads only what is left.
    let mut removed: BTreeSet<&'a str> = headers
        .iter()
        .filter(|(n, v)| unreadable(n, v))
        .map(|(n, _)| *n)
        .collect();
    let readable: Vec<HeaderField<'a>> = if removed.is_empty() {
        headers.to_vec()
    } else {
        headers.iter().copied().filter(|(n, _)| !removed.contains(n)).collect()
    };
    removed.extend(readable.iter().map(|(n, _)| *n).filter(|n| is_unkeyed(n)));

    // The viewer's credential at the edge: an `Authorization` that is not an AWS signature
    // (origin-cache.md; a viewer-sent `X-Viewer-Authorization` is never one here).
    let credential = values(&readable, "authorization").find(|v| !is_aws_signature(v));
    let bypass = route.is_bypass() || credential.is_some();

    let mut edits: Vec<HeaderEdit<'a>> = removed.into_iter().map(HeaderEdit::Remove).collect();
    let accept_encoding = normalize_accept_encoding(values(&readable, "accept-encoding")).map(str::to_owned);
    if values(&readable, "accept-encoding").next().is_some() {
        set_exactly(
            &mut edits,
            &readable,
            "accept-encoding",
            "Accept-Encoding",
            accept_encoding,
        );
    }
    if !bypass {
        let cookies = filter_cookies(values(&readable, "cookie"), &route.cookies);
        set_exactly(&mut edits, &readable, "cookie", "Cookie", cookies);
    }
    // Origin Access Control overwrites `Authorization` on the way to the origin, so the
    // viewer's credential travels in `X-Viewer-Authorization` (cache-key.md, "Which
    // requests"): written on bypass requests, replacing a viewer-sent value; deleted otherwise.
    let relay = if bypass { credential.map(str::to_owned) } else { None };
    set_exactly(
        &mut edits,
        &readable,
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
