//! Any HTTP origin behind the local edge (`--http-origin URL`), as a CloudFront *custom origin*:
//! the URL's scheme, host and port (its path is the origin path), the origin response timeout
//! (`OriginReadTimeout`, the behaviour table's `read_timeout_secs`) and keep-alive timeout
//! (`OriginKeepaliveTimeout`), the origin custom headers, and what the behaviour's policies
//! forward ([`crate::forward`]). Local HTTP/1.1 only: the emulator speaks no TLS.
//!
//! Without a behaviour table of the user's, one is written from the route rules in force
//! ([`behaviours::table_for`]): CloudFront offers Origin Access Control only for S3, Lambda
//! function URLs and media origins, so the table signs nothing, and the private behaviours
//! key `Authorization` (the only way CloudFront forwards it on a `GET` without OAC).

pub mod behaviours;

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{Request, StatusCode, Uri};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;

use crate::answer::EdgeFailure;
use crate::distribution::CustomHeader;
use crate::error::EdgeError;
use crate::events;
use crate::message::{EdgeRequest, EdgeResponse};

/// The largest origin answer read (a generous bound for an API; the local edge holds answers
/// in memory).
pub const MAX_ANSWER_BYTES: usize = 64 * 1024 * 1024;

/// CloudFront's default origin connection timeout ("Origin connection timeout and attempts").
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the HTTP origin is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpOriginSettings {
    /// `http` (the only protocol the emulator speaks).
    pub scheme: String,
    /// `host[:port]`: the origin's domain, and the `Host` CloudFront sends unless a policy
    /// forwards the viewer's.
    pub authority: String,
    /// The origin path, prepended to every request's path (`""` or `/prefix`).
    pub path: String,
}

impl HttpOriginSettings {
    /// The `origin` object of origin events for an HTTP origin (`--http-origin`): its domain,
    /// port, protocol and origin path, timeouts and custom headers, as CloudFront shows a custom
    /// origin to the function.
    pub fn custom_origin(&self, timeouts_secs: (u64, u64), custom_headers: &[(CustomHeader, String)]) -> Value {
        let mut object = events::custom_origin(&self.authority, timeouts_secs.0, custom_headers);
        let host = self
            .authority
            .rsplit_once(':')
            .map_or(self.authority.as_str(), |(h, _)| h);
        object["custom"]["domainName"] = Value::from(host);
        object["custom"]["port"] = Value::from(self.port());
        object["custom"]["protocol"] = Value::from(self.scheme.as_str());
        object["custom"]["path"] = Value::from(self.path.as_str());
        object["custom"]["keepaliveTimeout"] = Value::from(timeouts_secs.1);
        object
    }

    /// Reads `http://host[:port][/path]`. An `https` origin is refused: the local edge speaks
    /// no TLS (run the API locally over HTTP, or put a plain-HTTP proxy in front of it).
    pub fn parse(url: &str) -> Result<Self, EdgeError> {
        let refuse = |why: &str| EdgeError::Setup(format!("--http-origin {url:?}: {why}"));
        let uri: Uri = url.parse().map_err(|e| refuse(&format!("not a URL ({e})")))?;
        match uri.scheme_str() {
            Some("http") => {}
            Some("https") => {
                return Err(refuse(
                    "https origins are not supported locally (no TLS): use the API's http:// address",
                ))
            }
            _ => return Err(refuse("must start with http://")),
        }
        let authority = uri.authority().ok_or_else(|| refuse("no host"))?;
        if authority.as_str().contains('@') {
            return Err(refuse("credentials in the URL are not supported"));
        }
        if uri.query().is_some() {
            return Err(refuse("an origin URL takes no query"));
        }
        Ok(HttpOriginSettings {
            scheme: "http".into(),
            authority: authority.as_str().to_ascii_lowercase(),
            path: uri.path().trim_end_matches('/').to_owned(),
        })
    }

