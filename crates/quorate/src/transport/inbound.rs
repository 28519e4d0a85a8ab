//! The listener and the tasks serving accepted connections.
//!
//! A connection's task authenticates the handshake, then turns each batch
//! frame into one `Inbound::Messages` and each snapshot chunk into a step of
//! a [`SnapshotReceiver`]. It never blocks on the node for messages: a full
//! inbound channel drops the batch (counted), because a stalled reader
//! would stall the peer's writer and every group behind it. Any malformed
//! frame closes the connection; the peer redials.

use super::conn::{self, Connection};
use super::metrics::{self, InboundMetrics};
use super::snapshot_recv::SnapshotReceiver;
use super::tcp::Shared;
use super::{Envelope, Inbound};
use crate::wire::{Frame, FrameError};
use futures::StreamExt;
use quorate_core::NodeId;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::error::TrySendError;
use tracing::{debug, info, warn};

/// Accepts connections until shutdown.
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let accepted = tokio::select! {
            () = shared.shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (tcp, remote) = match accepted {
            Ok(pair) => pair,
            Err(error) => {
                // Usually out of file descriptors: pause instead of spinning.
                warn!(%error, "accept failed");
                tokio::select! {
                    () = shared.shutdown.cancelled() => return,
                    () = tokio::time::sleep(shared.config.reconnect_backoff_min) => continue,
                }
            }
        };
        let Ok(slot) = Arc::clone(&shared.inbound_slots).try_acquire_owned() else {
            warn!(%remote, limit = shared.config.inbound_connections_max, "refusing connection: too many inbound connections");
            metrics::counter!(metrics::INBOUND_REFUSED, "reason" => "capacity").increment(1);
            continue;
        };
        let task_shared = Arc::clone(&shared);
        shared.tasks.spawn(async move {
            serve(task_shared, tcp, remote).await;
            drop(slot);
        });
    }
}

async fn serve(shared: Arc<Shared>, tcp: TcpStream, remote: SocketAddr) {
    let accepted = tokio::select! {
        () = shared.shutdown.cancelled() => return,
        accepted = conn::accept(&shared.config, tcp, |node| shared.is_peer(node)) => accepted,
    };
    let connection = match accepted {
        Ok(connection) => connection,
        Err(reason) => {
            warn!(%remote, %reason, "refused inbound connection");
            metrics::counter!(metrics::INBOUND_REFUSED, "reason" => "handshake").increment(1);
            return;
        }
    };
    let peer = connection.peer;
    debug!(%peer, %remote, "inbound connection authenticated");
    let mut receiver = SnapshotReceiver::new(Arc::clone(&shared), peer);
    match read_frames(&shared, connection, &mut receiver).await {
        Ok(()) => debug!(%peer, "inbound connection closed"),
        Err(Closed::Frame(error)) => {
            warn!(%peer, %remote, %error, "closing connection after a bad frame");
            metrics::counter!(metrics::FRAME_ERRORS, "peer" => peer.get().to_string()).increment(1);
        }
        Err(Closed::Protocol(what)) => {
            warn!(%peer, %remote, what, "closing connection after a protocol violation");
        }
        Err(Closed::NodeGone) => info!(%peer, "node stopped taking inbound traffic"),
    }
    receiver.discard().await;
}

/// Why an inbound connection was closed early.
pub(crate) enum Closed {
    Frame(FrameError),
    Protocol(&'static str),
    NodeGone,
}

async fn read_frames(
    shared: &Shared,
    connection: Connection,
    receiver: &mut SnapshotReceiver,
) -> Result<(), Closed> {
    let Connection {
        peer,
        mut reader,
        mut writer,
    } = connection;
    let metrics = InboundMetrics::new(peer);
    let mut counted_bytes = 0u64;
    loop {
        let frame = tokio::select! {
            () = shared.shutdown.cancelled() => return Ok(()),
            frame = reader.next() => frame,
        };
        let decoded_bytes = reader.decoder().decoded_bytes_total();
        metrics.bytes.increment(decoded_bytes - counted_bytes);
        counted_bytes = decoded_bytes;
        match frame {
            None => return Ok(()),
            Some(Err(error)) => return Err(Closed::Frame(error)),
            Some(Ok(Frame::Batch(envelopes))) => deliver(shared, peer, envelopes, &metrics)?,
            Some(Ok(Frame::SnapshotChunk(chunk))) => receiver.on_chunk(chunk, &mut writer).await?,
            Some(Ok(Frame::SnapshotAbort(abort))) => receiver.on_abort(abort).await,
            Some(Ok(Frame::Handshake(_) | Frame::SnapshotAck(_))) => {
                return Err(Closed::Protocol(
                    "unexpected frame kind after the handshake",
                ));
            }
        }
    }
}

/// Hands one batch to the node, or drops it when the node is behind.
fn deliver(
    shared: &Shared,
    from: NodeId,
    envelopes: Vec<Envelope>,
    metrics: &InboundMetrics,
) -> Result<(), Closed> {
    let local = shared.config.node_id;
    // The handshake authenticated `from`; a peer may not speak for others.
    if envelopes
        .iter()
        .any(|e| e.message.from != from || e.message.to != local)
    {
        return Err(Closed::Protocol(
            "message addressed from or to another node",
        ));
    }
    let count = envelopes.len() as u64;
    match shared
        .inbound
        .try_send(Inbound::Messages { from, envelopes })
    {
        Ok(()) => {
            metrics.messages.increment(count);
            Ok(())
        }
        Err(TrySendError::Full(_)) => {
            metrics.dropped.increment(count);
            debug!(peer = %from, count, "inbound channel full; dropping batch");
            Ok(())
        }
        Err(TrySendError::Closed(_)) => Err(Closed::NodeGone),
    }
}
