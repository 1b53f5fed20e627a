//! Property tests of the two triggers (cache-key.md, cache-control.md) against the shared
//! oracle (`edge_policy::oracle`, which the fuzz targets run too): every promise on
//! generated hostile input — NULs, unreadable values, huge values, malformed
//! `Cache-Control`, forged relays, AWS signatures — plus order independence.

use edge_policy::cache_control::{decide_response, CacheControl, CdnCacheControl, CLOUDFRONT_TARGETS};
use edge_policy::explain::explain_viewer_request;
use edge_policy::headers::UNREADABLE_VALUE;
use edge_policy::oracle::{
    self, check_bypass_spellings, check_origin_response, check_viewer_request, is_shareable, names_private_or_no_store,
    names_private_or_no_store_outside_strings, response_pass, viewer_pass, OwnedRequest, OwnedResponse,
};
use edge_policy::{viewer_request, HeaderEdit, RequestView, RuleSet, ViewerOutcome};
use proptest::prelude::*;
use proptest::sample::select;

fn rules() -> &'static RuleSet {
    RuleSet::embedded()
}

/// Turns a breach into a failed property with its message.
fn holds(result: Result<(), oracle::Breach>) -> Result<(), TestCaseError> {
    result.map_err(|breach| TestCaseError::fail(breach.to_string()))
}

// ---------------------------------------------------------------------------------------------
// Generators.

const URI_PIECES: &[&str] = &[
    "/", "/", "/", "//", ".", "..", "%", "%2e", "%2E", "%2F", "%2f", "%41", "%7e", "%zz", "%%34%31", "%%32%45",
    "%4%41", ";", "?", "#", " ", "\\", "é", "\u{0}", "\t", "\n", "\u{7f}", "a", "B", "api", "products", "me", "static",
    "users", "x.css", "~", "+", "=", "&", "@", ":", "%3B", "%5C", "%00",
];

const URI_PREFIXES: &[&str] = &[
    "",
    "/api/products",
    "/api/products/",
    "/static/",
    "/api/me",
    "/api/users",
    "/api/users/",
    "/api/config",
    "/API/ME",
    "//static//",
    "/static/..%2F",
];

const QUERY_PIECES: &[&str] = &[
    "UTM_source",
    "utm_Medium",
    "utm%5Fmedium",
    "utm%5fcampaign",
    "gclid",
    "GCLID",
    "fbclid",
    "FbClid",
    "_ga",
    "category",
    "page",
    "q",
    "sort",
    "a",
    "b",
    "%61",
    "=",
    "=",
    "&",
    "&",
    "&",
    "+",
    "%20",
    "%7e",
    "%7E",
    "%",
    "%zz",
    "%%34%31",
    "#",
    " ",
    ";",
    "é",
    "/",
    "?",
    "\u{0}",
    "\u{7f}",
    "1",
    "x",
];

const HEADER_NAMES: &[&str] = &[
    "host",
    "accept-encoding",
    "cookie",
    "authorization",
    "x-viewer-authorization",
    "x-forwarded-host",
    "forwarded",
    "x-original-url",
    "accept",
    "user-agent",
    "via",
    "content-length",
];

const HEADER_VALUES: &[&str] = &[
    "",
    " ",
    "gzip",
    "gzip, deflate, br",
    "br;q=0",
    "gzip;q",
    "gzip;q=x",
    "*",
    "*;q=0",
    "identity",
    "GZIP;q=0.5, BR",
    "br,gzip",
    "session=abc; theme=dark",
    "Bearer token",
    "Bearer user-7",
    "AWS4-HMAC-SHA256 Credential=AKID/20261129/us-east-1/lambda/aws4_request, Signature=x",
    "example.com",
    "evil.example",
    "for=192.0.2.1;host=evil.example",
    "text/html",
    "Mozilla/5.0",
    "gzip\u{0}",
    "a\u{0}b",
    UNREADABLE_VALUE,
];

