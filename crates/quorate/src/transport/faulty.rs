//! Fault injection around any [`Transport`], controlled at run time by
//! tests: drop a fraction of messages, delay them, or partition the node
//! from chosen peers and heal it again.
//!
//! Outbound faults apply in [`FaultyTransport::send`]. A partition must
//! also stop traffic *from* the blocked peers, which arrives through the
//! inner transport's inbound channel; [`FaultController::filter_inbound`]
//! puts a filter in that path. Every random choice comes from one RNG
//! seeded by the test, so the same seed and the same sequence of sends
//! drop the same messages.

use super::{BoxFuture, Envelope, Inbound, SnapshotData, SnapshotSendError, Transport};
use quorate_core::{GroupId, Message, NodeId};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The fault settings, shared by the wrapper, its inbound filter and the
/// test that steers them.
#[derive(Clone)]
pub struct FaultController {
    state: Arc<Mutex<FaultState>>,
    /// Inbound events discarded by the filter so far, observable so a test
    /// can await the discard instead of guessing when it happened.
    inbound_blocked: Arc<watch::Sender<u64>>,
}

struct FaultState {
    /// splitmix64 state.
    rng: u64,
    /// Probability of dropping each outbound message, in parts per million.
    drop_ppm: u32,
    delay: Duration,
    blocked: BTreeSet<NodeId>,
}

const PPM: u32 = 1_000_000;

impl FaultController {
    /// No faults yet; random choices will follow `seed`.
    pub fn new(seed: u64) -> Self {
        FaultController {
            state: Arc::new(Mutex::new(FaultState {
                rng: seed,
                drop_ppm: 0,
                delay: Duration::ZERO,
                blocked: BTreeSet::new(),
            })),
            inbound_blocked: Arc::new(watch::Sender::new(0)),
        }
    }

    /// Counts inbound events the filter discarded from blocked peers.
    pub fn inbound_blocked_total(&self) -> watch::Receiver<u64> {
        self.inbound_blocked.subscribe()
    }

    fn state(&self) -> MutexGuard<'_, FaultState> {
        // Plain data with no invariant spanning fields: poison is harmless.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Drops each outbound message with probability `rate` (clamped to 0..=1).
    pub fn set_drop_rate(&self, rate: f64) {
        let rate = if rate.is_nan() {
            0.0
        } else {
            rate.clamp(0.0, 1.0)
        };
        // In range by the clamp above.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let ppm = (rate * f64::from(PPM)).round() as u32;
        self.state().drop_ppm = ppm;
    }

    /// Delays every outbound message batch by `delay` (zero: none).
    pub fn set_delay(&self, delay: Duration) {
        self.state().delay = delay;
    }

    /// Blocks traffic to and from `peers`, in addition to those already blocked.
    pub fn partition(&self, peers: impl IntoIterator<Item = NodeId>) {
        self.state().blocked.extend(peers);
    }

    /// Lifts every partition. Drop rate and delay stay as set.
    pub fn heal(&self) {
        self.state().blocked.clear();
    }

    pub fn is_blocked(&self, peer: NodeId) -> bool {
        self.state().blocked.contains(&peer)
    }

    /// Returns the sender to give the inner transport in place of
    /// `downstream`: a task forwards inbound events to `downstream` unless
    /// they come from a blocked peer. The new channel holds `capacity`
    /// events; events that find `downstream` full are dropped, as a
    /// transport would.
    pub fn filter_inbound(
        &self,
        downstream: mpsc::Sender<Inbound>,
        capacity: usize,
    ) -> mpsc::Sender<Inbound> {
        let (tx, mut rx) = mpsc::channel(capacity);
        let faults = self.clone();
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let from = match &event {
                    Inbound::Messages { from, .. } | Inbound::Snapshot { from, .. } => *from,
                };
                if faults.is_blocked(from) {
                    faults.inbound_blocked.send_modify(|total| *total += 1);
                    continue;
                }
                if let Err(mpsc::error::TrySendError::Closed(_)) = downstream.try_send(event) {
                    return;
                }
            }
        });
        tx
    }

    /// Decides the fate of messages to `to`: `None` when blocked, else the
    /// survivors of the drop rate and the delay to apply.
    fn outbound(&self, to: NodeId, envelopes: Vec<Envelope>) -> Option<(Vec<Envelope>, Duration)> {
        let mut state = self.state();
        if state.blocked.contains(&to) {
            return None;
        }
        let mut kept = envelopes;
        let drop_ppm = state.drop_ppm;
        if drop_ppm > 0 {
            kept.retain(|_| state.roll() >= drop_ppm);
        }
        Some((kept, state.delay))
    }
}

impl FaultState {
    /// A uniform draw in `0..PPM` (splitmix64).
    fn roll(&mut self) -> u32 {
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        u32::try_from(z % u64::from(PPM)).expect("below PPM")
    }
}

/// Wraps `T`, applying a [`FaultController`]'s faults to outbound traffic.
pub struct FaultyTransport<T> {
    inner: Arc<T>,
    faults: FaultController,
}

impl<T: Transport> FaultyTransport<T> {
    pub fn new(inner: T, faults: FaultController) -> Self {
        FaultyTransport {
            inner: Arc::new(inner),
            faults,
        }
    }

    pub fn inner(&self) -> &T {
        &self.inner
    }

    pub fn faults(&self) -> &FaultController {
        &self.faults
    }
}

impl<T: Transport> Transport for FaultyTransport<T> {
    fn send(&self, to: NodeId, envelopes: Vec<Envelope>) {
        let Some((kept, delay)) = self.faults.outbound(to, envelopes) else {
            return;
        };
        if kept.is_empty() {
            return;
        }
        if delay.is_zero() {
            self.inner.send(to, kept);
            return;
        }
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            inner.send(to, kept);
        });
    }

    fn send_snapshot(
        &self,
        to: NodeId,
        group: GroupId,
        message: Message,
        data: SnapshotData,
    ) -> BoxFuture<'static, Result<(), SnapshotSendError>> {
        if self.faults.is_blocked(to) {
            return Box::pin(async move { Err(SnapshotSendError::Unreachable { node: to }) });
        }
        self.inner.send_snapshot(to, group, message, data)
    }

    fn set_peer(&self, id: NodeId, addr: SocketAddr) {
        self.inner.set_peer(id, addr);
    }

    fn remove_peer(&self, id: NodeId) {
        self.inner.remove_peer(id);
    }
}
