//! The simulator as part of `cargo test`: hundreds of seeds under every
//! fault family must finish with no violation, and every planted bug must
//! be caught by its outcome alone (`--outcome-checks-only`). Heavier runs
//! (10,000 seeds, 5 and 7 nodes) are the `quorate-sim` binary's job; see
//! README.md.

use quorate_core::PlantedBug;
use quorate_sim::options::{Faults, RunOptions};
use quorate_sim::runner::{run_seeds, Summary};

fn threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn run(first: u64, count: u64, nodes: u64, faults: &str, bug: Option<PlantedBug>) -> Summary {
    let faults = Faults::parse(faults).expect("known faults");
    let make = move |seed| RunOptions {
        // A planted bug must show as a bad outcome, not as a broken rule.
        outcome_checks_only: bug.is_some(),
        ..RunOptions::new(seed, nodes, faults, bug)
    };
    // Stop at the first failing seed: a failure needs only its replay line,
    // and a runaway seed must not hold the suite up.
    run_seeds(first, count, threads(), true, &make)
}

fn assert_clean(summary: &Summary) {
    for report in &summary.failures {
        eprintln!("seed {} failed:", report.seed);
        for violation in &report.violations {
            eprintln!("  {violation}");
        }
        eprintln!("  replay: {}", report.replay);
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
    assert_clean(&summary);
    assert_eq!(summary.seeds, 300);
}

#[test]
fn five_nodes_with_all_faults_have_no_violations() {
    let summary = run(10_000, 100, 5, "all", None);
    assert_clean(&summary);
    assert_eq!(summary.seeds, 100);
}

#[test]
fn each_fault_family_alone_has_no_violations() {
    for (k, faults) in [
        "none",
        "network",
        "crash",
        "network+clock",
        "membership",
        "hostile",
    ]
    .iter()
    .enumerate()
    {
        let summary = run(20_000 + 1_000 * k as u64, 40, 3, faults, None);
        assert_clean(&summary);
        assert_eq!(summary.seeds, 40, "{faults}");
    }
}

#[test]
fn seven_nodes_with_all_faults_have_no_violations() {
    let summary = run(30_000, 30, 7, "all", None);
    assert_clean(&summary);
}

/// Every planted bug is caught within 2,000 seeds with all faults on, by
/// an observed bad outcome (two leaders in a term, divergent applies, a
/// lost write, a stale or non-linearizable read, a panic, no leader after
/// healing): the simulator has teeth even with every rule check off.
#[test]
fn every_planted_bug_is_caught() {
    for bug in PlantedBug::ALL {
        let summary = run(0, 2_000, 3, "all", Some(bug));
        assert!(
            summary.violations > 0,
            "{} was not caught by outcome in 2000 seeds",
            bug.name()
        );
    }
}

/// The outcome-only runs still judge: a clean seed passes them.
#[test]
fn outcome_checks_only_passes_clean_seeds() {
    let faults = Faults::parse("all").expect("known faults");
    let make = move |seed| RunOptions {
        outcome_checks_only: true,
        ..RunOptions::new(seed, 3, faults, None)
    };
    let summary = run_seeds(40_000, 50, threads(), true, &make);
    assert_clean(&summary);
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