fn piece(pieces: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(pieces).prop_map(str::to_owned),
        1 => "[a-zA-Z0-9]{1,4}",
        1 => any::<char>().prop_map(String::from),
    ]
}

/// A path starting with `/`, at most a few hundred bytes.
fn uri() -> impl Strategy<Value = String> {
    (select(URI_PREFIXES), prop::collection::vec(piece(URI_PIECES), 0..40))
        .prop_map(|(prefix, pieces)| format!("/{prefix}{}", pieces.concat()))
}

fn querystring() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(QUERY_PIECES), 0..40).prop_map(|pieces| pieces.concat())
}

fn header_value() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => select(HEADER_VALUES).prop_map(str::to_owned),
        2 => "[\\x00-\\x7f]{0,16}",
        2 => any::<String>(),
        // Huge values: a cookie jar or a token far over any realistic size.
        1 => (select(HEADER_VALUES), 1_000usize..20_000).prop_map(|(v, n)| v.repeat(n / v.len().max(1))),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    let name = prop_oneof![
        8 => select(HEADER_NAMES).prop_map(str::to_owned),
        1 => "[a-z\\x00-]{1,8}",
    ];
    prop::collection::vec((name, header_value()), 0..10)
}

fn get_or_head() -> impl Strategy<Value = String> {
    select(&["GET", "HEAD"][..]).prop_map(str::to_owned)
}

fn request() -> impl Strategy<Value = OwnedRequest> {
    (get_or_head(), uri(), querystring(), headers()).prop_map(|(method, uri, querystring, headers)| OwnedRequest {
        method,
        uri,
        querystring,
        headers,
    })
}

/// A query parameter name without `=` or `&`.
fn parameter_name() -> impl Strategy<Value = String> {
    const NAMES: &[&str] = &[
        "category",
        "page",
        "per_page",
        "q",
        "sort",
        "a",
        "b",
        "B",
        "%61",
        "%7e",
        "x%20y",
        "é",
        "UTM_source",
        "gclid",
        "z;z",
        "+",
    ];
    prop_oneof![3 => select(NAMES).prop_map(str::to_owned), 1 => "[a-zA-Z0-9_.~%-]{1,6}"]
}

fn parameter_value() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just(String::new()),
        "[a-z0-9]{1,4}",
        select(&["a+b", "a%20b", "%7E", "%zz", "é", "1;2", "=", "/?"][..]).prop_map(str::to_owned),
    ])
}

/// The name a parameter is sorted by, once normalized (`""` for a tracking parameter).
fn normalized_name(name: &str) -> String {
    edge_policy::normalize_query(name, &edge_policy::rules::QueryPolicy::All)
}

/// Parameters whose normalized names are distinct, in their original and a shuffled order.
fn distinct_parameters() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    prop::collection::vec((parameter_name(), parameter_value()), 0..10)
        .prop_map(|items| {
            let mut seen = Vec::new();
            let mut out = Vec::new();
            for (name, value) in items {
                let key = normalized_name(&name);
                if seen.contains(&key) {
                    continue;
                }
                seen.push(key);
                out.push(match value {
                    Some(v) => format!("{name}={v}"),
                    None => name,
                });
            }
            out
        })
        .prop_flat_map(|items| (Just(items.clone()), Just(items).prop_shuffle()))
}

const DIRECTIVES: &[&str] = &[
    "public",
    "private",
    "Private",
    "private=\"set-cookie\"",
    "no-store",
    "NO-STORE",
    "no-cache",
    "no-cache=\"set-cookie, x\"",
    "immutable",
    "must-revalidate",
    "proxy-revalidate",
    "no-transform",
    "x=y",
    "X-Ext=\"a,b\"",
    "x=\"private\"",
    "ext",
    "\"",
    "=",
    "a b",
    "max age=1",
    ",,",
    "x=\"unterminated",
    "community=\"x",
    "x=\"esc\\\"aped\"",
    "private; max-age=0",
    "no-cache no-store",
    "private max-age=0",
    "no-store=",
    "x=private",
    "x-private",
    "s-maxage",
    "max-age = 60",
    "\u{0}",
];

