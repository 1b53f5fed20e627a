//! CloudFront's limits on a viewer request, checked at the door, before any function runs.
//!
//! CloudFront Developer Guide, "Quotas", general quotas: "Maximum length of a request,
//! including headers and query strings, but not including the body content: 20,480 bytes"
//! and "Maximum length of a URL: 8,192 bytes"; "Request and response behavior for custom
//! origins", maximum length of a request: over either, CloudFront answers **413 Request
//! Entity Too Large** and closes the connection (`lambda-edge-rules.md`, Limits).
//!
//! Which bytes count:
//! - **the request**: its head as the viewer sent it — the request line, every header line
//!   and the empty line that ends them, each with its CRLF (the body never counts). The
//!   connection counts them on the wire before anything is parsed (`connection.rs`); a head
//!   the parser found another way (pipelined behind another request, say) is also counted
//!   from what was parsed ([`head_bytes`], each header as `name: value`).
//! - **the URL**: as CloudFront constructs it — the scheme and `://` (`http://`: the local
//!   listener is plain HTTP), the host (the request target's authority, else the viewer's
//!   `Host`), the path, and `?` with the query string when there is one ([`url_bytes`]).

use http::Request;

/// The largest request CloudFront takes: request line and headers, bytes.
pub const MAX_REQUEST_BYTES: usize = 20_480;

/// The longest URL CloudFront takes, bytes.
pub const MAX_URL_BYTES: usize = 8_192;

/// Which of CloudFront's limits a request is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverLimit {
    /// Request line and headers over [`MAX_REQUEST_BYTES`].
    Request,
    /// The URL over [`MAX_URL_BYTES`].
    Url,
}

/// The request's URL as CloudFront constructs it, in bytes.
pub fn url_bytes<B>(request: &Request<B>) -> usize {
    let uri = request.uri();
    let host = match uri.authority() {
        Some(authority) => authority.as_str().len(),
        None => request.headers().get(http::header::HOST).map_or(0, |h| h.len()),
    };
    let path_and_query = uri.path_and_query().map_or(0, |p| p.as_str().len());
    "http://".len() + host + path_and_query
}

/// The request's head rebuilt from what was parsed, in bytes: the request line (`HTTP/1.x`
/// is 8 bytes), each header as `name: value`, each line with its CRLF, and the empty line.
pub fn head_bytes<B>(request: &Request<B>) -> usize {
    let target = request.uri().to_string().len();
    let request_line = request.method().as_str().len() + 1 + target + 1 + "HTTP/1.1".len() + 2;
    let headers: usize = (request.headers().iter())
        .map(|(name, value)| name.as_str().len() + 2 + value.len() + 2)
        .sum();
    request_line + headers + 2
}

/// The limit the request is over, if any.
pub fn over_limit<B>(request: &Request<B>) -> Option<OverLimit> {
    if head_bytes(request) > MAX_REQUEST_BYTES {
        Some(OverLimit::Request)
    } else if url_bytes(request) > MAX_URL_BYTES {
        Some(OverLimit::Url)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(target: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut request = Request::get(target);
        for (n, v) in headers {
            request = request.header(*n, *v);
        }
        request.body(()).unwrap()
    }

    #[test]
    fn the_url_is_scheme_host_path_and_query() {
        let p = parts("/a/b?x=1", &[("host", "127.0.0.1:8080")]);
        assert_eq!(url_bytes(&p), "http://127.0.0.1:8080/a/b?x=1".len());
        let absolute = parts("http://example.com/a", &[("host", "ignored.example")]);
        assert_eq!(url_bytes(&absolute), "http://example.com/a".len());
        assert_eq!(
            url_bytes(&parts("/a", &[])),
            "http:///a".len(),
            "no Host is still a URL"
        );
    }

    #[test]
    fn the_head_is_counted_as_written() {
        let p = parts("/a?b", &[("host", "h"), ("x-pad", "0123")]);
        let written = "GET /a?b HTTP/1.1\r\nhost: h\r\nx-pad: 0123\r\n\r\n";
        assert_eq!(head_bytes(&p), written.len());
    }

    #[test]
    fn at_the_limits_is_served_and_one_byte_over_is_not() {
        let base = "http://h".len();
        let path = format!("/{}", "a".repeat(MAX_URL_BYTES - base - 1));
        assert_eq!(over_limit(&parts(&path, &[("host", "h")])), None);
        let longer = format!("{path}a");
        assert_eq!(over_limit(&parts(&longer, &[("host", "h")])), Some(OverLimit::Url));
        let head = "GET / HTTP/1.1\r\nhost: h\r\nx-pad: \r\n\r\n".len();
        let pad = "p".repeat(MAX_REQUEST_BYTES - head);
        assert_eq!(over_limit(&parts("/", &[("host", "h"), ("x-pad", &pad)])), None);
        let pad = format!("{pad}p");
        assert_eq!(
            over_limit(&parts("/", &[("host", "h"), ("x-pad", &pad)])),
            Some(OverLimit::Request)
        );
    }
}
