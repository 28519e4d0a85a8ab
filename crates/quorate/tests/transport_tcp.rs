//! TcpTransport over loopback: batching, authentication by handshake,
//! resilience to malformed input, reconnection and snapshot streaming.

mod transport_support;

use bytes::{Bytes, BytesMut};
use quorate::transport::{Inbound, SnapshotData, SnapshotSendError, TcpTransport, Transport};
use quorate::wire::{Frame, FrameCodec, Handshake};
use quorate_core::{
    ConfState, EntryId, GroupId, Index, InstallSnapshot, Message, MessageBody, NodeId,
    SnapshotMeta, Term,
};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Encoder;
use transport_support::*;

const CLUSTER: u64 = 0xC1;

async fn pair(dir: &std::path::Path) -> ((TcpTransport, Receiver), (TcpTransport, Receiver)) {
    let a = start(config(1, CLUSTER, dir)).await;
    let b = start(config(2, CLUSTER, dir)).await;
    a.0.set_peer(NodeId::new(2), b.0.local_addr());
    b.0.set_peer(NodeId::new(1), a.0.local_addr());
    (a, b)
}

type Receiver = tokio::sync::mpsc::Receiver<Inbound>;

fn frame_bytes(frame: &Frame) -> BytesMut {
    let mut buf = BytesMut::new();
    FrameCodec::default()
        .encode(frame, &mut buf)
        .expect("encodes");
    buf
}

/// Writes `bytes` to `addr` and reads until the server closes the
/// connection; returns what the server sent before closing.
async fn write_and_wait_for_close(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    stream.write_all(bytes).await.expect("writes");
    let mut reply = Vec::new();
    let read = tokio::time::timeout(SAFETY_TIMEOUT, stream.read_to_end(&mut reply)).await;
    // Either a clean EOF or a reset: both mean the server hung up.
    assert!(read.is_ok(), "server did not close the connection");
    reply
}

#[tokio::test]
async fn two_transports_exchange_batches_of_many_groups() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let ((a, mut a_rx), (b, mut b_rx)) = pair(dir.path()).await;
    let heartbeats: Vec<_> = (0..200).map(|g| heartbeat(1, 2, g, g)).collect();
    a.send(NodeId::new(2), heartbeats.clone());
    let (received, batches) = collect(&mut b_rx, heartbeats.len()).await;
    assert_eq!(received, heartbeats, "all groups arrive, in order");
    assert!(
        batches < heartbeats.len(),
        "heartbeats coalesce: {batches} batches"
    );
    let replies: Vec<_> = (0..10).map(|g| heartbeat(2, 1, g, 7)).collect();
    b.send(NodeId::new(1), replies.clone());
    assert_eq!(collect(&mut a_rx, replies.len()).await.0, replies);
    a.shutdown().await;
    b.shutdown().await;
}

#[tokio::test]
async fn handshake_from_another_cluster_is_refused() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let ((_a, _a_rx), (b, _b_rx)) = pair(dir.path()).await;
    let foreign = frame_bytes(&Frame::Handshake(Handshake::new(
        CLUSTER + 1,
        NodeId::new(1),
        NodeId::new(2),
    )));
    let reply = write_and_wait_for_close(b.local_addr(), &foreign).await;
    assert!(reply.is_empty(), "a refused caller learns nothing");
}

#[tokio::test]
async fn handshake_from_an_unknown_node_is_refused_and_a_known_one_answered() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let ((_a, _a_rx), (b, _b_rx)) = pair(dir.path()).await;
    let stranger = frame_bytes(&Frame::Handshake(Handshake::new(
        CLUSTER,
        NodeId::new(9),
        NodeId::new(2),
    )));
    assert!(write_and_wait_for_close(b.local_addr(), &stranger)
        .await
        .is_empty());
    let misaddressed = frame_bytes(&Frame::Handshake(Handshake::new(
        CLUSTER,
        NodeId::new(1),
        NodeId::new(3),
    )));
    assert!(write_and_wait_for_close(b.local_addr(), &misaddressed)
        .await
        .is_empty());
    // Positive control: node 1's handshake gets node 2's in reply, and a
    // garbage frame afterwards closes the connection.
    let mut hello = frame_bytes(&Frame::Handshake(Handshake::new(
        CLUSTER,
        NodeId::new(1),
        NodeId::new(2),
    )));
    hello.extend_from_slice(b"\x00\x00\x00\x04\xde\xad\xbe\xefjunk");
    let reply = write_and_wait_for_close(b.local_addr(), &hello).await;
    let mut reply = BytesMut::from(&reply[..]);
    let answer = tokio_util::codec::Decoder::decode(&mut FrameCodec::default(), &mut reply);
    assert_eq!(
        answer.expect("valid frame"),
        Some(Frame::Handshake(Handshake::new(
            CLUSTER,
            NodeId::new(2),
            NodeId::new(1)
        )))
    );
}

