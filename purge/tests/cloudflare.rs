//! The Worker's Cache API copies purged through Cloudflare's purge-by-URL API, against a
//! local stub of that API (it has not been run against Cloudflare from here): the zone in the
//! path, the token as a bearer, at most 30 URLs per call, only the Worker's hosts, keys with
//! keyed headers reported rather than guessed, and a refusal reported as a failure.

use std::sync::{Arc, Mutex};

use purge::cloudflare::{Cloudflare, URLS_PER_CALL};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the stub received: `(request line, authorization, body)`.
type Seen = Arc<Mutex<Vec<(String, String, serde_json::Value)>>>;

/// A stub of `POST /client/v4/zones/{zone}/purge_cache` answering `success` (or a 403).
async fn stub(succeed: bool) -> (String, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/client/v4", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let record = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let record = record.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 8192];
                loop {
                    let n = stream.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    let Some(end) = text.find("\r\n\r\n") else { continue };
                    let head = &text[..end];
                    let length: usize = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() < end + 4 + length {
                        continue;
                    }
                    let body: serde_json::Value =
                        serde_json::from_slice(&buf[end + 4..end + 4 + length]).unwrap_or_default();
                    let auth = head
                        .lines()
                        .find_map(|l| {
                            l.strip_prefix("authorization: ")
                                .or_else(|| l.strip_prefix("Authorization: "))
                        })
                        .unwrap_or("")
                        .to_owned();
                    record
                        .lock()
                        .unwrap()
                        .push((head.lines().next().unwrap_or("").to_owned(), auth, body));
                    let (status, answer) = if succeed {
                        (
                            "200 OK",
                            r#"{"success":true,"errors":[],"messages":[],"result":{"id":"zone"}}"#,
                        )
                    } else {
                        (
                            "403 Forbidden",
                            r#"{"success":false,"errors":[{"code":10000,"message":"Authentication error"}]}"#,
                        )
                    };
                    let reply = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                    let _ = stream.write_all(reply.as_bytes()).await;
                    return;
                }
            });
        }
    });
    (base, seen)
}

#[tokio::test]
async fn the_workers_copies_are_purged_by_url_in_batches_for_its_hosts_only() {
    let (api, seen) = stub(true).await;
    let cloudflare = Cloudflare::new(&api, "zone123", "token-abc", vec!["API.example.com".into()]);
    let mut keys: Vec<String> = (0..35).map(|i| format!("api.example.com/api/products/{i}")).collect();
    keys.push("api.example.com/api/products?category=books".into());
    keys.push("d111111abcdef8.cloudfront.net/api/products/1".into());
    keys.push("api.example.com/api/me|cookie=a".into());
    let purged = cloudflare.purge(&keys).await.unwrap();
    assert_eq!(purged.urls.len(), 36, "the CloudFront host's key is not the Worker's");
    assert_eq!(purged.skipped, ["api.example.com/api/me|cookie=a"]);
    assert_eq!(purged.calls, 2);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    for (line, auth, body) in seen.iter() {
        assert_eq!(line, "POST /client/v4/zones/zone123/purge_cache HTTP/1.1");
        assert_eq!(auth, "Bearer token-abc");
        assert!(body["files"].as_array().unwrap().len() <= URLS_PER_CALL);
    }
    let all: Vec<&str> = seen
        .iter()
        .flat_map(|(_, _, b)| b["files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()))
        .collect();
    assert!(all.contains(&"https://api.example.com/api/products?category=books"));
    assert!(all.contains(&"https://api.example.com/api/products/34"));
}

#[tokio::test]
async fn a_refusal_is_a_failure_the_report_names() {
    let (api, _) = stub(false).await;
    let cloudflare = Cloudflare::new(&api, "zone123", "bad", vec!["api.example.com".into()]);
    let err = cloudflare
        .purge(&["api.example.com/api/products/1".to_owned()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("403"), "{err}");
}
