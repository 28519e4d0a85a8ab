//! The simulator as part of `cargo test`: hundreds of seeds under every
//! fault family must finish with no violation, and every planted bug must
//! be caught. Heavier runs (10,000 seeds, 5 and 7 nodes) are the
//! `quorate-sim` binary's job; see README.md.

use quorate_core::PlantedBug;
use quorate_sim::options::{Faults, RunOptions};
use quorate_sim::runner::{run_seeds, Summary};

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn run(first: u64, count: u64, nodes: u64, faults: &str, bug: Option<PlantedBug>) -> Summary {
    let faults = Faults::parse(faults).expect("known faults");
    let make = move |seed| RunOptions::new(seed, nodes, faults, bug);
    run_seeds(first, count, threads(), bug.is_some(), &make)
}

fn assert_clean(summary: &Summary) {
    for report in &summary.failures {
        eprintln!("seed {} failed:", report.seed);
        for violation in &report.violations {
            eprintln!("  {violation}");
        }
    }
    assert_eq!(
        summary.violations, 0,
        "violations found; replay the seeds above"
    );
    assert!(summary.ops > 0, "the workload ran no operations");
}

#[test]
fn three_nodes_with_all_faults_have_no_violations() {
    let summary = run(0, 300, 3, "all", None);
    assert_eq!(summary.seeds, 300);
    assert_clean(&summary);
}

#[test]
fn five_nodes_with_all_faults_have_no_violations() {
    let summary = run(10_000, 100, 5, "all", None);
    assert_eq!(summary.seeds, 100);
    assert_clean(&summary);
}

#[test]
fn each_fault_family_alone_has_no_violations() {
    for (k, faults) in ["none", "network", "crash", "network+clock", "membership"]
        .iter()
        .enumerate()
    {
        let summary = run(20_000 + 1_000 * k as u64, 40, 3, faults, None);
        assert_eq!(summary.seeds, 40, "{faults}");
        assert_clean(&summary);
    }
}

#[test]
fn seven_nodes_with_all_faults_have_no_violations() {
    let summary = run(30_000, 30, 7, "all", None);
    assert_clean(&summary);
}

/// Every planted bug is caught within 2,000 seeds with all faults on: the
/// checkers have teeth.
#[test]
fn every_planted_bug_is_caught() {
    for bug in PlantedBug::ALL {
        let summary = run(0, 2_000, 3, "all", Some(bug));
        assert!(
            summary.violations > 0,
            "{} was not caught in 2000 seeds",
            bug.name()
        );
    }
}

#[test]
fn a_seed_replays_exactly() {
    let faults = Faults::parse("all").expect("known faults");
    let first = quorate_sim::run::run_seed(RunOptions::new(77, 3, faults, None));
    let again = quorate_sim::run::run_seed(RunOptions::new(77, 3, faults, None));
    assert_eq!(first.steps, again.steps);
    assert_eq!(first.ops, again.ops);
    assert_eq!(first.violations, again.violations);
}
