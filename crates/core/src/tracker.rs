//! Leader-side bookkeeping for every follower, and the read rounds that
//! confirm leadership for ReadIndex and leases (thesis §6.4).

use crate::membership::ConfState;
use crate::progress::Progress;
use crate::quorum;
use crate::types::{Index, NodeId};
use std::collections::{BTreeMap, VecDeque};

/// Who asked for a read: this node, or a follower that forwarded it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct ReadAsker {
    pub(crate) request: u64,
    pub(crate) from: NodeId,
    /// The asker's incarnation, echoed in the answer.
    pub(crate) incarnation: u64,
}

/// A read waiting for a heartbeat round to confirm leadership.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PendingRead {
    pub(crate) asker: ReadAsker,
    /// The commit index when the request arrived (thesis §6.4 step 1).
    pub(crate) read_index: Index,
    /// The heartbeat round that must be acknowledged by a quorum.
    pub(crate) round: u64,
}

/// A leadership transfer in progress (thesis §3.10).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Transfer {
    pub(crate) target: NodeId,
    pub(crate) elapsed_ticks: u32,
    pub(crate) timeout_now_sent: bool,
}

/// Everything only a leader has (STYLE: roles own their state).
#[derive(Debug)]
pub(crate) struct LeaderState {
    pub(crate) progress: BTreeMap<NodeId, Progress>,
    pub(crate) transfer: Option<Transfer>,
    /// Bytes proposed in this term and not yet handed to the application.
    pub(crate) uncommitted_bytes: u64,
    /// Index of the newest configuration entry; another change waits until
    /// it is applied.
    pub(crate) pending_conf_index: Index,
    /// The current heartbeat round; each heartbeat broadcast starts a new one.
    pub(crate) read_round: u64,
    /// (round, leader tick it was sent at) for rounds not yet confirmed.
    pub(crate) rounds_sent: VecDeque<(u64, u64)>,
    /// Reads waiting for their round to be confirmed, oldest first.
    pub(crate) reads: VecDeque<PendingRead>,
    /// Reads that arrived before an entry of this term committed.
    /// Each with whether it asked for a lease read.
    pub(crate) reads_before_commit: Vec<(ReadAsker, bool)>,
    /// Leader tick before which lease reads are safe; zero means no lease.
    pub(crate) lease_until_tick: u64,
    /// Set once a transfer starts: a forced election may follow at any time
    /// (TimeoutNow can arrive late), so no lease for the rest of the term.
    pub(crate) lease_revoked: bool,
    /// Ticks since the last heartbeat broadcast.
    pub(crate) heartbeat_elapsed: u32,
}

impl LeaderState {
    pub(crate) fn new(
        conf: &ConfState,
        self_id: NodeId,
        last_index: Index,
        self_match: Index,
        limits: (usize, u64),
    ) -> Self {
        let mut progress = BTreeMap::new();
        for id in conf.members() {
            let mut pr = Progress::new(last_index.next(), limits.0, limits.1);
            if id == self_id {
                pr.match_index = self_match;
                pr.become_replicate();
                pr.next_index = last_index.next();
            }
            progress.insert(id, pr);
        }
        LeaderState {
            progress,
            transfer: None,
            uncommitted_bytes: 0,
            pending_conf_index: last_index,
            read_round: 0,
            rounds_sent: VecDeque::new(),
            reads: VecDeque::new(),
            reads_before_commit: Vec::new(),
            lease_until_tick: 0,
            lease_revoked: false,
            heartbeat_elapsed: 0,
        }
    }

    /// True while lease reads are safe at leader tick `tick`.
    pub(crate) fn lease_valid(&self, tick: u64) -> bool {
        !self.lease_revoked && tick < self.lease_until_tick
    }

    /// The highest index replicated on a quorum of `conf`'s voters.
    pub(crate) fn quorum_match(&self, conf: &ConfState) -> Index {
        let acked = |id: NodeId| {
            self.progress
                .get(&id)
                .map_or(Index::ZERO, |pr| pr.match_index)
        };
        quorum::joint_committed(&conf.voters, &conf.voters_outgoing, acked)
    }

    /// The highest heartbeat round acknowledged by a quorum of voters.
    pub(crate) fn quorum_read_round(&self, conf: &ConfState) -> u64 {
        let acked =
            |id: NodeId| Index::new(self.progress.get(&id).map_or(0, |pr| pr.read_round_acked));
        quorum::joint_committed(&conf.voters, &conf.voters_outgoing, acked).get()
    }

    /// True if a quorum was heard from since the last check (thesis §6.2).
    pub(crate) fn quorum_active(&self, conf: &ConfState) -> bool {
        let votes: BTreeMap<NodeId, bool> = self
            .progress
            .iter()
            .map(|(&id, pr)| (id, pr.recent_active))
            .collect();
        quorum::joint_vote(&conf.voters, &conf.voters_outgoing, &votes) == quorum::VoteResult::Won
    }

    /// Adds progress for new members and drops it for departed ones.
    pub(crate) fn sync_members(
        &mut self,
        conf: &ConfState,
        last_index: Index,
        limits: (usize, u64),
    ) {
        let members = conf.members();
        self.progress.retain(|id, _| members.contains(id));
        for id in members {
            self.progress.entry(id).or_insert_with(|| {
                let mut pr = Progress::new(last_index.next(), limits.0, limits.1);
                pr.recent_active = true;
                pr
            });
        }
    }
}
