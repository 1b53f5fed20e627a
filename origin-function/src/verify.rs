//! Only CloudFront may call the function URL (origin-cache.md, "Never"): Origin Access
//! Control where deployed, and this check as the second line — the request must carry the
//! shared secret CloudFront adds as an origin custom header.
//!
//! - Compared in constant time with a maintained crate (`subtle`), over fixed-size SHA-256
//!   digests: neither the position of the first differing byte nor the secret's length leaks
//!   (a presented value is hashed whatever its length; every accepted secret is compared,
//!   with no early exit).
//! - A rotation list: every comma-separated secret is accepted.
//! - Exactly one value: a request carrying the header twice is refused (CloudFront's origin
//!   custom header replaces a viewer's header of the same name, so it sends one).
//! - Only function-URL requests are checked: internal work (warm-up preloads) and API Gateway
//!   events cannot come through the function URL (the event's shape is set by the service
//!   that invokes, not by the caller).

use lambda_http::http::header::{HeaderMap, HeaderName};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::config::Config;
use crate::error::OriginError;

/// The secret check of one execution environment.
#[derive(Clone)]
pub struct Verifier {
    header: HeaderName,
    /// SHA-256 of each accepted secret; empty when the check is off.
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secrets, nor their digests.
        f.debug_struct("Verifier")
            .field("header", &self.header)
            .field("secrets", &self.digests.len())
            .finish()
    }
}

fn digest(value: &[u8]) -> [u8; 32] {
    Sha256::digest(value).into()
}

impl Verifier {
    /// The check `config` asks for (off when `config.verify_secrets` is empty; the
    /// configuration already refused an empty list when the check is on).
    pub fn new(config: &Config) -> Result<Self, OriginError> {
        let header = HeaderName::from_bytes(config.verify_header.as_bytes())
            .map_err(|_| OriginError::config("ORIGIN_VERIFY_HEADER", config.verify_header.clone()))?;
        Ok(Verifier {
            header,
            digests: config.verify_secrets.iter().map(|s| digest(s.as_bytes())).collect(),
        })
    }

    /// Whether requests are checked at all.
    pub fn is_on(&self) -> bool {
        !self.digests.is_empty()
    }

    /// Whether `headers` carry exactly one value of the header, equal to an accepted secret.
    pub fn accepts(&self, headers: &HeaderMap) -> bool {
        if !self.is_on() {
            return true;
        }
        let mut values = headers.get_all(&self.header).iter();
        let (Some(value), None) = (values.next(), values.next()) else {
            return false;
        };
        let presented = digest(value.as_bytes());
        let matched = self
            .digests
            .iter()
            .fold(Choice::from(0), |any, secret| any | secret.ct_eq(&presented));
        bool::from(matched)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    fn verifier(secrets: &[&str]) -> Verifier {
        Verifier::new(&Config {
            verify_secrets: secrets.iter().map(|s| (*s).to_owned()).collect(),
            ..Config::default()
        })
        .unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append("x-origin-verify", HeaderValue::from_str(v).unwrap());
        }
        map
    }

    #[test]
    fn every_secret_of_a_rotation_is_accepted_and_nothing_else() {
        let v = verifier(&["new-secret-0123456789", "old-secret-0123456789"]);
        assert!(v.accepts(&headers(&["new-secret-0123456789"])));
        assert!(v.accepts(&headers(&["old-secret-0123456789"])));
        assert!(
            !v.accepts(&headers(&["new-secret-012345678X"])),
            "same length, one byte off"
        );
        assert!(!v.accepts(&headers(&["new-secret-0123456789 "])));
        assert!(!v.accepts(&headers(&["new-secret"])), "a prefix");
        assert!(!v.accepts(&headers(&[""])));
        assert!(!v.accepts(&headers(&[])));
    }

    #[test]
    fn the_header_twice_is_refused() {
        let v = verifier(&["s3cret-s3cret-s3cret"]);
        assert!(!v.accepts(&headers(&["s3cret-s3cret-s3cret", "s3cret-s3cret-s3cret"])));
        assert!(!v.accepts(&headers(&["guess", "s3cret-s3cret-s3cret"])));
    }

    #[test]
    fn off_accepts_everything_and_debug_shows_no_secret() {
        assert!(verifier(&[]).accepts(&HeaderMap::new()));
        let shown = format!("{:?}", verifier(&["very-secret-value"]));
        assert!(!shown.contains("very-secret-value"), "{shown}");
    }
}
