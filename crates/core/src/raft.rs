//! The protocol state of one member: term, vote, log, configuration and the
//! role it plays. Role-specific handling lives in `election.rs`,
//! `leader.rs`, `follower.rs` and `read.rs`; this file holds the shared
//! state, term rules (§5.1) and role transitions.

use crate::bugs::PlantedBug;
use crate::config::Config;
use crate::log::RaftLog;
use crate::membership::ConfState;
use crate::message::{HeartbeatResponse, Message, MessageBody};
use crate::rng::Rng;
use crate::storage::LogStore;
use crate::tracker::LeaderState;
use crate::types::{EntryId, HardState, Index, NodeId, Role, Term};
use std::collections::{BTreeMap, BTreeSet};
use tracing::{debug, info};

/// Mixed into `Config::seed` to draw the incarnation from a stream apart
/// from the election jitter's.
const INCARNATION_SALT: u64 = 0x5851_f42d_4c95_7f2d;

/// The answer to a read that was confirmed: apply through `index`, then
/// read (thesis §6.4 step 4).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ReadState {
    pub request: u64,
    pub index: Index,
}

/// Role-specific state.
pub(crate) enum RoleState {
    Follower,
    PreCandidate { votes: BTreeMap<NodeId, bool> },
    Candidate { votes: BTreeMap<NodeId, bool> },
    Leader(Box<LeaderState>),
}

pub(crate) struct Raft<S> {
    pub(crate) id: NodeId,
    pub(crate) config: Config,
    pub(crate) rng: Rng,
    /// Latest term seen (Figure 2). Never decreases.
    pub(crate) term: Term,
    /// Candidate voted for in `term`, or none (Figure 2).
    pub(crate) voted_for: NodeId,
    /// The leader of `term` if known.
    pub(crate) leader: NodeId,
    pub(crate) log: RaftLog<S>,
    /// The configuration in force: the snapshot's, changed by every
    /// configuration entry applied since (after a restart, every committed
    /// one; see `restore_conf_from_log`).
    pub(crate) conf: ConfState,
    /// The configurations `conf` went through since the log's snapshot, for
    /// snapshot metadata at an earlier index: (the entry, configuration
    /// after it). The first element is the snapshot's; the last is `conf`.
    pub(crate) conf_history: Vec<(EntryId, ConfState)>,
    pub(crate) role: RoleState,
    pub(crate) election_elapsed: u32,
    pub(crate) randomized_election_ticks: u32,
    /// Ticks since start; the leader's lease clock.
    pub(crate) ticks_total: u64,
    /// This member restarted with durable state (a term above zero): it may
    /// have vouched for a leader's lease just before it stopped, so it
    /// refuses votes for one election timeout after starting (thesis
    /// §6.4.1). A member that never had a term never heard from a leader.
    pub(crate) restarted: bool,
    /// A random number drawn once per start; forwarded reads carry it so an
    /// answer meant for an earlier start is recognised and dropped.
    pub(crate) incarnation: u64,
    /// Messages that may leave now.
    pub(crate) msgs: Vec<Message>,
    /// Messages that may leave only once the next Ready is persisted.
    pub(crate) msgs_after_persist: Vec<Message>,
    pub(crate) read_states: Vec<ReadState>,
    pub(crate) dropped_reads: Vec<u64>,
    /// Reads forwarded to `leader`, by request id.
    pub(crate) forwarded_reads: BTreeSet<u64>,
    /// Followers whose log grew or commit moved since the last broadcast.
    pub(crate) broadcast_pending: bool,
    pub(crate) bugs: BTreeSet<PlantedBug>,
}

