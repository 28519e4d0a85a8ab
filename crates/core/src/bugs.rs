//! Deliberate protocol bugs, compiled only with the `planted-bugs` feature
//! and active only when switched on at run time. The simulator plants them
//! to prove that its checkers catch real safety violations.

/// One planted bug.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum PlantedBug {
    /// Count replicas to commit an entry of an earlier term (breaks §5.4.2,
    /// Figure 8).
    CommitPrevTerm,
    /// Grant a second vote in a term already voted in (breaks §5.2).
    DoubleVote,
    /// Send vote replies before the vote is durable (breaks Figure 2's
    /// "persistent state ... before responding").
    NoPersistVote,
    /// Use the full election timeout as the lease, ignoring clock drift
    /// (breaks thesis §6.4.1).
    LeaseNoDrift,
    /// Answer ReadIndex without the heartbeat round that confirms leadership
    /// (breaks thesis §6.4 step 3).
    StaleReadIndex,
}

impl PlantedBug {
    /// Every planted bug, for `--list-bugs`.
    pub const ALL: [PlantedBug; 5] = [
        PlantedBug::CommitPrevTerm,
        PlantedBug::DoubleVote,
        PlantedBug::NoPersistVote,
        PlantedBug::LeaseNoDrift,
        PlantedBug::StaleReadIndex,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::CommitPrevTerm => "commit-prev-term",
            PlantedBug::DoubleVote => "double-vote",
            PlantedBug::NoPersistVote => "no-persist-vote",
            PlantedBug::LeaseNoDrift => "lease-no-drift",
            PlantedBug::StaleReadIndex => "stale-read-index",
        }
    }

    /// What the bug breaks, for `--list-bugs`.
    pub fn description(self) -> &'static str {
        match self {
            PlantedBug::CommitPrevTerm => {
                "commit an earlier term's entry by counting replicas (Figure 8)"
            }
            PlantedBug::DoubleVote => "grant two votes in one term",
            PlantedBug::NoPersistVote => "reply to a vote before persisting it",
            PlantedBug::LeaseNoDrift => "lease reads without the clock-drift bound",
            PlantedBug::StaleReadIndex => "serve ReadIndex without the heartbeat round",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<PlantedBug> {
        PlantedBug::ALL.into_iter().find(|bug| bug.name() == name)
    }
}
