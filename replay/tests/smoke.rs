//! A small replay end to end (the full one is `make bench-replay`): the report has the
//! promised fields, the edge never beats the infinite-cache bound, normalization beats the
//! naive handler, and a stampede loads the source once.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn a_small_replay_reports_every_figure() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target"));
    let bin = |env: &str, name: &str| {
        std::env::var(env)
            .map(PathBuf::from)
            .unwrap_or_else(|_| target.join("debug").join(name))
    };
    let out = std::env::temp_dir().join(format!("replay-smoke-{}.json", std::process::id()));
    let chart = out.with_extension("svg");
    let status = Command::new(env!("CARGO_BIN_EXE_replay"))
        .current_dir(&root)
        .args([
            "--requests",
            "600",
            "--products",
            "200",
            "--clients",
            "8",
            "--stampede",
            "24",
        ])
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
    assert!(status.success());
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    for field in [
        "edge_hit_ratio",
        "edge_hit_bound",
        "naive_edge_hit_ratio",
        "source_loads",
        "stampede_source_loads",
        "p50_ms",
        "p99_ms",
        "errors",
    ] {
        assert!(report[field].is_number(), "{field} missing: {report}");
    }
    let f = |k: &str| report[k].as_f64().unwrap();
    assert!(f("edge_hit_ratio") <= f("edge_hit_bound") + 1e-9);
    assert!(f("edge_hit_ratio") > f("naive_edge_hit_ratio"));
    assert_eq!(report["stampede_source_loads"], 1);
    assert_eq!(report["errors"], 0);
    assert!(std::fs::read_to_string(&chart).unwrap().starts_with("<svg"));
    let _ = std::fs::remove_file(out);
    let _ = std::fs::remove_file(chart);
}