impl<S: LogStore> Raft<S> {
    pub(crate) fn new(config: Config, store: S, hard_state: HardState, applied: Index) -> Self {
        let snapshot = store.snapshot_meta();
        let conf = snapshot.conf_state.clone();
        let log = RaftLog::new(store, hard_state.commit_index, applied);
        let mut raft = Raft {
            id: config.id,
            rng: Rng::new(config.seed),
            term: hard_state.current_term,
            voted_for: hard_state.voted_for,
            leader: NodeId::NONE,
            log,
            conf_history: vec![(snapshot.last, conf.clone())],
            conf,
            role: RoleState::Follower,
            election_elapsed: 0,
            randomized_election_ticks: config.election_ticks,
            ticks_total: 0,
            restarted: hard_state.current_term > Term::ZERO,
            incarnation: Rng::new(config.seed ^ INCARNATION_SALT).next_u64(),
            msgs: Vec::new(),
            msgs_after_persist: Vec::new(),
            read_states: Vec::new(),
            dropped_reads: Vec::new(),
            forwarded_reads: BTreeSet::new(),
            broadcast_pending: false,
            bugs: BTreeSet::new(),
            config,
        };
        raft.reset_election_timer();
        raft
    }

    pub(crate) fn role(&self) -> Role {
        match self.role {
            RoleState::Follower => Role::Follower,
            RoleState::PreCandidate { .. } => Role::PreCandidate,
            RoleState::Candidate { .. } => Role::Candidate,
            RoleState::Leader(_) => Role::Leader,
        }
    }

    pub(crate) fn hard_state(&self) -> HardState {
        HardState {
            current_term: self.term,
            voted_for: self.voted_for,
            commit_index: self.log.commit_index(),
        }
    }

    pub(crate) fn bug(&self, bug: PlantedBug) -> bool {
        cfg!(feature = "planted-bugs") && self.bugs.contains(&bug)
    }

    pub(crate) fn leader_state(&self) -> Option<&LeaderState> {
        match &self.role {
            RoleState::Leader(state) => Some(state),
            _ => None,
        }
    }

    /// The leader's progress record for `id`, if leading and `id` is known.
    pub(crate) fn progress_mut(&mut self, id: NodeId) -> Option<&mut crate::progress::Progress> {
        self.leader_state_mut()
            .and_then(|ls| ls.progress.get_mut(&id))
    }

    pub(crate) fn leader_state_mut(&mut self) -> Option<&mut LeaderState> {
        match &mut self.role {
            RoleState::Leader(state) => Some(state),
            _ => None,
        }
    }

    /// May this node start an election? Only voters of the applied
    /// configuration that are not standby (and not mid-snapshot) may.
    pub(crate) fn promotable(&self) -> bool {
        self.conf.is_voter(self.id)
            && !self.config.standby
            && self.log.unstable_snapshot().is_none()
    }

    /// Queues a message, holding back those that depend on state not yet
    /// durable (Figure 2: persist before responding).
    pub(crate) fn send(&mut self, to: NodeId, body: MessageBody) {
        self.send_with_term(to, self.term, body);
    }

    pub(crate) fn send_with_term(&mut self, to: NodeId, term: Term, body: MessageBody) {
        let immediate = match &body {
            MessageBody::AppendRequest(_)
            | MessageBody::Heartbeat(_)
            | MessageBody::InstallSnapshot(_)
            | MessageBody::TimeoutNow
            | MessageBody::ReadIndexResponse(_) => matches!(self.role, RoleState::Leader(_)),
            MessageBody::VoteResponse(_) => self.bug(PlantedBug::NoPersistVote),
            _ => false,
        };
        let msg = Message {
            from: self.id,
            to,
            term,
            body,
        };
        if immediate {
            self.msgs.push(msg);
        } else {
            self.msgs_after_persist.push(msg);
        }
    }

    pub(crate) fn reset_election_timer(&mut self) {
        self.election_elapsed = 0;
        let e = self.config.election_ticks;
        self.randomized_election_ticks = self.rng.range(e, 2 * e);
    }

    /// Moves to `term` (if newer) and forgets the leader and candidacy.
    fn reset(&mut self, term: Term) {
        // Refusals of held reads go out in the term they were asked in.
        self.drop_leader_reads();
        if term != self.term {
            assert!(term > self.term, "term regressed: {} -> {term}", self.term);
            self.term = term;
            self.voted_for = NodeId::NONE;
            // An acknowledgement from an older term must not leave after we
            // move on: a new leader may truncate the entries it covers
            // before they are durable. Dropping is always safe.
            self.msgs.retain(|m| m.term >= term);
            self.msgs_after_persist.retain(|m| m.term >= term);
        }
        let old_leader = self.leader;
        self.leader = NodeId::NONE;
        self.reset_election_timer();

        if old_leader != NodeId::NONE {
            self.drop_forwarded_reads();
        }
    }

