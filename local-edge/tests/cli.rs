//! `local-edge` as `make run` starts it: it prints the URL, serves, and on SIGTERM stops
//! everything it started.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::root;
use local_edge::procfs::{alive, descendants};

fn bin(env_name: &str, name: &str) -> String {
    std::env::var(env_name).unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| root().join("target").display().to_string());
        format!("{target}/debug/{name}")
    })
}

#[test]
fn make_run_prints_the_url_serves_and_leaves_no_process_behind() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_local-edge"))
        .current_dir(root())
        .args(["--listen", "127.0.0.1:0", "--products", "20", "--log-dir"])
        .arg(std::env::temp_dir().join("local-edge-cli-test"))
        .args([
            "--origin-bin",
            &bin("ORIGIN_BIN", "origin-function"),
            "--seed-bin",
            &bin("SEED_BIN", "seed"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("local-edge starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("a line").expect("readable");
        if let Some(rest) = line.strip_prefix("local edge: ") {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let body = runtime.block_on(async {
        reqwest::get(format!("{url}/api/products/3"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    });
    assert!(body.contains("\"id\":3"), "{body}");
    let below = descendants(child.id());
    assert!(below.len() >= 4, "dynalite x2, node, origin environment: {below:?}");
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "local-edge did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    std::thread::sleep(Duration::from_millis(300));
    let left: Vec<u32> = below.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}
