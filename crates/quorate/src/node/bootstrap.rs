//! Opening a group on a node: bootstrap a new cluster from its initial
//! members, join an existing one as an empty learner, or recover from the
//! data directory.
//!
//! A new group's log starts after an initial snapshot at index 1 (term 0)
//! carrying the initial configuration, stored as a snapshot file with no
//! state machine data. Starting after index 1 rather than 0 means a node
//! that joins empty can never be sent entries from index 1: the leader
//! must send it a snapshot, which carries the configuration the joiner
//! would otherwise never learn (it is in no log entry).

use super::apply::{restore_into, ApplyWorker};
use super::events::Command;
use super::slot::{GroupShared, GroupSlot};
use super::snapshot::{encode_header, Header};
use super::Node;
use crate::error::GroupError;
use crate::group::Group;
use crate::metrics::GroupMetrics;
use crate::state_machine::StateMachine;
use quorate_core::{
    ConfState, EntryId, GroupId, Index, LogStore, NodeId, RawNode, SnapshotMeta, Term,
};
use quorate_wal::{SnapshotFile, SnapshotStore, Wal, WalBatch};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use tokio::sync::mpsc;
use tracing::Instrument;

/// How to start a group that has no state on this node yet.
enum Init {
    Bootstrap(ConfState),
    Join,
    Existing,
}

impl Node {
    /// Opens `group`, bootstrapping it with `voters` as the initial
    /// configuration if this node has no state for it. Every initial member
    /// calls this with the same `voters`; after a restart the same call
    /// recovers the group (the member list is then ignored).
    pub async fn create_group<SM: StateMachine>(
        &self,
        group: GroupId,
        voters: impl IntoIterator<Item = NodeId>,
        state_machine: SM,
    ) -> Result<Group<SM>, GroupError> {
        let conf = ConfState::with_voters(voters);
        conf.validate()
            .map_err(|source| GroupError::InvalidMembers { group, source })?;
        if conf.voters.is_empty() {
            return Err(GroupError::InvalidMembers {
                group,
                source: quorate_core::ConfChangeError::InsufficientVoters,
            });
        }
        self.open_with(group, Init::Bootstrap(conf), state_machine)
            .await
    }

    /// Opens `group` to join an existing cluster: it starts empty, with no
    /// configuration, never campaigns, and waits for the leader. A member
    /// then calls [`Group::add_learner`] with this node's id and address;
    /// the leader sends a snapshot, then the log, and `add_learner` returns
    /// once this node caught up; [`Group::promote`] makes it a voter. After
    /// a restart the same call recovers the group.
    pub async fn join_group<SM: StateMachine>(
        &self,
        group: GroupId,
        state_machine: SM,
    ) -> Result<Group<SM>, GroupError> {
        self.open_with(group, Init::Join, state_machine).await
    }

    /// Reopens a group found in the data directory (see
    /// [`Node::groups_on_disk`]): the state machine is restored from the
    /// newest snapshot (unless it reports a later applied index itself) and
    /// committed entries are replayed.
    pub async fn open_group<SM: StateMachine>(
        &self,
        group: GroupId,
        state_machine: SM,
    ) -> Result<Group<SM>, GroupError> {
        self.open_with(group, Init::Existing, state_machine).await
    }

    async fn open_with<SM: StateMachine>(
        &self,
        group: GroupId,
        init: Init,
        state_machine: SM,
    ) -> Result<Group<SM>, GroupError> {
        if !super::slot::lock(&self.open).insert(group) {
            return Err(GroupError::AlreadyOpen { group });
        }
        let result = self.open_unregistered(group, init, state_machine).await;
        if result.is_err() {
            super::slot::lock(&self.open).remove(&group);
        }
        result
    }

    async fn open_unregistered<SM: StateMachine>(
        &self,
        group: GroupId,
        init: Init,
        state_machine: SM,
    ) -> Result<Group<SM>, GroupError> {
        let wal = Arc::clone(self.wal());
        let exists = wal.groups().contains(&group);
        match init {
            _ if exists => {}
            Init::Bootstrap(conf) => {
                let node = self.id;
                run_blocking(move || bootstrap(&wal, group, node, conf)).await?;
            }
            Init::Join => tracing::info!(%group, "joining: waiting for the leader"),
            Init::Existing => return Err(GroupError::NotFound { group }),
        }
        let shared = Arc::new(GroupShared::new(
            group,
            self.id,
            Index::ZERO,
            self.config.events_capacity,
        ));
        let sm = Arc::new(RwLock::new(state_machine));
        let applied = self.recover(group, &sm, &shared).await?;
        shared.applied.send_replace(applied);
        self.register(group, sm, shared, applied).await
    }

