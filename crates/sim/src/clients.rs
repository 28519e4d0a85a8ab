//! Simulated clients of the replicated KV service: each runs one operation
//! at a time (puts, deletes, compare-and-set, ReadIndex reads on the leader
//! or a follower, lease reads) and records what it asked and learned.

use crate::cluster::{Cluster, Event};
use crate::command::Command;
use crate::history::{ClientId, Key, Op, OpId, Output};
use crate::node::AppliedEntry;
use crate::options::MS;
use quorate_core::{EntryId, Index, NodeId, ProposeError, ReadMode, ReadState};

const CLIENT_TIMEOUT_US: u64 = 80 * MS;

#[derive(Clone, Copy, Debug)]
pub enum ClientEvent {
    /// Start the client's next operation.
    Next(usize),
    /// Give up on an operation still in flight.
    Timeout(usize, OpId),
}

#[derive(Clone, Copy, Debug)]
enum Waiting {
    /// A proposal at `entry`; answered when the proposer applies it.
    Write { entry: EntryId },
    /// A read numbered `request` by its node; `index` arrives with the
    /// ReadState, then waits for apply.
    Read {
        request: u64,
        key: Key,
        index: Option<Index>,
        required: Index,
    },
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    op: OpId,
    node: NodeId,
    waiting: Waiting,
}

#[derive(Clone, Debug)]
struct Client {
    id: ClientId,
    /// Where this client believes the leader is.
    leader_guess: Option<NodeId>,
    current: Option<InFlight>,
    /// A reader only issues lease reads to the node it believes leads, as
    /// a cache in front of the service would.
    lease_reader: bool,
}

/// The workload's shape, drawn per seed: percentages of writes, lease reads
/// and follower reads; the rest are ReadIndex reads on the leader.
#[derive(Clone, Copy, Debug)]
pub struct Mix {
    pub write_pct: u32,
    pub lease_read_pct: u32,
    pub follower_read_pct: u32,
}

pub struct Clients {
    list: Vec<Client>,
    mix: Mix,
    keys: u64,
    node_count: u64,
    next_value: u64,
    /// No operation starts after this time.
    pub stop_at: u64,
    /// Writes a client saw acknowledged: (index, term, op), for the
    /// lost-write check at the end of a run.
    pub acked: Vec<(Index, quorate_core::Term, u64)>,
}

impl Clients {
    pub fn new(rng: &mut fastrand::Rng, voters: u64) -> Self {
        let count = rng.usize(3..=6);
        let list = (0..count)
            .map(|k| Client {
                id: ClientId(k as u64),
                leader_guess: None,
                current: None,
                lease_reader: k == 0 || rng.u32(0..4) == 0,
            })
            .collect();
        let mix = [
            Mix {
                write_pct: 45,
                lease_read_pct: 25,
                follower_read_pct: 15,
            },
            Mix {
                write_pct: 20,
                lease_read_pct: 50,
                follower_read_pct: 10,
            },
            Mix {
                write_pct: 70,
                lease_read_pct: 10,
                follower_read_pct: 10,
            },
        ][rng.usize(0..3)];
        Clients {
            list,
            mix,
            keys: rng.u64(2..=5),
            node_count: voters + 1,
            next_value: 1,
            stop_at: u64::MAX,
            acked: Vec::new(),
        }
    }
}

pub fn schedule_start(cluster: &mut Cluster) {
    cluster.clients.stop_at = cluster.options.fault_phase_us + 500 * MS;
    for k in 0..cluster.clients.list.len() {
        let start = cluster.rng.u64(100 * MS..300 * MS);
        cluster.schedule(start, Event::Client(ClientEvent::Next(k)));
    }
}

pub fn on_event(cluster: &mut Cluster, event: ClientEvent) {
    match event {
        ClientEvent::Next(k) => start_op(cluster, k),
        ClientEvent::Timeout(k, op) => {
            let Some(flight) = cluster.clients.list[k].current.filter(|f| f.op == op) else {
                return;
            };
            give_up(cluster, k, flight);
        }
    }
}

