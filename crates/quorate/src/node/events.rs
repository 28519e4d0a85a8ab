//! Everything the driver reacts to, as one closed enum, and the small
//! types that travel with it.

use crate::error::{ProposeError, ReadError, TransferError};
use crate::node::slot::GroupSlot;
use crate::status::GroupStatus;
use crate::transport::Inbound;
use bytes::Bytes;
use quorate_core::{ConfChange, GroupId, Index, Message, NodeId, ReadMode, Term};
use quorate_wal::{SnapshotError, SnapshotFile};
use std::any::Any;
use std::collections::BTreeMap;
use tokio::sync::oneshot;

/// One event of the driver loop. The loop drains whatever is ready from
/// its channels, then handles the batch in one step.
pub(crate) enum Event {
    /// The tick timer fired; the number of ticks is computed from elapsed
    /// monotonic time, not from this event.
    Tick,
    /// Raft traffic from a peer, via the transport.
    Inbound(Inbound),
    /// A client call through a `Group` handle or the `Node`.
    Command(Command),
    /// WAL batch `seq`, submitted at `submitted_at`, is durable.
    Durable {
        seq: u64,
        submitted_at: std::time::Instant,
    },
    /// Progress reported by an apply worker or a background task.
    Internal(Internal),
}

/// Client calls. Each carries its reply channel; none blocks the driver.
pub(crate) enum Command {
    AddGroup(Box<GroupSlot>),
    Propose {
        group: GroupId,
        commands: Vec<(Bytes, Box<dyn Waiter>)>,
    },
    ConfChange {
        group: GroupId,
        change: ConfChange,
        waiter: Box<dyn Waiter>,
    },
    Read {
        group: GroupId,
        mode: ReadMode,
        reply: oneshot::Sender<Result<Index, ReadError>>,
    },
    Transfer {
        group: GroupId,
        target: NodeId,
        reply: oneshot::Sender<Result<(), TransferError>>,
    },
    Campaign {
        group: GroupId,
    },
    Status {
        group: GroupId,
        reply: oneshot::Sender<Option<GroupStatus>>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// Reports from apply workers and background tasks, all about snapshots.
pub(crate) enum Internal {
    /// The apply worker took a state machine snapshot at `index`.
    Taken {
        group: GroupId,
        index: Index,
        data: crate::state_machine::SnapshotReader,
    },
    /// A local snapshot is durable in the snapshot store: compact to it.
    Stored {
        group: GroupId,
        result: Result<SnapshotFile, SnapshotError>,
    },
    /// A snapshot from the leader is in the snapshot store: step its
    /// message now.
    Received {
        group: GroupId,
        message: Message,
        result: Result<SnapshotFile, SnapshotError>,
    },
    /// Streaming a snapshot to `to` finished.
    Sent {
        group: GroupId,
        to: NodeId,
        delivered: bool,
    },
}

/// Work for an apply worker, in log order.
pub(crate) enum ApplyTask {
    Entries(Vec<quorate_core::Entry>),
    /// Replace the state with this durable snapshot.
    Restore(SnapshotFile),
    /// The snapshot the worker offered was stored (or dropped).
    SnapshotFinished,
    /// Snapshot now, whatever the policy says.
    SnapshotNow,
}

/// A proposer waiting for its entry to apply, with the response type
/// erased so the driver can serve groups of any state machine.
pub(crate) trait Waiter: Send {
    fn fail(self: Box<Self>, error: ProposeError);
    /// `response` is the state machine's response (or `()` for entries the
    /// runtime applies itself); a type mismatch is a runtime bug.
    fn succeed(self: Box<Self>, response: Box<dyn Any + Send>);
}

impl<R: Send + 'static> Waiter for oneshot::Sender<Result<R, ProposeError>> {
    fn fail(self: Box<Self>, error: ProposeError) {
        // The caller may have given up (timeout); nobody to tell then.
        let _ = (*self).send(Err(error));
    }

    fn succeed(self: Box<Self>, response: Box<dyn Any + Send>) {
        let response = response
            .downcast::<R>()
            .expect("a waiter's response type matches its entry kind");
        let _ = (*self).send(Ok(*response));
    }
}

/// Proposals waiting for their entry, by index. Shared by the driver
/// (inserts right after proposing, before the entry can commit) and the
/// apply worker (removes as entries apply).
#[derive(Default)]
pub(crate) struct Waiters {
    pub by_index: BTreeMap<Index, (Term, Box<dyn Waiter>)>,
}

impl Waiters {
    /// Resolves every waiter at or below `index` whose entry was skipped
    /// (a snapshot covered it): its fate is unknown here.
    pub fn abort_through(&mut self, index: Index) {
        while let Some(entry) = self.by_index.first_entry() {
            if *entry.key() > index {
                break;
            }
            let (_, waiter) = entry.remove();
            waiter.fail(ProposeError::Aborted);
        }
    }
}
