//! The runtime's part of a snapshot: a small header in front of the state
//! machine's bytes carrying the peer address book (so a node restored from
//! a snapshot can still reach members added before it), and the tasks that
//! store, send and receive snapshots off the driver's thread.

use crate::node::events::Internal;
use crate::state_machine::SnapshotReader;
use crate::transport::{SnapshotData, Transport};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use quorate_core::{GroupId, Message, MessageBody, NodeId, SnapshotMeta};
use quorate_wal::{SnapshotError, SnapshotFile, SnapshotStore};
use std::collections::BTreeMap;
use std::io::Read;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::mpsc;

const MAGIC: [u8; 6] = *b"QRTRT1";
/// The group's initial snapshot: no state machine data follows.
const FLAG_INITIAL: u8 = 1;

/// What the runtime header says.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Header {
    pub initial: bool,
    pub addresses: BTreeMap<NodeId, SocketAddr>,
}

pub(crate) fn encode_header(header: &Header) -> Bytes {
    let mut out = BytesMut::new();
    out.put_slice(&MAGIC);
    out.put_u8(if header.initial { FLAG_INITIAL } else { 0 });
    out.put_u32_le(u32::try_from(header.addresses.len()).expect("address count fits u32"));
    for (node, addr) in &header.addresses {
        let text = addr.to_string();
        out.put_u64_le(node.get());
        out.put_u16_le(u16::try_from(text.len()).expect("socket address is short"));
        out.put_slice(text.as_bytes());
    }
    out.freeze()
}

/// Splits snapshot data into the runtime header and the state machine's
/// bytes; `Err` names what is malformed.
pub(crate) fn decode_header(mut data: Bytes) -> Result<(Header, Bytes), &'static str> {
    if data.len() < MAGIC.len() + 5 || data[..MAGIC.len()] != MAGIC {
        return Err("missing runtime snapshot header");
    }
    data.advance(MAGIC.len());
    let initial = data.get_u8() & FLAG_INITIAL != 0;
    let count = data.get_u32_le();
    let mut addresses = BTreeMap::new();
    for _ in 0..count {
        if data.remaining() < 10 {
            return Err("address book truncated");
        }
        let node = NodeId::new(data.get_u64_le());
        let len = usize::from(data.get_u16_le());
        if data.remaining() < len {
            return Err("address truncated");
        }
        let text = data.split_to(len);
        let addr = std::str::from_utf8(&text)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or("address does not parse")?;
        addresses.insert(node, addr);
    }
    Ok((Header { initial, addresses }, data))
}

/// Writes a local snapshot (header already chained in front) durably,
/// off the async threads, and reports back.
pub(crate) fn spawn_store(
    store: SnapshotStore,
    group: GroupId,
    meta: SnapshotMeta,
    mut data: SnapshotReader,
    internal: mpsc::Sender<Internal>,
) {
    tokio::task::spawn_blocking(move || {
        let result = store.write(&meta, &mut data);
        // The driver is gone only at shutdown; nothing to report then.
        let _ = internal.blocking_send(Internal::Stored { group, result });
    });
}

/// Copies a snapshot spooled by the transport into the group's store,
/// then asks the driver to step its `InstallSnapshot` message.
pub(crate) fn spawn_receive(
    store: SnapshotStore,
    group: GroupId,
    message: Message,
    path: PathBuf,
    internal: mpsc::Sender<Internal>,
) {
    let MessageBody::InstallSnapshot(install) = &message.body else {
        tracing::warn!(%group, from = %message.from, "snapshot data arrived with a non-snapshot message; dropped");
        let _ = std::fs::remove_file(&path);
        return;
    };
    let meta = install.meta.clone();
    tokio::task::spawn_blocking(move || {
        let result = std::fs::File::open(&path)
            .map_err(|source| SnapshotError::Input { source })
            .and_then(|mut file| store.write(&meta, &mut file as &mut dyn Read));
        if let Err(error) = std::fs::remove_file(&path) {
            tracing::debug!(path = %path.display(), %error, "could not remove a spooled snapshot");
        }
        let _ = internal.blocking_send(Internal::Received {
            group,
            message,
            result,
        });
    });
}

/// Streams the stored snapshot the leader's message names to `to`, and
/// reports whether it arrived (the core then probes or resumes).
pub(crate) fn spawn_send(
    transport: Arc<dyn Transport>,
    store: SnapshotStore,
    group: GroupId,
    message: Message,
    internal: mpsc::Sender<Internal>,
) {
    let to = message.to;
    tokio::spawn(async move {
        let delivered = match read_for(store, &message).await {
            Some(data) => transport
                .send_snapshot(to, group, message, SnapshotData::Bytes(data))
                .await
                .map_err(|error| tracing::info!(%group, %to, %error, "snapshot send failed"))
                .is_ok(),
            None => false,
        };
        let _ = internal
            .send(Internal::Sent {
                group,
                to,
                delivered,
            })
            .await;
    });
}

/// The stored data matching the message's snapshot, verified.
async fn read_for(store: SnapshotStore, message: &Message) -> Option<Bytes> {
    let MessageBody::InstallSnapshot(install) = &message.body else {
        return None;
    };
    let wanted = install.meta.last;
    let found = tokio::task::spawn_blocking(move || -> Result<Option<Bytes>, SnapshotError> {
        let files = store.list()?;
        match files.iter().find(|file| file.meta.last == wanted) {
            Some(file) => store.read(file).map(Some),
            None => Ok(None),
        }
    })
    .await;
    match found {
        Ok(Ok(Some(data))) => Some(data),
        Ok(Ok(None)) => {
            tracing::warn!(snapshot = %wanted, "no stored snapshot matches the one to send");
            None
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "reading a snapshot to send failed");
            None
        }
        Err(_) => None,
    }
}

/// Reads a stored snapshot's data (blocking).
pub(crate) fn read_file(
    store: &SnapshotStore,
    file: &SnapshotFile,
) -> Result<Bytes, SnapshotError> {
    store.read(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_keeps_state_machine_bytes() {
        let mut header = Header {
            initial: false,
            addresses: BTreeMap::new(),
        };
        header
            .addresses
            .insert(NodeId::new(2), "127.0.0.1:9000".parse().expect("valid"));
        let mut data = BytesMut::from(&encode_header(&header)[..]);
        data.put_slice(b"state");
        let (decoded, rest) = decode_header(data.freeze()).expect("decodes");
        assert_eq!(decoded, header);
        assert_eq!(&rest[..], b"state");
        assert!(decode_header(Bytes::from_static(b"nope")).is_err());
    }
}
