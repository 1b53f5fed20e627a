//! Path normalization (cache-key.md, "Path").

use std::borrow::Cow;

use crate::percent::{self, Component};
use crate::text;
use crate::trace::{Note, PathStep, Quiet, Trace};

/// Normalizes a request path that starts with `/`.
///
/// Steps, in the spec's order: percent-encoding normalized (upper-case hex, unreserved
/// decoded, bytes outside `pchar` encoded), runs of `/` merged when `merge_slashes`,
/// dot-segments removed, an empty path made `/`. Case and trailing slash are kept.
pub fn normalize_path(uri: &str, merge_slashes: bool) -> String {
    normalize_path_traced(uri, merge_slashes, &mut Quiet)
}

/// [`normalize_path`], noting each step that changes the path on `trace`.
pub(crate) fn normalize_path_traced(uri: &str, merge_slashes: bool, trace: &mut impl Trace) -> String {
    // Each step keeps its input when it changes nothing (the common case), so an already
    // canonical path is copied once, at the end.
    let encoded = percent::normalize(uri, Component::Path);
    note_step(trace, PathStep::PercentEncoding, uri, &encoded);
    let merged = if merge_slashes && encoded.as_bytes().windows(2).any(|w| w == b"//") {
        let merged = merge_slash_runs(&encoded);
        note_step(trace, PathStep::MergeSlashes, &encoded, &merged);
        Cow::Owned(merged)
    } else {
        encoded
    };
    let path = remove_dot_segments(&merged);
    note_step(trace, PathStep::DotSegments, &merged, &path);
    if path.is_empty() {
        "/".to_owned()
    } else {
        path.into_owned()
    }
}

fn note_step(trace: &mut impl Trace, rule: PathStep, before: &str, after: &str) {
    trace.note(|| {
        (before != after).then(|| Note::Path {
            rule,
            before: before.to_owned(),
            after: after.to_owned(),
        })
    });
}

// Rewrites, out of line: a canonical path never compiles them (crate docs, "Stages stay out
// of line").
#[inline(never)]
fn merge_slash_runs(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut previous_slash = false;
    for c in path.chars() {
        if c == '/' && previous_slash {
            continue;
        }
        previous_slash = c == '/';
        out.push(c);
    }
    out
}

/// RFC 3986 §5.2.4 "Remove Dot Segments", for an absolute path.
///
/// Runs after percent-decoding, so `%2E%2E` has already become `..`; `%2F` is not a
/// separator, so `..%2F` is an ordinary segment. `..` at the root stays at the root
/// (§5.2.4 step 2C applied to an empty output buffer).
fn remove_dot_segments(path: &str) -> Cow<'_, str> {
    let Some(rest) = path.strip_prefix('/') else {
        return Cow::Borrowed(path);
    };
    // Without a `.` or `..` segment the output is the path itself.
    if !text::split(rest, b'/').any(|segment| segment == "." || segment == "..") {
        return Cow::Borrowed(path);
    }
    Cow::Owned(without_dot_segments(path, rest))
}

/// [`remove_dot_segments`]'s rewrite of `path` (`/` + `rest`), which holds one.
#[inline(never)]
fn without_dot_segments(path: &str, rest: &str) -> String {
    let mut segments: Vec<&str> = Vec::new();
    let mut ends_in_directory = false;
    for segment in text::split(rest, b'/') {
        ends_in_directory = false;
        match segment {
            "." => ends_in_directory = true,
            ".." => {
                segments.pop();
                ends_in_directory = true;
            }
            _ => segments.push(segment),
        }
    }
    let mut out = String::with_capacity(path.len());
    for segment in &segments {
        out.push('/');
        out.push_str(segment);
    }
    if ends_in_directory || out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalize_path(s, true)
    }

    #[test]
    fn slash_runs_merge_by_default() {
        assert_eq!(norm("//api///products//42"), "/api/products/42");
        assert_eq!(normalize_path("//a//b", false), "//a//b");
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(norm("/a/b/../c/./d"), "/a/c/d");
        assert_eq!(norm("/a/b/.."), "/a/");
        assert_eq!(norm("/a/."), "/a/");
        assert_eq!(norm("/../../etc"), "/etc");
        assert_eq!(norm("/.."), "/");
    }

    #[test]
    fn encoded_dots_count_as_dots_but_encoded_slash_is_not_a_separator() {
        assert_eq!(norm("/a/%2e%2E/b"), "/b");
        assert_eq!(norm("/api/me/..%2Fx.css"), "/api/me/..%2Fx.css");
    }

    #[test]
    fn a_malformed_percent_never_becomes_a_dot_segment() {
        assert_eq!(norm("/a/b/%%32%45%%32%45/c"), "/a/b/%252E%252E/c");
        assert_eq!(norm("/a/%2%45%2E/c"), "/a/%252E./c");
    }

    #[test]
    fn case_and_trailing_slash_are_kept() {
        assert_eq!(norm("/API/Products/"), "/API/Products/");
    }

    #[test]
    fn backslash_is_encoded_never_a_separator() {
        assert_eq!(norm("/a\\..\\b"), "/a%5C..%5Cb");
    }

    #[test]
    fn dot_removal_without_merging_treats_empty_segments_as_segments() {
        assert_eq!(normalize_path("/a//../b", false), "/a/b");
    }
}
