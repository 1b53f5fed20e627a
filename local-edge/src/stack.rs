//! The rest of the local stack: DynamoDB-compatible servers on loopback and the seeded tables.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

use crate::EdgeError;

/// A free loopback port (bound, then released).
pub fn free_port() -> Result<u16, EdgeError> {
    let listener = StdListener::bind("127.0.0.1:0").map_err(|source| EdgeError::Bind {
        addr: "127.0.0.1:0".into(),
        source,
    })?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|source| EdgeError::Bind {
            addr: "127.0.0.1:0".into(),
            source,
        })
}

/// Waits until something accepts connections on `addr`.
pub async fn wait_for_port(addr: SocketAddr, timeout: Duration) -> Result<(), EdgeError> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(EdgeError::Setup(format!("nothing listens on {addr} after {timeout:?}")))
}

/// A dynalite server (npm) on a loopback port, in memory; killed when dropped.
pub struct Dynalite {
    child: Child,
    /// Its port.
    pub port: u16,
}

impl Dynalite {
    /// Starts `node_modules/.bin/dynalite` from the workspace at `root` on `port` (0: a free one).
    pub async fn start(root: &Path, port: u16) -> Result<Dynalite, EdgeError> {
        let port = if port == 0 { free_port()? } else { port };
        let bin = root.join("node_modules/.bin/dynalite");
        let child = Command::new(&bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| EdgeError::Process {
                what: format!("{} (run `npm ci`)", bin.display()),
                source,
            })?;
        wait_for_port(SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_secs(10)).await?;
        Ok(Dynalite { child, port })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server (tests use this to take L2 away).
    pub async fn stop(&mut self) {
        let _ = self.child.kill().await;
    }
}

/// The origin's configuration for a catalogue server and a cache (L2) server.
pub fn origin_env(catalogue_endpoint: &str, cache_endpoint: &str) -> Vec<(String, String)> {
    vec![
        ("ORIGIN_CATALOGUE_ENDPOINT".into(), catalogue_endpoint.into()),
        ("ORIGIN_CACHE_ENDPOINT".into(), cache_endpoint.into()),
        ("ORIGIN_CATALOGUE_TABLE".into(), "catalogue".into()),
        ("ORIGIN_CACHE_TABLE".into(), "edge-cache".into()),
    ]
}

/// Runs the origin's `seed` binary: tables created, `products` products written.
pub async fn seed(seed_bin: &Path, env: &[(String, String)], products: u32) -> Result<(), EdgeError> {
    let output = Command::new(seed_bin)
        .args(["--products", &products.to_string()])
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .env("AWS_REGION", "us-east-1")
        .output()
        .await
        .map_err(|source| EdgeError::Process {
            what: seed_bin.display().to_string(),
            source,
        })?;
    if !output.status.success() {
        return Err(EdgeError::Setup(format!(
            "seeding failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(())
}
