//! Safety checks run on every simulated step, observed from outside the
//! nodes. They come in two kinds.
//!
//! **Outcome checks** catch a bad result a user could observe; they stay on
//! under `--outcome-checks-only`:
//! - two leaders in one term (`check_node`);
//! - different entries applied at one index (`on_applied`);
//! - a stale read: a read answered at an index below one committed before
//!   it began (`check_read`);
//! - an acknowledged write lost (`check_acked_writes`, at the end of a run);
//! - and, judged elsewhere: a non-linearizable client history
//!   ([`crate::run`]), a panic inside a node ([`crate::runner`]), and
//!   liveness after healing: no leader or no convergence, a long leaderless
//!   stretch, a joint configuration never left ([`crate::liveness`]).
//!
//! **Rule checks** restate a protocol rule, so they catch a bug before it
//! has done harm, but they also prove nothing about outcomes; they are off
//! under `--outcome-checks-only`:
//! - term, commit and applied never go back (`check_monotonic`);
//! - a leader commits only entries of its own term, Figure 8
//!   (`check_leader_commit`);
//! - leader append-only and leader completeness (`check_leader_log`);
//! - no lease overlaps a later leader (`check_lease`);
//! - vote and log durable before the messages that depend on them
//!   (`check_send`).

use crate::node::{AppliedEntry, SimNode};
use quorate_core::{AppendResponse, Index, Message, MessageBody, NodeId, Role, Term};
use std::collections::BTreeMap;

/// What one node showed at its last check, per incarnation.
#[derive(Clone, Copy, Debug)]
struct Marks {
    incarnation: u64,
    leader: bool,
    term: Term,
    commit: Index,
    applied: Index,
}

/// A leader's log high-water mark: it must never lose this entry.
#[derive(Clone, Copy, Debug)]
struct LeaderMark {
    term: Term,
    last_index: Index,
    last_term: Term,
}

#[derive(Default)]
pub struct Checker {
    pub violations: Vec<String>,
    /// Only outcome checks (see the module doc).
    pub outcome_only: bool,
    leaders: BTreeMap<Term, NodeId>,
    /// The one entry every node applied at each index.
    applied: BTreeMap<Index, (Term, Option<u64>)>,
    /// For each applied index, the highest term any node had reached when
    /// it was first applied: it was committed in that term or earlier, so
    /// every leader of a later term must hold it (§5.4).
    committed_by_term: BTreeMap<Index, Term>,
    /// The highest term any node has shown.
    term_high_water: Term,
    marks: BTreeMap<NodeId, Marks>,
    leader_marks: BTreeMap<NodeId, LeaderMark>,
    /// The highest commit index any node has shown: every entry through it
    /// is committed, so a linearizable read must reflect it.
    pub commit_high_water: Index,
}

impl Checker {
    fn violation(&mut self, text: String) {
        if self.violations.len() < 16 {
            self.violations.push(text);
        }
    }

    pub fn check_node(&mut self, now: u64, node: &SimNode) {
        let Some(raw) = node.raw.as_ref() else { return };
        let (id, term) = (node.id, raw.term());
        self.commit_high_water = self.commit_high_water.max(raw.commit_index());
        self.term_high_water = self.term_high_water.max(term);
        let marks = Marks {
            incarnation: node.incarnation,
            leader: raw.role() == Role::Leader,
            term,
            commit: raw.commit_index(),
            applied: node.kv_applied,
        };
        if let Some(old) = self.marks.insert(id, marks) {
            if old.incarnation == marks.incarnation && !self.outcome_only {
                self.check_monotonic(now, id, old, marks);
                self.check_leader_commit(now, node, old, marks);
            }
        }
        if raw.role() != Role::Leader {
            self.leader_marks.remove(&id);
            return;
        }
        let holder = *self.leaders.entry(term).or_insert(id);
        if holder != id {
            self.violation(format!(
                "t={now}: two leaders in term {term}: {holder} and {id}"
            ));
        }
        if self.outcome_only {
            return;
        }
        self.check_leader_log(now, node);
        self.check_lease(now, node);
    }

    /// Thesis §6.4.1: while a leader's lease is valid, no leader of a later
    /// term can exist (voters refuse to elect one until the lease is over).
    fn check_lease(&mut self, now: u64, node: &SimNode) {
        let raw = node.raw.as_ref().expect("checked up");
        if !raw.lease_valid() {
            return;
        }
        let later = self
            .leaders
            .range(raw.term().next()..)
            .next()
            .map(|(&t, &id)| (t, id));
        if let Some((term, leader)) = later {
            self.violation(format!(
                "t={now}: {} still holds a lease in term {} while {leader} leads term {term}",
                node.id,
                raw.term()
            ));
        }
    }

    /// §5.4.2 (Figure 8): a leader moves its commit index only onto an
    /// entry of its own term; older entries commit only beneath one.
    fn check_leader_commit(&mut self, now: u64, node: &SimNode, old: Marks, new: Marks) {
        let same_leadership = old.leader && new.leader && old.term == new.term;
        if !same_leadership || new.commit <= old.commit {
            return;
        }
        let raw = node.raw.as_ref().expect("checked up");
        let committed_term = raw.term_at(new.commit);
        if committed_term != Some(new.term) {
            self.violation(format!(
                "t={now}: leader {} of term {} committed index {} of term {:?} by counting replicas",
                node.id, new.term, new.commit, committed_term
            ));
        }
    }

