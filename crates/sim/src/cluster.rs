//! The simulated cluster: nodes, a network of timed deliveries, and one
//! event queue ordered by (time, sequence) so every run is a pure function
//! of its seed.

use crate::check::Checker;
use crate::clients::Clients;
use crate::history::History;
use crate::kv_model::KvState;
use crate::liveness::Liveness;
use crate::node::{Seeding, SimNode};
use crate::options::{RunOptions, ELECTION_TICKS, HEARTBEAT_TICKS, MS, TICK_PERIOD_US};
use quorate_core::{ConfState, Config, EntryId, Message, MessageBody, NodeId, SnapshotMeta};
use std::collections::{BTreeMap, BTreeSet};

/// Something that happens at a simulated instant.
#[derive(Debug)]
pub enum Event {
    Tick(NodeId),
    Deliver(Box<Message>, Option<Box<KvState>>),
    /// The simulated fsync of a node's outstanding Ready completes.
    Persist(NodeId, u64),
    Client(crate::clients::ClientEvent),
    Fault(crate::faults::Fault),
    Compact(NodeId),
}

/// Network conditions (faults change them; healing resets them).
#[derive(Clone, Debug, Default)]
pub struct NetState {
    /// Directed links that drop everything.
    pub cut: BTreeSet<(NodeId, NodeId)>,
    pub drop_per_mille: u32,
    pub duplicate_per_mille: u32,
    /// Extra delay added to a fraction of messages (reordering).
    pub delay_per_mille: u32,
}

pub struct Cluster {
    pub options: RunOptions,
    pub rng: fastrand::Rng,
    pub now: u64,
    seq: u64,
    events: BTreeMap<(u64, u64), Event>,
    pub nodes: BTreeMap<NodeId, SimNode>,
    pub tick_period_us: BTreeMap<NodeId, u64>,
    /// Paused nodes and when they resume.
    pub paused_until: BTreeMap<NodeId, u64>,
    /// Ticks a paused node's clock produced that it has not yet handled.
    pub missed_ticks: BTreeMap<NodeId, u64>,
    /// Nodes whose disk and network are slow.
    pub slow: BTreeSet<NodeId>,
    pub net: NetState,
    pub clients: Clients,
    pub history: History,
    pub checker: Checker,
    pub steps: u64,
    /// Compaction keeps at most this many applied entries in the log.
    pub compact_threshold: u64,
    /// The term each node last led, to notice new leaderships.
    led_term: BTreeMap<NodeId, quorate_core::Term>,
    /// The commit index each leader last showed.
    leader_commit: BTreeMap<NodeId, quorate_core::Index>,
    /// How often (per mille) the nemesis picks on a fresh leader; varies by
    /// seed so some runs churn leaders hard and others barely.
    pub nemesis_per_mille: u32,
    /// How often (per mille) a sent message also arrives as a hostile copy.
    pub hostile_per_mille: u32,
    /// Messages refused by a node's `step` (hostile or malformed ones).
    pub refused: u64,
    /// Recent forwarded-read answers, replayed to their node after it
    /// restarts (a duplicate delivered across a restart).
    pub recent_read_answers: Vec<Message>,
    /// Ticks of spare lease drift allowance a clock jump may use: only on
    /// clocks in step, where the drift bound is otherwise unused.
    pub clock_slack_ticks: u64,
    pub last_clock_jump: BTreeMap<NodeId, u64>,
    /// Ticks a node's clock will not deliver (it jumped back).
    pub swallowed_ticks: BTreeMap<NodeId, u64>,
    /// Clocks in step and a uniform network and disk (one host): only the
    /// seeded election jitter keeps members' timeouts apart.
    pub in_step: bool,
    /// Healing restarts every node at once (a power cut), in some seeds.
    pub full_restart_at_heal: bool,
    /// The scripted Figure 8 nemesis, in the seeds that run it.
    pub figure8: Option<crate::figure8::Figure8>,
    pub liveness: Liveness,
}

