//! ElastiCache IAM authentication: the password the origin sends (`AUTH <user> <token>`) is
//! a SigV4-presigned request, signed with the function's own credentials, that ElastiCache
//! checks against IAM (the role's `elasticache:Connect` on the cache and the user).
//!
//! From "Authenticating with IAM" (ElastiCache User Guide): the token is the presigned URL
//! `http://<replication group id>/?Action=connect&User=<user id>` for the service
//! `elasticache`, valid for 900 seconds, without its `http://`; the user's name must equal
//! its id. "The IAM authentication token is valid for 15 minutes"; a connection it opened
//! lives on (ElastiCache closes it after 12 hours), so a token is signed for each new
//! connection, never stored.
//!
//! The signature covers the query (Action, User, the X-Amz-* parameters, the session token
//! of the role's temporary credentials) and the `host` header (the cache name), with the
//! SHA-256 of an empty payload, exactly as AWS's SDKs presign it (the unit test's golden
//! token is botocore's `SigV4QueryAuth` for the same inputs).

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings};
use aws_sigv4::sign::v4;
use lambda_http::http;

use crate::config::RedisIam;
use crate::error::{L2Fault, OriginError};

/// How long a token opens connections ("valid for 15 minutes").
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(900);

fn signing_error(err: impl std::fmt::Display) -> OriginError {
    OriginError::L2 {
        op: "connect",
        fault: L2Fault::Other,
        message: format!("IAM token not signed: {err}"),
    }
}

/// The token for `iam.user` on `iam.cache`, signed with `credentials` at `now`.
pub fn auth_token(iam: &RedisIam, credentials: &Credentials, now: SystemTime) -> Result<String, OriginError> {
    let url = format!("http://{}/?Action=connect&User={}", iam.cache, iam.user);
    let identity = credentials.clone().into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(TOKEN_LIFETIME);
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(&iam.region)
        .name("elasticache")
        .time(now)
        .settings(settings)
        .build()
        .map_err(signing_error)?
        .into();
    let signable = SignableRequest::new("GET", url.as_str(), std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(signing_error)?;
    let (instructions, _signature) = sign(signable, &params).map_err(signing_error)?.into_parts();
    let mut request = http::Request::builder()
        .uri(url.as_str())
        .body(())
        .map_err(signing_error)?;
    instructions.apply_to_request_http1x(&mut request);
    let signed = request.uri().to_string();
    Ok(signed.strip_prefix("http://").unwrap_or(&signed).to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn iam() -> RedisIam {
        RedisIam {
            user: "edge-cache-l2-origin".into(),
            cache: "edge-cache-l2".into(),
            region: "us-east-1".into(),
        }
    }

    fn credentials() -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token-example".into()),
            None,
            "test",
        )
    }

    /// 2026-12-01T00:00:00Z.
    fn december_first() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_083_200)
    }

    fn query(token: &str) -> (String, BTreeMap<String, String>) {
        let (path, query) = token.split_once('?').unwrap();
        let pairs = query
            .split('&')
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap();
                (k.to_owned(), v.to_owned())
            })
            .collect();
        (path.to_owned(), pairs)
    }

    #[test]
    fn the_token_is_botocores_presigned_connect_request() {
        // botocore 1.43 SigV4QueryAuth("elasticache", "us-east-1", expires=900) of
        // GET http://edge-cache-l2/?Action=connect&User=edge-cache-l2-origin, same credentials
        // and time (the signer AWS's own Python example uses).
        let golden = "edge-cache-l2/?Action=connect&User=edge-cache-l2-origin&X-Amz-Algorithm=AWS4-HMAC-SHA256\
            &X-Amz-Credential=AKIDEXAMPLE%2F20261201%2Fus-east-1%2Felasticache%2Faws4_request\
            &X-Amz-Date=20261201T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host\
            &X-Amz-Security-Token=session-token-example\
            &X-Amz-Signature=5f97181747dc084fc8fc75729745337b4cca699ac9375200973a6d436f15da36";
        let token = auth_token(&iam(), &credentials(), december_first()).unwrap();
        assert_eq!(query(&token), query(golden), "{token}");
        assert!(!token.starts_with("http"));
    }

    #[test]
    fn each_second_signs_another_token_and_other_keys_another_signature() {
        let a = auth_token(&iam(), &credentials(), december_first()).unwrap();
        let b = auth_token(&iam(), &credentials(), december_first() + Duration::from_secs(1)).unwrap();
        assert_ne!(a, b);
        let other = Credentials::new("AKIDEXAMPLE", "another-secret", None, None, "test");
        let c = auth_token(&iam(), &other, december_first()).unwrap();
        assert_ne!(query(&a).1["X-Amz-Signature"], query(&c).1["X-Amz-Signature"]);
        assert!(!query(&c).1.contains_key("X-Amz-Security-Token"));
    }
}