/// The client learns nothing more: a write may still happen, a read is
/// simply lost.
fn give_up(cluster: &mut Cluster, k: usize, flight: InFlight) {
    match flight.waiting {
        Waiting::Write { .. } => cluster.history.indeterminate(flight.op),
        Waiting::Read { .. } => cluster.history.fail(flight.op),
    }
    // A client often retries where it was: it cannot tell a slow leader
    // from a deposed one.
    if cluster.rng.bool() {
        cluster.clients.list[k].leader_guess = None;
    }
    finish(cluster, k, 5 * MS);
}

fn finish(cluster: &mut Cluster, k: usize, think_us: u64) {
    cluster.clients.list[k].current = None;
    let delay = think_us + cluster.rng.u64(0..5 * MS);
    cluster.schedule(delay, Event::Client(ClientEvent::Next(k)));
}

/// Where the next request goes: the guessed leader, or any node; a node
/// that knows another leader redirects (HTTP 307 in the real service).
fn pick_node(cluster: &mut Cluster, k: usize, leader: bool) -> NodeId {
    let guess = cluster.clients.list[k].leader_guess;
    let node = match guess {
        Some(id) if leader && cluster.nodes.contains_key(&id) => id,
        _ => NodeId::new(cluster.rng.u64(1..=cluster.clients.node_count)),
    };
    let redirect = cluster.nodes[&node]
        .raw
        .as_ref()
        .filter(|raw| leader && raw.role() != quorate_core::Role::Leader)
        .and_then(|raw| raw.leader())
        // A hostile message can name a leader id no member has.
        .filter(|target| cluster.nodes.contains_key(target));
    match redirect {
        Some(target) => {
            cluster.clients.list[k].leader_guess = Some(target);
            target
        }
        None => node,
    }
}

fn start_op(cluster: &mut Cluster, k: usize) {
    if cluster.now >= cluster.clients.stop_at {
        return;
    }
    let mix = cluster.clients.mix;
    let roll = if cluster.clients.list[k].lease_reader {
        // Lands in the lease-read band of the mix.
        mix.write_pct
    } else {
        cluster.rng.u32(0..100)
    };
    let follower_read = roll >= 100 - mix.follower_read_pct;
    let node = pick_node(cluster, k, !follower_read);
    if !cluster.nodes[&node].is_up() || cluster.is_paused(node) {
        // Connection refused or hanging: try elsewhere shortly.
        cluster.clients.list[k].leader_guess = None;
        finish(cluster, k, MS);
        return;
    }
    let key = cluster.rng.u64(1..=cluster.clients.keys);
    if roll < mix.write_pct {
        let op = write_op(cluster, key);
        start_write(cluster, k, node, op);
    } else {
        let lease = !follower_read && roll < mix.write_pct + mix.lease_read_pct;
        let mode = if lease {
            ReadMode::Lease
        } else {
            ReadMode::Quorum
        };
        start_read(cluster, k, node, key, mode);
    }
}

fn write_op(cluster: &mut Cluster, key: Key) -> Op {
    let value = cluster.clients.next_value;
    cluster.clients.next_value += 1;
    match cluster.rng.u32(0..10) {
        0 => Op::Delete { key },
        1..=4 => {
            let expected = cluster.nodes.values().find_map(|n| n.kv.value(key));
            let expected = if cluster.rng.bool() { expected } else { None };
            let new = if cluster.rng.u32(0..5) == 0 {
                None
            } else {
                Some(value)
            };
            Op::Cas { key, expected, new }
        }
        _ => Op::Put { key, value },
    }
}

fn start_write(cluster: &mut Cluster, k: usize, node: NodeId, op: Op) {
    let client = cluster.clients.list[k].id;
    let id = cluster.history.invoke(client, op, cluster.now);
    let command = Command {
        op_index: id.0 as u64,
        op,
    };
    let result = cluster.node(node).raw().propose(command.encode());
    match result {
        Ok(entry) => {
            let waiting = Waiting::Write { entry };
            cluster.clients.list[k].current = Some(InFlight {
                op: id,
                node,
                waiting,
            });
            cluster.schedule(
                CLIENT_TIMEOUT_US,
                Event::Client(ClientEvent::Timeout(k, id)),
            );
        }
        Err(err) => {
            cluster.history.fail(id);
            let guess = match err {
                ProposeError::NotLeader { leader } => leader,
                _ => Some(node),
            };
            cluster.clients.list[k].leader_guess = guess;
            finish(cluster, k, MS);
        }
    }
    cluster.after_input(node);
}

