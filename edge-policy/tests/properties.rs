//! Property tests of the two triggers (cache-key.md, cache-control.md): idempotence, order
//! independence, "never panics", and output CloudFront accepts (lambda-edge-rules.md).

use edge_policy::cache_control::CacheControl;
use edge_policy::cloudfront::{self, Trigger};
use edge_policy::query::is_tracking_parameter;
use edge_policy::{origin_response, viewer_request, HeaderEdit, RequestView, ResponseView, RuleSet, ViewerOutcome};
use proptest::prelude::*;
use proptest::sample::select;

// ---------------------------------------------------------------------------------------------
// Owned requests and applying a rewrite to them.

/// A viewer request the tests own, so a rewrite can be applied and run again on its output.
#[derive(Debug, Clone, PartialEq, Eq)]
struct OwnedRequest {
    method: String,
    uri: String,
    querystring: String,
    headers: Vec<(String, String)>,
}

/// A header edit without borrows: `(name, Some(value))` sets, `(name, None)` removes.
type OwnedEdit = (String, Option<String>);

/// What one viewer-request pass did.
#[derive(Debug, Clone)]
struct Pass {
    after: OwnedRequest,
    edits: Vec<OwnedEdit>,
    url_kept: bool,
}

fn fields(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

fn owned_edits(edits: &[HeaderEdit<'_>]) -> Vec<OwnedEdit> {
    edits
        .iter()
        .map(|e| match e {
            HeaderEdit::Remove(name) => ((*name).to_owned(), None),
            HeaderEdit::Set { name, value, .. } => ((*name).to_owned(), Some(value.clone())),
        })
        .collect()
}

/// Applies header edits: `Remove` deletes every value; `Set` puts one value where the first
/// one was (or at the end) and deletes the others.
fn apply_edits(headers: &[(String, String)], edits: &[OwnedEdit]) -> Vec<(String, String)> {
    let mut out = headers.to_vec();
    for (name, value) in edits {
        match value {
            None => out.retain(|(n, _)| n != name),
            Some(value) => {
                let first = out.iter().position(|(n, _)| n == name);
                out.retain(|(n, _)| n != name);
                let at = first.unwrap_or(out.len()).min(out.len());
                out.insert(at, (name.clone(), value.clone()));
            }
        }
    }
    out
}

/// Runs viewer-request and applies its rewrite; `None` for a passthrough.
fn viewer_pass(request: &OwnedRequest) -> Option<Pass> {
    let header_fields = fields(&request.headers);
    let view = RequestView {
        method: &request.method,
        uri: &request.uri,
        querystring: &request.querystring,
        headers: &header_fields,
    };
    match viewer_request(RuleSet::embedded(), &view) {
        ViewerOutcome::Passthrough(_) => None,
        ViewerOutcome::Rewrite(rewrite) => {
            let edits = owned_edits(&rewrite.headers);
            let after = OwnedRequest {
                method: request.method.clone(),
                uri: rewrite.uri,
                querystring: rewrite.querystring,
                headers: apply_edits(&request.headers, &edits),
            };
            Some(Pass {
                after,
                edits,
                url_kept: rewrite.url_kept,
            })
        }
    }
}

/// An origin response the tests own.
#[derive(Debug, Clone)]
struct OwnedResponse {
    status: String,
    request_method: String,
    request_uri: String,
    request_headers: Vec<(String, String)>,
    headers: Vec<(String, String)>,
}

/// Runs origin-response: the one `Cache-Control` value and the edits.
fn response_pass(response: &OwnedResponse) -> (String, Vec<OwnedEdit>) {
    let request_fields = fields(&response.request_headers);
    let response_fields = fields(&response.headers);
    let view = ResponseView {
        status: &response.status,
        request_method: &response.request_method,
        request_uri: &response.request_uri,
        request_headers: &request_fields,
        headers: &response_fields,
        now_ms: 1_795_953_600_000,
    };
    let rewrite = origin_response(RuleSet::embedded(), &view);
    (rewrite.cache_control, owned_edits(&rewrite.headers))
}

// ---------------------------------------------------------------------------------------------
// Generators.

const URI_PIECES: &[&str] = &[
    "/", "/", "/", "//", ".", "..", "%", "%2e", "%2E", "%2F", "%2f", "%41", "%7e", "%zz", "%%34%31", "%%32%45", ";",
    "?", "#", " ", "\\", "é", "\u{0}", "\t", "\n", "\u{7f}", "a", "B", "api", "products", "me", "static", "users",
    "x.css", "~", "+", "=", "&", "@", ":",
];

const URI_PREFIXES: &[&str] = &[
    "",
    "/api/products",
    "/api/products/",
    "/static/",
    "/api/me",
    "/api/users/",
    "/api/config",
    "/API/ME",
    "//static//",
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
    "x-forwarded-host",
    "forwarded",
    "accept",
    "user-agent",
];

const HEADER_VALUES: &[&str] = &[
    "",
    " ",
    "gzip",
    "gzip, deflate, br",
    "br;q=0",
    "*",
    "*;q=0",
    "identity",
    "GZIP;q=0.5, BR",
    "br,gzip",
    "session=abc; theme=dark",
    "Bearer token",
    "example.com",
    "evil.example",
    "for=192.0.2.1;host=evil.example",
    "text/html",
    "Mozilla/5.0",
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
        4 => select(HEADER_VALUES).prop_map(str::to_owned),
        1 => "[\\x00-\\x7f]{0,16}",
        1 => any::<String>(),
    ]
}

fn headers() -> impl Strategy<Value = Vec<(String, String)>> {
    prop::collection::vec((select(HEADER_NAMES).prop_map(str::to_owned), header_value()), 0..8)
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
    "ext",
    "\"",
    "=",
    "a b",
    "max age=1",
    ",,",
    "x=\"unterminated",
    "x=\"esc\\\"aped\"",
];

/// A delta-seconds value, or something that is not one.
fn seconds() -> impl Strategy<Value = String> {
    const ODD: &[&str] = &["-1", "abc", "\"60\"", "99999999999999999999999", "", "1.5", "\"x\""];
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
    ]
}

