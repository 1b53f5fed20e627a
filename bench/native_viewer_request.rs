//! Times the Wasm core's own entry point, compiled natively: `edge_worker::raw`'s
//! `edge_input` + `edge_viewer_request` (decode the glue's input, run the policy, encode the
//! answer) on the exact bytes the glue writes, which `bench/edge-handler.js` hands over one
//! event per line: `count hex` (the header count, then the input bytes in hex). So the Wasm
//! core call and this do the same work, and their ratio is what compiling to Wasm costs.
//!
//! `native-viewer-request INPUTS [ROUNDS]` prints `ns_per_event=<median of rounds>`.
//! `native-viewer-request INPUTS --serve` times one round per line read from stdin (the line
//! is the number of passes over the inputs, timed after one untimed pass that warms the
//! caches the process lost while it waited) and answers each with its ns per event on one
//! line: `bench/edge-handler.js` uses this to time the native core round by round,
//! interleaved with the Wasm core, so both see the same machine.
//! `native-viewer-request INPUTS --answers` prints each input's answer, in hex, one per line
//! (`=0:` for the length 0): `bench/edge-handler.js` holds them to the Wasm core's answers on
//! the same bytes before it times anything.

use std::io::{BufRead, Write};
use std::time::Instant;
use std::{env, fs, hint, io, ptr};

use edge_worker::raw::{edge_answer, edge_input, edge_viewer_request};

/// One event as the glue encodes it.
struct Input {
    count: i32,
    bytes: Vec<u8>,
}

fn hex(text: &str) -> Vec<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => panic!("not lower-case hex: {c}"),
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| digit(pair[0]) << 4 | digit(pair[1]))
        .collect()
}

fn main() {
    let path = env::args()
        .nth(1)
        .expect("usage: native-viewer-request <inputs> [rounds | --serve | --answers]");
    let text = fs::read_to_string(&path).expect("read inputs");
    let inputs: Vec<Input> = text
        .lines()
        .map(|line| {
            let (count, bytes) = line.split_once(' ').expect("`count hex` per line");
            Input {
                count: count.parse().expect("count"),
                bytes: hex(bytes),
            }
        })
        .collect();
    if env::args().nth(2).as_deref() == Some("--answers") {
        let mut out = io::stdout().lock();
        for input in &inputs {
            writeln!(out, "{}", to_hex(&answer(input))).expect("stdout");
        }
        return;
    }
    if env::args().nth(2).as_deref() == Some("--serve") {
        let mut out = io::stdout().lock();
        for line in io::stdin().lock().lines() {
            let passes: usize = line.expect("stdin").trim().parse().expect("passes");
            round(&inputs, 1);
            writeln!(out, "{:.1}", round(&inputs, passes.max(1))).expect("stdout");
            out.flush().expect("stdout");
        }
        return;
    }
    let rounds: usize = env::args().nth(2).and_then(|r| r.parse().ok()).unwrap_or(15);
    let mut per_round: Vec<f64> = (0..rounds).map(|_| round(&inputs, 20)).collect();
    per_round.sort_by(|a, b| a.total_cmp(b));
    println!("ns_per_event={:.1}", per_round[per_round.len() / 2]);
}

/// One input's answer as the glue reads it: the bytes `edge_answer` points at, or `=0:` (leave
/// the request alone) for the length 0.
fn answer(input: &Input) -> Vec<u8> {
    let room = edge_input(input.bytes.len());
    // SAFETY: `edge_input` returned room for `input.bytes.len()` bytes.
    unsafe { ptr::copy_nonoverlapping(input.bytes.as_ptr(), room, input.bytes.len()) };
    match edge_viewer_request(input.bytes.len(), input.count) {
        0 => b"=0:".to_vec(),
        // SAFETY: the answer holds `n` bytes until the next call.
        n => unsafe { std::slice::from_raw_parts(edge_answer(), n) }.to_vec(),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Ns per event of `passes` passes over the inputs, each as the glue makes the call: the
/// bytes copied into the input buffer, then the call.
fn round(inputs: &[Input], passes: usize) -> f64 {
    let start = Instant::now();
    let mut answered = 0usize;
    for _ in 0..passes {
        for input in inputs {
            let room = edge_input(input.bytes.len());
            // SAFETY: `edge_input` returned room for `input.bytes.len()` bytes.
            unsafe { ptr::copy_nonoverlapping(input.bytes.as_ptr(), room, input.bytes.len()) };
            answered += hint::black_box(edge_viewer_request(input.bytes.len(), input.count));
        }
    }
    hint::black_box(answered);
    start.elapsed().as_nanos() as f64 / (passes * inputs.len()) as f64
}