impl Cluster {
    pub fn new(options: RunOptions) -> Self {
        let mut rng = fastrand::Rng::with_seed(options.seed);
        // Some clusters run on clocks in step (one host, one time source):
        // then only the seeded jitter keeps elections apart.
        let in_step = rng.u32(0..4) == 0;
        let (nodes, tick_period_us) = build_nodes(&mut rng, &options, in_step);
        let compact_threshold = [20, 100, 1_000][rng.usize(0..3)];
        let nemesis_per_mille = [0, 100, 300, 600][rng.usize(0..4)];
        let figure8 = crate::figure8::Figure8::maybe_new(&mut rng, &options);
        let hostile_per_mille = if options.faults.hostile && figure8.is_none() {
            [0, 5, 20, 60][rng.usize(0..4)]
        } else {
            0
        };
        let clock_slack_ticks = if in_step {
            u64::from(options.lease_drift_ticks().saturating_sub(2))
        } else {
            0
        };
        let full_restart_at_heal = rng.u32(0..3) == 0;
        let mut checker = Checker::default();
        checker.outcome_only = options.outcome_checks_only;
        let mut cluster = Cluster {
            clients: Clients::new(&mut rng, options.nodes),
            options,
            rng,
            now: 0,
            seq: 0,
            events: BTreeMap::new(),
            nodes,
            tick_period_us,
            paused_until: BTreeMap::new(),
            missed_ticks: BTreeMap::new(),
            slow: BTreeSet::new(),
            net: NetState::default(),
            history: History::new(),
            checker,
            steps: 0,
            compact_threshold,
            led_term: BTreeMap::new(),
            leader_commit: BTreeMap::new(),
            nemesis_per_mille,
            hostile_per_mille,
            refused: 0,
            recent_read_answers: Vec::new(),
            clock_slack_ticks,
            last_clock_jump: BTreeMap::new(),
            swallowed_ticks: BTreeMap::new(),
            full_restart_at_heal,
            in_step,
            figure8,
            liveness: Liveness::default(),
        };
        cluster.schedule_start(in_step);
        cluster
    }

    fn schedule_start(&mut self, in_step: bool) {
        let ids: Vec<NodeId> = self.nodes.keys().copied().collect();
        let common_phase = self.rng.u64(0..TICK_PERIOD_US);
        for id in ids {
            let phase = if in_step {
                common_phase + self.rng.u64(0..50)
            } else {
                self.rng.u64(0..TICK_PERIOD_US)
            };
            self.schedule(phase, Event::Tick(id));
            let compact_at = self.rng.u64(50 * MS..150 * MS);
            self.schedule(compact_at, Event::Compact(id));
        }
        crate::clients::schedule_start(self);
        crate::faults::schedule_plan(self);
    }

    pub fn schedule(&mut self, delay_us: u64, event: Event) {
        self.seq += 1;
        self.events.insert((self.now + delay_us, self.seq), event);
    }

