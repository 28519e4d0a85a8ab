//! [`Group`]: the application's handle on one Raft group hosted by a node.

use crate::config::NodeConfig;
use crate::error::{ProposeError, ReadError, TransferError, WaitError};
use crate::node::events::{ApplyTask, Command, Waiter};
use crate::node::slot::{GroupShared, LeaderView};
use crate::state_machine::StateMachine;
use crate::status::{GroupEvent, GroupStatus};
use bytes::Bytes;
use quorate_core::{GroupId, Index, NodeId, ReadMode, Role};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// How a read confirms it sees every write committed before it began.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Consistency {
    /// ReadIndex: the leader confirms it still leads with a heartbeat
    /// round (thesis §6.4); followers forward to the leader.
    #[default]
    Linearizable,
    /// The leader's lease when valid (no round trip), a heartbeat round
    /// otherwise (thesis §6.4.1). Relies on bounded clock drift.
    Lease,
    /// Whatever this node has applied: may be arbitrarily old.
    Stale,
}

/// A handle on one group; cheap to clone, usable from any task.
pub struct Group<SM: StateMachine> {
    pub(crate) inner: Arc<Inner<SM>>,
}

impl<SM: StateMachine> Clone for Group<SM> {
    fn clone(&self) -> Self {
        Group {
            inner: Arc::clone(&self.inner),
        }
    }
}

pub(crate) struct Inner<SM> {
    pub id: GroupId,
    pub commands: mpsc::Sender<Command>,
    pub shared: Arc<GroupShared>,
    pub sm: Arc<RwLock<SM>>,
    pub apply_tx: mpsc::UnboundedSender<ApplyTask>,
    pub config: Arc<NodeConfig>,
}

impl<SM: StateMachine> Group<SM> {
    pub(crate) fn new(
        id: GroupId,
        commands: mpsc::Sender<Command>,
        shared: Arc<GroupShared>,
        sm: Arc<RwLock<SM>>,
        apply_tx: mpsc::UnboundedSender<ApplyTask>,
        config: Arc<NodeConfig>,
    ) -> Self {
        let inner = Inner {
            id,
            commands,
            shared,
            sm,
            apply_tx,
            config,
        };
        Group {
            inner: Arc::new(inner),
        }
    }

    pub fn id(&self) -> GroupId {
        self.inner.id
    }

    /// This node's id.
    pub fn node_id(&self) -> NodeId {
        self.inner.shared.node
    }

    /// Replicates `command` and resolves with the state machine's response
    /// once it applied here. Only the leader accepts proposals.
    pub async fn propose(&self, command: impl AsRef<[u8]>) -> Result<SM::Response, ProposeError> {
        let data = crate::node::encode_command(command.as_ref());
        self.propose_framed::<SM::Response>(data).await
    }

    /// Proposes several commands in one driver step; each resolves alone.
    pub async fn propose_many<C: AsRef<[u8]>>(
        &self,
        commands: impl IntoIterator<Item = C>,
    ) -> Vec<Result<SM::Response, ProposeError>> {
        let mut receivers = Vec::new();
        let mut batch: Vec<(Bytes, Box<dyn Waiter>)> = Vec::new();
        for command in commands {
            let (tx, rx) = oneshot::channel::<Result<SM::Response, ProposeError>>();
            batch.push((crate::node::encode_command(command.as_ref()), Box::new(tx)));
            receivers.push(rx);
        }
        let count = receivers.len();
        let command = Command::Propose {
            group: self.inner.id,
            commands: batch,
        };
        if let Err(error) = self.submit(command) {
            return (0..count).map(|_| Err(error.clone())).collect();
        }
        let deadline = Instant::now() + self.inner.config.request_timeout;
        let mut results = Vec::with_capacity(count);
        for rx in receivers {
            results.push(outcome(tokio::time::timeout_at(deadline, rx).await));
        }
        results
    }