    /// Brings the state machine up to the log's snapshot; returns its
    /// applied index.
    ///
    /// The newest snapshot file may be newer than the WAL's snapshot record:
    /// a local snapshot is fsynced before its compaction record, and a
    /// received one is stored before the core accepts it. Its data is
    /// committed state, so the record is written first (see
    /// [`record_snapshot`]) and the state machine, the log and the core
    /// agree again before anything is applied.
    async fn recover<SM: StateMachine>(
        &self,
        group: GroupId,
        sm: &Arc<RwLock<SM>>,
        shared: &Arc<GroupShared>,
    ) -> Result<Index, GroupError> {
        let wal = Arc::clone(self.wal());
        let snapshot_index = wal.group_log(group).snapshot_meta().last.index;
        let applied = read_sm(sm).applied_index();
        if applied >= snapshot_index {
            return Ok(applied);
        }
        let store = wal.snapshots(group);
        let newest = run_blocking(move || {
            store
                .newest()
                .map_err(|source| GroupError::Snapshot { group, source })
        })
        .await?;
        let Some((file, data)) = newest.filter(|(f, _)| f.meta.last.index >= snapshot_index) else {
            return Err(GroupError::Gap {
                group,
                applied,
                snapshot: snapshot_index,
            });
        };
        if file.meta.last.index > snapshot_index {
            let (wal, file) = (Arc::clone(&wal), file.clone());
            run_blocking(move || record_snapshot(&wal, group, &file)).await?;
        }
        let index = file.meta.last.index;
        restore_into(sm, shared, self.transport.as_ref(), data, index).map_err(|reason| {
            GroupError::Restore {
                group,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, reason),
            }
        })?;
        tracing::info!(%group, snapshot = %file.meta.last, "state machine restored from snapshot");
        Ok(index)
    }

    /// Builds the core, spawns the apply worker and hands the group to the
    /// driver.
    async fn register<SM: StateMachine>(
        &self,
        group: GroupId,
        sm: Arc<RwLock<SM>>,
        shared: Arc<GroupShared>,
        applied: Index,
    ) -> Result<Group<SM>, GroupError> {
        let wal = self.wal();
        let log = wal.group_log(group);
        let hard_state = wal.hard_state(group);
        let last = log.last_index();
        if applied > last {
            return Err(GroupError::AheadOfLog {
                group,
                applied,
                last,
            });
        }
        let raw = RawNode::new(
            self.config.group_raft_config(group),
            log,
            hard_state,
            applied,
        )
        .map_err(|source| GroupError::Start { group, source })?;
        let (apply_tx, tasks) = mpsc::unbounded_channel();
        let snapshots = wal.snapshots(group);
        let worker = ApplyWorker {
            sm: Arc::clone(&sm),
            shared: Arc::clone(&shared),
            tasks,
            internal: self.internal.clone(),
            transport: Arc::clone(&self.transport),
            snapshots: snapshots.clone(),
            policy: self.config.snapshot_policy,
            applied,
            since_snapshot: (0, 0),
            snapshot_pending: false,
        };
        let span = tracing::info_span!("apply", %group, node = %self.id);
        tokio::spawn(worker.run().instrument(span));
        let slot = GroupSlot {
            id: group,
            conf_seen: raw.conf_state().clone(),
            raw,
            shared: Arc::clone(&shared),
            apply_tx: apply_tx.clone(),
            snapshots,
            in_flight: None,
            reads: HashMap::new(),
            received: HashMap::new(),
            compactions: Vec::new(),
            metrics: GroupMetrics::new(group),
        };
        self.commands
            .send(Command::AddGroup(Box::new(slot)))
            .await
            .map_err(|_| GroupError::Shutdown)?;
        tracing::info!(%group, %applied, "group open");
        Ok(Group::new(
            group,
            self.commands.clone(),
            shared,
            sm,
            apply_tx,
            Arc::clone(&self.config),
        ))
    }
}

/// Writes the initial snapshot (file and WAL record) of a new group.
fn bootstrap(wal: &Wal, group: GroupId, node: NodeId, conf: ConfState) -> Result<(), GroupError> {
    let meta = SnapshotMeta {
        last: EntryId::new(Term::ZERO, Index::new(1)),
        conf_state: conf,
    };
    let store: SnapshotStore = wal.snapshots(group);
    let header = encode_header(&Header {
        initial: true,
        addresses: Default::default(),
    });
    let file = store
        .write_bytes(&meta, &header)
        .map_err(|source| GroupError::Snapshot { group, source })?;
    let mut batch = WalBatch::new();
    batch.install_snapshot_file(group, &file);
    wal.write(batch)
        .map_err(|source| GroupError::Wal { group, source })?;
    tracing::info!(%group, %node, voters = ?meta.conf_state.voters, "group bootstrapped");
    Ok(())
}

/// Makes a snapshot file newer than the WAL's snapshot record the log's
/// start. If the log holds the snapshot's last entry, entries after it are
/// kept (a compaction); otherwise the log conflicts with committed state
/// from that index on (log matching, §5.3) and is reset after the snapshot.
fn record_snapshot(wal: &Wal, group: GroupId, file: &SnapshotFile) -> Result<(), GroupError> {
    let last = file.meta.last;
    let mut batch = WalBatch::new();
    if wal.group_log(group).term(last.index).ok() == Some(last.term) {
        batch.compact(group, file.meta.clone());
    } else {
        batch.install_snapshot_file(group, file);
    }
    wal.write(batch)
        .map_err(|source| GroupError::Wal { group, source })?;
    tracing::info!(%group, snapshot = %last, "recorded a snapshot file newer than the log's snapshot");
    Ok(())
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, GroupError> + Send + 'static,
) -> Result<T, GroupError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| GroupError::Shutdown)?
}

fn read_sm<SM>(sm: &RwLock<SM>) -> std::sync::RwLockReadGuard<'_, SM> {
    sm.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}
