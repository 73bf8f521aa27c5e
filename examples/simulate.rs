//! The soak: `cargo run --release --example simulate -- --seed S --scenarios N [--jobs J]
//! [--stores K] [--crash-share P] [--report FILE]`. Scenario i runs from seed S + i (so one
//! failure reproduces alone with `--seed S+i --scenarios 1`). With `--jobs J`, J processes of
//! this command share the scenarios (process k runs S+k, S+k+J, …), each with its own clock
//! and ports. Prints progress, scenarios per second, how often each action and invariant was
//! exercised, every failure with its seed and shrunk actions, and last
//! `simulate: N scenarios, F failures, seed S`; exits 1 when F > 0. `--report FILE` writes the
//! same summary (and the failing seeds) to FILE as well.

#[path = "../tests/sim/mod.rs"]
mod sim;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Instant;

use clap::Parser;
use serde::{Deserialize, Serialize};

#[derive(Parser)]
struct Args {
    /// The first scenario's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How many scenarios.
    #[arg(long, default_value_t = 100)]
    scenarios: u64,
    /// Processes running scenarios at once.
    #[arg(long, default_value_t = 1)]
    jobs: u64,
    /// Stores per scenario, acting at once.
    #[arg(long, default_value_t = 2)]
    stores: usize,
    /// The share of scenarios whose app is killed and restarted (0–1).
    #[arg(long, default_value_t = 0.0)]
    crash_share: f64,
    /// Most actions per scenario.
    #[arg(long, default_value_t = 24)]
    max_actions: usize,
    /// Also write the summary to this file.
    #[arg(long)]
    report: Option<std::path::PathBuf>,
    /// One of `--jobs` processes: runs scenarios `offset`, `offset + stride`, …
    #[arg(long, hide = true)]
    offset: Option<u64>,
    #[arg(long, hide = true, default_value_t = 1)]
    stride: u64,
}

/// What one process of `--jobs` tells the first, on its last line.
#[derive(Serialize, Deserialize, Default)]
struct Summary {
    /// The offsets of the processes summed up here.
    offsets: Vec<u64>,
    scenarios: u64,
    failed_seeds: Vec<u64>,
    actions: BTreeMap<String, u64>,
    invariants: BTreeMap<String, u64>,
}

const SUMMARY: &str = "simulate-summary: ";
const DONE: &str = "simulate-done";

fn main() {
    // The crash scenarios run the app as a process of its own, this one (see `sim::world`).
    if std::env::var_os("SEQURA_BC_SIM_AS_APP").is_some() {
        let (cli, data_dir_typed) = sequra_bc::cli::parse();
        if let Err(e) = sequra_bc::cli::run(cli, data_dir_typed) {
            eprintln!("error: {}", e.message);
            std::process::exit(e.code);
        }
        return;
    }
    let args = Args::parse();
    if let Some(offset) = args.offset {
        return one_of_many(&args, offset);
    }
    let started = Instant::now();
    let summary = if args.jobs <= 1 {
        run_here(&args, started)
    } else {
        run_in_processes(&args, started)
    };
    let secs = started.elapsed().as_secs_f64();
    let mut out = String::new();
    out += "actions exercised:\n";
    for (name, n) in &summary.actions {
        out += &format!("  {name:<34} {n}\n");
    }
    out += "invariants checked:\n";
    for (name, n) in &summary.invariants {
        out += &format!("  {name:<34} {n}\n");
    }
    out += &format!(
        "{} scenarios in {secs:.1} s: {:.2} scenarios/s ({} process(es), crash share {})\n",
        summary.scenarios,
        summary.scenarios as f64 / secs,
        args.jobs.max(1),
        args.crash_share
    );
    if !summary.failed_seeds.is_empty() {
        out += &format!("failing seeds: {:?}\n", summary.failed_seeds);
    }
    out += &format!(
        "simulate: {} scenarios, {} failures, seed {}\n",
        summary.scenarios,
        summary.failed_seeds.len(),
        args.seed
    );
    print!("{out}");
    if let Some(path) = &args.report
        && let Err(e) = std::fs::write(path, &out)
    {
        eprintln!("cannot write {}: {e}", path.display());
    }
    if !summary.failed_seeds.is_empty() {
        std::process::exit(1);
    }
}