/// A delta-seconds value, or something that is not one.
fn seconds() -> impl Strategy<Value = String> {
    const ODD: &[&str] = &[
        "-1",
        "abc",
        "\"60\"",
        "\"60",
        "99999999999999999999999",
        "",
        "1.5",
        "\"x\"",
        "5 6",
    ];
    prop_oneof![
        4 => (0u64..200_000).prop_map(|n| n.to_string()),
        1 => select(ODD).prop_map(str::to_owned),
    ]
}

fn directive() -> impl Strategy<Value = String> {
    const TIMED: &[&str] = &[
        "max-age",
        "s-maxage",
        "stale-while-revalidate",
        "stale-if-error",
        "MAX-AGE",
    ];
    prop_oneof![
        4 => select(DIRECTIVES).prop_map(str::to_owned),
        4 => (select(TIMED), seconds()).prop_map(|(name, n)| format!("{name}={n}")),
        1 => "[ -~]{0,8}",
        1 => any::<String>(),
    ]
}

/// One `Cache-Control` field line composed of directives.
fn cache_control_line() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(directive(), 0..6),
        select(&[", ", ",", " ,\t", " "][..]),
    )
        .prop_map(|(directives, separator)| directives.join(separator))
}

/// A `CDN-Cache-Control` field line (RFC 9213): a Dictionary of directives, sometimes with
/// parameters or inner lists, or something that does not parse.
fn cdn_cache_control_line() -> impl Strategy<Value = String> {
    const MEMBERS: &[&str] = &[
        "max-age=300",
        "max-age=0",
        "max-age=-1",
        "max-age=1.5",
        "max-age=\"60\"",
        "no-cache",
        "must-revalidate",
        "no-store",
        "private",
        "private=\"x\"",
        "x=\"private\"",
        "x=(a \"b\" 3);q=1",
        "max-age=60;no-store",
        "Max-Age=5",
        "max-age = 5",
        "a=?1",
        "b=:aGk=:",
        "",
    ];
    prop_oneof![
        4 => (prop::collection::vec(select(MEMBERS), 1..4), select(&[", ", ",", ",\t", " "][..]))
            .prop_map(|(members, separator)| members.join(separator)),
        1 => "[ -~]{0,24}",
        1 => any::<String>(),
    ]
}

const NOW_MS: u64 = 1_795_953_600_000;

