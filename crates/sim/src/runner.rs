//! Runs many seeds across worker threads and summarizes them. Each seed is
//! independent and deterministic, so the summary does not depend on how
//! seeds were spread over threads.

use crate::options::RunOptions;
use crate::run::{run_seed, SeedReport};
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

/// The totals the summary line prints.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    pub seeds: u64,
    pub steps: u64,
    pub ops: u64,
    /// Messages refused by the nodes' gateway, over all seeds.
    pub refused: u64,
    /// The longest leaderless stretch after healing, in ticks, over seeds.
    pub max_leaderless_ticks: u64,
    /// The largest term growth in one partial partition, over seeds.
    pub max_term_growth_partial: u64,
    /// Terms with more than one candidate, summed over seeds.
    pub split_terms: u64,
    pub violations: u64,
    /// Reports of the seeds that failed, in seed order.
    pub failures: Vec<SeedReport>,
}

impl Summary {
    fn add(&mut self, report: &SeedReport) {
        self.seeds += 1;
        self.steps += report.steps;
        self.ops += report.ops;
        self.refused += report.refused;
        let figures = &report.liveness;
        self.max_leaderless_ticks = self.max_leaderless_ticks.max(figures.leaderless_ticks);
        self.max_term_growth_partial = self
            .max_term_growth_partial
            .max(figures.term_growth_partial);
        self.split_terms += figures.split_terms;
        self.violations += report.violations.len() as u64;
    }

    /// The line every run ends with.
    pub fn line(&self) -> String {
        format!(
            "seeds={} steps={} ops={} refused={} max_leaderless_ticks={} max_term_growth_partial={} split_terms={} violations={}",
            self.seeds,
            self.steps,
            self.ops,
            self.refused,
            self.max_leaderless_ticks,
            self.max_term_growth_partial,
            self.split_terms,
            self.violations
        )
    }
}

/// Runs one seed, turning a panic (a protocol assertion, or a node
/// falling over on a hostile message) into a violation: an outcome.
pub fn run_guarded(options: RunOptions) -> SeedReport {
    let seed = options.seed;
    let replay = options.replay_command();
    match panic::catch_unwind(AssertUnwindSafe(|| run_seed(options))) {
        Ok(report) => report,
        Err(payload) => {
            let text = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".to_string());
            SeedReport {
                seed,
                violations: vec![format!("panic inside a node: {text}")],
                replay,
                ..Default::default()
            }
        }
    }
}

/// Runs `count` seeds from `first`, built by `make`, on `threads` threads.
/// With `stop_early`, stops handing out seeds after the first failure.
pub fn run_seeds(
    first: u64,
    count: u64,
    threads: usize,
    stop_early: bool,
    make: &(dyn Fn(u64) -> RunOptions + Sync),
) -> Summary {
    let next = AtomicU64::new(first);
    let stop = AtomicBool::new(false);
    let summary = Mutex::new(Summary::default());
    let end = first.saturating_add(count);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= end {
                    return;
                }
                let report = run_guarded(make(seed));
                let failed = !report.violations.is_empty();
                let mut total = summary.lock().expect("summary lock");
                total.add(&report);
                if failed {
                    total.failures.push(report);
                    if stop_early {
                        stop.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    let mut summary = summary.into_inner().expect("summary lock");
    summary.failures.sort_by_key(|r| r.seed);
    summary
}

/// Silences the default panic printout: a caught assertion is reported with
/// its seed instead.
pub fn quiet_panics() {
    panic::set_hook(Box::new(|_| {}));
}
