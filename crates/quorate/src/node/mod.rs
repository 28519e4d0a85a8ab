//! [`Node`]: one per process. Owns the WAL, the transport and the local
//! groups; runs the driver loop that steps them all.

mod apply;
mod bootstrap;
mod driver;
mod entry;
pub(crate) mod events;
mod persist;
pub(crate) mod slot;
mod snapshot;
mod status;
mod step;

use crate::config::NodeConfig;
use crate::error::StartError;
use crate::transport::{Inbound, Transport};
use driver::{Driver, Inputs, INTERNAL_QUEUE_MAX, WAL_BATCHES_IN_FLIGHT_MAX};
use events::{Command, Internal};
use quorate_core::{GroupId, NodeId};
use quorate_wal::{Wal, WalOptions};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tracing::Instrument;

pub(crate) use entry::{encode_address, encode_command};

/// A quorate node: the WAL, the transport and every group hosted here.
///
/// Start it with [`Node::start`], then open groups with
/// [`Node::create_group`] (new cluster, or restart), [`Node::join_group`]
/// (join an existing cluster as a learner) or [`Node::open_group`]
/// (restart only). Stop it with [`Node::shutdown`], which releases the
/// data directory.
pub struct Node {
    id: NodeId,
    config: Arc<NodeConfig>,
    wal: Option<Arc<Wal>>,
    transport: Arc<dyn Transport>,
    commands: mpsc::Sender<Command>,
    internal: mpsc::Sender<Internal>,
    open: Mutex<HashSet<GroupId>>,
    driver: Option<JoinHandle<()>>,
}

impl Node {
    /// Opens the WAL in `config.data_dir` and starts the driver loop.
    /// `inbound` is the receiving end of the channel the transport was
    /// built with. Must run inside a Tokio runtime.
    pub async fn start(
        config: NodeConfig,
        transport: Arc<dyn Transport>,
        inbound: mpsc::Receiver<Inbound>,
    ) -> Result<Node, StartError> {
        config.validate()?;
        let config = Arc::new(config);
        let dir = config.data_dir.join("wal");
        let mut options = WalOptions::new(config.node_id, config.cluster_id);
        options.segment_bytes = config.wal_segment_bytes;
        options.disk_full_retry = Some(config.disk_full_retry);
        // The driver keeps at most this many batches in flight, each within
        // the batch limit, so the WAL's queue never refuses one.
        options.queue_bytes_max = WAL_BATCHES_IN_FLIGHT_MAX as u64 * options.batch_bytes_max();
        let wal = tokio::task::spawn_blocking(move || Wal::open(dir, options))
            .await
            .map_err(|_| StartError::Interrupted)??;
        let wal = Arc::new(wal);
        for (&peer, &addr) in &config.peers {
            if peer != config.node_id {
                transport.set_peer(peer, addr);
            }
        }
        let (commands_tx, commands) = mpsc::channel(config.command_queue_max);
        let (internal_tx, internal) = mpsc::channel(INTERNAL_QUEUE_MAX);
        let (durable_tx, durable) = mpsc::unbounded_channel();
        let driver = Driver::new(
            Arc::clone(&config),
            Arc::clone(&wal),
            Arc::clone(&transport),
            internal_tx.clone(),
            durable_tx,
        );
        let inputs = Inputs {
            commands,
            inbound,
            internal,
            durable,
        };
        let span = tracing::info_span!("driver", node = %config.node_id);
        let handle = tokio::spawn(driver.run(inputs).instrument(span));
        tracing::info!(node = %config.node_id, dir = %config.data_dir.display(), "node started");
        Ok(Node {
            id: config.node_id,
            config,
            wal: Some(wal),
            transport,
            commands: commands_tx,
            internal: internal_tx,
            open: Mutex::new(HashSet::new()),
            driver: Some(handle),
        })
    }

    pub fn id(&self) -> NodeId {
        self.id
    }

    pub fn config(&self) -> &NodeConfig {
        &self.config
    }

    /// Groups with durable state in the data directory: after a restart,
    /// open each with [`Node::open_group`] (or `create_group`) and its
    /// state machine.
    pub fn groups_on_disk(&self) -> Vec<GroupId> {
        self.wal().groups()
    }

    /// True while the disk is full: the node acknowledges nothing and
    /// retries its pending write until space is freed (see
    /// [`NodeConfig::disk_full_retry`]).
    pub fn disk_full(&self) -> bool {
        self.wal.as_ref().is_some_and(|wal| wal.disk_full())
    }

    fn wal(&self) -> &Arc<Wal> {
        self.wal.as_ref().expect("the WAL lives until shutdown")
    }

    /// Stops the driver and every apply worker, waits for submitted WAL
    /// batches, and releases the data directory. Pending proposals end
    /// with an "outcome unknown" error.
    pub async fn shutdown(mut self) {
        let (done, stopped) = oneshot::channel();
        if self.commands.send(Command::Shutdown { done }).await.is_ok() {
            let _ = stopped.await;
        }
        if let Some(driver) = self.driver.take() {
            let _ = driver.await;
        }
        if let Some(wal) = self.wal.take() {
            // Dropping the last handle joins the WAL writer thread.
            let _ = tokio::task::spawn_blocking(move || drop(wal)).await;
        }
        tracing::info!(node = %self.id, "node stopped");
    }
}
