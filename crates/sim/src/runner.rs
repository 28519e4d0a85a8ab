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
    pub violations: u64,
    /// Reports of the seeds that failed, in seed order.
    pub failures: Vec<SeedReport>,
}

/// Runs one seed, turning a panic (a protocol assertion) into a violation.
pub fn run_guarded(options: RunOptions) -> SeedReport {
    let seed = options.seed;
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
                violations: vec![format!("assertion failed inside a node: {text}")],
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
                total.seeds += 1;
                total.steps += report.steps;
                total.ops += report.ops;
                total.violations += report.violations.len() as u64;
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
