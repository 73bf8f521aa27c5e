//! The soak: `cargo run --release --example simulate -- --seed S --scenarios N [--stores K]
//! [--crash-share P]`. Scenario i runs from seed S + i (so one failure reproduces alone with
//! `--seed S+i --scenarios 1`). Prints progress, scenarios per second, how often each action
//! and invariant was exercised, every failure with its seed and shrunk actions, and last
//! `simulate: N scenarios, F failures, seed S`; exits 1 when F > 0.

#[path = "../tests/sim/mod.rs"]
mod sim;

use clap::Parser;

#[derive(Parser)]
struct Args {
    /// The first scenario's seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// How many scenarios.
    #[arg(long, default_value_t = 100)]
    scenarios: u64,
    /// Stores per scenario, acting at once.
    #[arg(long, default_value_t = 2)]
    stores: usize,
    /// The share of scenarios whose app is killed and restarted (0–1).
    #[arg(long, default_value_t = 0.0)]
    crash_share: f64,
    /// Most actions per scenario.
    #[arg(long, default_value_t = 24)]
    max_actions: usize,
}

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
    let started = std::time::Instant::now();
    let mut failures = Vec::new();
    for i in 0..args.scenarios {
        let seed = args.seed.wrapping_add(i);
        let crash = sim::crashes(seed, args.crash_share);
        if let Err(f) = sim::scenario_from_seed(seed, args.stores.max(1), args.max_actions, crash) {
            println!(
                "FAILED seed {}: {}\nshrunk to {} action(s): {:#?}",
                f.seed,
                f.reason,
                f.actions.len(),
                f.actions
            );
            failures.push(f);
        }
        let done = i + 1;
        if done % 10 == 0 || done == args.scenarios {
            let secs = started.elapsed().as_secs_f64();
            println!(
                "{done}/{} scenarios, {} failures, {:.2} scenarios/s",
                args.scenarios,
                failures.len(),
                done as f64 / secs
            );
        }
    }
    let coverage = sim::COVERAGE.lock().unwrap().clone().unwrap_or_default();
    println!("actions exercised:");
    for (name, n) in &coverage.actions {
        println!("  {name:<20} {n}");
    }
    println!("invariants checked:");
    for (name, n) in &coverage.invariants {
        println!("  {name:<24} {n}");
    }
    println!(
        "simulate: {} scenarios, {} failures, seed {}",
        args.scenarios,
        failures.len(),
        args.seed
    );
    if !failures.is_empty() {
        std::process::exit(1);
    }
}
