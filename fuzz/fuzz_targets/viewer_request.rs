//! viewer-request over arbitrary input: no panic, CloudFront-valid output, idempotent.
//!
//! Input, as lossy UTF-8 split on `\n`: the method, the uri, the query string, then one
//! header per line as `name:value` (the name lower-cased, as CloudFront's map keys are).
#![no_main]

use edge_policy::cloudfront::{self, Trigger};
use edge_policy::{viewer_request, HeaderEdit, RequestView, RuleSet, ViewerOutcome};
use libfuzzer_sys::fuzz_target;

struct Request {
    method: String,
    uri: String,
    querystring: String,
    headers: Vec<(String, String)>,
}

struct Pass {
    after: Request,
    edited: bool,
    url_kept: bool,
}

fn parse(data: &[u8]) -> Request {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let mut next = || lines.next().unwrap_or("").to_owned();
    let (method, uri, querystring) = (next(), next(), next());
    let headers = lines
        .map(|line| {
            let (name, value) = line.split_once(':').unwrap_or((line, ""));
            (
                name.trim().to_ascii_lowercase(),
                value.strip_prefix(' ').unwrap_or(value).to_owned(),
            )
        })
        .collect();
    Request {
        method,
        uri,
        querystring,
        headers,
    }
}

fn fields(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

fn apply(headers: &[(String, String)], edits: &[HeaderEdit<'_>]) -> Vec<(String, String)> {
    let mut out = headers.to_vec();
    for edit in edits {
        match edit {
            HeaderEdit::Remove(name) => out.retain(|(n, _)| n != name),
            HeaderEdit::Set { name, value, .. } => {
                let first = out.iter().position(|(n, _)| n == name);
                out.retain(|(n, _)| n != name);
                let at = first.unwrap_or(out.len()).min(out.len());
                out.insert(at, ((*name).to_owned(), value.clone()));
            }
        }
    }
    out
}

fn pass(request: &Request) -> Option<Pass> {
    let header_fields = fields(&request.headers);
    let view = RequestView {
        method: &request.method,
        uri: &request.uri,
        querystring: &request.querystring,
        headers: &header_fields,
    };
    match viewer_request(RuleSet::embedded(), &view) {
        ViewerOutcome::Passthrough(_) => None,
        ViewerOutcome::Rewrite(rewrite) => Some(Pass {
            after: Request {
                method: request.method.clone(),
                uri: rewrite.uri,
                querystring: rewrite.querystring,
                headers: apply(&request.headers, &rewrite.headers),
            },
            edited: !rewrite.headers.is_empty(),
            url_kept: rewrite.url_kept,
        }),
    }
}

fuzz_target!(|data: &[u8]| {
    let request = parse(data);
    let normalized = matches!(request.method.as_str(), "GET" | "HEAD") && request.uri.starts_with('/');
    let Some(first) = pass(&request) else {
        assert!(!normalized, "a GET/HEAD with an absolute uri passed through");
        return;
    };
    assert!(normalized, "rewrote a request that must pass through");
    if first.url_kept {
        assert_eq!(first.after.uri, request.uri);
        assert_eq!(first.after.querystring, request.querystring);
    } else {
        assert_eq!(
            cloudfront::check_url(&first.after.uri, &first.after.querystring),
            Ok(())
        );
    }
    let (before, after) = (fields(&request.headers), fields(&first.after.headers));
    assert_eq!(
        cloudfront::check_headers(Trigger::ViewerRequest, &before, &after),
        Ok(())
    );

    let second = pass(&first.after).expect("the rewritten request is rewritten");
    assert_eq!(second.after.uri, first.after.uri, "uri not idempotent");
    assert_eq!(
        second.after.querystring, first.after.querystring,
        "query not idempotent"
    );
    assert!(!second.edited, "second pass edited headers");
    assert_eq!(second.after.headers, first.after.headers);
});
