//! `quorate-sim`: run seeds of the deterministic cluster simulator.
//!
//! ```text
//! cargo run --release -p quorate-sim -- --seeds 10000 --nodes 5 --faults all
//! cargo run --release -p quorate-sim -- --seed 42 --faults all       # replay one seed
//! cargo run --release -p quorate-sim -- --bug double-vote --seeds 2000 --faults all --outcome-checks-only
//! ```
//!
//! The last line printed is always `seeds=N steps=N ops=N refused=N
//! max_leaderless_ticks=N max_term_growth_partial=N split_terms=N
//! violations=N` (the liveness figures are maxima or sums over seeds);
//! the exit status is 1 when any violation was found.

use clap::Parser;
use quorate_core::PlantedBug;
use quorate_sim::options::{Faults, RunOptions};
use quorate_sim::runner::{quiet_panics, run_seeds};
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "quorate-sim",
    about = "Deterministic simulation of quorate clusters under faults"
)]
struct Args {
    /// How many seeds to run.
    #[arg(long, default_value_t = 100)]
    seeds: u64,
    /// Run exactly this seed (or, with --seeds, start from it).
    #[arg(long)]
    seed: Option<u64>,
    /// Voters in the cluster (one spare node joins and leaves).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
    nodes: u64,
    /// Fault families: none, all, or a +-joined list of network, crash,
    /// clock, membership, hostile.
    #[arg(long, default_value = "all", value_parser = parse_faults)]
    faults: Faults,
    /// Switch on a planted protocol bug (see --list-bugs).
    #[arg(long, value_parser = parse_bug)]
    bug: Option<PlantedBug>,
    /// List the planted bugs and exit.
    #[arg(long)]
    list_bugs: bool,
    /// With --bug, keep running after the first failing seed.
    #[arg(long)]
    keep_going: bool,
    /// Print every event of the run (use with --seed).
    #[arg(long)]
    trace: bool,
    /// Judge runs only by observed bad outcomes (two leaders in a term,
    /// divergent applies, lost writes, stale or non-linearizable reads,
    /// panics, liveness after healing); rule checks are off.
    #[arg(long)]
    outcome_checks_only: bool,
    /// Worker threads (default: all cores).
    #[arg(long)]
    threads: Option<usize>,
}

fn parse_faults(text: &str) -> Result<Faults, String> {
    Faults::parse(text).ok_or_else(|| {
        format!(
            "unknown faults '{text}': use none, network, crash, clock, membership, hostile or all"
        )
    })
}

fn parse_bug(text: &str) -> Result<PlantedBug, String> {
    PlantedBug::from_name(text).ok_or_else(|| format!("unknown bug '{text}': see --list-bugs"))
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.list_bugs {
        for bug in PlantedBug::ALL {
            println!("{:<18} {}", bug.name(), bug.description());
        }
        return ExitCode::SUCCESS;
    }
    let (first, count) = match (args.seed, args.seeds) {
        (Some(seed), _) if args.seeds == 100 && !std::env::args().any(|a| a == "--seeds") => {
            (seed, 1)
        }
        (Some(seed), count) => (seed, count),
        (None, count) => (0, count),
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    quiet_panics();
    let make = |seed| RunOptions {
        trace: args.trace,
        outcome_checks_only: args.outcome_checks_only,
        ..RunOptions::new(seed, args.nodes, args.faults, args.bug)
    };
    let stop_early = args.bug.is_some() && !args.keep_going;
    let summary = run_seeds(first, count, threads, stop_early, &make);
    for report in &summary.failures {
        println!(
            "violation in seed {} ({} steps):",
            report.seed, report.steps
        );
        for violation in &report.violations {
            println!("  {violation}");
        }
        println!("  replay: {}", report.replay);
    }
    println!("{}", summary.line());
    if summary.violations > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