    /// Runs one event; false when none is left before `until`.
    pub fn step_until(&mut self, until: u64) -> bool {
        let Some((&(time, seq), _)) = self.events.first_key_value() else {
            return false;
        };
        if time > until {
            self.now = until;
            return false;
        }
        let event = self.events.remove(&(time, seq)).expect("event exists");
        self.now = time;
        self.steps += 1;
        if self.options.trace {
            self.trace(&event);
        }
        self.handle(event);
        true
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Tick(id) => self.on_tick(id),
            Event::Deliver(m, image) => self.on_deliver(*m, image.map(|b| *b)),
            Event::Persist(id, incarnation) => self.on_persist(id, incarnation),
            Event::Client(event) => crate::clients::on_event(self, event),
            Event::Fault(fault) => crate::faults::apply(self, fault),
            Event::Compact(id) => self.on_compact(id),
        }
    }

    fn trace(&self, event: &Event) {
        let node_id = match event {
            Event::Tick(_) => return,
            Event::Deliver(m, _) => m.to,
            Event::Persist(id, _) | Event::Compact(id) => *id,
            _ => NodeId::NONE,
        };
        let state = self
            .nodes
            .get(&node_id)
            .and_then(|n| n.raw.as_ref())
            .map(|raw| {
                let durable = quorate_core::LogStore::last_index(raw.store());
                format!(
                    "[{} {} t{} commit {} last {} durable {}]",
                    node_id,
                    raw.role(),
                    raw.term().get(),
                    raw.commit_index(),
                    raw.last_index(),
                    durable
                )
            });
        println!("{:>9} {:?} {}", self.now, event, state.unwrap_or_default());
    }

    pub fn is_paused(&self, id: NodeId) -> bool {
        self.paused_until.get(&id).is_some_and(|&t| t > self.now)
    }

    fn on_tick(&mut self, id: NodeId) {
        let period = self.tick_period_us[&id];
        self.schedule(period, Event::Tick(id));
        if !self.nodes[&id].is_up() {
            return;
        }
        if self.is_paused(id) {
            *self.missed_ticks.entry(id).or_default() += 1;
            return;
        }
        if let Some(left) = self.swallowed_ticks.get_mut(&id) {
            *left -= 1;
            if *left == 0 {
                self.swallowed_ticks.remove(&id);
            }
            return;
        }
        self.node(id).raw().tick();
        self.after_input(id);
    }

    /// A paused process resumes: it first catches up on the ticks its clock
    /// says it missed (a runtime derives ticks from a monotonic clock), then
    /// handles what queued up meanwhile.
    pub fn resume(&mut self, id: NodeId) {
        self.paused_until.remove(&id);
        let missed = self.missed_ticks.remove(&id).unwrap_or(0);
        if !self.nodes[&id].is_up() {
            return;
        }
        for _ in 0..missed {
            self.node(id).raw().tick();
        }
        self.after_input(id);
    }

    fn on_deliver(&mut self, m: Message, image: Option<KvState>) {
        let to = m.to;
        if self.is_paused(to) {
            let resume = self.paused_until[&to];
            let boxed = Event::Deliver(Box::new(m), image.map(Box::new));
            self.schedule(resume - self.now + 1, boxed);
            return;
        }
        let from = m.from;
        let is_snapshot = matches!(m.body, MessageBody::InstallSnapshot(_));
        let node = self.node(to);
        if !node.is_up() {
            if is_snapshot {
                self.report_snapshot(from, to, false);
            }
            return;
        }
        if let (MessageBody::InstallSnapshot(snap), Some(image)) = (&m.body, image) {
            node.incoming_snapshots.push((snap.meta.clone(), image));
        }
        if matches!(m.body, MessageBody::ReadIndexResponse(_)) {
            crate::hostile::remember_read_answer(self, &m);
        }
        // A refused message changes nothing; the count shows the gateway
        // at work. A panic here is caught by the runner as a violation.
        let accepted = self.node(to).raw().step(m).is_ok();
        if !accepted {
            self.refused += 1;
        }
        if is_snapshot {
            self.report_snapshot(from, to, accepted);
        }
        self.after_input(to);
    }

    fn report_snapshot(&mut self, leader: NodeId, follower: NodeId, delivered: bool) {
        if self.nodes.get(&leader).is_some_and(|n| n.is_up()) {
            self.node(leader).raw().report_snapshot(follower, delivered);
            self.after_input(leader);
        }
    }

    fn on_persist(&mut self, id: NodeId, incarnation: u64) {
        let node = self.node(id);
        if !node.is_up() || node.incarnation != incarnation || node.outstanding.is_none() {
            return;
        }
        if self.is_paused(id) {
            let delay = self.paused_until[&id] - self.now + 1;
            self.schedule(delay, Event::Persist(id, incarnation));
            return;
        }
        if crate::restarts::maybe_crash_installing(self, id) {
            return;
        }
        let persisted = self.node(id).finish_persist();
        for m in persisted.messages {
            self.send(m);
        }
        for (entry, output) in persisted.applied {
            self.checker.on_applied(id, entry);
            crate::clients::on_applied(self, id, entry, output);
        }
        for read in persisted.read_states {
            crate::clients::on_read_state(self, id, read);
        }
        for request in persisted.dropped_reads {
            crate::clients::on_read_dropped(self, id, request);
        }
        crate::clients::complete_reads(self, id);
        self.after_input(id);
    }

    fn on_compact(&mut self, id: NodeId) {
        self.schedule(100 * MS, Event::Compact(id));
        if self.is_paused(id) || !self.nodes[&id].is_up() {
            return;
        }
        crate::restarts::compact(self, id);
    }

    pub fn node(&mut self, id: NodeId) -> &mut SimNode {
        self.nodes.get_mut(&id).expect("node exists")
    }

    /// After any input to `id`: check invariants, then start persisting the
    /// next Ready (sending what may leave before the fsync).
    pub fn after_input(&mut self, id: NodeId) {
        if !self.nodes[&id].is_up() {
            return;
        }
        let now = self.now;
        self.checker.check_node(now, &self.nodes[&id]);
        self.liveness.observe(now, &self.nodes[&id]);
        self.notice_new_leader(id);
        let fsync_us = self.fsync_latency(id);
        let Some((immediate, _)) = self.node(id).take_ready(now + fsync_us) else {
            return;
        };
        let incarnation = self.nodes[&id].incarnation;
        self.schedule(fsync_us, Event::Persist(id, incarnation));
        for m in immediate {
            self.send(m);
        }
        crate::faults::maybe_crash_in_fsync_window(self, id);
    }

    /// Gives the nemesis its cue: a node just became leader, or a leader
    /// just advanced its commit index.
    fn notice_new_leader(&mut self, id: NodeId) {
        let Some(raw) = self.nodes[&id].raw.as_ref() else {
            return;
        };
        if raw.role() != quorate_core::Role::Leader {
            return;
        }
        let (term, commit) = (raw.term(), raw.commit_index());
        if self.led_term.insert(id, term) != Some(term) {
            self.leader_commit.insert(id, commit);
            crate::faults::on_new_leader(self, id);
        } else if self
            .leader_commit
            .insert(id, commit)
            .is_some_and(|old| old < commit)
        {
            crate::faults::on_leader_commit(self, id);
        }
    }

    fn fsync_latency(&mut self, id: NodeId) -> u64 {
        let base = if self.in_step {
            self.rng.u64(500..520)
        } else {
            self.rng.u64(100..1_500)
        };
        if self.slow.contains(&id) {
            base * 10
        } else {
            base
        }
    }

    /// Puts a message on the network, subject to the current faults.
    pub fn send(&mut self, mut m: Message) {
        self.checker.check_send(self.now, &self.nodes[&m.from], &m);
        if !self.nodes.contains_key(&m.to) {
            // An answer to a hostile sender id nobody has.
            return;
        }
        let passes = crate::figure8::filter(self, &mut m);
        let dropped = !passes
            || self.net.cut.contains(&(m.from, m.to))
            || self.chance(self.net.drop_per_mille);
        if self.options.trace {
            let verdict = if dropped { "dropped" } else { "sent" };
            println!("{:>9}   {verdict} {:?}", self.now, m);
        }
        if dropped {
            if matches!(m.body, MessageBody::InstallSnapshot(_)) {
                self.report_snapshot(m.from, m.to, false);
            }
            return;
        }
        let image = match &m.body {
            MessageBody::InstallSnapshot(_) => {
                Some(Box::new(self.nodes[&m.from].snapshot_data.clone()))
            }
            _ => None,
        };
        crate::hostile::maybe_inject(self, &m);
        let latency = self.latency(m.from, m.to);
        if self.chance(self.net.duplicate_per_mille) {
            let extra = self.latency(m.from, m.to) * 3;
            let copy = Event::Deliver(Box::new(m.clone()), image.clone());
            self.schedule(latency + extra, copy);
        }
        self.schedule(latency, Event::Deliver(Box::new(m), image));
    }

    pub fn latency(&mut self, from: NodeId, to: NodeId) -> u64 {
        let mut us = if self.in_step {
            self.rng.u64(300..320)
        } else {
            self.rng.u64(100..2_000)
        };
        if self.chance(self.net.delay_per_mille) {
            us += self.rng.u64(5 * MS..40 * MS);
        }
        if self.slow.contains(&from) || self.slow.contains(&to) {
            us *= 3;
        }
        us
    }

    pub fn chance(&mut self, per_mille: u32) -> bool {
        per_mille > 0 && self.rng.u32(0..1_000) < per_mille
    }
}