    fn check_monotonic(&mut self, now: u64, id: NodeId, old: Marks, new: Marks) {
        if new.term < old.term {
            self.violation(format!(
                "t={now}: {id} term regressed {} -> {}",
                old.term, new.term
            ));
        }
        if new.commit < old.commit {
            self.violation(format!(
                "t={now}: {id} commit regressed {} -> {}",
                old.commit, new.commit
            ));
        }
        if new.applied < old.applied {
            self.violation(format!(
                "t={now}: {id} applied regressed {} -> {}",
                old.applied, new.applied
            ));
        }
    }

    /// Leader append-only (Figure 3) and leader completeness (§5.4).
    fn check_leader_log(&mut self, now: u64, node: &SimNode) {
        let raw = node.raw.as_ref().expect("checked up");
        let (id, term, last) = (node.id, raw.term(), raw.last_index());
        let previous = self
            .leader_marks
            .get(&id)
            .copied()
            .filter(|m| m.term == term);
        match previous {
            Some(mark) => {
                if last < mark.last_index || raw.term_at(mark.last_index) != Some(mark.last_term) {
                    self.violation(format!(
                        "t={now}: leader {id} of term {term} lost its entry {}/{}",
                        mark.last_term, mark.last_index
                    ));
                }
            }
            None => self.check_completeness(now, node),
        }
        let last_term = raw.term_at(last).unwrap_or_default();
        self.leader_marks.insert(
            id,
            LeaderMark {
                term,
                last_index: last,
                last_term,
            },
        );
    }

    fn check_completeness(&mut self, now: u64, node: &SimNode) {
        let raw = node.raw.as_ref().expect("checked up");
        let first = raw.status().first_index;
        let leader_term = raw.term();
        let mut missing = None;
        for (&index, &(term, _)) in self.applied.range(first..) {
            let committed_by = self
                .committed_by_term
                .get(&index)
                .copied()
                .unwrap_or_default();
            if committed_by < leader_term && raw.term_at(index) != Some(term) {
                missing = Some((index, term));
                break;
            }
        }
        if let Some((index, term)) = missing {
            self.violation(format!(
                "t={now}: new leader {} of term {} lacks committed entry {term}/{index}",
                node.id,
                raw.term()
            ));
        }
    }

    /// State machine safety (§5.4.3): no two nodes apply different entries
    /// at one index.
    pub fn on_applied(&mut self, id: NodeId, entry: AppliedEntry) {
        let applied = (entry.term, entry.op_index);
        match self.applied.get(&entry.index) {
            Some(&existing) if existing != applied => self.violation(format!(
                "{id} applied {}/{} at index {} where another node applied {}/{}",
                entry.term,
                describe(entry.op_index),
                entry.index,
                existing.0,
                describe(existing.1)
            )),
            Some(_) => {}
            None => {
                self.applied.insert(entry.index, applied);
                self.committed_by_term
                    .insert(entry.index, self.term_high_water);
            }
        }
    }

    /// Durability before dependent messages (Figure 2): a granted vote and
    /// an acknowledged append must already be on disk when they leave.
    pub fn check_send(&mut self, now: u64, node: &SimNode, m: &Message) {
        if self.outcome_only {
            return;
        }
        match &m.body {
            MessageBody::VoteResponse(resp) if resp.granted && !resp.pre_vote => {
                // Durable means: this vote, or a later term (which rules out
                // any other vote in this one).
                let hs = node.hard_state;
                let durable =
                    hs.current_term > m.term || (hs.current_term == m.term && hs.voted_for == m.to);
                if !durable {
                    self.violation(format!(
                        "t={now}: {} granted its term-{} vote to {} before persisting it (durable: term {}, vote {})",
                        m.from, m.term, m.to, hs.current_term, hs.voted_for
                    ));
                }
            }
            MessageBody::AppendResponse(AppendResponse::Accepted { match_index }) => {
                let Some(raw) = node.raw.as_ref() else { return };
                let durable_last = quorate_core::LogStore::last_index(raw.store());
                if durable_last < *match_index {
                    self.violation(format!(
                        "t={now}: {} acknowledged entries through {match_index} with only {durable_last} durable",
                        m.from
                    ));
                }
            }
            _ => {}
        }
    }

    /// An acknowledged write must survive: at the end of a run the leader's
    /// log holds it (or has compacted past it, where `on_applied` judged it).
    pub fn check_acked_writes(&mut self, leader: &SimNode, acked: &[(Index, Term, u64)]) {
        let Some(raw) = leader.raw.as_ref() else {
            return;
        };
        for &(index, term, op) in acked {
            match raw.term_at(index) {
                Some(held) if held != term => self.violation(format!(
                    "acknowledged write op #{op} at {term}/{index} lost: leader {} holds term {held} there",
                    leader.id
                )),
                None if index > raw.last_index() => self.violation(format!(
                    "acknowledged write op #{op} at {term}/{index} lost: leader {} ends at {}",
                    leader.id,
                    raw.last_index()
                )),
                _ => {}
            }
        }
    }

    /// Read freshness: a read must observe every entry committed before it
    /// was invoked.
    pub fn check_read(&mut self, node: NodeId, read_index: Index, required: Index, now: u64) {
        if read_index < required {
            self.violation(format!(
                "t={now}: {node} answered a read at index {read_index}, but {required} was committed before the read began"
            ));
        }
    }
}

fn describe(op: Option<u64>) -> String {
    match op {
        Some(op) => format!("op #{op}"),
        None => "no-op".to_string(),
    }
}
