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
    /// On restart, take the configuration from the snapshot alone and
    /// ignore configuration entries after it (breaks thesis §4.1: a member
    /// uses the latest configuration in its log).
    RestartOldMembership,
    /// Grant votes at once after a restart, forgetting the lease promised to
    /// the leader before the crash (breaks thesis §6.4.1).
    VoteRightAfterRestart,
    /// Match forwarded read answers by request id alone, so an answer meant
    /// for an earlier incarnation answers a new read (etcd#20418).
    ReadIdPerProcess,
    /// Skip the gateway that validates every field of a received message.
    TrustPeerFields,
    /// Draw every member's election jitter from one shared sequence, so
    /// members time out in lock step and split the vote (breaks §5.2's
    /// randomized timeouts).
    LockstepJitter,
}

impl PlantedBug {
    /// Every planted bug, for `--list-bugs`.
    pub const ALL: [PlantedBug; 10] = [
        PlantedBug::CommitPrevTerm,
        PlantedBug::DoubleVote,
        PlantedBug::NoPersistVote,
        PlantedBug::LeaseNoDrift,
        PlantedBug::StaleReadIndex,
        PlantedBug::RestartOldMembership,
        PlantedBug::VoteRightAfterRestart,
        PlantedBug::ReadIdPerProcess,
        PlantedBug::TrustPeerFields,
        PlantedBug::LockstepJitter,
    ];

    /// The command-line name.
    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::CommitPrevTerm => "commit-prev-term",
            PlantedBug::DoubleVote => "double-vote",
            PlantedBug::NoPersistVote => "no-persist-vote",
            PlantedBug::LeaseNoDrift => "lease-no-drift",
            PlantedBug::StaleReadIndex => "stale-read-index",
            PlantedBug::RestartOldMembership => "restart-old-membership",
            PlantedBug::VoteRightAfterRestart => "vote-right-after-restart",
            PlantedBug::ReadIdPerProcess => "read-id-per-process",
            PlantedBug::TrustPeerFields => "trust-peer-fields",
            PlantedBug::LockstepJitter => "lockstep-jitter",
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
            PlantedBug::RestartOldMembership => {
                "restart with the snapshot's configuration, ignoring later ones"
            }
            PlantedBug::VoteRightAfterRestart => "grant votes at once after a restart",
            PlantedBug::ReadIdPerProcess => "match forwarded read answers by request id alone",
            PlantedBug::TrustPeerFields => "skip validation of received messages",
            PlantedBug::LockstepJitter => "every member draws the same election jitter",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<PlantedBug> {
        PlantedBug::ALL.into_iter().find(|bug| bug.name() == name)
    }
}
