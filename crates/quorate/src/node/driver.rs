//! The driver loop: one task steps every group of the node.
//!
//! One step: wait for any event, drain whatever else is ready (up to
//! [`STEP_EVENTS_MAX`]), deliver the ticks that elapsed, handle the events,
//! then collect every group's `Ready` into one WAL batch (one fsync),
//! send messages per peer, and hand committed entries to apply workers
//! once their batch is durable. See ARCHITECTURE.md, "Runtime driver loop".

use crate::config::NodeConfig;
use crate::metrics::{NodeMetrics, PeerMetrics};
use crate::node::events::{Command, Event, Internal};
use crate::node::slot::GroupSlot;
use crate::transport::{Envelope, Inbound, Transport};
use quorate_core::{GroupId, NodeId};
use quorate_wal::Wal;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{Instant, Interval, MissedTickBehavior};

/// 1 while the node's disk is full and it acknowledges nothing, else 0.
const WAL_DISK_FULL: &str = "quorate_wal_disk_full";

/// Events handled in one step at most; the rest wait for the next step,
/// so one flood cannot starve ticks and WAL completions.
pub(crate) const STEP_EVENTS_MAX: usize = 4096;
/// WAL batches submitted and not yet durable. At the limit the driver
/// stops collecting `Ready`s until one completes; the `Ready` taken last may
/// add the few batches it needs beyond it (see `persist::Staging`), which
/// also bounds the durable-notification channel.
pub(crate) const WAL_BATCHES_IN_FLIGHT_MAX: usize = 64;
/// Background reports (snapshots) waiting for the driver; senders wait.
pub(crate) const INTERNAL_QUEUE_MAX: usize = 1024;

/// A batch became durable: its sequence number and when it was submitted.
pub(crate) type Durable = (u64, std::time::Instant);

/// The receiving ends of everything the driver reacts to.
pub(crate) struct Inputs {
    pub commands: mpsc::Receiver<Command>,
    pub inbound: mpsc::Receiver<Inbound>,
    pub internal: mpsc::Receiver<Internal>,
    pub durable: mpsc::UnboundedReceiver<Durable>,
}

impl Inputs {
    /// The next event; `None` once every client handle is gone.
    async fn next(&mut self, timer: &mut Interval) -> Option<Event> {
        tokio::select! {
            biased;
            Some((seq, submitted_at)) = self.durable.recv() => {
                Some(Event::Durable { seq, submitted_at })
            }
            Some(internal) = self.internal.recv() => Some(Event::Internal(internal)),
            _ = timer.tick() => Some(Event::Tick),
            Some(inbound) = self.inbound.recv() => Some(Event::Inbound(inbound)),
            command = self.commands.recv() => command.map(Event::Command),
        }
    }

    /// Whatever else is ready right now, without waiting.
    fn drain(&mut self, events: &mut Vec<Event>) {
        while events.len() < STEP_EVENTS_MAX {
            if let Ok((seq, submitted_at)) = self.durable.try_recv() {
                events.push(Event::Durable { seq, submitted_at });
            } else if let Ok(internal) = self.internal.try_recv() {
                events.push(Event::Internal(internal));
            } else if let Ok(inbound) = self.inbound.try_recv() {
                events.push(Event::Inbound(inbound));
            } else if let Ok(command) = self.commands.try_recv() {
                events.push(Event::Command(command));
            } else {
                return;
            }
        }
    }
}

/// The driver's state. Owned by its task; nothing else touches it.
pub(crate) struct Driver {
    pub node: NodeId,
    pub config: Arc<NodeConfig>,
    pub wal: Arc<Wal>,
    pub transport: Arc<dyn Transport>,
    pub groups: BTreeMap<GroupId, GroupSlot>,
    pub internal_tx: mpsc::Sender<Internal>,
    pub durable_tx: mpsc::UnboundedSender<Durable>,
    /// Sequence number of the last submitted WAL batch.
    pub batch_seq: u64,
    pub batches_in_flight: usize,
    /// The instant up to which ticks were delivered.
    pub ticked_until: Instant,
    pub read_seq: u64,
    /// Envelopes of this step, per peer: one `Transport::send` each.
    pub outbox: BTreeMap<NodeId, Vec<Envelope>>,
    pub metrics: NodeMetrics,
    pub peer_metrics: HashMap<NodeId, PeerMetrics>,
}