fn response() -> impl Strategy<Value = OwnedResponse> {
    const STATUSES: &[&str] = &[
        "200", "404", "500", "501", "502", "503", "302", "304", "abc", "", "204", " 200 ",
    ];
    const METHODS: &[&str] = &["GET", "HEAD", "POST"];
    const URIS: &[&str] = &[
        "/",
        "/about",
        "/static/app.js",
        "//static//app.js",
        "/static/..%2Fapi/me",
        "/api/products",
        "/api/products/42",
        "/api/config",
        "/api/users",
        "/api/users/7",
        "/api/users%2F7",
        "/api/users;/7",
        "/api/me",
        "/API/ME",
        "/api/me.json",
    ];
    const VARY: &[&str] = &[
        "accept-encoding",
        "Accept-Encoding",
        "*",
        "cookie",
        "origin",
        "accept-encoding, origin",
        "",
    ];
    const CREDENTIALS: &[(&str, &str)] = &[
        ("authorization", "Bearer t"),
        ("authorization", "AWS4-HMAC-SHA256 Credential=x, Signature=y"),
        ("x-viewer-authorization", "Bearer t"),
        ("authorization", UNREADABLE_VALUE),
    ];
    const DATES: &[&str] = &[
        "Sun, 29 Nov 2026 12:10:00 GMT",
        "Sun, 29 Nov 2026 11:00:00 GMT",
        "Sunday, 29-Nov-26 12:00:30 GMT",
        "0",
        "-1",
        "garbage",
    ];
    (
        (select(STATUSES), select(METHODS), select(URIS)),
        prop::option::of(select(CREDENTIALS)),
        prop::collection::vec(cache_control_line(), 0..3),
        prop::option::of(select(&["id=1", "a=b; Path=/"][..])),
        prop::option::of(select(VARY)),
        (prop::option::of(select(DATES)), prop::option::of(select(DATES))),
        prop::option::weighted(0.3, cdn_cache_control_line()),
    )
        .prop_map(
            |((status, method, uri), credential, cc_lines, set_cookie, vary, (expires, date), cdn)| {
                let mut headers: Vec<(String, String)> = vec![("content-type".into(), "text/html".into())];
                headers.extend(cc_lines.into_iter().map(|line| ("cache-control".to_owned(), line)));
                headers.extend(cdn.map(|line| ("cdn-cache-control".to_owned(), line)));
                headers.extend(set_cookie.map(|v| ("set-cookie".to_owned(), v.to_owned())));
                headers.extend(vary.map(|v| ("vary".to_owned(), v.to_owned())));
                headers.extend(expires.map(|v| ("expires".to_owned(), v.to_owned())));
                headers.extend(date.map(|v| ("date".to_owned(), v.to_owned())));
                let mut request_headers = vec![("host".to_owned(), "example.com".to_owned())];
                request_headers.extend(credential.map(|(n, v)| (n.to_owned(), v.to_owned())));
                OwnedResponse {
                    status: status.to_owned(),
                    request_method: method.to_owned(),
                    request_uri: uri.to_owned(),
                    request_headers,
                    headers,
                    now_ms: NOW_MS,
                }
            },
        )
}

fn cache_control_round(lines: &[&str]) -> String {
    CacheControl::parse(lines.iter().copied()).to_header_value()
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// 512 cases (a few seconds in debug), unless `PROPTEST_CASES` asks for another number. One
/// property keeps only inputs that name `private`/`no-store` outside a quoted string (about
/// five in six): the rejects allowed grow with the cases.
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    let cases = match std::env::var_os("PROPTEST_CASES") {
        Some(_) => default.cases,
        None => 512,
    };
    ProptestConfig {
        cases,
        max_global_rejects: default.max_global_rejects.max(cases),
        ..default
    }
}