    pub(crate) fn become_follower(&mut self, term: Term, leader: NodeId) {
        let was = self.role();
        self.reset(term);
        self.role = RoleState::Follower;
        self.leader = leader;
        if was != Role::Follower {
            debug!(id = %self.id, term = %self.term, %leader, "became follower");
        }
    }

    pub(crate) fn become_pre_candidate(&mut self) {
        assert!(
            !matches!(self.role, RoleState::Leader(_)),
            "leader cannot pre-campaign"
        );
        // A pre-candidate keeps its term and vote (thesis §9.6).
        self.drop_leader_reads();
        self.drop_forwarded_reads();
        self.leader = NodeId::NONE;
        self.reset_election_timer();
        self.role = RoleState::PreCandidate {
            votes: BTreeMap::new(),
        };
    }

    pub(crate) fn become_candidate(&mut self) {
        assert!(
            !matches!(self.role, RoleState::Leader(_)),
            "leader cannot campaign"
        );
        let term = self.term.next();
        self.reset(term);
        self.voted_for = self.id;
        self.role = RoleState::Candidate {
            votes: BTreeMap::new(),
        };
        debug!(id = %self.id, term = %self.term, "became candidate");
    }

    pub(crate) fn become_leader(&mut self) {
        assert!(
            matches!(self.role, RoleState::Candidate { .. }),
            "only a candidate becomes leader"
        );
        self.leader = self.id;
        let limits = (
            self.config.inflight_msgs_max,
            self.config.inflight_bytes_max,
        );
        let last = self.log.last_index();
        let state = LeaderState::new(
            &self.conf,
            self.id,
            last,
            self.log.stable_last_index(),
            limits,
        );
        self.role = RoleState::Leader(Box::new(state));
        self.election_elapsed = 0;
        info!(id = %self.id, term = %self.term, "became leader");
        // §8: a no-op entry of the new term lets earlier entries commit.
        self.append_leader_entry(crate::types::EntryKind::Normal, bytes::Bytes::new());
        if let Some(ls) = self.leader_state_mut() {
            ls.pending_conf_index = last.next();
        }
        self.broadcast_pending = true;
    }

    /// Applies the term rules common to every message (§5.1). Returns false
    /// if the message must be ignored.
    pub(crate) fn check_term(&mut self, m: &Message) -> bool {
        if m.term > self.term {
            return self.on_higher_term(m);
        }
        if m.term < self.term {
            self.on_lower_term(m);
            return false;
        }
        true
    }

    fn on_higher_term(&mut self, m: &Message) -> bool {
        match &m.body {
            MessageBody::VoteRequest(req) => {
                if !req.force && self.in_leader_lease() {
                    debug!(id = %self.id, from = %m.from, "ignoring vote request within leader lease");
                    return false;
                }
                if req.pre_vote {
                    return true; // a pre-vote never changes our term
                }
                self.become_follower(m.term, NodeId::NONE);
            }
            MessageBody::VoteResponse(resp) if resp.pre_vote && resp.granted => return true,
            MessageBody::AppendRequest(_)
            | MessageBody::Heartbeat(_)
            | MessageBody::InstallSnapshot(_) => {
                self.become_follower(m.term, m.from);
            }
            _ if self.follower_in_lease() => {
                // A follower that vouched for its leader's lease may not
                // let a newer term in through the side door (a vote
                // reply, a forwarded read): that term would free it to
                // vote while the lease still stands (thesis §6.4.1). Only
                // a leader of the newer term, which proves a quorum has
                // moved on, can move it.
                debug!(id = %self.id, from = %m.from, term = %m.term, "ignoring newer term within leader lease");
                return false;
            }
            _ => self.become_follower(m.term, NodeId::NONE),
        }
        true
    }

