//! Leader election (§5.2) with pre-vote (thesis §9.6) and forced elections
//! for leadership transfer (thesis §3.10).

use crate::bugs::PlantedBug;
use crate::message::{MessageBody, VoteRequest, VoteResponse};
use crate::quorum::{self, VoteResult};
use crate::raft::{Raft, RoleState};
use crate::storage::LogStore;
use crate::types::{NodeId, Term};
use tracing::debug;

/// What kind of election to run.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Campaign {
    /// A pre-vote round that changes no term (thesis §9.6).
    PreVote,
    /// A real election in the next term.
    Election,
    /// A real election voters may not refuse for leader lease (§3.10).
    Transfer,
}

impl Campaign {
    /// The campaign a node starts when its election timer fires.
    pub(crate) fn on_timeout(pre_vote: bool) -> Campaign {
        if pre_vote {
            Campaign::PreVote
        } else {
            Campaign::Election
        }
    }
}

impl<S: LogStore> Raft<S> {
    /// Starts an election of the given kind.
    pub(crate) fn campaign(&mut self, kind: Campaign) {
        if !self.promotable() || matches!(self.role, RoleState::Leader(_)) {
            return;
        }
        let pre_vote = kind == Campaign::PreVote;
        let force = kind == Campaign::Transfer;
        let term = if pre_vote {
            self.become_pre_candidate();
            self.term.next()
        } else {
            self.become_candidate();
            self.term
        };
        if self.record_vote(self.id, true) == VoteResult::Won {
            self.on_election_won(pre_vote);
            return;
        }
        let request = VoteRequest {
            pre_vote,
            last_log: self.log.last_entry_id(),
            force,
            priority: self.config.priority,
        };
        let voters: Vec<NodeId> = self
            .conf
            .voters
            .union(&self.conf.voters_outgoing)
            .copied()
            .collect();
        let me = self.id;
        for id in voters.into_iter().filter(|&id| id != me) {
            self.send_with_term(id, term, MessageBody::VoteRequest(request));
        }
    }

    fn on_election_won(&mut self, pre_vote: bool) {
        if pre_vote {
            self.campaign(Campaign::Election);
        } else {
            self.become_leader();
        }
    }

    /// Records a vote and returns the tally's outcome.
    fn record_vote(&mut self, from: NodeId, granted: bool) -> VoteResult {
        let votes = match &mut self.role {
            RoleState::PreCandidate { votes } | RoleState::Candidate { votes } => votes,
            _ => return VoteResult::Pending,
        };
        votes.entry(from).or_insert(granted);
        quorum::joint_vote(&self.conf.voters, &self.conf.voters_outgoing, votes)
    }

    /// RequestVote receiver (§5.2, §5.4.1): grant if we have not voted for
    /// another in this term and the candidate's log is at least as up to
    /// date as ours. `term` is the request's term (ahead of ours for a
    /// pre-vote).
    pub(crate) fn handle_vote_request(&mut self, from: NodeId, term: Term, req: VoteRequest) {
        let can_vote = self.voted_for == from
            || (self.voted_for.is_none() && self.leader.is_none())
            || (req.pre_vote && term > self.term)
            || (self.bug(PlantedBug::DoubleVote) && !matches!(self.role, RoleState::Leader(_)));
        // Deferring to our own higher priority helps only if we can
        // campaign: a removed, learner or standby member that refused
        // would leave nobody to win (simulator seed 2199).
        let outranked = req.last_log == self.log.last_entry_id()
            && req.priority < self.config.priority
            && self.promotable();
        let granted = can_vote
            && self.knows_a_configuration()
            && self.log.is_up_to_date(req.last_log)
            && (req.force || !outranked);
        debug!(id = %self.id, %from, pre_vote = req.pre_vote, granted, %term, "vote request");
        if granted && !req.pre_vote {
            self.election_elapsed = 0;
            self.voted_for = from;
        }
        let reply_term = if granted && req.pre_vote {
            term
        } else {
            self.term
        };
        let body = MessageBody::VoteResponse(VoteResponse {
            pre_vote: req.pre_vote,
            granted,
        });
        self.send_with_term(from, reply_term, body);
    }

    /// A member with no configuration holds nothing of this cluster yet:
    /// it is joining, or it lost its disk and starts over empty. Its empty
    /// log is up to date with anything and its vote was forgotten, so it
    /// grants no vote until a leader's snapshot gives it the cluster's
    /// state; otherwise it could elect a candidate that misses
    /// acknowledged writes (a replaced disk must never lose one).
    fn knows_a_configuration(&self) -> bool {
        !self.conf.voters.is_empty() || self.conf.is_joint()
    }

    pub(crate) fn handle_vote_response(&mut self, from: NodeId, resp: VoteResponse) {
        let expected_pre_vote = match self.role {
            RoleState::PreCandidate { .. } => true,
            RoleState::Candidate { .. } => false,
            _ => return,
        };
        if resp.pre_vote != expected_pre_vote {
            return;
        }
        match self.record_vote(from, resp.granted) {
            VoteResult::Won => self.on_election_won(resp.pre_vote),
            VoteResult::Lost => self.become_follower(self.term, NodeId::NONE),
            VoteResult::Pending => {}
        }
    }

    /// TimeoutNow (thesis §3.10): campaign at once, bypassing pre-vote and
    /// the voters' leader-lease refusal.
    pub(crate) fn handle_timeout_now(&mut self, from: NodeId) {
        if !self.promotable() || matches!(self.role, RoleState::Leader(_)) {
            debug!(id = %self.id, %from, "ignoring TimeoutNow: cannot campaign");
            return;
        }
        debug!(id = %self.id, %from, "TimeoutNow: campaigning");
        self.campaign(Campaign::Transfer);
    }
}
