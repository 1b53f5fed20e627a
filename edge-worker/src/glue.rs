//! The glue's side of the protocol in Rust, as `wasm-pkg/index.js` does it (feature `glue`):
//! encode a request, apply an answer. For the boundary tests and the fuzz targets, which
//! check that crossing the boundary never changes what a request means; never deployed.
//!
//! A header value equal to [`UNREADABLE_VALUE`] stands for one that is not well-formed
//! UTF-16 (or not a string) in JavaScript: the glue sends it as `0!`.

use edge_policy::headers::UNREADABLE_VALUE;
use edge_policy::oracle::{apply_edits, OwnedRequest};

use crate::wire::{push_field, Reader};

/// `length ":" text`, or `length "!" text` when the text did not cross intact.
fn push_js_field(out: &mut String, text: &str, intact: bool) {
    if intact {
        push_field(out, text);
    } else {
        let mut field = String::new();
        push_field(&mut field, text);
        out.push_str(&field.replacen(':', "!", 1));
    }
}

/// The viewer-request input and header count the glue sends for `request`: the headers
/// [`crate::viewer_request_reads`] names and every header whose name or value holds a NUL,
/// or whose value is unreadable. `url_intact: false` models a `uri`/`querystring` that is not well-formed UTF-16.
pub fn viewer_request_input(request: &OwnedRequest, url_intact: bool) -> (String, i32) {
    let reads = crate::viewer_request_reads();
    let reads: Vec<&str> = reads.split(',').collect();
    let mut input = String::new();
    push_field(&mut input, &request.method);
    push_js_field(&mut input, &request.uri, url_intact);
    push_js_field(&mut input, &request.querystring, url_intact);
    let mut count = 0;
    for (name, value) in &request.headers {
        let unreadable = value == UNREADABLE_VALUE;
        if reads.contains(&name.as_str()) {
            push_field(&mut input, name);
            push_js_field(&mut input, value, !unreadable);
        } else if unreadable || value.contains('\0') || name.contains('\0') {
            push_field(&mut input, name);
            input.push_str("0!");
        } else {
            continue;
        }
        count += 1;
    }
    (input, count)
}

/// What the glue does with a viewer-request answer: the request CloudFront goes on with,
/// and whether its URL was kept. `Err` for an answer the glue cannot read.
pub fn apply_viewer_request_answer(request: &OwnedRequest, answer: &str) -> Result<(OwnedRequest, bool), String> {
    let op = answer.chars().next().ok_or("empty answer")?;
    let mut reader = Reader::new(&answer[1..]);
    let bad = |e| format!("{e:?} in {answer:?}");
    reader.field().map_err(bad)?;
    if op == '=' {
        reader.finish().map_err(bad)?;
        return Ok((request.clone(), true));
    }
    let mut after = request.clone();
    let rest = reader.rest();
    let url_kept = match rest.chars().next() {
        Some('K') => {
            reader = Reader::new(&rest[1..]);
            true
        }
        Some('U') => {
            reader = Reader::new(&rest[1..]);
            after.uri = reader.field().map_err(bad)?.text.to_owned();
            after.querystring = reader.field().map_err(bad)?.text.to_owned();
            false
        }
        _ => return Err(format!("no URL marker in {answer:?}")),
    };
    let mut edits = Vec::new();
    loop {
        let rest = reader.rest();
        let Some(op) = rest.chars().next() else { break };
        reader = Reader::new(&rest[1..]);
        let name = reader.field().map_err(bad)?.text.to_owned();
        match op {
            '-' => edits.push((name, None)),
            '+' => {
                reader.field().map_err(bad)?;
                edits.push((name, Some(reader.field().map_err(bad)?.text.to_owned())));
            }
            _ => return Err(format!("unknown edit {op:?} in {answer:?}")),
        }
    }
    // A JavaScript header map: `Set` leaves the name's one entry where the first one was.
    after.headers = apply_edits(&after.headers, &edits);
    Ok((after, url_kept))
}
