//! The Raft side of a serving node (transport, driver, apply workers) on
//! its own tokio runtime, apart from the HTTP server's.
//!
//! Heartbeats leave from the driver's tick; if the driver shared worker
//! threads with HTTP handlers, enough client work (big scans, many
//! connections) could delay a tick past the followers' election timeout
//! and make the leader step down. With its own threads, client work can
//! slow clients but not the ticks, steps and WAL hand-offs.

use super::boot::{self, ServeError};
use super::machine::ReplicatedKv;
use crate::config::ServeConfig;
use quorate::transport::TcpTransport;
use quorate::{Group, Node};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

/// Worker threads of the Raft runtime: the driver, and the transport's
/// connections and apply workers beside it.
pub const RAFT_WORKER_THREADS: usize = 2;

/// The runtime the Raft side runs on; shut down in the background when
/// dropped (dropping a runtime may not block inside another one).
pub(crate) struct RaftRuntime {
    runtime: Option<tokio::runtime::Runtime>,
}

/// What runs on the Raft runtime once started.
pub(crate) struct RaftSide {
    pub transport: Arc<TcpTransport>,
    pub node: Node,
    pub group: Group<ReplicatedKv>,
}

impl RaftRuntime {
    pub(crate) fn new() -> Result<RaftRuntime, ServeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(RAFT_WORKER_THREADS)
            .thread_name("quorate-raft")
            .enable_all()
            .build()
            .map_err(ServeError::Runtime)?;
        Ok(RaftRuntime {
            runtime: Some(runtime),
        })
    }

    /// Runs `future` on the Raft runtime, so every task it spawns lives
    /// there, and waits for it from the caller's runtime.
    pub(crate) async fn run<F>(&self, future: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let runtime = self.runtime.as_ref().expect("runtime lives until drop");
        match runtime.spawn(future).await {
            Ok(output) => output,
            Err(error) => std::panic::resume_unwind(error.into_panic()),
        }
    }

    /// Binds the transport, starts the node and opens the group.
    pub(crate) async fn start(
        &self,
        config: &ServeConfig,
        cluster_id: u64,
        peers: &BTreeMap<u64, SocketAddr>,
    ) -> Result<RaftSide, ServeError> {
        let (config, peers) = (config.clone(), peers.clone());
        self.run(async move {
            let (transport, inbound) = boot::start_transport(&config, cluster_id, &peers).await?;
            let node_config = boot::node_config(&config, cluster_id, &peers);
            let node = match Node::start(node_config, transport.clone(), inbound).await {
                Ok(node) => node,
                Err(error) => {
                    transport.shutdown().await;
                    return Err(error.into());
                }
            };
            match boot::open_group(&node, &config).await {
                Ok(group) => Ok(RaftSide {
                    transport,
                    node,
                    group,
                }),
                Err(error) => {
                    node.shutdown().await;
                    transport.shutdown().await;
                    Err(error)
                }
            }
        })
        .await
    }

    /// Stops the node (pending writes end "outcome unknown"), then the
    /// transport.
    pub(crate) async fn stop(&self, node: Node, transport: Arc<TcpTransport>) {
        self.run(async move {
            node.shutdown().await;
            transport.shutdown().await;
        })
        .await;
    }
}

impl Drop for RaftRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
