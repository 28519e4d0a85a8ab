//! The leader: replication with per-follower progress (§5.3), the commit
//! rule (§5.4.2), heartbeats, check-quorum (thesis §6.2) and leadership
//! transfer (thesis §3.10).

use crate::bugs::PlantedBug;
use crate::error::{ProposeError, StorageError, TransferError};
use crate::message::{
    AppendRequest, AppendResponse, Heartbeat, HeartbeatResponse, InstallSnapshot, MessageBody,
};
use crate::progress::ProgressState;
use crate::raft::{Raft, RoleState};
use crate::storage::LogStore;
use crate::tracker::Transfer;
use crate::types::{Entry, EntryId, EntryKind, Index, NodeId, Term};
use bytes::Bytes;
use tracing::{debug, info, warn};

impl<S: LogStore> Raft<S> {
    pub(crate) fn tick_leader(&mut self) {
        self.election_elapsed += 1;
        let (heartbeat_ticks, election_ticks) =
            (self.config.heartbeat_ticks, self.config.election_ticks);
        let Some(ls) = self.leader_state_mut() else {
            return;
        };
        ls.heartbeat_elapsed += 1;
        let heartbeat_due = ls.heartbeat_elapsed >= heartbeat_ticks;
        if let Some(transfer) = &mut ls.transfer {
            transfer.elapsed_ticks += 1;
            if transfer.elapsed_ticks >= election_ticks {
                info!(target_node = %transfer.target, "leadership transfer timed out; aborting");
                ls.transfer = None;
            }
        }
        if heartbeat_due {
            self.broadcast_heartbeat();
        }
        if self.election_elapsed >= election_ticks {
            self.election_elapsed = 0;
            self.check_quorum();
        }
    }

    /// Thesis §6.2: a leader that has not heard from a quorum within an
    /// election timeout steps down, so a partitioned leader stops serving.
    fn check_quorum(&mut self) {
        if !self.config.check_quorum {
            return;
        }
        let id = self.id;
        let RoleState::Leader(ls) = &mut self.role else {
            return;
        };
        if let Some(pr) = ls.progress.get_mut(&id) {
            pr.recent_active = true;
        }
        let active = ls.quorum_active(&self.conf);
        for (&peer, pr) in ls.progress.iter_mut() {
            pr.recent_active = peer == id;
        }
        if !active {
            warn!(%id, term = %self.term, "lost contact with a quorum; stepping down");
            self.become_follower(self.term, NodeId::NONE);
        }
    }

    /// Checks a proposal and appends it; returns where it landed.
    pub(crate) fn propose(
        &mut self,
        kind: EntryKind,
        data: Bytes,
    ) -> Result<EntryId, ProposeError> {
        let leader = (!self.leader.is_none()).then_some(self.leader);
        let Some(ls) = self.leader_state() else {
            return Err(ProposeError::NotLeader { leader });
        };
        if let Some(transfer) = ls.transfer {
            return Err(ProposeError::TransferInProgress {
                target: transfer.target,
            });
        }
        let size = data.len() as u64 + crate::types::ENTRY_OVERHEAD_BYTES;
        if size > self.config.proposal_bytes_max {
            return Err(ProposeError::TooLarge {
                size,
                limit: self.config.proposal_bytes_max,
            });
        }
        let limit = self.config.uncommitted_bytes_max;
        if ls.uncommitted_bytes > 0 && ls.uncommitted_bytes + size > limit {
            return Err(ProposeError::Backpressure {
                pending: ls.uncommitted_bytes,
                limit,
            });
        }
        Ok(self.append_leader_entry(kind, data))
    }

    /// Appends one entry of the current term to the leader's log.
    pub(crate) fn append_leader_entry(&mut self, kind: EntryKind, data: Bytes) -> EntryId {
        let id = EntryId::new(self.term, self.log.last_index().next());
        let entry = Entry {
            term: id.term,
            index: id.index,
            kind,
            data,
        };
        let size = entry.size_bytes();
        self.log.append(std::slice::from_ref(&entry));
        if let Some(ls) = self.leader_state_mut() {
            ls.uncommitted_bytes += size;
        }
        self.broadcast_pending = true;
        id
    }

    /// Sends what each follower is missing (and the new commit index).
    pub(crate) fn broadcast_append(&mut self) {
        self.broadcast_pending = false;
        let peers: Vec<NodeId> = match self.leader_state() {
            Some(ls) => ls
                .progress
                .keys()
                .copied()
                .filter(|&id| id != self.id)
                .collect(),
            None => return,
        };
        for id in peers {
            self.send_append(id);
        }
    }

    /// Sends entries (or a snapshot) to `to` while its window allows.
    pub(crate) fn send_append(&mut self, to: NodeId) {
        for _ in 0..self.config.inflight_msgs_max {
            if !self.send_one_append(to) {
                break;
            }
        }
    }