    fn follower_in_lease(&self) -> bool {
        matches!(self.role, RoleState::Follower) && self.in_leader_lease()
    }

    fn on_lower_term(&mut self, m: &Message) {
        match &m.body {
            // A stale leader learns the new term from the reply and steps
            // down; without this, pre-vote could leave it stranded.
            MessageBody::AppendRequest(_) | MessageBody::Heartbeat(_) => {
                self.send(
                    m.from,
                    MessageBody::HeartbeatResponse(HeartbeatResponse { read_round: 0 }),
                );
            }
            MessageBody::VoteRequest(req) if req.pre_vote => {
                let body = MessageBody::VoteResponse(crate::message::VoteResponse {
                    pre_vote: true,
                    granted: false,
                });
                self.send(m.from, body);
            }
            _ => {}
        }
    }

    /// Within the election timeout of hearing from a live leader: refuse to
    /// help anyone else win (thesis §4.2.3), which also makes leases safe.
    /// A restarted member cannot know whether it heard from a leader just
    /// before it stopped, so it assumes it did for its first election
    /// timeout (thesis §6.4.1).
    fn in_leader_lease(&self) -> bool {
        if !(self.config.check_quorum || self.config.pre_vote) {
            return false;
        }
        let heard_recently =
            !self.leader.is_none() && self.election_elapsed < self.config.election_ticks;
        heard_recently || self.in_restart_lease()
    }

    /// True during the first election timeout after a restart.
    pub(crate) fn in_restart_lease(&self) -> bool {
        self.restarted
            && self.ticks_total < u64::from(self.config.election_ticks)
            && !self.bug(PlantedBug::VoteRightAfterRestart)
    }

    pub(crate) fn tick(&mut self) {
        self.ticks_total += 1;
        if matches!(self.role, RoleState::Leader(_)) {
            self.tick_leader();
        } else {
            self.election_elapsed += 1;
            if self.promotable() && self.election_elapsed >= self.randomized_election_ticks {
                self.campaign(crate::election::Campaign::on_timeout(self.config.pre_vote));
            }
        }
    }

    pub(crate) fn step(&mut self, m: Message) {
        if m.to != self.id || m.from.is_none() || m.from == self.id {
            debug!(id = %self.id, from = %m.from, to = %m.to, "dropping misaddressed message");
            return;
        }
        if !self.check_term(&m) {
            return;
        }
        match m.body {
            MessageBody::VoteRequest(req) => self.handle_vote_request(m.from, m.term, req),
            MessageBody::VoteResponse(resp) => self.handle_vote_response(m.from, resp),
            MessageBody::TimeoutNow => self.handle_timeout_now(m.from),
            MessageBody::ReadIndexRequest(req) => self.handle_read_index_request(m.from, req),
            MessageBody::ReadIndexResponse(resp) => self.handle_read_index_response(resp),
            MessageBody::AppendResponse(resp) => self.handle_append_response(m.from, resp),
            MessageBody::HeartbeatResponse(resp) => self.handle_heartbeat_response(m.from, resp),
            MessageBody::AppendRequest(req) => self.handle_append(m.from, req),
            MessageBody::Heartbeat(hb) => self.handle_heartbeat(m.from, hb),
            MessageBody::InstallSnapshot(snap) => self.handle_snapshot(m.from, snap.meta),
        }
    }

    /// Whole-state invariants; run after every input in debug builds and
    /// always in the simulator.
    pub(crate) fn check_invariants(&self) {
        let commit = self.log.commit_index();
        assert!(self.log.applied_index() <= commit, "applied past commit");
        assert!(commit <= self.log.last_index(), "commit past log end");
        match &self.role {
            RoleState::Leader(ls) => {
                assert_eq!(self.leader, self.id, "leader does not know it leads");
                assert_eq!(self.voted_for, self.id, "leader did not vote for itself");
                for pr in ls.progress.values() {
                    pr.check();
                }
            }
            RoleState::Candidate { .. } => assert_eq!(self.voted_for, self.id, "candidate vote"),
            _ => assert_ne!(self.leader, self.id, "non-leader believes it leads"),
        }
    }
}
