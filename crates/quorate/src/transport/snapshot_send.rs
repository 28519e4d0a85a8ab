//! Sending a snapshot: a dedicated connection, chunks of
//! `snapshot_chunk_bytes`, at most `snapshot_window_chunks` unacknowledged
//! at once (so a slow receiver slows the sender instead of filling memory),
//! and a trailer with the total length and CRC32C on the last chunk. The
//! future resolves `Ok` only on the receiver's final acknowledgement, which
//! it sends after the node took the snapshot.

use super::conn::Connection;
use super::metrics;
use super::tcp::{self, Shared};
use super::{Envelope, SnapshotData, SnapshotSendError};
use crate::wire::{Frame, SnapshotAbort, SnapshotAbortReason, SnapshotChunk, SnapshotTrailer};
use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use quorate_core::{GroupId, Message, NodeId};
use std::sync::Arc;
use tokio::io::AsyncReadExt;
use tokio::time::timeout;
use tracing::{info, warn};

/// Streams `data` to `to`; see the module docs.
pub(crate) async fn send(
    shared: Arc<Shared>,
    to: NodeId,
    group: GroupId,
    message: Message,
    data: SnapshotData,
) -> Result<(), SnapshotSendError> {
    let shutdown = shared.shutdown.clone();
    let result = tokio::select! {
        // Shutdown wins over any other outcome decided in the same poll.
        biased;
        () = shutdown.cancelled() => Err(SnapshotSendError::Shutdown),
        result = stream(&shared, to, Envelope { group, message }, data) => result,
    };
    match &result {
        Ok(()) => {
            metrics::counter!(metrics::SNAPSHOTS_SENT, "peer" => to.get().to_string()).increment(1);
            info!(peer = %to, %group, "snapshot sent");
        }
        Err(error) => warn!(peer = %to, %group, %error, "snapshot send failed"),
    }
    result
}

/// Where the stream stands: chunks sent and acknowledged, bytes so far.
struct Progress {
    stream: u64,
    next_seq: u64,
    acked: u64,
    bytes: u64,
    checksum: u32,
    sent_all: bool,
}

async fn stream(
    shared: &Shared,
    to: NodeId,
    header: Envelope,
    data: SnapshotData,
) -> Result<(), SnapshotSendError> {
    let config = &shared.config;
    let (mut source, total_bytes) = Source::open(data)
        .await
        .map_err(|source| SnapshotSendError::Read { source })?;
    let mut connection = tcp::dial_peer(shared, to).await?;
    let mut progress = Progress {
        stream: shared.next_stream_id(),
        next_seq: 0,
        acked: 0,
        bytes: 0,
        checksum: 0,
        sent_all: false,
    };
    let chunks_sent =
        metrics::counter!(metrics::SNAPSHOT_CHUNKS_SENT, "peer" => to.get().to_string());
    let window = config.snapshot_window_chunks as u64;
    loop {
        if !progress.sent_all && progress.next_seq - progress.acked < window {
            let data = match source.next_chunk(config.snapshot_chunk_bytes).await {
                Ok(data) => data,
                Err(source) => {
                    abort(&mut connection, progress.stream, config.request_timeout).await;
                    return Err(SnapshotSendError::Read { source });
                }
            };
            let chunk = Frame::SnapshotChunk(progress.chunk(data, &header, total_bytes));
            let write = connection.writer.send(&chunk);
            match timeout(config.snapshot_ack_timeout, write).await {
                Ok(Ok(())) => chunks_sent.increment(1),
                Ok(Err(_)) => return Err(SnapshotSendError::Aborted { node: to }),
                Err(_) => return Err(SnapshotSendError::TimedOut { node: to }),
            }
            continue;
        }
        let frame = match timeout(config.snapshot_ack_timeout, connection.reader.next()).await {
            Err(_) => return Err(SnapshotSendError::TimedOut { node: to }),
            Ok(Some(Ok(frame))) => frame,
            Ok(None | Some(Err(_))) => return Err(SnapshotSendError::Aborted { node: to }),
        };
        match frame {
            Frame::SnapshotAck(ack) if ack.stream == progress.stream => {
                progress.acked = progress.acked.max(ack.seq.saturating_add(1));
                progress.acked = progress.acked.min(progress.next_seq);
                if ack.done && progress.sent_all && progress.acked == progress.next_seq {
                    return Ok(());
                }
            }
            Frame::SnapshotAbort(abort) if abort.stream == progress.stream => {
                warn!(peer = %to, reason = abort.reason, "receiver aborted the snapshot");
                return Err(SnapshotSendError::Aborted { node: to });
            }
            _ => {}
        }
    }
}

impl Progress {
    /// The next chunk carrying `data`: the header on the first, the trailer
    /// on the last.
    fn chunk(&mut self, data: Bytes, header: &Envelope, total_bytes: u64) -> SnapshotChunk {
        self.bytes += data.len() as u64;
        self.checksum = crc32c::crc32c_append(self.checksum, &data);
        self.sent_all = self.bytes >= total_bytes;
        let chunk = SnapshotChunk {
            stream: self.stream,
            seq: self.next_seq,
            data,
            header: (self.next_seq == 0).then(|| header.clone()),
            trailer: self.sent_all.then_some(SnapshotTrailer {
                total_bytes: self.bytes,
                checksum: self.checksum,
            }),
        };
        self.next_seq += 1;
        chunk
    }
}

/// Tells the receiver to drop the stream; best effort, the connection is
/// closed right after anyway.
async fn abort(connection: &mut Connection, stream: u64, wait: std::time::Duration) {
    let frame = Frame::SnapshotAbort(SnapshotAbort {
        stream,
        reason: SnapshotAbortReason::SenderRead.code(),
    });
    let _ = timeout(wait, connection.writer.send(&frame)).await;
}

/// Reads a snapshot in chunks, from memory or from a file.
enum Source {
    Bytes(Bytes),
    File {
        file: tokio::fs::File,
        remaining: u64,
    },
}

impl Source {
    /// Opens the data and says how many bytes it holds.
    async fn open(data: SnapshotData) -> std::io::Result<(Source, u64)> {
        match data {
            SnapshotData::Bytes(bytes) => {
                let total = bytes.len() as u64;
                Ok((Source::Bytes(bytes), total))
            }
            SnapshotData::File(path) => {
                let file = tokio::fs::File::open(&path).await?;
                let total = file.metadata().await?.len();
                Ok((
                    Source::File {
                        file,
                        remaining: total,
                    },
                    total,
                ))
            }
        }
    }

    /// Up to `max` bytes; empty only when the data is empty or exhausted.
    async fn next_chunk(&mut self, max: usize) -> std::io::Result<Bytes> {
        match self {
            Source::Bytes(bytes) => Ok(bytes.split_to(max.min(bytes.len()))),
            Source::File { file, remaining } => {
                let take = usize::try_from(*remaining).map_or(max, |r| r.min(max));
                let mut buf = BytesMut::zeroed(take);
                // A file that shrank under us fails here rather than sending
                // a snapshot that disagrees with its announced length.
                file.read_exact(&mut buf).await?;
                *remaining -= take as u64;
                Ok(buf.freeze())
            }
        }
    }
}