proptest! {
    #![proptest_config(config())]

    /// cache-key.md, lambda-edge-rules.md: every viewer-request promise — CloudFront-valid,
    /// idempotent, no unkeyed header, NUL, tracking parameter or cookie on a public route
    /// survives, the credential relayed exactly on bypass.
    #[test]
    fn viewer_request_keeps_every_promise(request in request()) {
        holds(check_viewer_request(rules(), &request))?;
    }

    /// The same on arbitrary strings in every field (any method, any `uri`).
    #[test]
    fn viewer_request_keeps_every_promise_on_arbitrary_strings(
        method in prop_oneof![any::<String>(), get_or_head()],
        uri in prop_oneof![any::<String>(), any::<String>().prop_map(|s| format!("/{s}"))],
        querystring in any::<String>(),
        headers in prop::collection::vec((any::<String>(), any::<String>()), 0..6),
    ) {
        let request = OwnedRequest { method, uri, querystring, headers };
        holds(check_viewer_request(rules(), &request))?;
    }

    /// cache-key.md, "Limits": a URL that would grow past 8,192 bytes, or a `uri` that does
    /// not start with `/`, is kept as received, but the header rules still apply.
    #[test]
    fn a_kept_url_still_gets_the_header_rules(
        prefix in uri(),
        filler in select(&[" ", "é", "\\", "#", "\u{1}"][..]),
        repeat in 2800usize..4000,
        not_absolute in any::<bool>(),
        querystring in querystring(),
        mut headers in headers(),
    ) {
        let uri = if not_absolute { prefix.trim_start_matches('/').to_owned() } else { format!("{prefix}{}", filler.repeat(repeat)) };
        headers.push(("x-forwarded-host".into(), "evil.example".into()));
        headers.push(("cookie".into(), "session=1".into()));
        let request = OwnedRequest { method: "GET".into(), uri, querystring, headers };
        let pass = viewer_pass(rules(), &request).expect("rewritten");
        prop_assert!(pass.url_kept);
        prop_assert!(!pass.after.headers.iter().any(|(n, _)| n == "x-forwarded-host"));
        holds(check_viewer_request(rules(), &request))?;
    }

    /// cache-key.md, query step 6: the order of distinct parameters does not matter.
    #[test]
    fn parameter_order_does_not_matter(
        (items, shuffled) in distinct_parameters(),
        path in select(&["/", "/api/products", "/api/me", "/x"][..]),
    ) {
        let run = |items: &[String]| {
            let request = OwnedRequest {
                method: "GET".into(),
                uri: path.to_owned(),
                querystring: items.join("&"),
                headers: Vec::new(),
            };
            viewer_pass(rules(), &request).expect("rewritten").after.querystring
        };
        prop_assert_eq!(run(&items), run(&shuffled));
    }

    /// cache-control.md: every origin-response promise — one valid Cache-Control,
    /// idempotent, never shareable where a rule says so, a 304 as a 200.
    #[test]
    fn origin_response_keeps_every_promise(response in response()) {
        holds(check_origin_response(rules(), &response))?;
    }

    /// cache-control.md, "Malformed input fails closed": for any Cache-Control text that
    /// names `private` or `no-store` as a word outside a well-formed quoted string, the
    /// output is never shareable, on any route, status or credential.
    #[test]
    fn private_or_no_store_named_anywhere_is_never_shareable(
        before in any::<String>(),
        word in select(&["private", "no-store", "PRIVATE", "No-Store"][..]),
        glue in select(&["", " ", ";", "=", "\"", ",", "x=\"", "\\"][..]),
        after in any::<String>(),
        mut response in response(),
    ) {
        let line = format!("{before}{glue}{word}{glue}{after}");
        prop_assume!(names_private_or_no_store([line.as_str()]));
        response.request_method = "GET".into();
        response.headers.retain(|(n, _)| n != "cache-control");
        response.headers.push(("cache-control".into(), line));
        let (written, _) = response_pass(rules(), &response);
        prop_assert!(!is_shareable(&written), "wrote {:?}", written);
        holds(check_origin_response(rules(), &response))?;
    }

    /// cache-control.md, "Reading" (RFC 9213, RFC 8941): the `CDN-Cache-Control` reader never
    /// panics; a field that does not parse gives no lifetime (the answer is decided as if it
    /// were absent), yet its `private`/`no-store` word still keeps the answer out of the edge.
    #[test]
    fn cdn_cache_control_fails_closed(field in cdn_cache_control_line(), path in select(&["/x", "/api/products/1", "/api/config"][..])) {
        let fields = [("cdn-cache-control", field.as_str())];
        let cdn = CdnCacheControl::read(CLOUDFRONT_TARGETS, &fields);
        let route = Some(rules().route_for(path));
        let with = decide_response(route, Some(200), &fields, &[], NOW_MS);
        let without = decide_response(route, Some(200), &[], &[], NOW_MS);
        if names_private_or_no_store_outside_strings(&field) {
            prop_assert!(cdn.forbids_sharing && with.cache_control.forbids_sharing(), "{:?}: {:?}", field, with);
        } else if !cdn.valid {
            prop_assert!(cdn.max_age.is_none() && !cdn.revalidates());
            prop_assert_eq!(with.header_value(), without.header_value());
        }
        if cdn.valid && !cdn.forbids_sharing {
            // It may set the edge's lifetime; it never shares what would not be shared.
            prop_assert!(!with.cache_control.forbids_sharing());
        }
    }

    /// cache-control.md rule 6 (issue 28): no 4xx answer, on any route, ever carries
    /// `immutable` or a stale window the origin did not send itself.
    #[test]
    fn no_4xx_takes_immutable_or_a_stale_window_from_the_route(
        status in 400u16..500,
        mut response in response(),
    ) {
        response.status = status.to_string();
        response.request_method = "GET".into();
        holds(check_origin_response(rules(), &response))?;
        let origin = CacheControl::parse(
            response.headers.iter().filter(|(n, _)| n == "cache-control").map(|(_, v)| v.as_str()),
        );
        let (written, _) = response_pass(rules(), &response);
        let out = CacheControl::parse([written.as_str()]);
        prop_assert!(!out.immutable || origin.immutable, "wrote {:?}", written);
        prop_assert!(out.stale_while_revalidate.is_none() || out.stale_while_revalidate == origin.stale_while_revalidate, "wrote {:?}", written);
        prop_assert!(out.stale_if_error.is_none() || out.stale_if_error == origin.stale_if_error, "wrote {:?}", written);
    }

    /// issue 26: the explanation's final request is exactly what viewer-request returns,
    /// and the route it names is the one the policy used.
    #[test]
    fn the_explanation_ends_where_viewer_request_does(request in request()) {
        let fields: Vec<(&str, &str)> = request.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let view = RequestView {
            method: &request.method,
            uri: &request.uri,
            querystring: &request.querystring,
            headers: &fields,
        };
        let explained = explain_viewer_request(rules(), "example.com", &view);
        match viewer_request(rules(), &view) {
            ViewerOutcome::Rewrite(rewrite) => {
                prop_assert_eq!(&explained.uri, &rewrite.uri);
                prop_assert_eq!(&explained.querystring, &rewrite.querystring);
                let named: Vec<&str> = explained.headers.iter().map(|h| h.name.as_str()).collect();
                let edited: Vec<&str> = rewrite.headers.iter().map(|e| match e {
                    HeaderEdit::Remove(n) => *n,
                    HeaderEdit::Set { name, .. } => *name,
                }).collect();
                prop_assert_eq!(named, edited);
                prop_assert_eq!(explained.route.map(|r| r.name), Some(rewrite.route.name.clone()));
                prop_assert_eq!(explained.bypass.is_some(), rewrite.bypass);
            }
            ViewerOutcome::Passthrough(_) => {
                prop_assert!(explained.route.is_none());
                prop_assert_eq!(&explained.uri, &request.uri);
            }
        }
    }

    /// cache-control.md, "Writing": the writer's output reads back to itself.
    #[test]
    fn cache_control_writer_is_idempotent(
        line in prop_oneof![any::<String>(), cache_control_line()],
    ) {
        let once = cache_control_round(&[&line]);
        prop_assert_eq!(cache_control_round(&[&once]), once);
    }

    /// cache-key.md, "Bypass matching fails closed": every spelling of the spec's list, for
    /// every bypass route of the rules file, is private.
    #[test]
    fn the_bypass_matcher_covers_every_spelling(
        rest in "[A-Za-z0-9_~-]{0,8}(\\.[a-z]{1,4})?(/[A-Za-z0-9_~-]{1,6}){0,2}",
    ) {
        holds(check_bypass_spellings(rules(), &rest))?;
    }
}

/// The spelling list itself: `/api/users/*` covers every example of cache-key.md.
#[test]
fn the_spelling_list_holds_the_spec_examples() {
    let users = oracle::bypass_spellings("/api/users", "7");
    for spelling in ["/api/users", "/api/users%2F7", "/api/users;7", "/API/USERS/7"] {
        assert!(users.iter().any(|s| s == spelling), "{spelling}");
    }
    check_bypass_spellings(rules(), "x.css").unwrap();
}
