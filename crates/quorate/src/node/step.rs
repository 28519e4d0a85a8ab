//! Handling one event: inbound messages, client commands and background
//! reports are fed into the groups' cores. Nothing here does I/O; what the
//! cores want done is collected afterwards (see `persist.rs`).

use crate::error::{ProposeError, ReadError, TransferError};
use crate::node::driver::Driver;
use crate::node::events::{ApplyTask, Command, Event, Internal, Waiter};
use crate::node::snapshot;
use crate::node::status;
use crate::transport::Inbound;
use bytes::Bytes;
use quorate_core::{ConfChange, GroupId, Index, Message, MessageBody, NodeId, ReadMode, StepError};
use tokio::sync::oneshot;

impl Driver {
    /// Handles one event; returns the shutdown acknowledgement when asked
    /// to stop.
    pub(crate) fn handle(&mut self, event: Event) -> Option<oneshot::Sender<()>> {
        match event {
            Event::Tick => {}
            Event::Inbound(Inbound::Messages { from, envelopes }) => {
                self.metrics.received.increment(envelopes.len() as u64);
                for envelope in envelopes {
                    self.step_message(from, envelope.group, envelope.message);
                }
            }
            Event::Inbound(Inbound::Snapshot {
                from,
                group,
                message,
                path,
            }) => match self.groups.get(&group) {
                Some(slot) => snapshot::spawn_receive(
                    slot.snapshots.clone(),
                    group,
                    message,
                    path,
                    self.internal_tx.clone(),
                ),
                None => {
                    tracing::debug!(%group, %from, "snapshot for a group not open here; dropped");
                    let _ = std::fs::remove_file(path);
                }
            },
            Event::Command(command) => return self.handle_command(command),
            Event::Durable { seq, submitted_at } => self.on_durable(seq, submitted_at),
            Event::Internal(internal) => self.handle_internal(internal),
        }
        None
    }

    fn step_message(&mut self, from: NodeId, group: GroupId, message: Message) {
        let Some(slot) = self.groups.get_mut(&group) else {
            tracing::trace!(%group, %from, "message for a group not open here; dropped");
            return;
        };
        if message.to != self.node || message.from != from {
            tracing::debug!(%group, %from, "misaddressed message; dropped");
            return;
        }
        if matches!(message.body, MessageBody::InstallSnapshot(_)) {
            // Only the snapshot path (data stored first) may step these.
            tracing::debug!(%group, %from, "snapshot message without data; dropped");
            return;
        }
        if let Err(error) = slot.raw.step(message) {
            self.refused(group, &error);
        }
    }

    /// A peer's message was refused by the core's gateway: it changed
    /// nothing and is dropped. Counted always, logged at most once per peer
    /// per `REFUSAL_WARN_INTERVAL` (a hostile peer must not flood the log).
    fn refused(&mut self, group: GroupId, error: &StepError) {
        let (from, reason) = (error.from(), error.reason());
        let now = tokio::time::Instant::now();
        if let Some(suppressed) = self.metrics.refused.record(from, reason, now) {
            tracing::warn!(%group, %from, reason, %error, suppressed, "refused a peer message");
        }
    }

    fn handle_command(&mut self, command: Command) -> Option<oneshot::Sender<()>> {
        match command {
            Command::AddGroup(slot) => {
                let id = slot.id;
                assert!(
                    self.groups.insert(id, *slot).is_none(),
                    "{id} registered twice"
                );
            }
            Command::Propose { group, commands } => self.propose(group, commands),
            Command::ConfChange {
                group,
                change,
                waiter,
            } => self.propose_conf_change(group, &change, waiter),
            Command::Read { group, mode, reply } => self.read(group, mode, reply),
            Command::Transfer {
                group,
                target,
                reply,
            } => {
                let result = match self.groups.get_mut(&group) {
                    Some(slot) => transfer(slot, target),
                    None => Err(TransferError::UnknownGroup),
                };
                let _ = reply.send(result);
            }
            Command::Campaign { group } => {
                if let Some(slot) = self.groups.get_mut(&group) {
                    slot.raw.campaign();
                }
            }
            Command::Status { group, reply } => {
                let report = self
                    .groups
                    .get(&group)
                    .map(|slot| status::report(slot, &self.config, self.wal.disk_full()));
                let _ = reply.send(report);
            }
            Command::Shutdown { done } => return Some(done),
        }
        None
    }

    fn propose(&mut self, group: GroupId, commands: Vec<(Bytes, Box<dyn Waiter>)>) {
        let Some(slot) = self.groups.get_mut(&group) else {
            for (_, waiter) in commands {
                waiter.fail(ProposeError::UnknownGroup);
            }
            return;
        };
        for (data, waiter) in commands {
            match slot.raw.propose(data) {
                Ok(id) => {
                    tracing::debug!(%group, at = %id, "proposed");
                    slot.metrics.proposals.increment(1);
                    register(slot, id, waiter);
                }
                Err(error) => {
                    slot.metrics.proposals_refused.increment(1);
                    waiter.fail(ProposeError::from_core(error));
                }
            }
        }
    }

