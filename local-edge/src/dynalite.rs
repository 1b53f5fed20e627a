//! L2 and the catalogue on loopback: dynalite (npm) servers, in memory, and the origin's
//! `seed` binary that creates and fills the tables.
//!
//! Each server listens on a port the OS picks and reports it (`node/dynalite.js`), so two
//! stacks started at once can never share one server.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::error::EdgeError;

/// How long a server may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A dynalite server on a loopback port, in memory; killed when dropped (or when this
/// process ends: it exits when its stdin closes).
pub struct Dynalite {
    child: Child,
    _stdin: Option<ChildStdin>,
    _stdout: Option<BufReader<ChildStdout>>,
    /// Its port.
    pub port: u16,
}

impl Dynalite {
    /// Starts dynalite from the workspace at `root` (its `node_modules`).
    pub async fn start(root: &Path) -> Result<Dynalite, EdgeError> {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("node").join("dynalite.js");
        if !root.join("node_modules/dynalite").exists() {
            return Err(EdgeError::Setup(format!(
                "{} has no node_modules/dynalite: run `npm ci`",
                root.display()
            )));
        }
        let mut child = Command::new("node")
            .arg(&script)
            .arg(root)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| EdgeError::Process {
                what: format!("node {}", script.display()),
                source,
            })?;
        let stdin = child.stdin.take();
        let mut stdout = child.stdout.take().map(BufReader::new);
        let line = match stdout.as_mut() {
            Some(out) => {
                let mut line = String::new();
                match tokio::time::timeout(START_TIMEOUT, out.read_line(&mut line)).await {
                    Ok(Ok(n)) if n > 0 => line,
                    other => return Err(EdgeError::Setup(format!("dynalite did not start: {other:?}"))),
                }
            }
            None => return Err(EdgeError::Setup("dynalite has no stdout".into())),
        };
        let port = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["port"].as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| EdgeError::Setup(format!("dynalite said {line:?}, not its port")))?;
        Ok(Dynalite {
            child,
            _stdin: stdin,
            _stdout: stdout,
            port,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server (tests use this to take a dependency away).
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
        ("ORIGIN_PURGE_TABLE".into(), "edge-cache-purge".into()),
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