/// Runs scenario `i` (seed S + i) and prints a failure whole.
fn scenario(args: &Args, i: u64) -> bool {
    let seed = args.seed.wrapping_add(i);
    let crash = sim::crashes(seed, args.crash_share);
    match sim::scenario_from_seed(seed, args.stores.max(1), args.max_actions, crash) {
        Ok(()) => true,
        Err(f) => {
            println!(
                "FAILED seed {} (crashes: {crash}): {}\nshrunk to {} action(s): {:#?}",
                f.seed,
                f.reason,
                f.actions.len(),
                f.actions
            );
            false
        }
    }
}

fn coverage_summary(offset: u64, scenarios: u64, failed_seeds: Vec<u64>) -> Summary {
    let coverage = sim::COVERAGE.lock().unwrap().clone().unwrap_or_default();
    Summary {
        offsets: vec![offset],
        scenarios,
        failed_seeds,
        actions: coverage.actions,
        invariants: coverage.invariants,
    }
}

fn progress(done: u64, of: u64, failures: usize, started: Instant) {
    if done.is_multiple_of(10) || done == of {
        println!(
            "{done}/{of} scenarios, {failures} failures, {:.2} scenarios/s",
            done as f64 / started.elapsed().as_secs_f64()
        );
    }
}

fn run_here(args: &Args, started: Instant) -> Summary {
    let mut failed = Vec::new();
    for i in 0..args.scenarios {
        if !scenario(args, i) {
            failed.push(args.seed.wrapping_add(i));
        }
        progress(i + 1, args.scenarios, failed.len(), started);
    }
    coverage_summary(0, args.scenarios, failed)
}

/// One process of `--jobs`: its scenarios, a line for each one done, the summary last.
fn one_of_many(args: &Args, offset: u64) {
    let mut failed = Vec::new();
    let mut ran = 0;
    let mut i = offset;
    while i < args.scenarios {
        if !scenario(args, i) {
            failed.push(args.seed.wrapping_add(i));
        }
        ran += 1;
        println!("{DONE}");
        let _ = std::io::stdout().flush();
        i += args.stride.max(1);
    }
    let summary = coverage_summary(offset, ran, failed);
    println!("{SUMMARY}{}", serde_json::to_string(&summary).unwrap());
}

/// `--jobs` processes of this command, their failures printed as they come, their summaries
/// added up.
fn run_in_processes(args: &Args, started: Instant) -> Summary {
    let me = std::env::current_exe().expect("the soak's own path");
    let (tx, rx) = mpsc::channel::<String>();
    let mut children = Vec::new();
    for k in 0..args.jobs {
        let mut child = Command::new(&me)
            .args([
                "--seed",
                &args.seed.to_string(),
                "--scenarios",
                &args.scenarios.to_string(),
                "--stores",
                &args.stores.to_string(),
                "--crash-share",
                &args.crash_share.to_string(),
                "--max-actions",
                &args.max_actions.to_string(),
                "--offset",
                &k.to_string(),
                "--stride",
                &args.jobs.to_string(),
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("a soak process starts");
        let stdout = child.stdout.take().unwrap();
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        children.push(child);
    }
    drop(tx);
    let mut total = Summary::default();
    let (mut done, mut failures) = (0, 0);
    for line in rx {
        if line == DONE {
            done += 1;
            progress(done, args.scenarios, failures, started);
        } else if let Some(json) = line.strip_prefix(SUMMARY) {
            let s: Summary = serde_json::from_str(json).expect("a process's summary");
            total.offsets.extend(s.offsets);
            total.scenarios += s.scenarios;
            total.failed_seeds.extend(s.failed_seeds);
            for (k, v) in s.actions {
                *total.actions.entry(k).or_default() += v;
            }
            for (k, v) in s.invariants {
                *total.invariants.entry(k).or_default() += v;
            }
        } else {
            failures += usize::from(line.starts_with("FAILED seed "));
            println!("{line}");
        }
    }
    total.failed_seeds.sort_unstable();
    for mut child in children {
        let status = child.wait().expect("a soak process ends");
        if !status.success() {
            eprintln!("a soak process ended with {status}");
        }
    }
    // A process that died before its summary (a panic outside a scenario) fails the soak:
    // the scenarios it never reported count as failed, under its first seed.
    let mut seen: Vec<u64> = total.offsets.clone();
    seen.sort_unstable();
    for k in (0..args.jobs).filter(|k| seen.binary_search(k).is_err()) {
        let never = (k..args.scenarios).step_by(args.jobs as usize).count() as u64;
        eprintln!(
            "the process of seeds {} + {k} + i × {} died: {never} scenario(s) failed",
            args.seed, args.jobs
        );
        total.scenarios += never;
        total.failed_seeds.push(args.seed.wrapping_add(k));
    }
    total
}