#[tokio::test]
async fn malformed_input_closes_the_connection_and_peers_are_still_served() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let ((a, _a_rx), (b, mut b_rx)) = pair(dir.path()).await;
    let garbage = pseudo_random_bytes(4096, 3);
    write_and_wait_for_close(b.local_addr(), &garbage).await;
    // A length far beyond frame_bytes_max: refused from the header alone.
    write_and_wait_for_close(b.local_addr(), &[0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 0]).await;
    // A well-formed handshake frame with one payload bit flipped.
    let mut corrupt = frame_bytes(&Frame::Handshake(Handshake::new(
        CLUSTER,
        NodeId::new(1),
        NodeId::new(2),
    )));
    let last = corrupt.len() - 1;
    corrupt[last] ^= 1;
    write_and_wait_for_close(b.local_addr(), &corrupt).await;
    // A truncated frame followed by EOF from our side.
    let whole = frame_bytes(&Frame::Handshake(Handshake::new(
        CLUSTER,
        NodeId::new(1),
        NodeId::new(2),
    )));
    let mut stream = TcpStream::connect(b.local_addr()).await.expect("connects");
    stream
        .write_all(&whole[..whole.len() - 3])
        .await
        .expect("writes");
    stream.shutdown().await.expect("half-closes");
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(SAFETY_TIMEOUT, stream.read_to_end(&mut rest))
        .await
        .expect("closed");
    let messages: Vec<_> = (0..5).map(|g| heartbeat(1, 2, g, 1)).collect();
    a.send(NodeId::new(2), messages.clone());
    assert_eq!(collect(&mut b_rx, messages.len()).await.0, messages);
}

#[tokio::test]
async fn messages_flow_again_after_the_listener_restarts() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let ((a, _a_rx), (b, mut b_rx)) = pair(dir.path()).await;
    a.send(NodeId::new(2), vec![heartbeat(1, 2, 1, 1)]);
    collect(&mut b_rx, 1).await;
    let addr = b.local_addr();
    b.shutdown().await;
    drop(b);
    let mut restarted_config = config(2, CLUSTER, dir.path());
    restarted_config.listen_addr = addr;
    let (b2, mut b2_rx) = start(restarted_config).await;
    b2.set_peer(NodeId::new(1), a.local_addr());
    // A write can vanish into the old, dying connection, so keep sending (as
    // Raft would) until one arrives through the new one.
    let mut resend = tokio::time::interval(std::time::Duration::from_millis(20));
    let arrived = tokio::time::timeout(SAFETY_TIMEOUT, async {
        loop {
            tokio::select! {
                _ = resend.tick() => a.send(NodeId::new(2), vec![heartbeat(1, 2, 1, 2)]),
                inbound = b2_rx.recv() => break inbound,
            }
        }
    })
    .await
    .expect("reconnected before the safety timeout");
    assert!(matches!(arrived, Some(Inbound::Messages { from, .. }) if from == NodeId::new(1)));
}

fn install_snapshot(from: u64, to: u64, last_index: u64) -> Message {
    Message {
        from: NodeId::new(from),
        to: NodeId::new(to),
        term: Term::new(4),
        body: MessageBody::InstallSnapshot(InstallSnapshot {
            meta: SnapshotMeta {
                last: EntryId::new(Term::new(3), Index::new(last_index)),
                conf_state: ConfState::with_voters([NodeId::new(1), NodeId::new(2)]),
            },
        }),
    }
}

async fn expect_snapshot(rx: &mut Receiver, data: &[u8], message: &Message) {
    match next(rx).await {
        Inbound::Snapshot {
            from,
            group,
            message: received,
            path,
        } => {
            assert_eq!(from, NodeId::new(1));
            assert_eq!(group, GroupId::new(5));
            assert_eq!(&received, message);
            let spooled = tokio::fs::read(&path).await.expect("spool file readable");
            assert!(spooled == data, "snapshot arrives intact");
        }
        other => panic!("expected a snapshot, got {other:?}"),
    }
}