impl Driver {
    pub fn new(
        config: Arc<NodeConfig>,
        wal: Arc<Wal>,
        transport: Arc<dyn Transport>,
        internal_tx: mpsc::Sender<Internal>,
        durable_tx: mpsc::UnboundedSender<Durable>,
    ) -> Driver {
        Driver {
            node: config.node_id,
            config,
            wal,
            transport,
            groups: BTreeMap::new(),
            internal_tx,
            durable_tx,
            batch_seq: 0,
            batches_in_flight: 0,
            ticked_until: Instant::now(),
            read_seq: 0,
            outbox: BTreeMap::new(),
            metrics: NodeMetrics::new(),
            peer_metrics: HashMap::new(),
        }
    }

    /// Runs until a shutdown command (or until every handle is dropped).
    pub async fn run(mut self, mut inputs: Inputs) {
        let mut timer = tokio::time::interval(self.config.tick_interval);
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut events = Vec::with_capacity(64);
        loop {
            let Some(first) = inputs.next(&mut timer).await else {
                tracing::info!("every handle dropped; driver stops");
                self.stop(None);
                return;
            };
            events.push(first);
            inputs.drain(&mut events);
            // Ticks first: a process that was paused must see its lease
            // expire before it serves anything.
            self.deliver_ticks();
            let mut stop = None;
            for event in events.drain(..) {
                if let Some(done) = self.handle(event) {
                    stop = Some(done);
                    break;
                }
            }
            self.collect_ready();
            self.flush_outbox();
            if stop.is_some() {
                self.stop(stop);
                return;
            }
        }
    }

    /// Delivers one tick per elapsed `tick_interval` of monotonic time, at
    /// most enough to expire every timer twice over.
    fn deliver_ticks(&mut self) {
        let interval = self.config.tick_interval;
        let elapsed = Instant::now().saturating_duration_since(self.ticked_until);
        let due = elapsed.as_nanos() / interval.as_nanos().max(1);
        if due == 0 {
            return;
        }
        let due = u32::try_from(due).unwrap_or(u32::MAX);
        self.ticked_until += interval * due;
        let ticks = due.min(4 * self.config.election_ticks);
        if ticks > 1 {
            tracing::debug!(ticks, "driver was delayed; delivering missed ticks");
        }
        for slot in self.groups.values_mut() {
            for _ in 0..ticks {
                slot.raw.tick();
            }
        }
        metrics::gauge!(WAL_DISK_FULL).set(if self.wal.disk_full() { 1.0 } else { 0.0 });
    }

    /// Sends this step's envelopes: one call per peer.
    pub fn flush_outbox(&mut self) {
        for (peer, envelopes) in std::mem::take(&mut self.outbox) {
            let metrics = self
                .peer_metrics
                .entry(peer)
                .or_insert_with(|| PeerMetrics::new(peer));
            metrics.messages.increment(envelopes.len() as u64);
            let bytes: u64 = envelopes
                .iter()
                .map(|e| crate::metrics::message_bytes(&e.message))
                .sum();
            metrics.bytes.increment(bytes);
            self.transport.send(peer, envelopes);
        }
    }

    /// Stops: pending reads learn the node is going away; proposals'
    /// waiters are dropped with the groups (their callers see "aborted").
    fn stop(&mut self, done: Option<oneshot::Sender<()>>) {
        for slot in self.groups.values_mut() {
            for (_, reply) in slot.reads.drain() {
                let _ = reply.send(Err(crate::error::ReadError::Shutdown));
            }
            if let Some(token) = slot.shared.leadership().take() {
                token.cancel();
            }
        }
        self.groups.clear();
        if let Some(done) = done {
            let _ = done.send(());
        }
    }
}
