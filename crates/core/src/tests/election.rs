//! Leader election: §5.2, §5.4.1, pre-vote (thesis §9.6), check-quorum
//! (thesis §6.2) and standby voters.

use super::network::*;
use crate::*;

fn no_pre_vote(c: &mut Config) {
    c.pre_vote = false;
}

/// §5.2: a candidate that wins votes from a majority becomes leader, and
/// every other member learns who leads.
#[test]
fn candidate_with_majority_of_votes_becomes_leader() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    assert_eq!(net.leaders(), vec![n(1)]);
    for id in [n(2), n(3)] {
        assert_eq!(net.node(id).leader(), Some(n(1)));
        assert_eq!(net.node(id).term(), net.node(n(1)).term());
    }
}

/// §5.2: a follower that hears nothing campaigns after a randomized
/// timeout drawn from [election_ticks, 2 * election_ticks).
#[test]
fn follower_campaigns_within_randomized_election_timeout() {
    for seed in 0..20 {
        let mut net = Network::new(1, |c| c.seed = seed);
        let e = Config::new(n(1)).election_ticks;
        net.tick(n(1), e - 1);
        assert_eq!(
            net.node(n(1)).role(),
            Role::Follower,
            "seed {seed}: campaigned early"
        );
        net.tick(n(1), e);
        net.stabilize();
        assert_eq!(
            net.node(n(1)).role(),
            Role::Leader,
            "seed {seed}: never campaigned"
        );
    }
}

/// §5.2: each member votes for at most one candidate in a term.
#[test]
fn voter_grants_at_most_one_vote_per_term() {
    let mut net = Network::new(3, no_pre_vote);
    let request = |from: u64| Message {
        from: n(from),
        to: n(1),
        term: Term::new(1),
        body: MessageBody::VoteRequest(VoteRequest {
            pre_vote: false,
            last_log: EntryId::default(),
            force: false,
            priority: 0,
        }),
    };
    net.node_mut(n(1)).step(request(2)).unwrap();
    net.node_mut(n(1)).step(request(3)).unwrap();
    net.handle_ready(n(1));
    let grants: Vec<bool> = net
        .queue
        .iter()
        .filter_map(|m| match m.body {
            MessageBody::VoteResponse(r) => Some(r.granted),
            _ => None,
        })
        .collect();
    assert_eq!(grants, vec![true, false]);
}

/// §5.4.1: a voter denies its vote to a candidate whose log is less up to
/// date than its own.
#[test]
fn voter_rejects_candidate_with_stale_log() {
    let mut net = Network::new(3, no_pre_vote);
    net.elect(n(1));
    net.isolate(n(3));
    net.propose(n(1), b"x").unwrap();
    net.heal();
    net.node_mut(n(3)).campaign();
    net.stabilize();
    assert_ne!(net.node(n(3)).role(), Role::Leader);
    assert!(net.node(n(2)).status().voted_for != n(3));
}

/// Figure 2: a vote reply leaves only after the vote is durable.
#[test]
fn vote_reply_waits_for_persistence() {
    let mut net = Network::new(3, no_pre_vote);
    net.node_mut(n(1)).campaign();
    net.handle_ready(n(1));
    let request = net.queue.pop_front().unwrap();
    net.node_mut(n(2)).step(request).unwrap();
    let ready = net.node_mut(n(2)).ready();
    assert!(ready.must_sync);
    assert_eq!(ready.hard_state.unwrap().voted_for, n(1));
    assert!(
        ready.messages.is_empty(),
        "vote reply must not leave before persisting"
    );
    assert_eq!(ready.persisted_messages.len(), 1);
    net.node_mut(n(2)).advance(ready);
}

/// Thesis §9.6: a pre-vote round does not increase any term.
#[test]
fn pre_vote_does_not_increase_terms() {
    let mut net = Network::new(3, |_| {});
    net.isolate(n(1));
    net.node_mut(n(1)).campaign();
    net.stabilize();
    assert_eq!(
        net.node(n(1)).term(),
        Term::ZERO,
        "pre-candidate kept its term"
    );
    assert_eq!(net.node(n(1)).role(), Role::PreCandidate);
}

/// Thesis §9.6 and §4.2.3: a member that was partitioned away rejoins
/// without deposing a healthy leader, because pre-votes are refused while
/// voters hear from that leader.
#[test]
fn partitioned_member_rejoins_without_disrupting_the_leader() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    let term = net.node(n(1)).term();
    net.isolate(n(3));
    net.tick(n(3), 100);
    net.tick_all(3);
    net.heal();
    net.tick_all(30);
    assert_eq!(net.leaders(), vec![n(1)]);
    assert_eq!(net.node(n(1)).term(), term, "term unchanged");
    assert_eq!(net.node(n(3)).leader(), Some(n(1)));
}

/// Thesis §6.2: a leader that hears from no quorum within an election
/// timeout steps down.
#[test]
fn leader_without_quorum_contact_steps_down() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    net.isolate(n(1));
    let e = Config::new(n(1)).election_ticks;
    net.tick(n(1), 2 * e);
    assert_eq!(net.node(n(1)).role(), Role::Follower);
}

