//! Linearizable reads without log writes: ReadIndex (thesis §6.4) confirmed
//! by a heartbeat round, forwarded from followers, and leader leases
//! (thesis §6.4.1) bounded by a clock-drift allowance.

use crate::bugs::PlantedBug;
use crate::error::ReadError;
use crate::message::{MessageBody, ReadIndexRequest, ReadIndexResponse};
use crate::raft::{Raft, ReadState, RoleState};
use crate::storage::LogStore;
use crate::tracker::{PendingRead, ReadAsker};
use crate::types::{Index, NodeId};

/// How a read confirms that this node still leads.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ReadMode {
    /// A heartbeat round acknowledged by a quorum (ReadIndex).
    #[default]
    Quorum,
    /// The leader lease, when valid; a quorum round otherwise.
    Lease,
}

impl<S: LogStore> Raft<S> {
    /// Starts a read. The answer arrives as a `ReadState` (or the request id
    /// in `dropped_reads` if leadership changed first).
    pub(crate) fn read_index(&mut self, request: u64, mode: ReadMode) -> Result<(), ReadError> {
        if matches!(self.role, RoleState::Leader(_)) {
            let asker = ReadAsker {
                request,
                from: self.id,
                incarnation: self.incarnation,
            };
            return self.leader_read(asker, mode == ReadMode::Lease);
        }
        if self.leader.is_none() {
            return Err(ReadError::NoLeader);
        }
        if self.forwarded_reads.len() >= self.config.read_queue_max {
            return Err(ReadError::QueueFull {
                limit: self.config.read_queue_max,
            });
        }
        self.forwarded_reads.insert(request);
        let (leader, incarnation) = (self.leader, self.incarnation);
        let body = MessageBody::ReadIndexRequest(ReadIndexRequest {
            request,
            incarnation,
        });
        self.send(leader, body);
        Ok(())
    }

    pub(crate) fn handle_read_index_request(&mut self, from: NodeId, req: ReadIndexRequest) {
        let asker = ReadAsker {
            request: req.request,
            from,
            incarnation: req.incarnation,
        };
        let served =
            matches!(self.role, RoleState::Leader(_)) && self.leader_read(asker, false).is_ok();
        if !served {
            self.reject_read(asker);
        }
    }

    pub(crate) fn handle_read_index_response(&mut self, resp: ReadIndexResponse) {
        let ours = resp.incarnation == self.incarnation || self.bug(PlantedBug::ReadIdPerProcess);
        if !ours {
            tracing::debug!(id = %self.id, request = resp.request, "dropping a read answer meant for an earlier incarnation");
            return;
        }
        if !self.forwarded_reads.remove(&resp.request) {
            return;
        }
        match resp.read_index {
            Some(index) => self.read_states.push(ReadState {
                request: resp.request,
                index,
            }),
            None => self.dropped_reads.push(resp.request),
        }
    }

    /// Serves, queues or refuses (queue full) a read on the leader.
    fn leader_read(&mut self, asker: ReadAsker, lease: bool) -> Result<(), ReadError> {
        let commit = self.log.commit_index();
        let committed_in_term = self.log.term(commit).ok() == Some(self.term);
        let single_voter = self.conf.voters.len() == 1 && !self.conf.is_joint();
        let (tick, stale_bug) = (self.ticks_total, self.bug(PlantedBug::StaleReadIndex));
        let (queue_max, check_quorum) = (self.config.read_queue_max, self.config.check_quorum);
        let full = Err(ReadError::QueueFull { limit: queue_max });
        let Some(ls) = self.leader_state_mut() else {
            return Err(ReadError::NoLeader);
        };
        if !committed_in_term {
            // Thesis §6.4 step 1: wait for this term's no-op to commit.
            if ls.reads_before_commit.len() >= queue_max {
                return full;
            }
            ls.reads_before_commit.push((asker, lease));
            return Ok(());
        }
        let lease_valid = lease && check_quorum && ls.lease_valid(tick);
        if single_voter || lease_valid || stale_bug {
            self.answer_read(asker, Some(commit));
            return Ok(());
        }
        if ls.reads.len() >= queue_max {
            return full;
        }
        // Thesis §6.4 step 2-3: a fresh heartbeat round confirms leadership.
        let round = ls.read_round + 1;
        ls.reads.push_back(PendingRead {
            asker,
            read_index: commit,
            round,
        });
        self.broadcast_heartbeat();
        Ok(())
    }

    /// Answers `asker` with `index`, or with a refusal when `None`.
    fn answer_read(&mut self, asker: ReadAsker, index: Option<Index>) {
        if asker.from == self.id {
            match index {
                Some(index) => self.read_states.push(ReadState {
                    request: asker.request,
                    index,
                }),
                None => self.dropped_reads.push(asker.request),
            }
        } else {
            let resp = ReadIndexResponse {
                request: asker.request,
                incarnation: asker.incarnation,
                read_index: index,
            };
            self.send(asker.from, MessageBody::ReadIndexResponse(resp));
        }
    }

    fn reject_read(&mut self, asker: ReadAsker) {
        self.answer_read(asker, None);
    }

    /// Releases reads whose round a quorum acknowledged and extends the
    /// lease from the send time of the newest acknowledged round.
    pub(crate) fn advance_read_rounds(&mut self) {
        let election_ticks = u64::from(self.config.election_ticks);
        let drift = if self.bug(PlantedBug::LeaseNoDrift) {
            0
        } else {
            u64::from(self.config.lease_drift_ticks)
        };
        let RoleState::Leader(ls) = &mut self.role else {
            return;
        };
        let acked = ls.quorum_read_round(&self.conf);
        while let Some(&(round, sent_tick)) = ls.rounds_sent.front() {
            if round > acked {
                break;
            }
            ls.rounds_sent.pop_front();
            if !ls.lease_revoked {
                // Voters refuse elections for election_ticks after hearing
                // from us (their clocks); shrink by the drift bound.
                ls.lease_until_tick = ls.lease_until_tick.max(sent_tick + election_ticks - drift);
            }
        }
        let mut ready = Vec::new();
        while ls.reads.front().is_some_and(|read| read.round <= acked) {
            if let Some(read) = ls.reads.pop_front() {
                ready.push(read);
            }
        }
        for read in ready {
            self.answer_read(read.asker, Some(read.read_index));
        }
    }

    /// Called when the leader's commit index moves: reads that waited for an
    /// entry of this term may proceed.
    pub(crate) fn on_commit_advanced(&mut self) {
        let commit = self.log.commit_index();
        if self.log.term(commit).ok() != Some(self.term) {
            return;
        }
        let Some(ls) = self.leader_state_mut() else {
            return;
        };
        let waiting = std::mem::take(&mut ls.reads_before_commit);
        for (asker, lease) in waiting {
            if self.leader_read(asker, lease).is_err() {
                self.reject_read(asker);
            }
        }
    }

    /// Leadership ended: every read this leader held is answered "dropped".
    pub(crate) fn drop_leader_reads(&mut self) {
        let RoleState::Leader(ls) = &mut self.role else {
            return;
        };
        let mut held: Vec<ReadAsker> = ls.reads.drain(..).map(|read| read.asker).collect();
        held.extend(ls.reads_before_commit.drain(..).map(|(asker, _)| asker));
        for asker in held {
            self.reject_read(asker);
        }
    }

    /// The leader we forwarded reads to is gone: they will not be answered.
    pub(crate) fn drop_forwarded_reads(&mut self) {
        let forwarded = std::mem::take(&mut self.forwarded_reads);
        self.dropped_reads.extend(forwarded);
    }
}