#[tokio::test]
async fn a_multi_chunk_snapshot_arrives_intact() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut a_config = config(1, CLUSTER, dir.path());
    a_config.snapshot_window_chunks = 3;
    let (a, _a_rx) = start(a_config).await;
    let (b, mut b_rx) = start(config(2, CLUSTER, dir.path())).await;
    a.set_peer(NodeId::new(2), b.local_addr());
    b.set_peer(NodeId::new(1), a.local_addr());
    let data = pseudo_random_bytes(1024 * 1024 + 17, 11);
    let message = install_snapshot(1, 2, 100);
    let send = a.send_snapshot(
        NodeId::new(2),
        GroupId::new(5),
        message.clone(),
        SnapshotData::Bytes(Bytes::from(data.clone())),
    );
    let sent = tokio::spawn(send);
    expect_snapshot(&mut b_rx, &data, &message).await;
    sent.await.expect("joins").expect("the sender sees success");
    // The same from a file, and an empty snapshot.
    let file = dir.path().join("outgoing.snap");
    tokio::fs::write(&file, &data[..300_000])
        .await
        .expect("writes");
    let sent = tokio::spawn(a.send_snapshot(
        NodeId::new(2),
        GroupId::new(5),
        message.clone(),
        SnapshotData::File(file),
    ));
    expect_snapshot(&mut b_rx, &data[..300_000], &message).await;
    sent.await.expect("joins").expect("file snapshot sent");
    let sent = tokio::spawn(a.send_snapshot(
        NodeId::new(2),
        GroupId::new(5),
        message.clone(),
        SnapshotData::Bytes(Bytes::new()),
    ));
    expect_snapshot(&mut b_rx, &[], &message).await;
    sent.await.expect("joins").expect("empty snapshot sent");
}

#[tokio::test]
async fn a_snapshot_to_an_unknown_peer_or_after_shutdown_fails() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, _a_rx) = start(config(1, CLUSTER, dir.path())).await;
    let result = a
        .send_snapshot(
            NodeId::new(7),
            GroupId::new(1),
            install_snapshot(1, 7, 1),
            SnapshotData::Bytes(Bytes::from_static(b"x")),
        )
        .await;
    assert!(
        matches!(result, Err(SnapshotSendError::Unreachable { .. })),
        "{result:?}"
    );
    let missing = SnapshotData::File(dir.path().join("missing"));
    let result = a
        .send_snapshot(
            NodeId::new(7),
            GroupId::new(1),
            install_snapshot(1, 7, 1),
            missing,
        )
        .await;
    assert!(
        matches!(result, Err(SnapshotSendError::Read { .. })),
        "{result:?}"
    );
    a.shutdown().await;
    let result = a
        .send_snapshot(
            NodeId::new(7),
            GroupId::new(1),
            install_snapshot(1, 7, 1),
            SnapshotData::Bytes(Bytes::new()),
        )
        .await;
    assert!(
        matches!(result, Err(SnapshotSendError::Shutdown)),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_peer_rejects_a_snapshot_larger_than_its_limit() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, _a_rx) = start(config(1, CLUSTER, dir.path())).await;
    let mut b_config = config(2, CLUSTER, dir.path());
    b_config.snapshot_bytes_max = 100_000;
    let (b, _b_rx) = start(b_config).await;
    a.set_peer(NodeId::new(2), b.local_addr());
    b.set_peer(NodeId::new(1), a.local_addr());
    let data = SnapshotData::Bytes(Bytes::from(pseudo_random_bytes(300_000, 5)));
    let result = a
        .send_snapshot(
            NodeId::new(2),
            GroupId::new(5),
            install_snapshot(1, 2, 9),
            data,
        )
        .await;
    assert!(
        matches!(result, Err(SnapshotSendError::Aborted { .. })),
        "{result:?}"
    );
    let mut leftovers = tokio::fs::read_dir(dir.path().join("spool-2"))
        .await
        .expect("spool dir");
    assert!(
        leftovers.next_entry().await.expect("lists").is_none(),
        "partial spool file removed"
    );
}
