//! Handing committed entries to the application, applying configuration
//! entries as they commit, and preparing log compaction.

use crate::bugs::PlantedBug;
use crate::confchange;
use crate::error::{CompactError, StorageError};
use crate::membership::{ConfChange, SnapshotMeta};
use crate::message::MessageBody;
use crate::raft::{Raft, RoleState};
use crate::storage::LogStore;
use crate::types::{Entry, EntryId, EntryKind, Index, NodeId};
use tracing::{info, warn};

/// Bytes of log read per batch while restoring the configuration at start.
const RESTORE_READ_BYTES_MAX: u64 = 4 << 20;

impl<S: LogStore> Raft<S> {
    /// Takes the next batch of committed, durable entries for the
    /// application, applying configuration changes among them.
    pub(crate) fn take_committed_entries(&mut self) -> Vec<Entry> {
        let entries = self.log.next_committed_entries(self.config.apply_bytes_max);
        let Some(last) = entries.last().map(|entry| entry.index) else {
            return entries;
        };
        let mut applied_bytes = 0;
        for entry in &entries {
            applied_bytes += entry.size_bytes();
            if entry.kind == EntryKind::ConfChange {
                self.apply_conf_entry(entry);
            }
        }
        if let Some(ls) = self.leader_state_mut() {
            ls.uncommitted_bytes = ls.uncommitted_bytes.saturating_sub(applied_bytes);
        }
        self.log.applied_to(last);
        self.maybe_auto_leave();
        entries
    }

    /// The index of the last configuration entry `conf` reflects.
    fn conf_index(&self) -> Index {
        self.conf_history
            .last()
            .map_or(Index::ZERO, |(id, _)| id.index)
    }

    fn apply_conf_entry(&mut self, entry: &Entry) {
        if entry.index <= self.conf_index() {
            // Already in force: taken from the log when this member started.
            return;
        }
        let change = match ConfChange::decode(&entry.data) {
            Ok(change) => change,
            Err(err) => {
                warn!(index = %entry.index, %err, "undecodable configuration entry; skipped on every member");
                return;
            }
        };
        match confchange::apply(&self.conf, &change) {
            Ok(next) => {
                info!(id = %self.id, index = %entry.index, conf = ?next, "configuration applied");
                self.conf = next;
                self.conf_history.push((entry.id(), self.conf.clone()));
                self.on_conf_changed();
            }
            Err(err) => {
                warn!(index = %entry.index, %err, "configuration entry refused; skipped on every member")
            }
        }
    }

    fn on_conf_changed(&mut self) {
        let (conf, last) = (self.conf.clone(), self.log.last_index());
        let limits = (
            self.config.inflight_msgs_max,
            self.config.inflight_bytes_max,
        );
        let id = self.id;
        let Some(ls) = self.leader_state_mut() else {
            return;
        };
        ls.sync_members(&conf, last, limits);
        if !conf.is_voter(id) {
            // Thesis §4.2.2: a removed leader steps down once C_new commits;
            // hand over to the most caught-up voter to skip a timeout.
            let successor = ls
                .progress
                .iter()
                .filter(|(id, pr)| conf.voters.contains(id) && pr.match_index == last)
                .map(|(&id, _)| id)
                .next();
            if let Some(successor) = successor {
                self.send(successor, MessageBody::TimeoutNow);
            }
            info!(id = %self.id, "removed from the voters; stepping down");
            self.become_follower(self.term, NodeId::NONE);
            return;
        }
        if self.maybe_commit() {
            self.broadcast_pending = true;
        }
        self.broadcast_pending = true;
    }

    /// At start, brings `conf` up to the last committed configuration entry,
    /// whatever `applied` is. A configuration takes effect when it is
    /// applied (as in etcd); taking only the snapshot's would let a member
    /// whose state machine is ahead of its snapshot record count votes in a
    /// configuration the cluster has left: two leaders in one term. The
    /// commit index is the durable one, raised to `applied` (only committed
    /// entries are ever applied). Entries past it are not taken: a member
    /// that used an uncommitted configuration entry while the others still
    /// use the applied one could be elected by a majority of a configuration
    /// nobody else is in (simulator seed 808). The entries are still handed
    /// to the application when taken; `apply_conf_entry` skips them then.
    pub(crate) fn restore_conf_from_log(&mut self) -> Result<(), StorageError> {
        if self.bug(PlantedBug::RestartOldMembership) {
            return Ok(());
        }
        let commit = self.log.commit_index();
        let mut next = self.log.first_index();
        while next <= commit {
            let batch = self
                .log
                .slice(next, commit.next(), RESTORE_READ_BYTES_MAX)?;
            if batch.is_empty() {
                return Err(StorageError::Unavailable { index: next });
            }
            next = next.plus(batch.len() as u64);
            for entry in batch.iter().filter(|e| e.kind == EntryKind::ConfChange) {
                self.apply_conf_entry(entry);
            }
        }
        Ok(())
    }

    /// The leader leaves an auto-leave joint configuration once it applies.
    fn maybe_auto_leave(&mut self) {
        let applied = self.log.applied_index();
        let joint_auto = self.conf.is_joint() && self.conf.auto_leave;
        let Some(ls) = self.leader_state() else {
            return;
        };
        if !joint_auto || ls.pending_conf_index > applied {
            return;
        }
        let id =
            self.append_leader_entry(EntryKind::ConfChange, ConfChange::leave_joint().encode());
        if let Some(ls) = self.leader_state_mut() {
            ls.pending_conf_index = id.index;
        }
        info!(id = %self.id, at = %id.index, "leaving joint configuration");
    }

    /// Proposes a membership change (thesis §4.1: one at a time).
    pub(crate) fn propose_conf_change(
        &mut self,
        change: &ConfChange,
    ) -> Result<EntryId, crate::ConfChangeError> {
        let applied = self.log.applied_index();
        let pending = match &self.role {
            RoleState::Leader(ls) => ls.pending_conf_index,
            _ => Index::ZERO,
        };
        if matches!(self.role, RoleState::Leader(_)) && pending > applied {
            return Err(crate::ConfChangeError::MembershipChangeInProgress { pending });
        }
        if matches!(self.role, RoleState::Leader(_)) {
            confchange::apply(&self.conf, change)?;
        }
        let id = self.propose(EntryKind::ConfChange, change.encode())?;
        if let Some(ls) = self.leader_state_mut() {
            ls.pending_conf_index = id.index;
        }
        Ok(id)
    }

    /// Metadata for a snapshot of the application's state at `index`; the
    /// runtime stores it with the snapshot, then drops entries through
    /// `index` from its `LogStore`.
    pub(crate) fn compaction_meta(&mut self, index: Index) -> Result<SnapshotMeta, CompactError> {
        let applied = self.log.applied_index();
        if index > applied {
            return Err(CompactError::NotApplied { index, applied });
        }
        let first = self.log.first_index();
        if index < first {
            return Err(CompactError::AlreadyCompacted { index, first });
        }
        let term = self
            .log
            .term(index)
            .map_err(|_| CompactError::AlreadyCompacted { index, first })?;
        let position = self
            .conf_history
            .partition_point(|(at, _)| at.index <= index);
        let conf_state = self.conf_history[position.saturating_sub(1)].1.clone();
        // Keep the configuration in force at `index` and every later one.
        self.conf_history.drain(..position.saturating_sub(1));
        Ok(SnapshotMeta {
            last: EntryId::new(term, index),
            conf_state,
        })
    }
}
