//! What one simulated run does: cluster size, which faults, which planted
//! bug, and the timing constants everything is measured in.

use quorate_core::PlantedBug;

/// Simulated time is in microseconds.
pub const MS: u64 = 1_000;

/// The nominal tick period; each node's real period drifts around it.
pub const TICK_PERIOD_US: u64 = 10 * MS;
pub const ELECTION_TICKS: u32 = 10;
pub const HEARTBEAT_TICKS: u32 = 2;

/// Which fault families are on.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct Faults {
    /// Drops, duplicates, long delays and reordering, partitions.
    pub network: bool,
    /// Crashes and restarts, process pauses, slow disks.
    pub crash: bool,
    /// Nodes tick at different rates within the drift bound.
    pub clock: bool,
    /// Membership changes, leadership transfers.
    pub membership: bool,
    /// Hostile and malformed copies of real messages, and old messages
    /// replayed across restarts.
    pub hostile: bool,
}

impl Faults {
    /// Parses `none | network | crash | clock | membership | hostile | all`
    /// (or a `+`-joined list of families: `network+clock`).
    pub fn parse(text: &str) -> Option<Faults> {
        let mut faults = Faults::default();
        for part in text.split('+') {
            match part {
                "none" => {}
                "network" => faults.network = true,
                "crash" => faults.crash = true,
                "clock" => faults.clock = true,
                "membership" => faults.membership = true,
                "hostile" => faults.hostile = true,
                "all" => {
                    faults = Faults {
                        network: true,
                        crash: true,
                        clock: true,
                        membership: true,
                        hostile: true,
                    };
                }
                _ => return None,
            }
        }
        Some(faults)
    }

    pub fn any(&self) -> bool {
        self.network || self.crash || self.clock || self.membership || self.hostile
    }
}

/// One run's settings.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub seed: u64,
    /// Voters at start; one spare node beyond them joins and leaves.
    pub nodes: u64,
    pub faults: Faults,
    pub bug: Option<PlantedBug>,
    /// How long faults are injected and clients run, before healing.
    pub fault_phase_us: u64,
    /// After healing: how long until a leader and convergence are required.
    pub heal_phase_us: u64,
    /// Print every event (for replaying one seed).
    pub trace: bool,
    /// Judge the run by observed bad outcomes alone (see [`crate::check`]):
    /// checks that restate a protocol rule are off.
    pub outcome_checks_only: bool,
}

impl RunOptions {
    pub fn new(seed: u64, nodes: u64, faults: Faults, bug: Option<PlantedBug>) -> Self {
        RunOptions {
            seed,
            nodes,
            faults,
            bug,
            fault_phase_us: 2_000 * MS,
            heal_phase_us: 3_000 * MS,
            trace: false,
            outcome_checks_only: false,
        }
    }

    /// Clock rates vary within +-this fraction when clock faults are on.
    pub fn drift_fraction(&self) -> f64 {
        if self.faults.clock {
            0.2
        } else {
            0.0
        }
    }

    /// The lease shrink that covers the drift bound: a follower refuses votes
    /// for `E - 1` of its (fast) periods after a heartbeat, so the leader's
    /// `E - drift` (slow) periods must fit inside that.
    pub fn lease_drift_ticks(&self) -> u32 {
        let d = self.drift_fraction();
        let e = f64::from(ELECTION_TICKS);
        let needed = e - (e - 1.0) * (1.0 - d) / (1.0 + d);
        needed.ceil() as u32 + 1
    }

    /// The command that replays this run.
    pub fn replay_command(&self) -> String {
        let faults = faults_name(self.faults);
        let mut cmd = format!(
            "cargo run --release -p quorate-sim -- --seed {} --nodes {} --faults {faults}",
            self.seed, self.nodes
        );
        if let Some(bug) = self.bug {
            cmd.push_str(&format!(" --bug {}", bug.name()));
        }
        if self.outcome_checks_only {
            cmd.push_str(" --outcome-checks-only");
        }
        cmd
    }
}

fn faults_name(faults: Faults) -> String {
    if faults == Faults::parse("all").expect("valid") {
        return "all".to_string();
    }
    let mut parts = Vec::new();
    for (on, name) in [
        (faults.network, "network"),
        (faults.crash, "crash"),
        (faults.clock, "clock"),
        (faults.membership, "membership"),
        (faults.hostile, "hostile"),
    ] {
        if on {
            parts.push(name);
        }
    }
    if parts.is_empty() {
        "none".to_string()
    } else {
        parts.join("+")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_drift_covers_the_clock_bound() {
        let mut options = RunOptions::new(1, 3, Faults::parse("all").unwrap(), None);
        let drift = options.lease_drift_ticks();
        let d = options.drift_fraction();
        let e = f64::from(ELECTION_TICKS);
        assert!((e - f64::from(drift)) * (1.0 + d) <= (e - 1.0) * (1.0 - d));
        options.faults = Faults::default();
        assert!(options.lease_drift_ticks() >= 1);
    }

    #[test]
    fn fault_names_round_trip() {
        for text in [
            "none",
            "network",
            "crash",
            "all",
            "network+clock",
            "hostile",
        ] {
            let faults = Faults::parse(text).unwrap();
            assert_eq!(faults_name(faults), text);
        }
        assert!(Faults::parse("bogus").is_none());
    }

    #[test]
    fn replay_command_names_every_flag() {
        let mut options = RunOptions::new(9, 5, Faults::parse("all").unwrap(), None);
        options.bug = quorate_core::PlantedBug::from_name("double-vote");
        options.outcome_checks_only = true;
        let cmd = options.replay_command();
        assert!(cmd.contains("--seed 9 --nodes 5 --faults all"), "{cmd}");
        assert!(cmd.contains("--bug double-vote"), "{cmd}");
        assert!(cmd.ends_with("--outcome-checks-only"), "{cmd}");
    }
}
