//! rustls-peer: the rustls peer of sanstls-bench.
//!
//! bench/peers/run builds it (offline, with Debian's toolchain and crates)
//! and runs it from sanstls-bench; by hand, from this folder (cargo finds
//! .cargo/config.toml only here):
//!
//!     RUSTC=/usr/bin/rustc /usr/bin/cargo build --release --offline \
//!         --target-dir ../../../build-peers/rustls
//!     ../../../build-peers/rustls/release/rustls-peer --serve --dir DIR --reps N \
//!         --target-seconds S [--quick] [--wall-clock]
//!
//! It speaks the line protocol sanstls-bench drives its peers with, on
//! stdin/stdout (notes, READY, then warm/run/report/quit), and runs the
//! bench's scenarios with a rustls client and server in one thread, bytes
//! moved between them by hand.

mod heap;
mod scenarios;
mod tls;

use std::collections::HashMap;
use std::io::{self, BufRead};
use std::path::PathBuf;
use std::process::ExitCode;

use scenarios::{note, Bench, Options, Scenario};

#[global_allocator]
static ALLOCATOR: heap::CountingAllocator = heap::CountingAllocator;

// Pinned with `=` in Cargo.toml, so these are the versions linked in.
const RUSTLS_VERSION: &str = "0.20.8";
const RING_VERSION: &str = "0.16.20";

fn parse_args() -> Result<Options, String> {
    let mut options = Options {
        dir: PathBuf::new(),
        target_seconds: 0.25,
        quick: false,
        wall_clock: false,
    };
    let mut serve = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{} needs a value", arg));
        match arg.as_str() {
            "--serve" => serve = true,
            "--dir" => options.dir = PathBuf::from(value()?),
            // Repetitions are driven one `run` at a time; the count is not needed.
            "--reps" => {
                value()?.parse::<u32>().map_err(|e| format!("--reps: {}", e))?;
            }
            "--target-seconds" => {
                options.target_seconds =
                    value()?.parse().map_err(|e| format!("--target-seconds: {}", e))?
            }
            "--quick" => options.quick = true,
            "--wall-clock" => options.wall_clock = true,
            _ => return Err(format!("unknown argument {}", arg)),
        }
    }
    if !serve {
        return Err("--serve is required (the only mode there is)".into());
    }
    if options.dir.as_os_str().is_empty() {
        return Err("--dir is required".into());
    }
    Ok(options)
}

/// Answers one command line; Ok(false) means quit.
fn answer(
    line: &str,
    bench: &mut Bench,
    scenarios: &mut HashMap<String, Scenario>,
) -> Result<bool, String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    match words.as_slice() {
        ["quit"] => return Ok(false),
        ["warm", name] => {
            let scenario = Scenario::warm(name, bench)?;
            scenarios.insert(name.to_string(), scenario);
            println!("OK");
        }
        ["run", name] => {
            let scenario = scenarios.get_mut(*name).ok_or("not warmed")?;
            println!("REP {:.3}", scenario.run(bench)?);
        }
        ["report", name] => {
            let scenario = scenarios.get(*name).ok_or("not warmed")?;
            println!("{}", scenario.report()?);
        }
        _ => return Err("unknown command".into()),
    }
    Ok(true)
}

fn main() -> ExitCode {
    let options = match parse_args() {
        Ok(options) => options,
        Err(e) => {
            println!("ERROR arguments: {}", e);
            return ExitCode::FAILURE;
        }
    };
    note(&format!(
        "rustls {} on ring {} (Debian crates), {}, timed by {}",
        RUSTLS_VERSION,
        RING_VERSION,
        env!("PEER_RUSTC_VERSION"),
        if options.wall_clock { "the monotonic clock" } else { "thread CPU time" }
    ));
    println!("READY");

    let mut bench = Bench::new(options);
    let mut scenarios = HashMap::new();
    for line in io::stdin().lock().lines() {
        let line = match line {
            Ok(line) => line,
            Err(e) => {
                println!("ERROR stdin: {}", e);
                return ExitCode::FAILURE;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        match answer(&line, &mut bench, &mut scenarios) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                println!("ERROR {}: {}", line.trim(), e);
                return ExitCode::FAILURE;
            }
        }
    }
    ExitCode::SUCCESS
}
