//! The in-memory transport and the fault-injecting wrapper.

mod transport_support;

use bytes::Bytes;
use quorate::transport::{
    FaultController, FaultyTransport, Inbound, MemoryNetwork, MemoryTransport, SnapshotData,
    SnapshotSendError, Transport,
};
use quorate_core::{GroupId, InstallSnapshot, Message, MessageBody, NodeId, SnapshotMeta, Term};
use std::time::Duration;
use tokio::sync::mpsc;
use transport_support::*;

fn node(network: &MemoryNetwork, id: u64) -> (MemoryTransport, mpsc::Receiver<Inbound>) {
    let (tx, rx) = mpsc::channel(INBOUND_CAPACITY);
    (network.register(NodeId::new(id), tx), rx)
}

fn read_round(inbound: Inbound) -> u64 {
    match inbound {
        Inbound::Messages { envelopes, .. } => match envelopes[0].message.body {
            MessageBody::Heartbeat(h) => h.read_round,
            ref other => panic!("expected a heartbeat, got {other:?}"),
        },
        other => panic!("expected messages, got {other:?}"),
    }
}

#[tokio::test]
async fn memory_network_delivers_messages_between_registered_nodes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let network = MemoryNetwork::new(dir.path());
    let (a, mut a_rx) = node(&network, 1);
    let (b, mut b_rx) = node(&network, 2);
    let batch: Vec<_> = (0..4).map(|g| heartbeat(1, 2, g, 1)).collect();
    a.send(NodeId::new(2), batch.clone());
    assert_eq!(collect(&mut b_rx, 4).await.0, batch);
    b.send(NodeId::new(1), vec![heartbeat(2, 1, 0, 2)]);
    assert_eq!(read_round(next(&mut a_rx).await), 2);
    // Traffic to an unregistered node is dropped, not an error.
    network.unregister(NodeId::new(2));
    a.send(NodeId::new(2), vec![heartbeat(1, 2, 0, 3)]);
    assert!(b_rx.try_recv().is_err());
}

#[tokio::test]
async fn memory_snapshots_are_spooled_to_a_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let network = MemoryNetwork::new(dir.path().join("spool"));
    let (a, _a_rx) = node(&network, 1);
    let (_b, mut b_rx) = node(&network, 2);
    let message = Message {
        from: NodeId::new(1),
        to: NodeId::new(2),
        term: Term::new(1),
        body: MessageBody::InstallSnapshot(InstallSnapshot {
            meta: SnapshotMeta::default(),
        }),
    };
    let data = pseudo_random_bytes(100_000, 4);
    a.send_snapshot(
        NodeId::new(2),
        GroupId::new(8),
        message.clone(),
        SnapshotData::Bytes(Bytes::from(data.clone())),
    )
    .await
    .expect("delivered");
    match next(&mut b_rx).await {
        Inbound::Snapshot {
            from,
            group,
            message: received,
            path,
        } => {
            assert_eq!((from, group), (NodeId::new(1), GroupId::new(8)));
            assert_eq!(received, message);
            assert!(tokio::fs::read(&path).await.expect("reads") == data);
        }
        other => panic!("expected a snapshot, got {other:?}"),
    }
    let result = a
        .send_snapshot(
            NodeId::new(9),
            GroupId::new(8),
            message,
            SnapshotData::Bytes(Bytes::new()),
        )
        .await;
    assert!(matches!(result, Err(SnapshotSendError::Unreachable { .. })));
}

#[tokio::test]
async fn a_partition_blocks_both_directions_and_heal_restores_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let network = MemoryNetwork::new(dir.path());
    let faults = FaultController::new(1);
    let (a_tx, mut a_rx) = mpsc::channel(INBOUND_CAPACITY);
    let a = FaultyTransport::new(
        network.register(
            NodeId::new(1),
            faults.filter_inbound(a_tx, INBOUND_CAPACITY),
        ),
        faults.clone(),
    );
    let (b, mut b_rx) = node(&network, 2);
    faults.partition([NodeId::new(2)]);
    a.send(NodeId::new(2), vec![heartbeat(1, 2, 0, 1)]);
    b.send(NodeId::new(1), vec![heartbeat(2, 1, 0, 1)]);
    let blocked = a
        .send_snapshot(
            NodeId::new(2),
            GroupId::new(1),
            heartbeat(1, 2, 0, 0).message,
            SnapshotData::Bytes(Bytes::new()),
        )
        .await;
    assert!(matches!(
        blocked,
        Err(SnapshotSendError::Unreachable { .. })
    ));
    // The inbound filter runs as its own task: wait until it has judged
    // B's message before lifting the partition.
    let mut discarded = faults.inbound_blocked_total();
    tokio::time::timeout(SAFETY_TIMEOUT, discarded.wait_for(|&total| total >= 1))
        .await
        .expect("filter ran before the safety timeout")
        .expect("controller alive");
    faults.heal();
    a.send(NodeId::new(2), vec![heartbeat(1, 2, 0, 2)]);
    b.send(NodeId::new(1), vec![heartbeat(2, 1, 0, 2)]);
    // Delivery is in order, so had round 1 passed it would arrive first.
    assert_eq!(
        read_round(next(&mut b_rx).await),
        2,
        "A->B blocked until healed"
    );
    assert_eq!(
        read_round(next(&mut a_rx).await),
        2,
        "B->A blocked until healed"
    );
}

/// Sends 1000 single-message batches through a wrapper with the given seed
/// and drop rate; returns which rounds arrived.
async fn surviving_rounds(seed: u64, rate: f64) -> Vec<u64> {
    let dir = tempfile::tempdir().expect("tempdir");
    let network = MemoryNetwork::new(dir.path());
    let faults = FaultController::new(seed);
    faults.set_drop_rate(rate);
    let (a, _a_rx) = node(&network, 1);
    let a = FaultyTransport::new(a, faults);
    let (_b, mut b_rx) = node(&network, 2);
    for round in 0..1000 {
        a.send(NodeId::new(2), vec![heartbeat(1, 2, 0, round)]);
    }
    let mut rounds = Vec::new();
    while let Ok(inbound) = b_rx.try_recv() {
        rounds.push(read_round(inbound));
    }
    rounds
}

#[tokio::test]
async fn drops_follow_the_seed_and_the_rate() {
    let first = surviving_rounds(42, 0.3).await;
    assert_eq!(
        first,
        surviving_rounds(42, 0.3).await,
        "same seed, same drops"
    );
    assert_ne!(
        first,
        surviving_rounds(43, 0.3).await,
        "another seed, other drops"
    );
    assert!(
        (600..800).contains(&first.len()),
        "about 70% survive: {}",
        first.len()
    );
    assert!(surviving_rounds(1, 1.0).await.is_empty());
    assert_eq!(surviving_rounds(1, 0.0).await.len(), 1000);
}

#[tokio::test(start_paused = true)]
async fn a_delay_holds_messages_back_for_that_long() {
    let dir = tempfile::tempdir().expect("tempdir");
    let network = MemoryNetwork::new(dir.path());
    let faults = FaultController::new(7);
    faults.set_delay(Duration::from_millis(100));
    let (a, _a_rx) = node(&network, 1);
    let a = FaultyTransport::new(a, faults);
    let (_b, mut b_rx) = node(&network, 2);
    let sent_at = tokio::time::Instant::now();
    a.send(NodeId::new(2), vec![heartbeat(1, 2, 0, 1)]);
    assert_eq!(read_round(next(&mut b_rx).await), 1);
    assert!(sent_at.elapsed() >= Duration::from_millis(100));
}
