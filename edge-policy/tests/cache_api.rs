//! Properties of the Cloudflare Cache API policy (workers.md): the Cache API URL is a faithful
//! encoding of the canonical request (it decodes back to it, so two requests that may see
//! different answers never share an entry), a store never gets a response the policy won't
//! share, and nothing read back from the store makes the Worker panic or share more.

use edge_policy::cache_api::{
    cache_api_request, CacheApiRequest, NotStored, Received, StoredCopy, POLICY_CACHE_CONTROL, STORED_AT,
};
use edge_policy::cache_control::{decide_response, CacheControl, FreshnessState};
use edge_policy::{canonical_request, RequestView, Route, RuleSet};
use proptest::prelude::*;
use proptest::sample::select;

/// A public catch-all that keys one cookie and one header, beside the reference rules.
fn keyed_rules() -> RuleSet {
    let mut route = Route::public("prefs", &["/*"]);
    route.cookies = vec!["theme".into(), "lang".into()];
    route.key_headers = vec!["accept-language".into()];
    RuleSet::new(vec![route]).unwrap()
}

const PIECES: &[&str] = &[
    "/", "//", ".", "..", "%", "%2e", "%2F", "%41", "%7C", "%zz", "|", "?", "#", " ", "\\", "'", "\"", "é", "\u{0}",
    "\t", "a", "B", "theme", "=", "&", ";", "+", "%25", "%27", "cookie", "lang", ":", "@", "`", "{", "^",
];

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(select(PIECES), 0..max).prop_map(|p| p.concat())
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec(
        (
            select(
                &[
                    "cookie",
                    "accept-language",
                    "authorization",
                    "x-forwarded-host",
                    "accept",
                ][..],
            ),
            text(6),
        ),
        0..4,
    )
    .prop_map(|v| v.into_iter().map(|(n, v)| (n.to_owned(), v)).collect())
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let value = hex(*bytes.get(i + 1)?)? << 4 | hex(*bytes.get(i + 2)?)?;
            out.push(value);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Splits a Cache API URL into host, path, query and keyed parts, the inverse of
/// `CanonicalRequest::url`.
fn decode_url(url: &str) -> (String, String, String, Vec<(String, String)>) {
    let rest = url.strip_prefix("https://").expect("https scheme");
    let slash = rest.find('/').expect("a path");
    let (host, rest) = rest.split_at(slash);
    let (path, tail) = rest.split_once('?').unwrap_or((rest, ""));
    let mut parts = tail.split('|');
    let query = parts.next().unwrap_or("").to_owned();
    let keyed = parts
        .map(|p| {
            let (name, value) = p.split_once('=').expect("name=value");
            (name.to_owned(), percent_decode(value).expect("valid encoding"))
        })
        .collect();
    (host.to_owned(), path.to_owned(), query, keyed)
}

