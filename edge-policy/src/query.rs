//! Query-string normalization (cache-key.md, "Query string").

use std::borrow::Cow;

use crate::percent::{self, Component};
use crate::rules::QueryPolicy;
use crate::text;
use crate::trace::{Dropped, Note, Quiet, Trace};

/// Names removed wherever they appear (compared ASCII case-insensitively, after
/// percent-normalization), besides every name starting with `utm_`.
pub const TRACKING_PARAMETERS: &[&str] = &[
    "gclid",
    "gclsrc",
    "dclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_gl",
    "igshid",
    "yclid",
    "twclid",
    "ttclid",
    "li_fat_id",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "srsltid",
];

/// Whether a normalized parameter name is a tracking parameter (step 4).
pub fn is_tracking_parameter(name: &str) -> bool {
    let bytes = name.as_bytes();
    (bytes.len() >= 4 && bytes[..4].eq_ignore_ascii_case(b"utm_"))
        || TRACKING_PARAMETERS.iter().any(|t| t.eq_ignore_ascii_case(name))
}

/// Normalizes a query string (without the leading `?`) under a route's query policy.
///
/// Split on `&` only (`;` is data, as CloudFront treats it); empty items and empty names
/// dropped; name and value percent-normalized, `+` kept; tracking parameters removed; the
/// route's allow-list applied; a stable sort by name bytes; joined with `&`.
pub fn normalize_query(querystring: &str, policy: &QueryPolicy) -> String {
    normalize_query_traced(querystring, policy, &mut Quiet)
}

/// [`normalize_query`], noting each dropped item, each item whose encoding changed and the
/// sort on `trace`.
pub(crate) fn normalize_query_traced(querystring: &str, policy: &QueryPolicy, trace: &mut impl Trace) -> String {
    if querystring.is_empty() {
        return String::new();
    }
    if matches!(policy, QueryPolicy::Drop) {
        trace.note(|| {
            Some(Note::QueryDropped {
                item: querystring.to_owned(),
                name: String::new(),
                why: Dropped::RouteDropsQuery,
            })
        });
        return String::new();
    }
    normalized_items(querystring, policy, trace)
}

/// Writes `name[=value]`.
fn push_item(out: &mut String, name: &str, value: Option<&str>) {
    out.push_str(name);
    if let Some(value) = value {
        out.push('=');
        out.push_str(value);
    }
}

/// [`normalize_query`] of a query that has items, out of line: a request without a query never
/// compiles it (crate docs, "Stages stay out of line").
#[inline(never)]
fn normalized_items(querystring: &str, policy: &QueryPolicy, trace: &mut impl Trace) -> String {
    // Names and values borrow from the query when already normal (the common case).
    let mut items: Vec<(Cow<'_, str>, Option<Cow<'_, str>>)> = Vec::new();
    for item in text::split(querystring, b'&') {
        let dropped = |name: &str, why| {
            Some(Note::QueryDropped {
                item: item.to_owned(),
                name: name.to_owned(),
                why,
            })
        };
        if item.is_empty() {
            trace.note(|| dropped("", Dropped::EmptyItem));
            continue;
        }
        let (raw_name, raw_value) = match text::split_once(item, b'=') {
            Some((name, value)) => (name, Some(value)),
            None => (item, None),
        };
        if raw_name.is_empty() {
            trace.note(|| dropped("", Dropped::EmptyName));
            continue;
        }
        let name = percent::normalize(raw_name, Component::Query);
        if is_tracking_parameter(&name) {
            trace.note(|| dropped(&name, Dropped::Tracking));
            continue;
        }
        if let QueryPolicy::Allow(allowed) = policy {
            if !allowed.iter().any(|a| *a == *name) {
                trace.note(|| dropped(&name, Dropped::NotAllowed));
                continue;
            }
        }
        let value = raw_value.map(|v| percent::normalize(v, Component::Query));
        trace.note(|| {
            let mut after = String::new();
            push_item(&mut after, &name, value.as_deref());
            (after != item).then(|| Note::QueryEncoded {
                before: item.to_owned(),
                after,
            })
        });
        items.push((name, value));
    }
    // A stable sort: repeated names keep their relative order.
    let names: Vec<&[u8]> = items.iter().map(|(name, _)| name.as_bytes()).collect();
    let order = text::stable_order(&names);
    let mut out = String::with_capacity(querystring.len());
    for (name, value) in order.iter().map(|&i| &items[i]) {
        if !out.is_empty() {
            out.push('&');
        }
        push_item(&mut out, name, value.as_deref());
    }
    trace.note(|| {
        order.iter().enumerate().any(|(at, &i)| at != i).then(|| {
            let mut before = String::new();
            for (name, value) in &items {
                if !before.is_empty() {
                    before.push('&');
                }
                push_item(&mut before, name, value.as_deref());
            }
            Note::QuerySorted {
                before,
                after: out.clone(),
            }
        })
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(q: &str) -> String {
        normalize_query(q, &QueryPolicy::All)
    }

    #[test]
    fn sorted_by_name_with_repeated_names_in_order() {
        assert_eq!(all("b=1&a=2&a=1"), "a=2&a=1&b=1");
    }

    #[test]
    fn semicolon_is_data_and_empty_items_drop() {
        assert_eq!(all("a=1;b=2&&c"), "a=1;b=2&c");
    }

    #[test]
    fn item_without_equals_differs_from_empty_value() {
        assert_eq!(all("a&b="), "a&b=");
    }

    #[test]
    fn empty_names_drop() {
        assert_eq!(all("=x&a=1"), "a=1");
    }

    #[test]
    fn plus_is_kept_and_percent_is_normalized() {
        assert_eq!(all("q=a+b&r=a%20b&s=%7e%2f"), "q=a+b&r=a%20b&s=~%2F");
    }

    #[test]
    fn tracking_parameters_drop_case_insensitively_after_decoding() {
        assert_eq!(
            all("UTM_Source=x&utm%5Fmedium=y&gclid=1&FBCLID=2&id=3&utmx=4"),
            "id=3&utmx=4"
        );
    }

    #[test]
    fn allow_list_is_exact_after_normalization() {
        let policy = QueryPolicy::Allow(vec!["page".into(), "q".into()]);
        assert_eq!(
            normalize_query("Page=1&page=2&%70age=3&x=1&q=a", &policy),
            "page=2&page=3&q=a"
        );
    }

    #[test]
    fn drop_policy_empties_the_query() {
        assert_eq!(normalize_query("v=123", &QueryPolicy::Drop), "");
    }

    #[test]
    fn a_malformed_percent_is_encoded_in_names_and_values() {
        assert_eq!(all("a%=%zz&b=%4%41"), "a%25=%25zz&b=%254A");
    }

    #[test]
    fn raw_hash_and_space_are_encoded() {
        assert_eq!(all("a=b c#d"), "a=b%20c%23d");
    }
}
