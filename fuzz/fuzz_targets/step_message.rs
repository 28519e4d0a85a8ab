//! Decodes arbitrary bytes as a peer's batch of wire envelopes and steps
//! every decoded message into a node whose role and log the first byte
//! picks (follower, pre-candidate, candidate, leader, learner). Decoding
//! must fail with a typed error and the core's gateway must admit or refuse
//! each message, never panic; the core checks its invariants after every
//! step (the `planted-bugs` feature keeps those checks on in release
//! builds; no bug is planted).
//!
//! Run with `cargo +nightly fuzz run step_message` from this directory.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use prost::Message as _;
use quorate::transport::Envelope;
use quorate::wire::WireEnvelope;
use quorate_core::{
    ConfState, Config, Entry, EntryId, EntryKind, HardState, Index, MemStore, Message, MessageBody,
    NodeId, RawNode, SnapshotMeta, Term, VoteResponse,
};

/// Terms of the subject's durable log, from index 1.
const LOG_TERMS: [u64; 7] = [1, 1, 2, 2, 3, 3, 3];
const LEARNER: u64 = 4;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, mut rest)) = data.split_first() else {
        return;
    };
    let mut node = subject(selector);
    while !rest.is_empty() {
        let Ok(wire) = WireEnvelope::decode_length_delimited(&mut rest) else {
            return;
        };
        let Ok(envelope) = Envelope::try_from(wire) else {
            continue;
        };
        let mut message = envelope.message;
        if selector & 0x80 != 0 {
            // Spare the fuzzer from guessing the subject's id.
            message.to = node.id();
        }
        let _ = node.step(message);
        handle_ready(&mut node);
        if selector & 0x40 != 0 {
            node.tick();
            handle_ready(&mut node);
        }
    }
});

/// A node in the role `selector % 5` picks, with a log of the first
/// `(selector / 5) % 8` entries of `LOG_TERMS`.
fn subject(selector: u8) -> RawNode<MemStore> {
    let role = selector % 5;
    let len = usize::from(selector / 5 % 8).min(LOG_TERMS.len());
    let entries: Vec<Entry> = LOG_TERMS[..len]
        .iter()
        .zip(1u64..)
        .map(|(&term, index)| Entry {
            term: Term::new(term),
            index: Index::new(index),
            kind: EntryKind::Normal,
            data: Bytes::new(),
        })
        .collect();
    let mut conf = ConfState::with_voters([1, 2, 3].map(NodeId::new));
    conf.learners.insert(NodeId::new(LEARNER));
    let mut store = MemStore::new(SnapshotMeta {
        last: EntryId::default(),
        conf_state: conf,
    });
    store.append(&entries);
    let id = if role == 4 { LEARNER } else { 2 };
    let mut config = Config::new(NodeId::new(id));
    config.pre_vote = role == 1;
    let hard_state = HardState {
        current_term: Term::new(entries.last().map_or(0, |e| e.term.get())),
        voted_for: NodeId::NONE,
        commit_index: Index::new(len as u64 / 2),
    };
    let mut node = RawNode::new(config, store, hard_state, Index::ZERO).expect("valid");
    if (1..=3).contains(&role) {
        node.campaign();
    }
    if role == 3 {
        let grant = MessageBody::VoteResponse(VoteResponse {
            pre_vote: false,
            granted: true,
        });
        let term = node.term();
        let vote = Message {
            from: NodeId::new(1),
            to: node.id(),
            term,
            body: grant,
        };
        node.step(vote).expect("a real vote");
    }
    handle_ready(&mut node);
    node
}

/// Persists and acknowledges a Ready as the runtime would.
fn handle_ready(node: &mut RawNode<MemStore>) {
    if !node.has_ready() {
        return;
    }
    let ready = node.ready();
    if let Some(meta) = &ready.snapshot {
        node.store_mut().apply_snapshot(meta.clone());
    }
    node.store_mut().append(&ready.entries);
    node.advance(ready);
}