    /// Proposes an already framed entry whose waiter expects `R`.
    pub(crate) async fn propose_framed<R: Send + 'static>(
        &self,
        data: Bytes,
    ) -> Result<R, ProposeError> {
        let (tx, rx) = oneshot::channel::<Result<R, ProposeError>>();
        self.submit(Command::Propose {
            group: self.inner.id,
            commands: vec![(data, Box::new(tx))],
        })?;
        outcome(tokio::time::timeout(self.inner.config.request_timeout, rx).await)
    }

    /// Hands a command to the driver without waiting: a full queue is
    /// refused at once.
    pub(crate) fn submit(&self, command: Command) -> Result<(), ProposeError> {
        self.inner
            .commands
            .try_send(command)
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => ProposeError::QueueFull {
                    limit: self.inner.config.command_queue_max,
                },
                mpsc::error::TrySendError::Closed(_) => ProposeError::Shutdown,
            })
    }

    /// Runs `f` on the state machine once it reflects every write
    /// committed before this call (per `consistency`).
    pub async fn read<R>(
        &self,
        consistency: Consistency,
        f: impl FnOnce(&SM) -> R,
    ) -> Result<R, ReadError> {
        self.read_index(consistency).await?;
        let sm = self
            .inner
            .sm
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        Ok(f(&sm))
    }

    /// The index this node has applied through and at which reads per
    /// `consistency` are safe, for state machines read without [`Group::read`].
    pub async fn read_index(&self, consistency: Consistency) -> Result<Index, ReadError> {
        let mode = match consistency {
            Consistency::Stale => return Ok(self.applied_index()),
            Consistency::Linearizable => ReadMode::Quorum,
            Consistency::Lease => ReadMode::Lease,
        };
        let deadline = Instant::now() + self.inner.config.request_timeout;
        let (reply, rx) = oneshot::channel();
        let command = Command::Read {
            group: self.inner.id,
            mode,
            reply,
        };
        self.inner
            .commands
            .try_send(command)
            .map_err(|error| match error {
                mpsc::error::TrySendError::Full(_) => ReadError::QueueFull {
                    limit: self.inner.config.command_queue_max,
                },
                mpsc::error::TrySendError::Closed(_) => ReadError::Shutdown,
            })?;
        let index = match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => return Err(ReadError::Shutdown),
            Err(_) => return Err(ReadError::Timeout),
        };
        self.wait_applied_until(index, deadline)
            .await
            .map_err(|error| match error {
                WaitError::Timeout => ReadError::Timeout,
                _ => ReadError::Shutdown,
            })?;
        Ok(index)
    }

    /// The state machine's applied index on this node.
    pub fn applied_index(&self) -> Index {
        *self.inner.shared.applied.borrow()
    }

    /// The leader as last known here.
    pub fn leader(&self) -> Option<NodeId> {
        self.inner.shared.leader.borrow().leader
    }

    /// True while this node leads the group.
    pub fn is_leader(&self) -> bool {
        self.inner.shared.leader.borrow().role == Role::Leader
    }

    /// Waits until the state machine applied `index`.
    pub async fn wait_applied(&self, index: Index, timeout: Duration) -> Result<(), WaitError> {
        self.wait_applied_until(index, Instant::now() + timeout)
            .await
    }

    async fn wait_applied_until(&self, index: Index, deadline: Instant) -> Result<(), WaitError> {
        let mut applied = self.inner.shared.applied.subscribe();
        let waited = tokio::time::timeout_at(deadline, applied.wait_for(|&a| a >= index))
            .await
            .map(|result| result.map(|_| ()));
        match waited {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(WaitError::Shutdown),
            Err(_) => Err(WaitError::Timeout),
        }
    }

    /// Waits until some leader is known; returns it.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<NodeId, WaitError> {
        let view = self
            .wait_leader_view(timeout, |v| v.leader.is_some())
            .await?;
        Ok(view.leader.expect("waited for a leader"))
    }

    pub(crate) async fn wait_leader_view(
        &self,
        timeout: Duration,
        done: impl FnMut(&LeaderView) -> bool,
    ) -> Result<LeaderView, WaitError> {
        let mut view = self.inner.shared.leader.subscribe();
        let waited = tokio::time::timeout(timeout, view.wait_for(done))
            .await
            .map(|result| result.map(|view| *view));
        match waited {
            Ok(Ok(view)) => Ok(view),
            Ok(Err(_)) => Err(WaitError::Shutdown),
            Err(_) => Err(WaitError::Timeout),
        }
    }

    /// Events: leader, role and membership changes, snapshots installed.
    /// A receiver more than `events_capacity` behind loses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<GroupEvent> {
        self.inner.shared.events.subscribe()
    }

    /// A token cancelled when this node stops leading; `None` if it does
    /// not lead now. Tie leader-only background work to it.
    pub fn leadership_token(&self) -> Option<CancellationToken> {
        self.inner.shared.leadership().clone()
    }

    /// This member's view of the group.
    pub async fn status(&self) -> Result<GroupStatus, WaitError> {
        let (reply, rx) = oneshot::channel();
        let command = Command::Status {
            group: self.inner.id,
            reply,
        };
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| WaitError::Shutdown)?;
        match tokio::time::timeout(self.inner.config.request_timeout, rx).await {
            Ok(Ok(Some(status))) => Ok(status),
            Ok(_) => Err(WaitError::Shutdown),
            Err(_) => Err(WaitError::Timeout),
        }
    }

    /// Hands leadership to `target` and waits until it leads.
    pub async fn transfer_leadership(&self, target: NodeId) -> Result<(), TransferError> {
        let (reply, rx) = oneshot::channel();
        let command = Command::Transfer {
            group: self.inner.id,
            target,
            reply,
        };
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| TransferError::Shutdown)?;
        rx.await.map_err(|_| TransferError::Shutdown)??;
        let timeout = self.inner.config.request_timeout;
        match self
            .wait_leader_view(timeout, |v| v.leader == Some(target))
            .await
        {
            Ok(_) => Ok(()),
            Err(WaitError::Timeout) => Err(TransferError::Timeout { target }),
            Err(_) => Err(TransferError::Shutdown),
        }
    }

    /// Starts an election on this node now (tests, operator tooling).
    pub async fn campaign(&self) {
        let command = Command::Campaign {
            group: self.inner.id,
        };
        let _ = self.inner.commands.send(command).await;
    }

    /// Takes a snapshot and compacts the log now, whatever the policy.
    pub fn snapshot_now(&self) {
        let _ = self.inner.apply_tx.send(ApplyTask::SnapshotNow);
    }
}

/// Maps a proposer's wait to its result: a dropped waiter means the node
/// stopped after the command may have been proposed.
fn outcome<R>(
    waited: Result<
        Result<Result<R, ProposeError>, oneshot::error::RecvError>,
        tokio::time::error::Elapsed,
    >,
) -> Result<R, ProposeError> {
    match waited {
        Ok(Ok(result)) => result,
        Ok(Err(_)) => Err(ProposeError::Aborted),
        Err(_) => Err(ProposeError::Timeout),
    }
}
