//! The policy's promises as checks that can fail (feature `oracle`): one oracle, shared by
//! the proptest suite (`edge-policy/tests/properties.rs`) and the fuzz targets (`fuzz/`), so
//! both check meaning, not only crashes. Never in a deployed build.
//!
//! Each check runs the policy on owned input and answers `Err(Breach)` naming the property
//! that broke. Where a check needs to know what an input *means* (is `private` named outside
//! a quoted string? is this a viewer's credential?), it decides that here, separately from
//! the implementation, so the two must agree for a check to pass.

mod request;
mod response;

use std::fmt;

pub use request::{
    apply_edits, bypass_spellings, check_bypass_spellings, check_rewritten, check_viewer_request, viewer_pass,
    OwnedEdit, OwnedRequest, ViewerPass, BYPASS_SEPARATORS,
};
pub use response::{
    check_origin_response, is_shareable, names_private_or_no_store, names_private_or_no_store_outside_strings,
    response_pass, OwnedResponse,
};

/// A property that did not hold, and on what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breach {
    /// The property, as the specs state it.
    pub property: &'static str,
    /// What was seen.
    pub detail: String,
}

impl fmt::Display for Breach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property, self.detail)
    }
}

impl std::error::Error for Breach {}

/// `Err(Breach)` unless `holds`.
fn ensure(holds: bool, property: &'static str, detail: impl FnOnce() -> String) -> Result<(), Breach> {
    if holds {
        Ok(())
    } else {
        Err(Breach {
            property,
            detail: detail(),
        })
    }
}

/// Owned `(name, value)` pairs as the policy's borrowed fields.
fn fields(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect()
}

/// The viewer's credential as the specs define it, decided here: an `X-Viewer-Authorization`
/// (at the origin), else an `Authorization` that is not an AWS signature (`AWS4-HMAC-SHA256`
/// then a space or tab, the scheme ASCII case-insensitive, after optional blanks).
fn is_aws_signature(value: &str) -> bool {
    let value = value.trim_start_matches([' ', '\t']).as_bytes();
    let scheme = b"aws4-hmac-sha256";
    value.len() >= scheme.len()
        && value[..scheme.len()].eq_ignore_ascii_case(scheme)
        && matches!(value.get(scheme.len()), None | Some(b' ' | b'\t'))
}
