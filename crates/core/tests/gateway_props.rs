//! Property: no received message, however hostile, panics a node or breaks
//! its invariants (ARCHITECTURE.md: input from the network never panics).
//!
//! Messages are real traffic recorded from a small cluster with fields
//! mutated, or wholly arbitrary. Each is stepped into a node in every role
//! (follower, pre-candidate, candidate, leader, learner); the core checks
//! its invariants after every step in builds with debug assertions (as
//! tests are). A refused message must change nothing; term and commit never
//! go back. Seeds are fixed, so a failure replays; see `config` for a
//! longer run.

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use quorate_core::*;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::OnceLock;

/// Largest term and index the gateway admits (`gateway::TERM_MAX`, `INDEX_MAX`).
const BOUND: u64 = 1 << 62;
const LEARNER: u64 = 4;

fn n(id: u64) -> NodeId {
    NodeId::new(id)
}

fn conf() -> ConfState {
    let mut conf = ConfState::with_voters([n(1), n(2), n(3)]);
    conf.learners.insert(n(LEARNER));
    conf
}

fn store() -> MemStore {
    MemStore::new(SnapshotMeta {
        last: EntryId::default(),
        conf_state: conf(),
    })
}

/// Persists and acknowledges one Ready as the runtime would; returns the
/// messages it sends.
fn handle_ready(node: &mut RawNode<MemStore>) -> Vec<Message> {
    if !node.has_ready() {
        return Vec::new();
    }
    let mut ready = node.ready();
    if let Some(meta) = &ready.snapshot {
        node.store_mut().apply_snapshot(meta.clone());
    }
    node.store_mut().append(&ready.entries);
    let mut out = std::mem::take(&mut ready.messages);
    out.append(&mut ready.persisted_messages);
    node.advance(ready);
    out
}

/// A small cluster that records every message it sends.
struct Recorder {
    nodes: BTreeMap<NodeId, RawNode<MemStore>>,
    queue: VecDeque<Message>,
    isolated: BTreeSet<NodeId>,
    sent: Vec<Message>,
}

impl Recorder {
    fn new() -> Self {
        let nodes = (1..=LEARNER)
            .map(|id| {
                let node = RawNode::new(
                    Config::new(n(id)),
                    store(),
                    HardState::default(),
                    Index::ZERO,
                );
                (n(id), node.expect("valid"))
            })
            .collect();
        Recorder {
            nodes,
            queue: VecDeque::new(),
            isolated: BTreeSet::new(),
            sent: Vec::new(),
        }
    }

    fn node(&mut self, id: u64) -> &mut RawNode<MemStore> {
        self.nodes.get_mut(&n(id)).expect("node exists")
    }

