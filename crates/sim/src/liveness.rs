//! Liveness figures of one run: how long the cluster went without a leader
//! after the faults healed, how far terms grew during partial partitions,
//! and how many terms had more than one candidate (split votes).
//!
//! A leaderless stretch after healing longer than
//! [`LEADERLESS_TIMEOUTS_MAX`] election timeouts is a violation: healed
//! clusters must elect promptly, which is what seeded election jitter is
//! for (§5.2). Term growth and split terms are figures, not verdicts.

use crate::node::SimNode;
use crate::options::{ELECTION_TICKS, TICK_PERIOD_US};
use quorate_core::{NodeId, Role, Term};
use std::collections::{BTreeMap, BTreeSet};

/// Election timeouts a healed cluster may go without a leader.
pub const LEADERLESS_TIMEOUTS_MAX: u64 = 10;

/// The liveness figures of one run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Figures {
    /// The longest stretch without a leader after healing, in nominal ticks.
    pub leaderless_ticks: u64,
    /// The largest term growth during one partial-partition event.
    pub term_growth_partial: u64,
    /// Terms in which more than one member stood as candidate.
    pub split_terms: u64,
}

#[derive(Default)]
pub struct Liveness {
    /// Up members that currently believe they lead.
    leaders: BTreeSet<NodeId>,
    leaderless_since: Option<u64>,
    heal_at: Option<u64>,
    leaderless_after_heal_us: u64,
    term_high: Term,
    /// The term high-water mark when the open partial partition began.
    partial_from: Option<Term>,
    term_growth_partial: u64,
    candidates: BTreeMap<Term, BTreeSet<NodeId>>,
}

impl Liveness {
    /// Notes `node`'s role and term after an input.
    pub fn observe(&mut self, now: u64, node: &SimNode) {
        let Some(raw) = node.raw.as_ref() else {
            return self.on_down(now, node.id);
        };
        self.term_high = self.term_high.max(raw.term());
        match raw.role() {
            Role::Leader => {
                self.leaders.insert(node.id);
                self.end_leaderless(now);
            }
            role => {
                if role == Role::Candidate {
                    self.candidates
                        .entry(raw.term())
                        .or_default()
                        .insert(node.id);
                }
                if self.leaders.remove(&node.id) {
                    self.start_leaderless(now);
                }
            }
        }
    }

    /// `id` crashed: it leads no more.
    pub fn on_down(&mut self, now: u64, id: NodeId) {
        if self.leaders.remove(&id) {
            self.start_leaderless(now);
        }
    }

    fn start_leaderless(&mut self, now: u64) {
        if self.leaders.is_empty() && self.leaderless_since.is_none() {
            self.leaderless_since = Some(now);
        }
    }

    fn end_leaderless(&mut self, now: u64) {
        if let Some(since) = self.leaderless_since.take() {
            self.count_leaderless(since, now);
        }
    }

    fn count_leaderless(&mut self, since: u64, until: u64) {
        let Some(heal_at) = self.heal_at else { return };
        let from = since.max(heal_at);
        self.leaderless_after_heal_us = self
            .leaderless_after_heal_us
            .max(until.saturating_sub(from));
    }

    /// The faults healed at `now`: leaderless time counts from here.
    pub fn on_heal(&mut self, now: u64) {
        self.heal_at = Some(now);
        self.on_partition_healed();
        if self.leaders.is_empty() && self.leaderless_since.is_none() {
            self.leaderless_since = Some(now);
        }
    }

    /// A partial partition began (some links cut, the cluster not cleanly
    /// split).
    pub fn on_partial_partition(&mut self) {
        if self.partial_from.is_none() {
            self.partial_from = Some(self.term_high);
        }
    }

    /// Every link is back: the partial-partition event is over.
    pub fn on_partition_healed(&mut self) {
        if let Some(from) = self.partial_from.take() {
            let growth = from.get().abs_diff(self.term_high.get());
            self.term_growth_partial = self.term_growth_partial.max(growth);
        }
    }

    /// The figures at the end of the run (`now`).
    pub fn figures(&mut self, now: u64) -> Figures {
        if let Some(since) = self.leaderless_since {
            self.count_leaderless(since, now);
        }
        Figures {
            leaderless_ticks: self.leaderless_after_heal_us / TICK_PERIOD_US,
            term_growth_partial: self.term_growth_partial,
            split_terms: self.candidates.values().filter(|c| c.len() > 1).count() as u64,
        }
    }

    /// The violation, if the healed cluster was leaderless too long.
    pub fn verdict(figures: &Figures) -> Option<String> {
        let limit = LEADERLESS_TIMEOUTS_MAX * u64::from(ELECTION_TICKS);
        (figures.leaderless_ticks > limit).then(|| {
            format!(
                "liveness: no leader for {} ticks after healing (limit {limit}: {LEADERLESS_TIMEOUTS_MAX} election timeouts)",
                figures.leaderless_ticks
            )
        })
    }
}