    /// Sends one message to `to`; returns true if another could follow.
    fn send_one_append(&mut self, to: NodeId) -> bool {
        let (last, commit) = (self.log.last_index(), self.log.commit_index());
        let Some(pr) = self.leader_state().and_then(|ls| ls.progress.get(&to)) else {
            return false;
        };
        if pr.is_paused() {
            return false;
        }
        let next = pr.next_index;
        let prev_index = next.prev();
        let nothing_new = next > last && pr.commit_sent >= commit.min(prev_index);
        if nothing_new && pr.state == ProgressState::Replicate {
            return false;
        }
        let prev_term = match self.log.term(prev_index) {
            Ok(term) => term,
            Err(StorageError::Compacted { .. }) => return self.send_snapshot(to),
            Err(err) => {
                warn!(%to, %err, "cannot read log to replicate");
                return false;
            }
        };
        let entries = match self.log.entries_from(next, self.config.append_bytes_max) {
            Ok(entries) => entries,
            Err(StorageError::Compacted { .. }) => return self.send_snapshot(to),
            Err(err) => {
                warn!(%to, %err, "cannot read log to replicate");
                return false;
            }
        };
        let count = entries.len() as u64;
        let bytes: u64 = entries.iter().map(Entry::size_bytes).sum();
        let last_sent = prev_index.plus(count);
        let Some(pr) = self.progress_mut(to) else {
            return false;
        };
        pr.sent_entries(last_sent, count, bytes);
        pr.commit_sent = pr.commit_sent.max(commit.min(last_sent));
        let more = pr.state == ProgressState::Replicate && last_sent < last;
        let request = AppendRequest {
            prev_log: EntryId::new(prev_term, prev_index),
            entries,
            leader_commit: commit,
        };
        self.send(to, MessageBody::AppendRequest(request));
        more
    }

    fn send_snapshot(&mut self, to: NodeId) -> bool {
        let meta = self.log.snapshot_meta();
        debug!(id = %self.id, %to, snapshot = %meta.last, "follower needs a snapshot");
        if let Some(pr) = self.progress_mut(to) {
            pr.become_snapshot(meta.last.index);
        }
        self.send(to, MessageBody::InstallSnapshot(InstallSnapshot { meta }));
        false
    }

    pub(crate) fn handle_append_response(&mut self, from: NodeId, resp: AppendResponse) {
        let tick = self.ticks_total;
        let Some(pr) = self.progress_mut(from) else {
            return;
        };
        pr.heard_from(tick);
        match resp {
            AppendResponse::Accepted { match_index } => self.on_append_accepted(from, match_index),
            AppendResponse::Rejected { rejected, hint } => {
                self.on_append_rejected(from, rejected, hint);
            }
        }
    }

    /// `from` refused the append after `rejected`; `hint` is its guess at
    /// the last entry both logs share (fast backtracking). The guess is
    /// advice from a peer, so it is clamped to what the leader can use:
    /// never past `rejected` (the follower refused that entry) and never
    /// past the leader's last index (nothing beyond it can be sent; a
    /// next_index past it would stall replication to `from` for the term).
    fn on_append_rejected(&mut self, from: NodeId, rejected: Index, hint: EntryId) {
        let hint_index = hint.index.min(rejected).min(self.log.last_index());
        let probe = if hint.term > Term::ZERO {
            self.log.find_conflict_by_term(hint_index, hint.term).index
        } else {
            hint_index
        };
        let Some(pr) = self.progress_mut(from) else {
            return;
        };
        if pr.maybe_decr_to(rejected, probe) {
            debug!(%from, %rejected, next = %pr.next_index, "append rejected; probing");
            self.send_append(from);
        }
    }

    fn on_append_accepted(&mut self, from: NodeId, match_index: Index) {
        let last = self.log.last_index();
        let Some(ls) = self.leader_state_mut() else {
            return;
        };
        let Some(pr) = ls.progress.get_mut(&from) else {
            return;
        };
        let updated = pr.maybe_update(match_index.min(last));
        if updated {
            match pr.state {
                ProgressState::Probe => pr.become_replicate(),
                ProgressState::Snapshot { pending } if pr.match_index >= pending => {
                    pr.become_probe();
                    pr.become_replicate();
                }
                _ => {}
            }
        }
        let caught_up = pr.match_index == last;
        let transfer_due = ls
            .transfer
            .is_some_and(|t| t.target == from && !t.timeout_now_sent && caught_up);
        if updated && self.maybe_commit() {
            self.broadcast_pending = true;
        }
        self.send_append(from);
        if transfer_due {
            self.send_timeout_now(from);
        }
    }

