//! Helpers shared by the transport tests: configs on loopback, messages,
//! and waiting for an inbound event with a safety timeout (never a sleep).

#![allow(dead_code)]

use quorate::transport::{Envelope, Inbound, TcpConfig, TcpTransport};
use quorate_core::{GroupId, Heartbeat, Index, Message, MessageBody, NodeId, Term};
use std::path::Path;
use std::time::Duration;
use tokio::sync::mpsc;

/// Long enough never to fire on a healthy run; only a broken test hits it.
pub const SAFETY_TIMEOUT: Duration = Duration::from_secs(20);

/// Inbound channel capacity used by the tests.
pub const INBOUND_CAPACITY: usize = 1024;

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub fn config(node: u64, cluster: u64, spool: &Path) -> TcpConfig {
    TcpConfig::new(
        NodeId::new(node),
        cluster,
        "127.0.0.1:0".parse().expect("loopback address"),
        spool.join(format!("spool-{node}")),
    )
}

pub async fn start(config: TcpConfig) -> (TcpTransport, mpsc::Receiver<Inbound>) {
    let (tx, rx) = mpsc::channel(INBOUND_CAPACITY);
    let transport = TcpTransport::bind(config, tx).await.expect("binds");
    (transport, rx)
}

pub fn heartbeat(from: u64, to: u64, group: u64, read_round: u64) -> Envelope {
    Envelope {
        group: GroupId::new(group),
        message: Message {
            from: NodeId::new(from),
            to: NodeId::new(to),
            term: Term::new(1),
            body: MessageBody::Heartbeat(Heartbeat {
                commit_index: Index::new(0),
                read_round,
            }),
        },
    }
}

/// The next inbound event, or a test failure after [`SAFETY_TIMEOUT`].
pub async fn next(rx: &mut mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(SAFETY_TIMEOUT, rx.recv())
        .await
        .expect("inbound event before the safety timeout")
        .expect("inbound channel open")
}

/// Collects message envelopes until `count` have arrived; returns them and
/// the number of batches they came in.
pub async fn collect(rx: &mut mpsc::Receiver<Inbound>, count: usize) -> (Vec<Envelope>, usize) {
    let mut all = Vec::new();
    let mut batches = 0;
    while all.len() < count {
        match next(rx).await {
            Inbound::Messages { envelopes, .. } => {
                batches += 1;
                all.extend(envelopes);
            }
            other => panic!("expected messages, got {other:?}"),
        }
    }
    (all, batches)
}

/// Deterministic pseudo-random bytes (xorshift), so snapshot contents are
/// not trivially compressible or periodic.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}