fn start_read(cluster: &mut Cluster, k: usize, node: NodeId, key: Key, mode: ReadMode) {
    let client = cluster.clients.list[k].id;
    let id = cluster.history.invoke(client, Op::Get { key }, cluster.now);
    let required = cluster.checker.commit_high_water;
    let request = cluster.node(node).next_read_request();
    match cluster.node(node).raw().read_index(request, mode) {
        Ok(()) => {
            let waiting = Waiting::Read {
                request,
                key,
                index: None,
                required,
            };
            cluster.clients.list[k].current = Some(InFlight {
                op: id,
                node,
                waiting,
            });
            cluster.schedule(
                CLIENT_TIMEOUT_US,
                Event::Client(ClientEvent::Timeout(k, id)),
            );
        }
        Err(_) => {
            cluster.history.fail(id);
            cluster.clients.list[k].leader_guess = None;
            finish(cluster, k, 5 * MS);
        }
    }
    cluster.after_input(node);
}

/// An entry was applied on `node`: answer the client that proposed it
/// there, or tell it the proposal was overwritten.
pub fn on_applied(
    cluster: &mut Cluster,
    node: NodeId,
    entry: AppliedEntry,
    output: Option<Output>,
) {
    for k in 0..cluster.clients.list.len() {
        let Some(flight) = cluster.clients.list[k].current else {
            continue;
        };
        let Waiting::Write { entry: proposed } = flight.waiting else {
            continue;
        };
        if flight.node != node || proposed.index != entry.index {
            continue;
        }
        if proposed.term == entry.term {
            let output = output.expect("a proposed command applies with an answer");
            cluster.history.complete(flight.op, output, cluster.now);
            let acked = (entry.index, entry.term, flight.op.0 as u64);
            cluster.clients.acked.push(acked);
            cluster.clients.list[k].leader_guess = Some(node);
            finish(cluster, k, 0);
        } else {
            // Another leader's entry took this index: ours is gone for good.
            cluster.history.fail(flight.op);
            finish(cluster, k, MS);
        }
    }
}

pub fn on_read_state(cluster: &mut Cluster, node: NodeId, read: ReadState) {
    let now = cluster.now;
    for client in &mut cluster.clients.list {
        let Some(flight) = &mut client.current else {
            continue;
        };
        let Waiting::Read {
            request,
            index,
            required,
            ..
        } = &mut flight.waiting
        else {
            continue;
        };
        if flight.node == node && *request == read.request && index.is_none() {
            *index = Some(read.index);
            cluster.checker.check_read(node, read.index, *required, now);
        }
    }
}

pub fn on_read_dropped(cluster: &mut Cluster, node: NodeId, request: u64) {
    for k in 0..cluster.clients.list.len() {
        let Some(flight) = cluster.clients.list[k].current else {
            continue;
        };
        let Waiting::Read { request: asked, .. } = flight.waiting else {
            continue;
        };
        if flight.node == node && asked == request {
            cluster.history.fail(flight.op);
            cluster.clients.list[k].leader_guess = None;
            finish(cluster, k, MS);
        }
    }
}

/// Reads whose index `node` has applied are answered from its state.
pub fn complete_reads(cluster: &mut Cluster, node: NodeId) {
    let applied = cluster.nodes[&node].kv_applied;
    for k in 0..cluster.clients.list.len() {
        let Some(flight) = cluster.clients.list[k].current else {
            continue;
        };
        let Waiting::Read {
            key,
            index: Some(index),
            ..
        } = flight.waiting
        else {
            continue;
        };
        if flight.node == node && index <= applied {
            let value = cluster.nodes[&node].kv.value(key);
            cluster
                .history
                .complete(flight.op, Output::Read(value), cluster.now);
            finish(cluster, k, 0);
        }
    }
}

/// `node` crashed: its clients learn nothing more.
pub fn on_crash(cluster: &mut Cluster, node: NodeId) {
    for k in 0..cluster.clients.list.len() {
        let Some(flight) = cluster.clients.list[k].current else {
            continue;
        };
        if flight.node == node {
            give_up(cluster, k, flight);
        }
    }
}
