//! `explain`: the CLI over the library (`explain::run`). Prints the explanation; bad input
//! is a clear message on stderr and exit 2 (as clap's own usage errors are).

use clap::Parser;

fn main() {
    let args = explain::Args::parse();
    match explain::run(&args) {
        Ok(out) => print!("{out}"),
        Err(e) => {
            eprintln!("explain: {e}");
            std::process::exit(explain::BAD_INPUT);
        }
    }
}