/// Bytes a WHATWG URL parser keeps unchanged in an https URL's path and query: printable
/// ASCII but space, `"`, `#`, `<`, `>`, `` ` ``, `{`, `}`, `^`, `\` (and in the query `'`).
fn kept_by_url_parsers(b: u8, in_query: bool) -> bool {
    b.is_ascii_graphic() && !b"\"#<>`{}^\\".contains(&b) && !(in_query && b == b'\'')
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// The URL decodes back to the canonical request's parts and keyed values: it is
    /// injective, so no two requests that may get different answers share an entry.
    #[test]
    fn the_url_decodes_back_to_the_canonical_request(path in text(12), query in text(12), headers in headers()) {
        let rules = keyed_rules();
        let uri = format!("/{path}");
        let fields: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let view = RequestView { method: "GET", uri: &uri, querystring: &query, headers: &fields };
        let canonical = canonical_request(&rules, "Api.Example.com", &view).unwrap();
        let Some(url) = canonical.url() else { return Ok(()); };
        let (host, path, query, keyed) = decode_url(&url);
        prop_assert_eq!(host, "api.example.com");
        prop_assert_eq!(&path, &canonical.uri);
        prop_assert_eq!(&query, &canonical.querystring);
        // The key holds the same components, `|name=value` escaped differently.
        let mut key = format!("api.example.com{path}");
        if !query.is_empty() {
            key.push('?');
            key.push_str(&query);
        }
        for (name, value) in &keyed {
            key.push('|');
            key.push_str(name);
            key.push('=');
            key.push_str(&value.replace('%', "%25").replace('|', "%7C"));
        }
        prop_assert_eq!(key, canonical.key.to_string());
        let (path_part, query_part) = url["https://".len()..].split_once('?').unwrap_or((&url["https://".len()..], ""));
        prop_assert!(path_part.bytes().all(|b| kept_by_url_parsers(b, false)), "{}", url);
        prop_assert!(query_part.bytes().all(|b| b == b'\'' || kept_by_url_parsers(b, true)), "{}", url);
    }

    /// Whatever the request, a lookup's URL equals its canonical request's, and anything
    /// carrying the viewer's credential or on a private route is never looked up.
    #[test]
    fn lookups_are_never_private(
        method in select(&["GET", "HEAD", "POST"][..]),
        prefix in select(&["/api/me", "/API/USERS/", "/api/products", "/static/", "/"][..]),
        path in text(6),
        query in text(6),
        headers in headers(),
    ) {
        let uri = format!("{prefix}{path}");
        let fields: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let view = RequestView { method, uri: &uri, querystring: &query, headers: &fields };
        let rules = RuleSet::embedded();
        if let CacheApiRequest::Lookup { url, origin, .. } = cache_api_request(rules, "h", &view) {
            let canonical = canonical_request(rules, "h", &view).unwrap();
            prop_assert!(!canonical.bypass && !canonical.route.is_bypass());
            prop_assert_eq!(Some(url), canonical.url());
            prop_assert!(!origin.forwards("authorization") && !origin.forwards("x-forwarded-host"));
            prop_assert_eq!(origin.method, "GET");
        }
    }

    /// A stored copy is only ever made of a response the policy shares, without Set-Cookie,
    /// and it reads back as the same policy header.
    #[test]
    fn only_shareable_answers_are_stored(
        status in select(&[200u16, 203, 206, 301, 304, 404, 500, 503][..]),
        origin_cc in select(&["", "public, max-age=60", "private", "no-store", "s-maxage=0", "max-age=0, stale-if-error=30",
            "no-cache", "public, s-maxage=\"10", "private; max-age=60"][..]),
        set_cookie in any::<bool>(),
        vary in select(&["", "accept-encoding", "*", "user-agent"][..]),
        path in select(&["/api/products/1", "/static/a.js", "/api/me", "/x", "/api/config"][..]),
        authorization in any::<bool>(),
    ) {
        let mut response: Vec<(&str, &str)> = Vec::new();
        if !origin_cc.is_empty() { response.push(("cache-control", origin_cc)); }
        if set_cookie { response.push(("set-cookie", "s=1")); }
        if !vary.is_empty() { response.push(("vary", vary)); }
        let request: Vec<(&str, &str)> = if authorization { vec![("authorization", "Bearer u")] } else { vec![] };
        let route = RuleSet::embedded().route_for(path);
        let decision = decide_response(Some(route), Some(status), &response, &request, 0);
        let left = set_cookie && !decision.strip_set_cookie;
        let leaving: Vec<(&str, &str)> = response.iter().copied().filter(|(n, _)| left || *n != "set-cookie").collect();
        match StoredCopy::new(&decision, status, &leaving, Received::at(7)) {
            Ok(copy) => {
                prop_assert!(!decision.cache_control.forbids_sharing());
                prop_assert!(!left && !route.is_bypass() && status < 500 && status != 206);
                let stored = copy.storage_headers(7);
                let fields: Vec<(&str, &str)> = stored.iter().map(|(n, v)| (*n, v.as_str())).collect();
                // Compared as written: a reading artifact of the origin's header (a malformed
                // `s-maxage` read as 0) is not part of what the copy says.
                let as_written = |c: &StoredCopy| (c.stamp.stored_at_ms, c.cache_control.to_header_value(), c.stamp.lifetime);
                prop_assert_eq!(StoredCopy::read(fields).as_ref().map(as_written), Some(as_written(&copy)));
            }
            Err(NotStored::ForbidsSharing) => prop_assert!(decision.cache_control.forbids_sharing()),
            Err(_) => {}
        }
    }

    /// Hostile private headers never panic and never read as shareable when the policy
    /// header forbids sharing.
    #[test]
    fn reading_hostile_stored_headers_fails_closed(stored_at in text(4), policy in text(8), now in any::<u64>()) {
        let read = StoredCopy::read([(STORED_AT, stored_at.as_str()), (POLICY_CACHE_CONTROL, policy.as_str())]);
        if let Some(copy) = read {
            prop_assert!(!CacheControl::parse([policy.as_str()]).forbids_sharing());
            let _ = (copy.stamp.state(now), copy.stamp.ttl_secs(now), copy.stamp.age_secs(now));
            if copy.stamp.lifetime.keep_secs() == 0 {
                prop_assert_eq!(copy.stamp.state(now.max(copy.stamp.stored_at_ms)), FreshnessState::Expired);
            }
        }
    }
}
