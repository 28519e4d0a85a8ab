//! One task per peer node: dial, then drain the peer's queue into batch
//! frames until the connection breaks, then redial with backoff.
//!
//! All groups share the connection, so the heartbeats that many groups send
//! to one peer in the same tick leave in one frame. Writes are pipelined:
//! the task never waits for a reply, only for the socket to take the bytes.

use super::conn::{self, Connection, FrameWriter};
use super::metrics::{self, OutboundMetrics};
use super::tcp::Shared;
use super::Envelope;
use crate::wire::{FrameError, WireEnvelope, WireFrame, WireFrameKind};
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use quorate_core::NodeId;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::timeout;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// The transport's view of a peer task.
pub(crate) struct PeerHandle {
    pub addr: SocketAddr,
    /// Bounded by `peer_queue_msgs_max`; `send` drops and counts when full.
    pub queue: mpsc::Sender<Envelope>,
    /// Stops the task (peer removed, address changed, or shutdown).
    pub cancel: CancellationToken,
    pub queue_full: metrics::Counter,
}

/// Starts the task for `peer` at `addr`.
pub(crate) fn spawn(shared: &Arc<Shared>, peer: NodeId, addr: SocketAddr) -> PeerHandle {
    let (queue, rx) = mpsc::channel(shared.config.peer_queue_msgs_max);
    let cancel = shared.shutdown.child_token();
    let task = PeerTask {
        shared: Arc::clone(shared),
        peer,
        addr,
        queue: rx,
        cancel: cancel.clone(),
        metrics: OutboundMetrics::new(peer),
        pending: Vec::with_capacity(shared.config.batch_msgs_max),
    };
    shared.tasks.spawn(task.run());
    PeerHandle {
        addr,
        queue,
        cancel,
        queue_full: metrics::counter!(
            metrics::MESSAGES_DROPPED,
            "peer" => peer.get().to_string(),
            "reason" => "queue_full"
        ),
    }
}

struct PeerTask {
    shared: Arc<Shared>,
    peer: NodeId,
    addr: SocketAddr,
    queue: mpsc::Receiver<Envelope>,
    cancel: CancellationToken,
    metrics: OutboundMetrics,
    /// Envelopes taken from the queue for the next write; reused.
    pending: Vec<Envelope>,
}

/// Why a connection's send loop ended.
enum Ended {
    Cancelled,
    PeerClosed,
    Failed(FrameError),
    WriteTimeout,
}

impl PeerTask {
    async fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let mut backoff = config.reconnect_backoff_min;
        // The last refused handshake warned about, so a peer that keeps
        // refusing us (another cluster id) is reported once, not per retry.
        let mut refused: Option<String> = None;
        loop {
            self.metrics.connect_attempts.increment(1);
            let dialled = tokio::select! {
                () = self.cancel.cancelled() => return,
                dialled = conn::dial(config, self.peer, self.addr) => dialled,
            };
            match dialled {
                Ok(connection) => {
                    info!(peer = %self.peer, addr = %self.addr, "connected");
                    refused = None;
                    backoff = config.reconnect_backoff_min;
                    match self.serve(connection).await {
                        Ended::Cancelled => return,
                        Ended::PeerClosed => info!(peer = %self.peer, "peer closed the connection"),
                        Ended::Failed(error) => {
                            warn!(peer = %self.peer, %error, "connection failed");
                        }
                        Ended::WriteTimeout => {
                            warn!(peer = %self.peer, "write timed out; reconnecting");
                        }
                    }
                }
                Err(error) => {
                    self.metrics.connect_failures.increment(1);
                    let reason = error.to_string();
                    let handshake = matches!(error, conn::DialError::Handshake { .. });
                    if handshake && refused.as_deref() != Some(reason.as_str()) {
                        warn!(peer = %self.peer, addr = %self.addr, %error, "peer refused the connection; check that both sides use the same cluster id and know each other");
                        refused = Some(reason);
                    } else {
                        debug!(peer = %self.peer, %error, retry_in = ?backoff, "dial failed");
                    }
                }
            }
            tokio::select! {
                () = self.cancel.cancelled() => return,
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(config.reconnect_backoff_max);
        }
    }

