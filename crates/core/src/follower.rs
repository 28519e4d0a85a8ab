//! The follower side of replication: AppendEntries (§5.3), heartbeats and
//! InstallSnapshot (§7).

use crate::membership::SnapshotMeta;
use crate::message::{AppendRequest, AppendResponse, Heartbeat, HeartbeatResponse, MessageBody};
use crate::raft::{Raft, RoleState};
use crate::storage::LogStore;
use crate::types::NodeId;
use tracing::{debug, info};

impl<S: LogStore> Raft<S> {
    /// Any message from the current leader: it is alive, follow it.
    fn heard_from_leader(&mut self, from: NodeId) {
        if !matches!(self.role, RoleState::Follower) {
            // A candidate that meets the leader of its term steps down (§5.2).
            self.become_follower(self.term, from);
        }
        if self.leader != from {
            self.drop_forwarded_reads();
        }
        self.leader = from;
        self.election_elapsed = 0;
    }

    /// At most one leader per term (§5.2). The gateway refuses leader
    /// traffic to a node that leads the same term, and a newer term makes it
    /// a follower first, so only a bug in this code can get here as leader.
    fn assert_not_leader(&self, from: NodeId) {
        assert!(
            !matches!(self.role, RoleState::Leader(_)),
            "two leaders in term {}: {} and {from}",
            self.term,
            self.id
        );
    }

    /// AppendEntries receiver (§5.3, Figure 2).
    pub(crate) fn handle_append(&mut self, from: NodeId, req: AppendRequest) {
        self.assert_not_leader(from);
        self.heard_from_leader(from);
        let commit = self.log.commit_index();
        if req.prev_log.index < commit {
            // Everything through our commit index already matches.
            let resp = AppendResponse::Accepted {
                match_index: commit,
            };
            self.send(from, MessageBody::AppendResponse(resp));
            return;
        }
        match self.log.maybe_append(req.prev_log, &req.entries) {
            Some(last_new) => {
                self.log.commit_to(req.leader_commit.min(last_new));
                let resp = AppendResponse::Accepted {
                    match_index: last_new,
                };
                self.send(from, MessageBody::AppendResponse(resp));
            }
            None => {
                let hint = self
                    .log
                    .find_conflict_by_term(req.prev_log.index, req.prev_log.term);
                debug!(id = %self.id, %from, prev = %req.prev_log, %hint, "rejecting append");
                let resp = AppendResponse::Rejected {
                    rejected: req.prev_log.index,
                    hint,
                };
                self.send(from, MessageBody::AppendResponse(resp));
            }
        }
    }

    /// Heartbeat receiver: the leader sends min(our match, its commit), so
    /// committing it never commits an entry we do not share.
    pub(crate) fn handle_heartbeat(&mut self, from: NodeId, hb: Heartbeat) {
        self.assert_not_leader(from);
        self.heard_from_leader(from);
        self.log
            .commit_to(hb.commit_index.min(self.log.last_index()));
        let resp = HeartbeatResponse {
            read_round: hb.read_round,
        };
        self.send(from, MessageBody::HeartbeatResponse(resp));
    }

    /// InstallSnapshot receiver (§7): replace the log unless it already
    /// holds the snapshot's last entry.
    pub(crate) fn handle_snapshot(&mut self, from: NodeId, meta: SnapshotMeta) {
        self.assert_not_leader(from);
        self.heard_from_leader(from);
        let commit = self.log.commit_index();
        let match_index = if meta.last.index <= commit {
            commit
        } else if self.log.matches(meta.last) {
            self.log.commit_to(meta.last.index);
            meta.last.index
        } else {
            info!(id = %self.id, snapshot = %meta.last, "installing snapshot");
            self.conf = meta.conf_state.clone();
            self.conf_history = vec![(meta.last, meta.conf_state.clone())];
            self.log.restore(meta.clone());
            meta.last.index
        };
        let resp = AppendResponse::Accepted { match_index };
        self.send(from, MessageBody::AppendResponse(resp));
    }
}