    fn propose_conf_change(
        &mut self,
        group: GroupId,
        change: &ConfChange,
        waiter: Box<dyn Waiter>,
    ) {
        let Some(slot) = self.groups.get_mut(&group) else {
            return waiter.fail(ProposeError::UnknownGroup);
        };
        match slot.raw.propose_conf_change(change) {
            Ok(id) => {
                tracing::info!(%group, at = %id, ?change, "membership change proposed");
                register(slot, id, waiter);
            }
            Err(error) => waiter.fail(ProposeError::from_conf_change(error)),
        }
    }

    fn read(
        &mut self,
        group: GroupId,
        mode: ReadMode,
        reply: oneshot::Sender<Result<Index, ReadError>>,
    ) {
        let Some(slot) = self.groups.get_mut(&group) else {
            let _ = reply.send(Err(ReadError::UnknownGroup));
            return;
        };
        self.read_seq += 1;
        match slot.raw.read_index(self.read_seq, mode) {
            Ok(()) => {
                slot.reads.insert(self.read_seq, reply);
            }
            Err(quorate_core::ReadError::QueueFull { limit }) => {
                let _ = reply.send(Err(ReadError::QueueFull { limit }));
            }
            Err(_) => {
                let _ = reply.send(Err(ReadError::NoLeader));
            }
        }
    }

    fn handle_internal(&mut self, internal: Internal) {
        match internal {
            Internal::Taken { group, index, data } => self.on_snapshot_taken(group, index, data),
            Internal::Stored { group, result } => {
                let Some(slot) = self.groups.get_mut(&group) else {
                    return;
                };
                match result {
                    Ok(file) => {
                        tracing::info!(%group, snapshot = %file.meta.last, bytes = file.size_bytes, "snapshot stored; compacting the log");
                        slot.metrics.snapshots_taken.increment(1);
                        slot.compactions.push(file.meta);
                    }
                    Err(error) => {
                        tracing::warn!(%group, %error, "storing a snapshot failed; will retry after more entries")
                    }
                }
                let _ = slot.apply_tx.send(ApplyTask::SnapshotFinished);
            }
            Internal::Received {
                group,
                message,
                result,
            } => {
                let Some(slot) = self.groups.get_mut(&group) else {
                    return;
                };
                match result {
                    Ok(file) => {
                        slot.received.insert(file.meta.last, file);
                        if let Err(error) = slot.raw.step(message) {
                            self.refused(group, &error);
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%group, %error, "storing a received snapshot failed")
                    }
                }
            }
            Internal::Sent {
                group,
                to,
                delivered,
            } => {
                let Some(slot) = self.groups.get_mut(&group) else {
                    return;
                };
                if delivered {
                    slot.metrics.snapshot_sends_ok.increment(1);
                } else {
                    slot.metrics.snapshot_sends_failed.increment(1);
                }
                slot.raw.report_snapshot(to, delivered);
            }
        }
    }

    fn on_snapshot_taken(&mut self, group: GroupId, index: Index, data: crate::SnapshotReader) {
        let Some(slot) = self.groups.get_mut(&group) else {
            return;
        };
        match slot.raw.compact(index) {
            Ok(meta) => snapshot::spawn_store(
                slot.snapshots.clone(),
                group,
                meta,
                data,
                self.internal_tx.clone(),
            ),
            Err(error) => {
                tracing::debug!(%group, %error, "snapshot not needed");
                let _ = slot.apply_tx.send(ApplyTask::SnapshotFinished);
            }
        }
    }
}

/// Files the waiter under its entry's index. A waiter already there
/// belongs to an entry this one overwrote: it will never apply.
fn register(
    slot: &mut crate::node::slot::GroupSlot,
    id: quorate_core::EntryId,
    waiter: Box<dyn Waiter>,
) {
    let previous = slot
        .shared
        .waiters()
        .by_index
        .insert(id.index, (id.term, waiter));
    if let Some((_, previous)) = previous {
        previous.fail(ProposeError::Overwritten { index: id.index });
    }
}

fn transfer(slot: &mut crate::node::slot::GroupSlot, target: NodeId) -> Result<(), TransferError> {
    use quorate_core::TransferError as Core;
    match slot.raw.transfer_leadership(target) {
        Ok(()) | Err(Core::AlreadyLeader) => Ok(()),
        Err(Core::NotLeader { leader }) => Err(TransferError::NotLeader {
            leader_hint: leader,
        }),
        Err(Core::NotVoter { target }) => Err(TransferError::NotVoter { target }),
        Err(_) => Err(TransferError::NotVoter { target }),
    }
}