    /// Writes batches until the connection ends. The reader half only
    /// watches for the peer closing: nothing is expected back.
    async fn serve(&mut self, connection: Connection) -> Ended {
        let Connection {
            mut reader,
            mut writer,
            ..
        } = connection;
        let limit = self.shared.config.batch_msgs_max;
        loop {
            tokio::select! {
                () = self.cancel.cancelled() => return Ended::Cancelled,
                count = self.queue.recv_many(&mut self.pending, limit) => {
                    if count == 0 {
                        return Ended::Cancelled;
                    }
                    if let Err(ended) = self.write_pending(&mut writer).await {
                        return ended;
                    }
                }
                frame = reader.next() => match frame {
                    None => return Ended::PeerClosed,
                    Some(Err(error)) => return Ended::Failed(error),
                    Some(Ok(frame)) => debug!(peer = %self.peer, ?frame, "ignoring unexpected frame"),
                },
            }
        }
    }

    /// Encodes `pending` into as few frames as `batch_bytes_max` allows and
    /// flushes them within `request_timeout`.
    async fn write_pending(&mut self, writer: &mut FrameWriter) -> Result<(), Ended> {
        let config = &self.shared.config;
        let mut count = 0u64;
        let mut batch = Vec::with_capacity(self.pending.len());
        let mut batch_bytes = 0usize;
        let mut frames = Vec::new();
        for envelope in self.pending.drain(..) {
            let wire = WireEnvelope::from(&envelope);
            let bytes = prost::encoding::message::encoded_len(1, &wire);
            // A message too big for any frame can never be sent; one merely
            // bigger than a batch travels alone.
            if bytes + BATCH_FRAME_OVERHEAD_BYTES > config.frame_bytes_max {
                warn!(peer = %self.peer, bytes, "dropping a message larger than frame_bytes_max");
                metrics::dropped(self.peer, "too_large", 1);
                continue;
            }
            if !batch.is_empty() && batch_bytes + bytes > config.batch_bytes_max {
                frames.push(batch_frame(std::mem::take(&mut batch)));
                batch_bytes = 0;
            }
            batch_bytes += bytes;
            count += 1;
            batch.push(wire);
        }
        if !batch.is_empty() {
            frames.push(batch_frame(batch));
        }
        let written = async {
            let mut bytes = 0u64;
            for frame in frames {
                bytes += (frame.encoded_len() + crate::wire::FRAME_HEADER_BYTES) as u64;
                if let Some(WireFrameKind::Batch(batch)) = &frame.kind {
                    self.metrics
                        .batch_messages
                        .record(batch.envelopes.len() as f64);
                }
                writer.feed(frame).await?;
            }
            SinkExt::<WireFrame>::flush(writer).await?;
            Ok::<u64, FrameError>(bytes)
        };
        match timeout(config.request_timeout, written).await {
            Ok(Ok(bytes)) => {
                self.metrics.messages.increment(count);
                self.metrics.bytes.increment(bytes);
                Ok(())
            }
            Ok(Err(error)) => {
                metrics::dropped(self.peer, "write_failed", count);
                Err(Ended::Failed(error))
            }
            Err(_) => {
                metrics::dropped(self.peer, "write_failed", count);
                Err(Ended::WriteTimeout)
            }
        }
    }
}

/// What a batch frame adds around its envelopes: the frame's own tag and
/// length prefix.
const BATCH_FRAME_OVERHEAD_BYTES: usize = 16;

fn batch_frame(envelopes: Vec<WireEnvelope>) -> WireFrame {
    WireFrame {
        kind: Some(WireFrameKind::Batch(crate::wire::frame::WireBatch {
            envelopes,
        })),
    }
}