/// One `Cache-Control` field line composed of directives.
fn cache_control_line() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(directive(), 0..6),
        select(&[", ", ",", " ,\t"][..]),
    )
        .prop_map(|(directives, separator)| directives.join(separator))
}

fn response() -> impl Strategy<Value = OwnedResponse> {
    const STATUSES: &[&str] = &["200", "404", "500", "302", "abc", "", "204", "503", " 200 "];
    const URIS: &[&str] = &[
        "/",
        "/about",
        "/static/app.js",
        "//static//app.js",
        "/api/products",
        "/api/products/42",
        "/api/config",
        "/api/users/7",
        "/api/me",
        "/API/ME",
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
    (
        select(STATUSES),
        select(&["GET", "HEAD", "POST"][..]),
        select(URIS),
        any::<bool>(),
        prop::collection::vec(cache_control_line(), 0..3),
        prop::option::of(select(&["id=1", "a=b; Path=/"][..])),
        prop::option::of(select(VARY)),
    )
        .prop_map(|(status, method, uri, authorization, cc_lines, set_cookie, vary)| {
            let mut headers: Vec<(String, String)> = vec![("content-type".into(), "text/html".into())];
            headers.extend(cc_lines.into_iter().map(|line| ("cache-control".to_owned(), line)));
            headers.extend(set_cookie.map(|v| ("set-cookie".to_owned(), v.to_owned())));
            headers.extend(vary.map(|v| ("vary".to_owned(), v.to_owned())));
            let mut request_headers = vec![("host".to_owned(), "example.com".to_owned())];
            if authorization {
                request_headers.push(("authorization".into(), "Bearer t".into()));
            }
            OwnedResponse {
                status: status.to_owned(),
                request_method: method.to_owned(),
                request_uri: uri.to_owned(),
                request_headers,
                headers,
            }
        })
}

fn cache_control_round(lines: &[&str]) -> String {
    CacheControl::parse(lines.iter().copied()).to_header_value()
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// 512 cases (a few seconds in debug), unless `PROPTEST_CASES` asks for another number.
fn config() -> ProptestConfig {
    let default = ProptestConfig::default();
    match std::env::var_os("PROPTEST_CASES") {
        Some(_) => default,
        None => ProptestConfig { cases: 512, ..default },
    }
}

proptest! {
    #![proptest_config(config())]

    /// cache-key.md: `normalize(normalize(r)) == normalize(r)`.
    #[test]
    fn viewer_request_is_idempotent(request in request()) {
        let first = viewer_pass(&request).expect("GET/HEAD with an absolute uri is rewritten");
        let second = viewer_pass(&first.after).expect("the rewritten request is rewritten");
        prop_assert_eq!(&second.after.uri, &first.after.uri);
        prop_assert_eq!(&second.after.querystring, &first.after.querystring);
        prop_assert_eq!(&second.after.headers, &first.after.headers);
        prop_assert!(second.edits.is_empty(), "second pass edits: {:?}", second.edits);
        prop_assert_eq!(second.url_kept, first.url_kept);
    }

    /// Nothing from outside makes either trigger panic.
    #[test]
    fn never_panics_on_arbitrary_strings(
        method in any::<String>(),
        uri in prop_oneof![any::<String>(), any::<String>().prop_map(|s| format!("/{s}"))],
        querystring in any::<String>(),
        headers in prop::collection::vec((any::<String>(), any::<String>()), 0..6),
        status in any::<String>(),
    ) {
        let request = OwnedRequest { method, uri, querystring, headers };
        if let Some(pass) = viewer_pass(&request) {
            let _ = viewer_pass(&pass.after);
        }
        let response = OwnedResponse {
            status,
            request_method: request.method.clone(),
            request_uri: request.uri.clone(),
            request_headers: request.headers.clone(),
            headers: request.headers.clone(),
        };
        let _ = response_pass(&response);
    }

    /// lambda-edge-rules.md: what the rewrite returns is a request CloudFront accepts.
    #[test]
    fn rewritten_request_is_cloudfront_valid(request in request()) {
        let pass = viewer_pass(&request).expect("rewritten");
        // A URL of a few hundred bytes never grows past 8,192, so it is always rewritten.
        prop_assert!(!pass.url_kept, "url kept for {:?}", request);
        prop_assert_eq!(cloudfront::check_url(&pass.after.uri, &pass.after.querystring), Ok(()));
        let before = fields(&request.headers);
        let after = fields(&pass.after.headers);
        prop_assert_eq!(cloudfront::check_headers(Trigger::ViewerRequest, &before, &after), Ok(()));
    }

    /// cache-key.md, query step 4: no tracking parameter reaches the origin.
    #[test]
    fn no_tracking_parameter_survives(request in request()) {
        let pass = viewer_pass(&request).expect("rewritten");
        prop_assume!(!pass.url_kept);
        for item in pass.after.querystring.split('&') {
            let name = item.split_once('=').map_or(item, |(name, _)| name);
            prop_assert!(!is_tracking_parameter(name), "{:?} survived in {:?}", name, pass.after.querystring);
        }
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
            viewer_pass(&request).expect("rewritten").after.querystring
        };
        prop_assert_eq!(run(&items), run(&shuffled));
    }

    /// cache-control.md: exactly one `Cache-Control` leaves the edge, and running the trigger
    /// twice on its own output changes nothing.
    #[test]
    fn origin_response_is_idempotent_with_one_cache_control(response in response()) {
        let (first, edits) = response_pass(&response);
        let headers = apply_edits(&response.headers, &edits);
        let cache_control: Vec<&str> =
            headers.iter().filter(|(n, _)| n == "cache-control").map(|(_, v)| v.as_str()).collect();
        prop_assert_eq!(&cache_control, &[first.as_str()]);
        prop_assert!(!first.is_empty());
        prop_assert_eq!(
            cloudfront::check_headers(Trigger::OriginResponse, &fields(&response.headers), &fields(&headers)),
            Ok(())
        );

        let again = OwnedResponse { headers: headers.clone(), ..response.clone() };
        let (second, second_edits) = response_pass(&again);
        prop_assert_eq!(&second, &first);
        prop_assert_eq!(second_edits, vec![("cache-control".to_owned(), Some(first))]);
    }

    /// cache-key.md, "Limits": a URL that would grow past 8,192 bytes is kept as received, but
    /// the header rules still apply, so no unkeyed input reaches the origin.
    #[test]
    fn over_long_url_is_kept_but_headers_are_still_cleaned(
        prefix in uri(),
        filler in select(&[" ", "é", "\\", "#", "\u{1}"][..]),
        repeat in 2800usize..4000,
        querystring in querystring(),
        mut headers in headers(),
    ) {
        let uri = format!("{prefix}{}", filler.repeat(repeat));
        headers.push(("x-forwarded-host".into(), "evil.example".into()));
        let request = OwnedRequest { method: "GET".into(), uri, querystring, headers };
        let pass = viewer_pass(&request).expect("rewritten");
        prop_assert!(pass.url_kept);
        prop_assert_eq!(&pass.after.uri, &request.uri);
        prop_assert_eq!(&pass.after.querystring, &request.querystring);
        prop_assert!(pass.edits.contains(&("x-forwarded-host".to_owned(), None)));
        prop_assert!(!pass.after.headers.iter().any(|(n, _)| n == "x-forwarded-host"));
    }

    /// cache-control.md, "Writing": the writer's output reads back to itself.
    #[test]
    fn cache_control_writer_is_idempotent(
        line in prop_oneof![any::<String>(), cache_control_line()],
    ) {
        let once = cache_control_round(&[&line]);
        prop_assert_eq!(cache_control_round(&[&once]), once);
    }
}