    fn stabilize(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            for node in self.nodes.values_mut() {
                let out = handle_ready(node);
                moved |= !out.is_empty();
                self.queue.extend(out);
            }
            while let Some(m) = self.queue.pop_front() {
                moved = true;
                self.sent.push(m.clone());
                if self.isolated.contains(&m.from) || self.isolated.contains(&m.to) {
                    continue;
                }
                let snapshot = matches!(m.body, MessageBody::InstallSnapshot(_));
                let (from, to) = (m.from, m.to);
                let accepted = self.nodes.get_mut(&to).expect("member").step(m).is_ok();
                if snapshot {
                    self.nodes
                        .get_mut(&from)
                        .unwrap()
                        .report_snapshot(to, accepted);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("recording cluster did not stabilize");
    }

    fn tick_all(&mut self, ticks: u32) {
        for _ in 0..ticks {
            for (id, node) in &mut self.nodes {
                if !self.isolated.contains(id) {
                    node.tick();
                }
            }
            self.stabilize();
        }
    }

    fn propose(&mut self, leader: u64, count: u8) {
        for k in 0..count {
            self.node(leader)
                .propose(Bytes::from(vec![k]))
                .expect("leads");
        }
        self.stabilize();
    }
}

/// Traffic of elections, replication, a forwarded read, a lagging member
/// caught up by snapshot, a leadership transfer and a deposed leader whose
/// conflicting tail is overwritten.
fn recorded() -> &'static [Message] {
    static TRAFFIC: OnceLock<Vec<Message>> = OnceLock::new();
    TRAFFIC.get_or_init(|| {
        let mut c = Recorder::new();
        c.node(1).campaign();
        c.stabilize();
        c.propose(1, 3);
        c.node(2)
            .read_index(7, ReadMode::Quorum)
            .expect("forwarded");
        c.tick_all(3);
        c.isolated.insert(n(3));
        c.propose(1, 4);
        let applied = c.node(1).applied_index();
        let meta = c.node(1).compact(applied).expect("applied");
        c.node(1).store_mut().compact(meta);
        c.isolated.clear();
        c.tick_all(3);
        c.node(1).transfer_leadership(n(2)).expect("voter");
        c.stabilize();
        c.isolated.insert(n(2));
        c.node(2)
            .propose(Bytes::from_static(b"lost"))
            .expect("leads");
        c.stabilize();
        c.tick_all(40);
        c.isolated.clear();
        c.tick_all(5);
        c.sent
    })
}

#[derive(Clone, Copy, Debug)]
enum Subject {
    Follower,
    PreCandidate,
    Candidate,
    Leader,
    Learner,
}

/// A node in `role` whose durable log is the first `log_len` entries of a
/// real log, at a term `term_bump` past that log's last term.
fn subject(role: Subject, log_len: usize, term_bump: u64) -> RawNode<MemStore> {
    static LOG: OnceLock<Vec<Entry>> = OnceLock::new();
    let log = LOG.get_or_init(|| {
        let mut c = Recorder::new();
        c.node(1).campaign();
        c.stabilize();
        c.propose(1, 6);
        c.nodes[&n(1)].store().all_entries().to_vec()
    });
    let entries = &log[..log_len.min(log.len())];
    let last_term = entries.last().map_or(0, |e| e.term.get());
    let id = if matches!(role, Subject::Learner) {
        LEARNER
    } else {
        2
    };
    let mut config = Config::new(n(id));
    config.pre_vote = matches!(role, Subject::PreCandidate);
    let mut store = store();
    store.append(entries);
    let hard_state = HardState {
        current_term: Term::new(last_term + term_bump),
        voted_for: NodeId::NONE,
        commit_index: Index::new(entries.len() as u64 / 2),
    };
    let mut node = RawNode::new(config, store, hard_state, Index::ZERO).expect("valid");
    match role {
        Subject::Follower | Subject::Learner => {}
        Subject::PreCandidate | Subject::Candidate => node.campaign(),
        Subject::Leader => {
            node.campaign();
            let grant = MessageBody::VoteResponse(VoteResponse {
                pre_vote: false,
                granted: true,
            });
            let term = node.term();
            node.step(Message {
                from: n(1),
                to: n(2),
                term,
                body: grant,
            })
            .expect("vote");
            assert_eq!(node.role(), Role::Leader);
        }
    }
    handle_ready(&mut node);
    node
}

/// Numbers that find edges: small, around the gateway's bound, at the top.
fn number() -> impl Strategy<Value = u64> {
    prop_oneof![
        4 => 0..24u64,
        1 => (BOUND - 2)..(BOUND + 2),
        1 => (u64::MAX - 1)..=u64::MAX,
        1 => any::<u64>(),
    ]
}

/// Sets one numeric field of `m`, chosen by `field`, to `value`.
fn set_field(m: &mut Message, field: u8, value: u64) {
    let (t, i) = (Term::new(value), Index::new(value));
    match (&mut m.body, field % 4) {
        (_, 0) => m.term = t,
        (MessageBody::VoteRequest(r), 1) => r.last_log.index = i,
        (MessageBody::VoteRequest(r), _) => r.last_log.term = t,
        (MessageBody::AppendRequest(r), 1) => r.prev_log.index = i,
        (MessageBody::AppendRequest(r), 2) => r.leader_commit = i,
        (MessageBody::AppendRequest(r), _) => match r.entries.last_mut() {
            Some(e) if value % 2 == 0 => e.index = i,
            Some(e) => e.term = t,
            None => r.prev_log.term = t,
        },
        (MessageBody::AppendResponse(AppendResponse::Accepted { match_index }), _) => {
            *match_index = i;
        }
        (MessageBody::AppendResponse(AppendResponse::Rejected { rejected, .. }), 1) => {
            *rejected = i;
        }
        (MessageBody::AppendResponse(AppendResponse::Rejected { hint, .. }), 2) => hint.index = i,
        (MessageBody::AppendResponse(AppendResponse::Rejected { hint, .. }), _) => hint.term = t,
        (MessageBody::Heartbeat(h), 1) => h.commit_index = i,
        (MessageBody::Heartbeat(h), _) => h.read_round = value,
        (MessageBody::HeartbeatResponse(h), _) => h.read_round = value,
        (MessageBody::InstallSnapshot(s), 1) => s.meta.last.index = i,
        (MessageBody::InstallSnapshot(s), _) => s.meta.last.term = t,
        (MessageBody::ReadIndexResponse(r), 1) => r.read_index = Some(i),
        (MessageBody::ReadIndexResponse(r), _) => r.request = value,
        (MessageBody::ReadIndexRequest(r), _) => r.request = value,
        (MessageBody::VoteResponse(r), _) => r.granted = value % 2 == 0,
        (MessageBody::TimeoutNow, _) => m.term = t,
    }
}

/// One input of a case, resolved against the subject when stepped.
#[derive(Clone, Debug)]
enum Input {
    /// A recorded message (`pick` modulo the recording), sent by `from`
    /// (0: its real sender) at `term` (0: its own; 1: the subject's; 2: one
    /// past it), with `fields` overwritten.
    Real {
        pick: usize,
        from: u64,
        term: u8,
        fields: Vec<(u8, u64)>,
    },
    Arbitrary(Message),
    Tick,
}

fn real_input() -> impl Strategy<Value = Input> {
    let from = prop_oneof![4 => Just(0u64), 2 => 1..=LEARNER, 1 => Just(99u64)];
    let fields = prop::collection::vec((any::<u8>(), number()), 0..3);
    (any::<usize>(), from, 0..3u8, fields).prop_map(|(pick, from, term, fields)| Input::Real {
        pick,
        from,
        term,
        fields,
    })
}

fn entry_id() -> impl Strategy<Value = EntryId> {
    (number(), number()).prop_map(|(t, i)| EntryId::new(Term::new(t), Index::new(i)))
}

fn entries() -> impl Strategy<Value = Vec<Entry>> {
    let contiguous = (number(), number(), 0..4usize).prop_map(|(term, first, count)| {
        (0..count as u64)
            .map(|k| Entry {
                term: Term::new(term),
                index: Index::new(first.saturating_add(k)),
                kind: EntryKind::Normal,
                data: Bytes::new(),
            })
            .collect()
    });
    let scattered = prop::collection::vec(
        entry_id().prop_map(|id| Entry {
            term: id.term,
            index: id.index,
            kind: EntryKind::ConfChange,
            data: Bytes::from_static(b"\x01\x02"),
        }),
        0..3,
    );
    prop_oneof![contiguous, scattered]
}

fn conf_state() -> impl Strategy<Value = ConfState> {
    let ids = || prop::collection::btree_set((0..6u64).prop_map(n), 0..4);
    (ids(), ids(), ids(), any::<bool>()).prop_map(|(voters, outgoing, learners, auto_leave)| {
        ConfState {
            voters,
            voters_outgoing: outgoing,
            learners,
            learners_next: BTreeSet::new(),
            auto_leave,
        }
    })
}

fn body() -> impl Strategy<Value = MessageBody> {
    prop_oneof![
        (any::<bool>(), entry_id(), any::<bool>(), number()).prop_map(
            |(pre_vote, last_log, force, priority)| {
                MessageBody::VoteRequest(VoteRequest {
                    pre_vote,
                    last_log,
                    force,
                    priority,
                })
            }
        ),
        (any::<bool>(), any::<bool>()).prop_map(|(pre_vote, granted)| MessageBody::VoteResponse(
            VoteResponse { pre_vote, granted }
        )),
        (entry_id(), entries(), number()).prop_map(|(prev_log, entries, commit)| {
            MessageBody::AppendRequest(AppendRequest {
                prev_log,
                entries,
                leader_commit: Index::new(commit),
            })
        }),
        number().prop_map(|i| MessageBody::AppendResponse(AppendResponse::Accepted {
            match_index: Index::new(i)
        })),
        (number(), entry_id()).prop_map(|(r, hint)| {
            MessageBody::AppendResponse(AppendResponse::Rejected {
                rejected: Index::new(r),
                hint,
            })
        }),
        (number(), number()).prop_map(|(c, read_round)| {
            MessageBody::Heartbeat(Heartbeat {
                commit_index: Index::new(c),
                read_round,
            })
        }),
        number().prop_map(
            |read_round| MessageBody::HeartbeatResponse(HeartbeatResponse { read_round })
        ),
        (entry_id(), conf_state()).prop_map(|(last, conf_state)| {
            MessageBody::InstallSnapshot(InstallSnapshot {
                meta: SnapshotMeta { last, conf_state },
            })
        }),
        Just(MessageBody::TimeoutNow),
        (number(), number()).prop_map(|(request, incarnation)| {
            MessageBody::ReadIndexRequest(ReadIndexRequest {
                request,
                incarnation,
            })
        }),
        (number(), number(), proptest::option::of(number())).prop_map(
            |(request, incarnation, i)| {
                MessageBody::ReadIndexResponse(ReadIndexResponse {
                    request,
                    incarnation,
                    read_index: i.map(Index::new),
                })
            }
        ),
    ]
}

fn arbitrary_input() -> impl Strategy<Value = Input> {
    let from = prop_oneof![8 => 1..6u64, 1 => any::<u64>()];
    let to = prop_oneof![8 => Just(0u64), 1 => 0..6u64];
    (from, to, number(), body()).prop_map(|(from, to, term, body)| {
        // `to` 0 stands for "the subject", filled in when stepped.
        Input::Arbitrary(Message {
            from: n(from),
            to: n(to),
            term: Term::new(term),
            body,
        })
    })
}

fn role() -> impl Strategy<Value = Subject> {
    prop_oneof![
        Just(Subject::Follower),
        Just(Subject::PreCandidate),
        Just(Subject::Candidate),
        Just(Subject::Leader),
        Just(Subject::Learner),
    ]
}

fn resolve(input: &Input, node: &RawNode<MemStore>) -> Option<Message> {
    match input {
        Input::Tick => None,
        Input::Arbitrary(m) => {
            let mut m = m.clone();
            if m.to.is_none() {
                m.to = node.id();
            }
            Some(m)
        }
        Input::Real {
            pick,
            from,
            term,
            fields,
        } => {
            let traffic = recorded();
            let mut m = traffic[pick % traffic.len()].clone();
            let sent_to = std::mem::replace(&mut m.to, node.id());
            if *from != 0 {
                m.from = n(*from);
            }
            if m.from == m.to {
                // The subject's own message: as if from its real recipient.
                m.from = if sent_to == m.to { n(1) } else { sent_to };
            }
            match term {
                1 => m.term = node.term(),
                2 => m.term = Term::new(node.term().get().saturating_add(1)),
                _ => {}
            }
            for &(field, value) in fields {
                set_field(&mut m, field, value);
            }
            Some(m)
        }
    }
}

/// Runs `inputs` against a fresh subject and checks the property.
fn run(
    role: Subject,
    log_len: usize,
    term_bump: u64,
    inputs: &[Input],
) -> Result<(), TestCaseError> {
    let mut node = subject(role, log_len, term_bump);
    for input in inputs {
        let Some(m) = resolve(input, &node) else {
            node.tick();
            handle_ready(&mut node);
            continue;
        };
        let before = node.status();
        let pending = node.has_ready();
        match node.step(m) {
            Err(_) => {
                prop_assert_eq!(&node.status(), &before, "a refused message changed state");
                prop_assert_eq!(
                    node.has_ready(),
                    pending,
                    "a refused message produced output"
                );
            }
            Ok(()) => {
                let after = node.status();
                prop_assert!(after.term >= before.term, "term went back");
                prop_assert!(
                    after.commit_index >= before.commit_index,
                    "commit went back"
                );
            }
        }
        handle_ready(&mut node);
    }
    Ok(())
}

/// `cases` per property with a fixed seed, unless the environment asks for
/// a longer run: `QUORATE_GATEWAY_CASES` (cases per property) and
/// `QUORATE_GATEWAY_SEED` (mixed into the seed, so long runs explore anew).
fn config(cases: u32, seed: u64) -> ProptestConfig {
    let env = |name| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
    let cases =
        env("QUORATE_GATEWAY_CASES").map_or(cases, |c| u32::try_from(c).unwrap_or(u32::MAX));
    ProptestConfig {
        cases,
        rng_seed: RngSeed::Fixed(seed ^ env("QUORATE_GATEWAY_SEED").unwrap_or(0)),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config(60_000, 0x9a7e_0001))]

    #[test]
    fn mutated_real_traffic_never_panics_or_breaks_invariants(
        role in role(),
        log_len in 0..10usize,
        term_bump in 0..3u64,
        inputs in prop::collection::vec(prop_oneof![8 => real_input(), 1 => Just(Input::Tick)], 1..6),
    ) {
        run(role, log_len, term_bump, &inputs)?;
    }
}

proptest! {
    #![proptest_config(config(40_000, 0x9a7e_0002))]

    #[test]
    fn arbitrary_messages_never_panic_or_break_invariants(
        role in role(),
        log_len in 0..10usize,
        term_bump in 0..3u64,
        inputs in prop::collection::vec(prop_oneof![8 => arbitrary_input(), 1 => Just(Input::Tick)], 1..5),
    ) {
        run(role, log_len, term_bump, &inputs)?;
    }
}
