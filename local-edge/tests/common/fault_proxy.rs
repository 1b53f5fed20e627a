//! A TCP proxy in front of a DynamoDB-compatible server that can misbehave on demand:
//! pass through, delay, blackhole (accept and never answer), or throttle (answer every
//! request with DynamoDB's `ProvisionedThroughputExceededException`).
#![allow(dead_code)]

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Pass = 0,
    Delay = 1,
    Blackhole = 2,
    Throttle = 3,
}

pub struct FaultProxy {
    pub port: u16,
    mode: Arc<AtomicU8>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const THROTTLE_BODY: &str = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException","message":"The level of configured provisioned throughput for the table was exceeded."}"#;

impl FaultProxy {
    pub async fn start(upstream_port: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(Mode::Pass as u8));
        let shared = mode.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let mode = shared.clone();
                tokio::spawn(async move { serve(client, upstream_port, mode).await });
            }
        });
        FaultProxy { port, mode, task }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, mode: Mode) {
        self.mode.store(mode as u8, Ordering::SeqCst);
    }

    fn mode(mode: &AtomicU8) -> Mode {
        match mode.load(Ordering::SeqCst) {
            1 => Mode::Delay,
            2 => Mode::Blackhole,
            3 => Mode::Throttle,
            _ => Mode::Pass,
        }
    }
}

async fn serve(mut client: TcpStream, upstream_port: u16, mode: Arc<AtomicU8>) {
    let mut buf = vec![0u8; 64 * 1024];
    let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port)).await else {
        return;
    };
    loop {
        // One request at a time from the client (the SDK sends one per connection at a time).
        let mut request = Vec::new();
        loop {
            let n = match client.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            request.extend_from_slice(&buf[..n]);
            if request_complete(&request) {
                break;
            }
        }
        match FaultProxy::mode(&mode) {
            Mode::Blackhole => {
                // Hold the connection open and never answer.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            Mode::Throttle => {
                let response = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/x-amz-json-1.0\r\nx-amzn-requestid: FAULTPROXY\r\ncontent-length: {}\r\n\r\n{THROTTLE_BODY}",
                    THROTTLE_BODY.len()
                );
                if client.write_all(response.as_bytes()).await.is_err() {
                    return;
                }
                continue;
            }
            Mode::Delay => tokio::time::sleep(Duration::from_secs(2)).await,
            Mode::Pass => {}
        }
        if upstream.write_all(&request).await.is_err() {
            return;
        }
        let mut response = Vec::new();
        loop {
            let n = match upstream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            response.extend_from_slice(&buf[..n]);
            if request_complete(&response) {
                break;
            }
        }
        if client.write_all(&response).await.is_err() {
            return;
        }
    }
}

/// Whether `bytes` hold a whole HTTP/1.1 message with a `content-length` body.
fn request_complete(bytes: &[u8]) -> bool {
    let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&bytes[..end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("content-length:")
                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
        })
        .unwrap_or(0);
    bytes.len() >= end + 4 + length
}