    /// Advances the commit index to what a quorum holds, but only through an
    /// entry of the current term (§5.4.2, Figure 8). Returns true if it moved.
    pub(crate) fn maybe_commit(&mut self) -> bool {
        let Some(ls) = self.leader_state() else {
            return false;
        };
        let quorum_index = ls.quorum_match(&self.conf).min(self.log.last_index());
        if quorum_index <= self.log.commit_index() {
            return false;
        }
        let current_term = self.log.term(quorum_index).ok() == Some(self.term);
        if !current_term && !self.bug(PlantedBug::CommitPrevTerm) {
            return false;
        }
        self.log.commit_to(quorum_index);
        self.on_commit_advanced();
        true
    }

    pub(crate) fn broadcast_heartbeat(&mut self) {
        let (id, tick, commit) = (self.id, self.ticks_total, self.log.commit_index());
        let Some(ls) = self.leader_state_mut() else {
            return;
        };
        ls.heartbeat_elapsed = 0;
        ls.read_round += 1;
        let round = ls.read_round;
        ls.rounds_sent.push_back((round, tick));
        let mut beats = Vec::with_capacity(ls.progress.len());
        for (&peer, pr) in ls.progress.iter_mut() {
            if peer == id {
                pr.read_round_acked = round;
                continue;
            }
            beats.push((
                peer,
                Heartbeat {
                    commit_index: pr.match_index.min(commit),
                    read_round: round,
                },
            ));
        }
        for (peer, beat) in beats {
            self.send(peer, MessageBody::Heartbeat(beat));
        }
        self.advance_read_rounds();
    }

    pub(crate) fn handle_heartbeat_response(&mut self, from: NodeId, resp: HeartbeatResponse) {
        let (tick, last) = (self.ticks_total, self.log.last_index());
        let Some(pr) = self.progress_mut(from) else {
            return;
        };
        pr.heard_from(tick);
        pr.probe_sent = false;
        if pr.state == ProgressState::Replicate && pr.inflights.full() {
            pr.inflights.free_first();
        }
        pr.read_round_acked = pr.read_round_acked.max(resp.read_round);
        let behind = pr.match_index < last;
        // Everything is sent but not acknowledged: the appends may be lost,
        // and with nothing new to send none would follow (§5.3: the leader
        // retries until every follower stores every entry).
        let all_in_flight = pr.state == ProgressState::Replicate && pr.next_index > last;
        if behind && all_in_flight {
            self.send_empty_append(from);
        } else if behind {
            self.send_append(from);
        }
        self.advance_read_rounds();
    }

    /// Sends an append with no entries after `to`'s next_index - 1: the
    /// follower confirms it holds everything sent, or rejects it and the
    /// leader probes back from the hint.
    fn send_empty_append(&mut self, to: NodeId) {
        let commit = self.log.commit_index();
        let Some(next) = self
            .leader_state()
            .and_then(|ls| ls.progress.get(&to))
            .map(|pr| pr.next_index)
        else {
            return;
        };
        let prev_index = next.prev();
        let Ok(prev_term) = self.log.term(prev_index) else {
            return;
        };
        if let Some(pr) = self.progress_mut(to) {
            pr.commit_sent = pr.commit_sent.max(commit.min(prev_index));
        }
        let request = AppendRequest {
            prev_log: EntryId::new(prev_term, prev_index),
            entries: Vec::new(),
            leader_commit: commit,
        };
        self.send(to, MessageBody::AppendRequest(request));
    }

    /// Starts a leadership transfer to `target` (thesis §3.10).
    pub(crate) fn transfer_leadership(&mut self, target: NodeId) -> Result<(), TransferError> {
        if !matches!(self.role, RoleState::Leader(_)) {
            let leader = (!self.leader.is_none()).then_some(self.leader);
            return Err(TransferError::NotLeader { leader });
        }
        if target == self.id {
            return Err(TransferError::AlreadyLeader);
        }
        if !self.conf.is_voter(target) {
            return Err(TransferError::NotVoter { target });
        }
        let last = self.log.last_index();
        let Some(ls) = self.leader_state_mut() else {
            unreachable!("checked leader above")
        };
        ls.transfer = Some(Transfer {
            target,
            elapsed_ticks: 0,
            timeout_now_sent: false,
        });
        // The target will win without waiting out our lease: no more lease
        // reads in this term.
        ls.lease_revoked = true;
        let caught_up = ls
            .progress
            .get(&target)
            .is_some_and(|pr| pr.match_index == last);
        info!(id = %self.id, %target, caught_up, "transferring leadership");
        if caught_up {
            self.send_timeout_now(target);
        } else {
            self.send_append(target);
        }
        Ok(())
    }

    fn send_timeout_now(&mut self, target: NodeId) {
        if let Some(transfer) = self.leader_state_mut().and_then(|ls| ls.transfer.as_mut()) {
            transfer.timeout_now_sent = true;
        }
        self.send(target, MessageBody::TimeoutNow);
    }
}
