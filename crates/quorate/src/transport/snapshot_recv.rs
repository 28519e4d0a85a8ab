//! Receiving a snapshot stream: chunks are appended to a spool file in
//! `spool_dir`, checked against the trailer's length and CRC32C, fsynced,
//! and only then handed to the node as `Inbound::Snapshot`. Each chunk is
//! acknowledged once written, which opens the sender's window; the last
//! acknowledgement (`done`) means the node has the snapshot.
//!
//! A connection receives one stream at a time (the sender dials a
//! connection per snapshot). Any violation aborts the stream, deletes the
//! partial file and closes the connection.

use super::conn::FrameWriter;
use super::inbound::Closed;
use super::tcp::Shared;
use super::{Envelope, Inbound};
use crate::wire::{
    Frame, SnapshotAbort, SnapshotAbortReason, SnapshotAck, SnapshotChunk, SnapshotTrailer,
};
use futures::SinkExt;
use quorate_core::{MessageBody, NodeId};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::time::timeout;
use tracing::{info, warn};

/// The snapshot stream in progress on one inbound connection, if any.
pub(crate) struct SnapshotReceiver {
    shared: Arc<Shared>,
    from: NodeId,
    active: Option<Spool>,
}

struct Spool {
    stream: u64,
    /// The chunk expected next; chunks arrive in order on one connection.
    next_seq: u64,
    file: tokio::fs::File,
    path: PathBuf,
    bytes: u64,
    checksum: u32,
    header: Envelope,
}

impl SnapshotReceiver {
    pub fn new(shared: Arc<Shared>, from: NodeId) -> Self {
        SnapshotReceiver {
            shared,
            from,
            active: None,
        }
    }

    /// Spools one chunk and acknowledges it, or aborts the stream.
    pub async fn on_chunk(
        &mut self,
        chunk: SnapshotChunk,
        writer: &mut FrameWriter,
    ) -> Result<(), Closed> {
        let stream = chunk.stream;
        let reply = match self.accept(chunk).await {
            Ok(ack) => Frame::SnapshotAck(ack),
            Err(reason) => {
                warn!(peer = %self.from, stream, ?reason, "aborting inbound snapshot");
                self.discard().await;
                Frame::SnapshotAbort(SnapshotAbort {
                    stream,
                    reason: reason.code(),
                })
            }
        };
        let aborted = matches!(reply, Frame::SnapshotAbort(_));
        match timeout(self.shared.config.request_timeout, writer.send(&reply)).await {
            Ok(Ok(())) if !aborted => Ok(()),
            Ok(Ok(())) => Err(Closed::Protocol("snapshot stream aborted")),
            Ok(Err(error)) => Err(Closed::Frame(error)),
            Err(_) => Err(Closed::Protocol("snapshot acknowledgement timed out")),
        }
    }

    /// The sender gave up: drop what was spooled.
    pub async fn on_abort(&mut self, abort: SnapshotAbort) {
        if self
            .active
            .as_ref()
            .is_some_and(|s| s.stream == abort.stream)
        {
            info!(peer = %self.from, stream = abort.stream, reason = abort.reason, "sender aborted snapshot");
            self.discard().await;
        }
    }

    /// Deletes a partial spool file (connection closed mid-stream).
    pub async fn discard(&mut self) {
        if let Some(spool) = self.active.take() {
            drop(spool.file);
            let _ = tokio::fs::remove_file(&spool.path).await;
        }
    }

    async fn accept(&mut self, chunk: SnapshotChunk) -> Result<SnapshotAck, SnapshotAbortReason> {
        if chunk.seq == 0 {
            self.discard().await;
            let header = chunk.header.ok_or(SnapshotAbortReason::Protocol)?;
            self.active = Some(self.start(chunk.stream, header).await?);
        } else if chunk.header.is_some() {
            return Err(SnapshotAbortReason::Protocol);
        }
        let bytes_max = self.shared.config.snapshot_bytes_max;
        let spool = self
            .active
            .as_mut()
            .filter(|s| s.stream == chunk.stream && s.next_seq == chunk.seq)
            .ok_or(SnapshotAbortReason::Protocol)?;
        let bytes = spool.bytes.saturating_add(chunk.data.len() as u64);
        if bytes > bytes_max {
            return Err(SnapshotAbortReason::TooLarge);
        }
        spool
            .file
            .write_all(&chunk.data)
            .await
            .map_err(|error| spool_error(&spool.path, &error))?;
        spool.bytes = bytes;
        spool.checksum = crc32c::crc32c_append(spool.checksum, &chunk.data);
        spool.next_seq += 1;
        let done = match chunk.trailer {
            Some(trailer) => {
                self.finish(trailer).await?;
                true
            }
            None => false,
        };
        Ok(SnapshotAck {
            stream: chunk.stream,
            seq: chunk.seq,
            done,
        })
    }

    /// Checks the header and opens a fresh spool file.
    async fn start(&self, stream: u64, header: Envelope) -> Result<Spool, SnapshotAbortReason> {
        let local = self.shared.config.node_id;
        let message = &header.message;
        if !matches!(message.body, MessageBody::InstallSnapshot(_))
            || message.from != self.from
            || message.to != local
        {
            return Err(SnapshotAbortReason::Protocol);
        }
        let serial = self.shared.next_spool.fetch_add(1, Ordering::Relaxed);
        let name = format!(
            "snapshot-{}-from-{}-{}-{serial}.part",
            local.get(),
            self.from.get(),
            header.group.get()
        );
        let path = self.shared.config.spool_dir.join(name);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .await
            .map_err(|error| spool_error(&path, &error))?;
        Ok(Spool {
            stream,
            next_seq: 0,
            file,
            path,
            bytes: 0,
            checksum: 0,
            header,
        })
    }

    /// Verifies the whole snapshot, makes it durable and hands it over.
    async fn finish(&mut self, trailer: SnapshotTrailer) -> Result<(), SnapshotAbortReason> {
        let spool = self.active.as_mut().ok_or(SnapshotAbortReason::Protocol)?;
        if spool.bytes != trailer.total_bytes || spool.checksum != trailer.checksum {
            return Err(SnapshotAbortReason::Checksum);
        }
        spool
            .file
            .sync_all()
            .await
            .map_err(|error| spool_error(&spool.path, &error))?;
        let final_path = spool.path.with_extension("snap");
        tokio::fs::rename(&spool.path, &final_path)
            .await
            .map_err(|error| spool_error(&spool.path, &error))?;
        let Some(spool) = self.active.take() else {
            return Err(SnapshotAbortReason::Protocol);
        };
        let inbound = Inbound::Snapshot {
            from: self.from,
            group: spool.header.group,
            message: spool.header.message,
            path: final_path.clone(),
        };
        // Unlike message batches, a snapshot is worth waiting for: this
        // connection carries nothing else, so blocking it stalls no group.
        let wait = self.shared.config.snapshot_ack_timeout;
        if let Ok(Ok(())) = timeout(wait, self.shared.inbound.send(inbound)).await {
            super::metrics::counter!(super::metrics::SNAPSHOTS_RECEIVED, "peer" => self.from.get().to_string())
                .increment(1);
            info!(peer = %self.from, bytes = spool.bytes, path = %final_path.display(), "snapshot received");
            Ok(())
        } else {
            let _ = tokio::fs::remove_file(&final_path).await;
            Err(SnapshotAbortReason::Busy)
        }
    }
}

fn spool_error(path: &std::path::Path, error: &std::io::Error) -> SnapshotAbortReason {
    warn!(path = %path.display(), %error, "cannot spool snapshot");
    SnapshotAbortReason::Spool
}