/// Standby voters vote and count towards quorums but never campaign.
#[test]
fn standby_voter_votes_but_never_campaigns() {
    let mut net = Network::new(3, |c| c.standby = c.id == n(3));
    net.tick(n(3), 1000);
    net.stabilize();
    assert_eq!(net.node(n(3)).role(), Role::Follower);
    assert_eq!(net.node(n(3)).term(), Term::ZERO);
    net.isolate(n(2));
    net.elect(n(1));
    net.propose(n(1), b"x").unwrap();
    assert_eq!(
        net.applied_data(n(1)),
        vec![b"x".to_vec()],
        "standby's vote and ack count"
    );
}

/// §5.1: a leader that sees a higher term steps down.
#[test]
fn leader_steps_down_on_higher_term() {
    let mut net = Network::new(3, no_pre_vote);
    net.elect(n(1));
    net.isolate(n(1));
    // n3 refuses to help depose n1 until n1's lease has lapsed on its clock.
    net.node_mut(n(2)).campaign();
    net.stabilize();
    assert_eq!(
        net.node(n(2)).role(),
        Role::Candidate,
        "vote refused within the lease"
    );
    net.tick(n(3), Config::new(n(3)).election_ticks);
    net.elect(n(2));
    net.heal();
    net.tick_all(5);
    assert_eq!(net.leaders(), vec![n(2)]);
    assert_eq!(net.node(n(1)).leader(), Some(n(2)));
}

/// §5.2: a candidate that receives AppendEntries from a leader of its own
/// term recognizes it and returns to follower.
#[test]
fn candidate_steps_down_for_leader_of_same_term() {
    let mut net = Network::new(3, no_pre_vote);
    net.cut_link(n(1), n(3));
    net.node_mut(n(1)).campaign();
    net.stabilize();
    assert_eq!(net.node(n(1)).role(), Role::Leader);
    net.node_mut(n(3)).campaign();
    net.handle_ready(n(3));
    net.queue.clear();
    // n3 is a candidate in term 2 and hears n1 only once n1 reaches term 2.
    net.heal();
    net.tick_all(10);
    assert_eq!(net.leaders().len(), 1);
}

/// Priority: among equally up-to-date members, a voter with a higher
/// priority refuses a lower-priority candidate, so the preferred member
/// ends up leading; a candidate with a longer log still wins.
#[test]
fn higher_priority_voter_refuses_equally_current_lower_priority_candidate() {
    let mut net = Network::new(3, |c| {
        c.pre_vote = false;
        c.priority = c.id.get();
    });
    net.node_mut(n(1)).campaign();
    net.stabilize();
    assert_ne!(net.node(n(1)).role(), Role::Leader, "n2 and n3 outrank n1");
    net.node_mut(n(3)).campaign();
    net.stabilize();
    assert_eq!(
        net.node(n(3)).role(),
        Role::Leader,
        "n3 outranks every voter"
    );
    net.propose(n(3), b"x").unwrap();
    // n3 goes away; n1 and n2 hold identical logs.
    net.cut_link(n(3), n(1));
    net.cut_link(n(3), n(2));
    net.tick(n(2), Config::new(n(2)).election_ticks);
    net.tick(n(1), Config::new(n(1)).election_ticks);
    net.node_mut(n(1)).campaign();
    net.stabilize();
    assert_ne!(
        net.node(n(1)).role(),
        Role::Leader,
        "n2 still outranks n1 with equal logs"
    );
    net.node_mut(n(2)).campaign();
    net.stabilize();
    assert_eq!(net.node(n(2)).role(), Role::Leader);
}

/// Thesis §6.4.1: a follower that acknowledged its leader within the
/// election timeout adopts a newer term only from a leader of that term,
/// never from a vote reply — otherwise it could vote while the old
/// leader's lease still stands.
#[test]
fn follower_in_lease_ignores_newer_term_from_vote_reply() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    let term = net.node(n(3)).term();
    let reply = Message {
        from: n(2),
        to: n(3),
        term: term.next(),
        body: MessageBody::VoteResponse(VoteResponse {
            pre_vote: true,
            granted: false,
        }),
    };
    net.node_mut(n(3)).step(reply.clone()).unwrap();
    assert_eq!(net.node(n(3)).term(), term, "term moved within the lease");
    assert_eq!(net.node(n(3)).leader(), Some(n(1)));
    net.tick(n(3), Config::new(n(3)).election_ticks);
    net.node_mut(n(3)).step(reply).unwrap();
    assert_eq!(
        net.node(n(3)).term(),
        term.next(),
        "after the lease the newer term wins"
    );
}

/// Priority only makes a voter defer to itself: a member that cannot
/// campaign (standby here; removed or learner alike) grants its vote
/// whatever its priority, or a group whose only other voter is such a
/// member could never elect anyone.
#[test]
fn member_that_cannot_campaign_does_not_refuse_by_priority() {
    let mut net = Network::new(2, |c| {
        if c.id == n(2) {
            c.standby = true;
            c.priority = 10;
        }
    });
    net.elect(n(1));
    assert_eq!(net.leaders(), vec![n(1)]);
}