    /// The port, for the `origin` object of origin events.
    pub fn port(&self) -> u16 {
        self.authority
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or(80)
    }
}

/// A pooled HTTP/1.1 client to the origin.
pub struct HttpOrigin {
    settings: HttpOriginSettings,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl HttpOrigin {
    /// A client whose idle connections are closed after `keepalive` (CloudFront's origin
    /// keep-alive timeout).
    pub fn new(settings: HttpOriginSettings, keepalive: Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(keepalive)
            .build(connector);
        HttpOrigin { settings, client }
    }

    /// The origin's settings.
    pub fn settings(&self) -> &HttpOriginSettings {
        &self.settings
    }

    /// Sends the origin request (after origin-request, CloudFront's headers and the custom
    /// headers) and reads the answer, within `read_timeout` (CloudFront's origin response
    /// timeout: `504`). A refused or broken connection is CloudFront's `502`.
    pub async fn send(&self, request: &EdgeRequest, read_timeout: Duration) -> Result<EdgeResponse, EdgeFailure> {
        let unreachable = |detail: String| EdgeFailure::origin(StatusCode::BAD_GATEWAY, detail);
        let mut target = format!(
            "{}://{}{}{}",
            self.settings.scheme, self.settings.authority, self.settings.path, request.uri
        );
        if !request.querystring.is_empty() {
            target.push('?');
            target.push_str(&request.querystring);
        }
        let uri: Uri = target
            .parse()
            .map_err(|e| unreachable(format!("origin URL {target:?}: {e}")))?;
        let mut outgoing = Request::builder()
            .method(request.method.clone())
            .uri(uri)
            .body(Full::new(request.body.clone()))
            .map_err(|e| unreachable(format!("origin request: {e}")))?;
        *outgoing.headers_mut() = request.headers.clone();
        let exchange = async {
            let response = self
                .client
                .request(outgoing)
                .await
                .map_err(|e| unreachable(format!("origin unreachable: {e}")))?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, MAX_ANSWER_BYTES)
                .collect()
                .await
                .map_err(|e| unreachable(format!("origin answer unreadable: {e}")))?
                .to_bytes();
            Ok(EdgeResponse {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        match tokio::time::timeout(read_timeout, exchange).await {
            Ok(answer) => answer,
            Err(_) => Err(EdgeFailure::origin(
                StatusCode::GATEWAY_TIMEOUT,
                "origin timed out".into(),
            )),
        }
    }
}

/// `(name, value)` from `NAME=VALUE`, as a header CloudFront may send to an origin.
pub fn parse_custom_header(text: &str) -> Result<(String, String), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?} is not NAME=VALUE"))?;
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("{name:?} is not a header name"))?;
    HeaderValue::from_str(value).map_err(|_| format!("the value of {name} is not a header value"))?;
    Ok((name.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_urls_are_read_and_https_is_refused() {
        let s = HttpOriginSettings::parse("http://127.0.0.1:9000/v1/").unwrap();
        assert_eq!(
            (s.authority.as_str(), s.path.as_str(), s.port()),
            ("127.0.0.1:9000", "/v1", 9000)
        );
        let s = HttpOriginSettings::parse("http://API.example").unwrap();
        assert_eq!(
            (s.authority.as_str(), s.path.as_str(), s.port()),
            ("api.example", "", 80)
        );
        for bad in [
            "https://api.example",
            "ftp://x",
            "127.0.0.1:9000",
            "http://u:p@h/",
            "http://h/?q=1",
        ] {
            assert!(HttpOriginSettings::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn custom_headers_are_name_value_pairs() {
        assert_eq!(
            parse_custom_header("X-Origin-Verify=s3cret=x").unwrap(),
            ("X-Origin-Verify".into(), "s3cret=x".into())
        );
        assert!(parse_custom_header("novalue").is_err());
        assert!(parse_custom_header("bad name=x").is_err());
    }
}
