//! `local-edge` as `make run` starts it: it prints the URL, serves, and on SIGTERM stops
//! everything it started; `--function-url-only` serves the origin alone; run out of
//! descriptors, it answers again once they are released.

mod common;

use std::io::{BufRead, BufReader, Lines};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use common::root;
use local_edge::procfs::{alive, descendants};

fn bin(env_name: &str, name: &str) -> String {
    std::env::var(env_name).unwrap_or_else(|_| {
        let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| root().join("target").display().to_string());
        format!("{target}/debug/{name}")
    })
}

/// Starts the CLI with `extra` options on a free port.
fn start(extra: &[&str], log_dir: &str) -> (Child, Lines<BufReader<ChildStdout>>) {
    start_as(Command::new(env!("CARGO_BIN_EXE_local-edge")), extra, log_dir)
}

/// Starts the CLI as `command` runs it (the binary, or a wrapper that runs it).
fn start_as(mut command: Command, extra: &[&str], log_dir: &str) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = command
        .current_dir(root())
        .args(["--listen", "127.0.0.1:0", "--products", "20", "--log-dir"])
        .arg(std::env::temp_dir().join(log_dir))
        .args([
            "--origin-bin",
            &bin("ORIGIN_BIN", "origin-function"),
            "--seed-bin",
            &bin("SEED_BIN", "seed"),
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("local-edge starts");
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// The first word after `prefix` on the first line that starts with it.
fn read_after(lines: &mut Lines<BufReader<ChildStdout>>, prefix: &str) -> String {
    loop {
        let line = lines.next().expect("a line").expect("readable");
        if let Some(rest) = line.trim_start().strip_prefix(prefix) {
            return rest.split_whitespace().next().unwrap().to_owned();
        }
    }
}

/// SIGTERM, then the exit status within 15 s.
fn terminate(child: &mut Child) -> std::process::ExitStatus {
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "local-edge did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

async fn get(url: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut request = reqwest::Client::new().get(url);
    for (n, v) in headers {
        request = request.header(*n, *v);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[test]
fn make_run_prints_the_url_serves_and_leaves_no_process_behind() {
    let (mut child, mut lines) = start(&[], "local-edge-cli-test");
    let url = read_after(&mut lines, "local edge: ");
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let (_, body) = runtime.block_on(get(&format!("{url}/api/products/3"), &[]));
    assert!(body.contains("\"id\":3"), "{body}");
    let below = descendants(child.id());
    assert!(below.len() >= 4, "dynalite x2, node, origin environment: {below:?}");
    let status = terminate(&mut child);
    assert!(status.success(), "{status:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    while below.iter().any(|p| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<u32> = below.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn function_url_only_serves_the_origin_alone_behind_its_secret() {
    let (mut child, mut lines) = start(&["--function-url-only"], "local-edge-cli-fnurl-test");
    let url = read_after(&mut lines, "function URL: ");
    let secret = read_after(&mut lines, "its secret check is on: send X-Origin-Verify: ");
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let product = format!("{url}/api/products/3");
    let (refused, _) = runtime.block_on(get(&product, &[]));
    assert_eq!(refused, 403, "a call without the secret");
    let (status, body) = runtime.block_on(get(&product, &[("x-origin-verify", &secret)]));
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"id\":3"), "{body}");
    // No edge in front: its admin endpoint is the origin's 404.
    let (stats, _) = runtime.block_on(get(&format!("{url}/__edge/stats"), &[("x-origin-verify", &secret)]));
    assert_eq!(stats, 404);
    assert!(terminate(&mut child).success());
}

#[test]
fn run_out_of_descriptors_the_port_answers_again_once_they_are_released() {
    // The edge alone gets 256 descriptors (its children inherit the limit); its connection
    // cap is set far above them, so accepting runs into EMFILE.
    let mut limited = Command::new("prlimit");
    limited.args(["--nofile=256:256", "--", env!("CARGO_BIN_EXE_local-edge")]);
    let (mut child, mut lines) = start_as(
        limited,
        &["--native", "--max-connections", "100000"],
        "local-edge-cli-nofile-test",
    );
    let url = read_after(&mut lines, "local edge: ");
    std::thread::spawn(move || for _ in lines.by_ref() {});
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let product = format!("{url}/api/products/3");
    assert_eq!(runtime.block_on(get(&product, &[])).0, 200);
    let addr: std::net::SocketAddr = url.trim_start_matches("http://").parse().unwrap();
    // 400 connections: the kernel completes them all (backlog), the edge runs out of
    // descriptors accepting them.
    let held: Vec<_> = (0..400)
        .map(|_| std::net::TcpStream::connect(addr).expect("the kernel accepts"))
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    drop(held);
    let answered = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        client.get(&product).send().await.map(|r| r.status().as_u16())
    });
    assert_eq!(answered.ok(), Some(200), "the port answers again");
    assert!(terminate(&mut child).success());
}
