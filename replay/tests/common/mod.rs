//! Runs the `replay` CLI the way `make bench-replay` does, on debug binaries, into a
//! temporary directory.

use std::path::PathBuf;
use std::process::Command;

/// What one run wrote.
#[allow(dead_code)] // each test binary reads some of the fields
pub struct Written {
    /// `replay.json`.
    pub report: serde_json::Value,
    /// The Markdown tables.
    pub tables: String,
    /// The chart.
    pub chart: String,
}

#[allow(dead_code)] // the simulation's tests build arms only
/// Runs `replay` with `args` (plus the debug origin and seed binaries and temporary outputs).
pub fn replay(name: &str, args: &[&str]) -> Written {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let bin = |env: &str, name: &str| {
        std::env::var(env)
            .map(PathBuf::from)
            .unwrap_or_else(|_| target.join("debug").join(name))
    };
    let dir = std::env::temp_dir().join(format!("replay-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("replay.json");
    let chart = dir.join("replay.svg");
    let status = Command::new(env!("CARGO_BIN_EXE_replay"))
        .current_dir(&root)
        .args(args)
        .arg("--origin-bin")
        .arg(bin("ORIGIN_BIN", "origin-function"))
        .arg("--seed-bin")
        .arg(bin("SEED_BIN", "seed"))
        .arg("--out")
        .arg(&out)
        .arg("--chart")
        .arg(&chart)
        .status()
        .expect("replay runs");
    assert!(status.success(), "replay {args:?} failed");
    let read = |p: PathBuf| std::fs::read_to_string(p).unwrap();
    let written = Written {
        report: serde_json::from_str(&read(out.clone())).unwrap(),
        tables: read(out.with_extension("md")),
        chart: read(chart),
    };
    std::fs::remove_dir_all(dir).unwrap();
    written
}

/// The arms' files, as `make bench-replay` names them.
#[allow(dead_code)] // not every test binary builds arms
pub fn arm_files() -> replay::arm::ArmFiles {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    replay::arm::ArmFiles {
        deployed: root.join("deploy/behaviours.toml"),
        cloudfront_alone: root.join("bench/cloudfront-alone.toml"),
        edge_package: root.join("wasm-pkg"),
        naive_package: root.join("bench/naive-handler"),
    }
}

/// The three arms of the full-stack replay, their tables read.
#[allow(dead_code)] // not every test binary builds arms
pub fn arms() -> Vec<replay::arm::Arm> {
    replay::arm::ArmKind::ALL
        .iter()
        .map(|k| replay::arm::Arm::new(*k, &arm_files()).unwrap())
        .collect()
}