/// The members (voters plus one spare for membership changes) and each
/// one's tick period.
fn build_nodes(
    rng: &mut fastrand::Rng,
    options: &RunOptions,
    in_step: bool,
) -> (BTreeMap<NodeId, SimNode>, BTreeMap<NodeId, u64>) {
    let voters: Vec<NodeId> = (1..=options.nodes).map(NodeId::new).collect();
    let initial = SnapshotMeta {
        last: EntryId::default(),
        conf_state: ConfState::with_voters(voters),
    };
    let append_bytes_max = if rng.bool() { 1 } else { 64 << 10 };
    let inflight_msgs_max = [1, 4, 256][rng.usize(0..3)];
    let priorities = rng.u32(0..3) == 0;
    let drift = if in_step {
        0.0
    } else {
        options.drift_fraction()
    };
    let seeding = Seeding {
        run_seed: options.seed,
        bug: options.bug,
        sm_persists: options.faults.crash && rng.bool(),
    };
    let mut nodes = BTreeMap::new();
    let mut tick_period_us = BTreeMap::new();
    for raw_id in 1..=options.nodes + 1 {
        let id = NodeId::new(raw_id);
        let mut config = Config::new(id);
        config.election_ticks = ELECTION_TICKS;
        config.heartbeat_ticks = HEARTBEAT_TICKS;
        config.lease_drift_ticks = options.lease_drift_ticks();
        config.append_bytes_max = append_bytes_max;
        config.inflight_msgs_max = inflight_msgs_max;
        if priorities {
            config.priority = rng.u64(0..3);
        }
        nodes.insert(id, SimNode::new(config, initial.clone(), seeding));
        // Clocks often sit at the edges of the bound, where leases are
        // tested hardest.
        let spread = match rng.u32(0..3) {
            0 => -1.0,
            1 => 1.0,
            _ => rng.f64() * 2.0 - 1.0,
        };
        let factor = 1.0 + drift * spread;
        tick_period_us.insert(id, (TICK_PERIOD_US as f64 * factor) as u64);
    }
    (nodes, tick_period_us)
}
