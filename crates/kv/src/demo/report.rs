//! The demo's closing summary and the checker's verdict, as printed.

use super::probe::CatchUp;
use super::stats::{human, Latencies};
use super::workload::{ClientTally, KEY_COUNT};
use quorate_check::history::History;
use quorate_check::linearizability::Verdict;
use quorate_kv::cli::Table;
use std::time::Duration;

/// The leader kill and the election after it.
#[derive(Clone, Copy, Debug)]
pub struct Failover {
    pub killed: u64,
    pub new_leader: u64,
    /// From the kill until a survivor reported itself leader.
    pub elapsed: Duration,
}

/// Everything the summary table shows.
#[derive(Debug)]
pub struct Summary {
    completed: u64,
    failed: u64,
    indeterminate: u64,
    elapsed: Duration,
    latencies: Latencies,
    failover: Failover,
    catch_up: CatchUp,
    check_time: Duration,
}

impl Summary {
    pub fn new(
        tallies: &[ClientTally],
        elapsed: Duration,
        failover: Failover,
        catch_up: CatchUp,
        check_time: Duration,
    ) -> Summary {
        let mut latencies = Latencies::new();
        for tally in tallies {
            latencies.merge(&tally.latencies);
        }
        Summary {
            completed: tallies.iter().map(|tally| tally.completed).sum(),
            failed: tallies.iter().map(|tally| tally.failed).sum(),
            indeterminate: tallies.iter().map(|tally| tally.indeterminate).sum(),
            elapsed,
            latencies,
            failover,
            catch_up,
            check_time,
        }
    }

    /// Completed operations per second of workload.
    pub fn throughput(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.completed as f64 / seconds
        } else {
            0.0
        }
    }

    /// The table; `checked` is the number of operations in the history.
    pub fn render(&self, checked: usize) -> String {
        let mut table = Table::new(&["", "result"]);
        let mut row = |name: &str, value: String| table.row(vec![name.to_owned(), value]);
        row(
            "operations",
            format!(
                "{} ok, {} refused (not applied), {} outcome unknown",
                self.completed, self.failed, self.indeterminate
            ),
        );
        row("throughput", format!("{:.0} ops/s", self.throughput()));
        for (name, latency) in [
            ("write latency", &self.latencies.write),
            ("read latency", &self.latencies.read),
        ] {
            row(
                name,
                format!(
                    "p50 {}  p99 {}",
                    human(latency.quantile(0.5)),
                    human(latency.quantile(0.99))
                ),
            );
        }
        row(
            "failover",
            format!(
                "{} (node {} killed, node {} elected)",
                human(self.failover.elapsed),
                self.failover.killed,
                self.failover.new_leader
            ),
        );
        row(
            "catch-up",
            format!(
                "node {}: {} entries in {}",
                self.failover.killed,
                self.catch_up
                    .target
                    .saturating_sub(self.catch_up.applied_first),
                human(self.catch_up.elapsed)
            ),
        );
        row(
            "history check",
            format!(
                "{checked} ops on {KEY_COUNT} keys in {}",
                human(self.check_time)
            ),
        );
        table.render()
    }
}

/// Prints `linearizable: yes`, or `NO` with the checker's explanation;
/// returns whether the history was shown linearizable.
pub fn print_verdict(verdict: &Verdict, history: &History) -> bool {
    println!("{}", verdict_text(verdict, history));
    verdict.is_linearizable()
}

fn verdict_text(verdict: &Verdict, history: &History) -> String {
    match verdict {
        Verdict::Linearizable => "linearizable: yes".to_owned(),
        Verdict::NotLinearizable(violation) => {
            let key = violation.key();
            format!(
                "linearizable: NO\nkey {key} (demo/k{key}) of {} recorded ops:\n{violation}",
                history.len()
            )
        }
        Verdict::Unknown(exhausted) => format!(
            "linearizable: unknown (the check of keys {:?} ran out of its {} steps)",
            exhausted.keys, exhausted.steps_per_key_max
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorate_check::history::{ClientId, Op, Output};
    use quorate_check::linearizability::{check, CheckConfig};

    #[test]
    fn a_stale_read_prints_no_with_the_key() {
        let mut history = History::new();
        let put = history.invoke(ClientId(1), Op::Put { key: 2, value: 5 }, 0);
        history.complete(put, Output::Written, 10);
        let get = history.invoke(ClientId(2), Op::Get { key: 2 }, 20);
        history.complete(get, Output::Read(None), 30);
        let verdict = check(&history, &CheckConfig::default());
        let text = verdict_text(&verdict, &history);
        assert!(
            text.starts_with("linearizable: NO\nkey 2 (demo/k2)"),
            "{text}"
        );
        let mut fine = History::new();
        let put = fine.invoke(ClientId(1), Op::Put { key: 2, value: 5 }, 0);
        fine.complete(put, Output::Written, 10);
        let text = verdict_text(&check(&fine, &CheckConfig::default()), &fine);
        assert_eq!(text, "linearizable: yes");
    }

    #[test]
    fn summary_shows_ops_throughput_and_failover() {
        let mut latencies = Latencies::new();
        latencies.record(false, Duration::from_millis(2));
        latencies.record(true, Duration::from_millis(1));
        let tally = ClientTally {
            completed: 100,
            failed: 2,
            indeterminate: 1,
            latencies,
        };
        let failover = Failover {
            killed: 1,
            new_leader: 3,
            elapsed: Duration::from_millis(250),
        };
        let catch_up = CatchUp {
            target: 90,
            applied_first: 40,
            elapsed: Duration::from_millis(400),
        };
        let summary = Summary::new(
            &[tally],
            Duration::from_secs(2),
            failover,
            catch_up,
            Duration::from_millis(5),
        );
        let text = summary.render(103);
        assert!(text.contains("100 ok, 2 refused (not applied), 1 outcome unknown"));
        assert!(text.contains("50 ops/s"));
        assert!(text.contains("250.0ms (node 1 killed, node 3 elected)"));
        assert!(text.contains("node 1: 50 entries in 400.0ms"));
    }
}
