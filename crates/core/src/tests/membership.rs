//! Membership changes: learners, single-voter changes (thesis §4.1), joint
//! consensus (thesis §4.3) and removing the leader (thesis §4.2.2).

use super::network::*;
use crate::*;
use std::collections::BTreeSet;

fn ids(raw: &[u64]) -> BTreeSet<NodeId> {
    raw.iter().map(|&i| n(i)).collect()
}

fn voters(raw: &[u64]) -> ConfState {
    ConfState::with_voters(raw.iter().map(|&i| n(i)))
}

/// Voters `voter_ids` plus learners `learner_ids`, all members of the network.
fn with_learners(voter_ids: &[u64], learner_ids: &[u64]) -> Network {
    let conf = ConfState {
        learners: ids(learner_ids),
        ..voters(voter_ids)
    };
    let members: Vec<NodeId> = voter_ids.iter().chain(learner_ids).map(|&i| n(i)).collect();
    Network::with_members(&members, &conf, |_| {})
}

/// Proposes `change` on `leader` and runs the network until it settles.
fn change(net: &mut Network, leader: u64, change: ConfChange) {
    net.node_mut(n(leader))
        .propose_conf_change(&change)
        .expect("change accepted");
    net.stabilize();
}

fn single(op: ConfChangeOp) -> ConfChange {
    ConfChange::single(op)
}

/// Asserts that a proposal on `leader` does not commit while the current
/// cuts hold, then commits once the network heals.
fn assert_blocked_until_heal(net: &mut Network, leader: u64, why: &str) {
    let id = net.propose(n(leader), b"probe").unwrap();
    assert!(net.node(n(leader)).commit_index() < id.index, "{why}");
    net.heal();
    net.tick_all(Config::new(n(leader)).heartbeat_ticks);
    assert!(
        net.node(n(leader)).commit_index() >= id.index,
        "commits after heal"
    );
}

/// Thesis §4.2.1: a learner receives the log but never votes and does not
/// count towards commitment.
#[test]
fn learner_receives_log_but_never_votes_or_counts() {
    let mut net = with_learners(&[1, 2, 3], &[4]);
    net.elect(n(1));
    assert!(net
        .sent
        .iter()
        .all(|m| m.to != n(4) || !m.body.kind_name().contains("Vote")));
    net.propose(n(1), b"x").unwrap();
    assert_eq!(net.applied_data(n(4)), vec![b"x".to_vec()]);
    let term = net.node(n(4)).term();
    net.node_mut(n(4)).campaign();
    net.tick(n(4), 100);
    assert_eq!(
        net.node(n(4)).role(),
        Role::Follower,
        "a learner never campaigns"
    );
    assert_eq!(net.node(n(4)).term(), term);
    net.isolate(n(2));
    net.isolate(n(3));
    let id = net.propose(n(1), b"y").unwrap();
    assert_eq!(net.node(n(4)).last_index(), id.index, "learner stores y");
    assert!(
        net.node(n(1)).commit_index() < id.index,
        "learner's ack not counted"
    );
}

/// Thesis §4.1: adding a voter grows the majority, so the old majority no
/// longer commits alone.
#[test]
fn adding_a_voter_changes_the_quorum() {
    let mut net = Network::new(3, |_| {});
    net.add_node(n(4), voters(&[1, 2, 3]), |_| {});
    net.elect(n(1));
    net.isolate(n(4));
    net.isolate(n(3));
    let id = net.propose(n(1), b"two of three").unwrap();
    assert_eq!(net.node(n(1)).commit_index(), id.index);
    net.heal();
    change(&mut net, 1, single(ConfChangeOp::AddVoter(n(4))));
    for id in 1..=4 {
        assert_eq!(net.node(n(id)).conf_state(), &voters(&[1, 2, 3, 4]));
    }
    net.isolate(n(3));
    net.isolate(n(4));
    assert_blocked_until_heal(&mut net, 1, "two of four voters committed");
}

/// Thesis §4.3: changing two voters at once goes through a joint
/// configuration, which the leader leaves automatically; every member
/// ends in the new configuration.
#[test]
fn two_voter_change_goes_through_joint_and_leaves_automatically() {
    let mut net = Network::new(3, |_| {});
    for id in [4, 5] {
        net.add_node(n(id), voters(&[1, 2, 3]), |_| {});
    }
    net.elect(n(1));
    let ops = vec![ConfChangeOp::AddVoter(n(4)), ConfChangeOp::AddVoter(n(5))];
    let both = ConfChange {
        ops: ops.clone(),
        transition: ConfChangeTransition::Auto,
    };
    change(&mut net, 1, both.clone());
    for id in 1..=5 {
        assert_eq!(
            net.node(n(id)).conf_state(),
            &voters(&[1, 2, 3, 4, 5]),
            "{}",
            n(id)
        );
    }
    let changes: Vec<ConfChange> = net.applied[&n(1)]
        .iter()
        .filter(|e| e.kind == EntryKind::ConfChange)
        .map(|e| ConfChange::decode(&e.data).unwrap())
        .collect();
    assert_eq!(changes, vec![both, ConfChange::leave_joint()]);
}

/// Joint C_old = {1, 2, 3}, C_new = {1, 4, 5}, entered with JointExplicit.
fn joint_explicit_network() -> Network {
    let mut net = Network::new(3, |_| {});
    for id in [4, 5] {
        net.add_node(n(id), voters(&[1, 2, 3]), |_| {});
    }
    net.elect(n(1));
    let replace = ConfChange {
        ops: vec![
            ConfChangeOp::AddVoter(n(4)),
            ConfChangeOp::AddVoter(n(5)),
            ConfChangeOp::Remove(n(2)),
            ConfChangeOp::Remove(n(3)),
        ],
        transition: ConfChangeTransition::JointExplicit,
    };
    change(&mut net, 1, replace);
    net
}

/// Thesis §4.3: JointExplicit stays in the joint configuration until
/// ConfChange::leave_joint is proposed.
#[test]
fn joint_explicit_stays_joint_until_leave_is_proposed() {
    let mut net = joint_explicit_network();
    net.tick_all(30);
    for id in 1..=5 {
        let conf = net.node(n(id)).conf_state();
        assert!(conf.is_joint(), "{} left joint on its own", n(id));
        assert_eq!(conf.voters, ids(&[1, 4, 5]));
        assert_eq!(conf.voters_outgoing, ids(&[1, 2, 3]));
    }
    change(&mut net, 1, ConfChange::leave_joint());
    for id in [1, 4, 5] {
        assert_eq!(net.node(n(id)).conf_state(), &voters(&[1, 4, 5]));
    }
}

/// Thesis §4.3: in a joint configuration agreement needs a majority of
/// both C_old and C_new.
#[test]
fn joint_configuration_needs_both_majorities_to_commit() {
    let mut net = joint_explicit_network();
    net.isolate(n(4));
    net.isolate(n(5));
    assert_blocked_until_heal(&mut net, 1, "committed without C_new's majority");
    net.isolate(n(2));
    net.isolate(n(3));
    assert_blocked_until_heal(&mut net, 1, "committed without C_old's majority");
}

/// Thesis §4.1: one membership change at a time; a second is refused until
/// the first is applied.
#[test]
fn only_one_membership_change_in_flight() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    let first = net
        .node_mut(n(1))
        .propose_conf_change(&single(ConfChangeOp::AddLearner(n(4))))
        .unwrap();
    let err = net
        .node_mut(n(1))
        .propose_conf_change(&single(ConfChangeOp::AddLearner(n(5))))
        .unwrap_err();
    let expected = ConfChangeError::MembershipChangeInProgress {
        pending: first.index,
    };
    assert_eq!(err, expected);
    net.stabilize();
    change(&mut net, 1, single(ConfChangeOp::AddLearner(n(5))));
    assert_eq!(net.node(n(1)).conf_state().learners, ids(&[4, 5]));
}

/// A change that would leave no voter is refused before it enters the log.
#[test]
fn change_leaving_no_voter_is_refused() {
    let mut net = Network::new(1, |_| {});
    net.elect(n(1));
    let last = net.node(n(1)).last_index();
    let err = net
        .node_mut(n(1))
        .propose_conf_change(&single(ConfChangeOp::Remove(n(1))))
        .unwrap_err();
    assert_eq!(err, ConfChangeError::InsufficientVoters);
    assert_eq!(net.node(n(1)).last_index(), last);
    assert_eq!(net.node(n(1)).conf_state(), &voters(&[1]));
}

/// Thesis §4.2.1: a promoted learner becomes a voter whose ack counts.
#[test]
fn promoted_learner_counts_towards_commit() {
    let mut net = with_learners(&[1, 2], &[3]);
    net.elect(n(1));
    net.isolate(n(2));
    assert_blocked_until_heal(&mut net, 1, "learner's ack counted");
    change(&mut net, 1, single(ConfChangeOp::AddVoter(n(3))));
    for id in 1..=3 {
        assert_eq!(net.node(n(id)).conf_state(), &voters(&[1, 2, 3]));
    }
    net.isolate(n(2));
    let id = net.propose(n(1), b"x").unwrap();
    assert_eq!(
        net.node(n(1)).commit_index(),
        id.index,
        "promoted voter counts"
    );
}

/// Thesis §4.1: a removed follower stops receiving the log and no longer
/// counts, so the remaining voters form the majority.
#[test]
fn removed_follower_no_longer_counts_or_receives() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    change(&mut net, 1, single(ConfChangeOp::Remove(n(3))));
    for id in [1, 2] {
        assert_eq!(net.node(n(id)).conf_state(), &voters(&[1, 2]));
    }
    let peers: Vec<NodeId> = net.node(n(1)).status().peers.iter().map(|p| p.id).collect();
    assert_eq!(peers, vec![n(1), n(2)]);
    let sent_to_3 = net.sent.iter().filter(|m| m.to == n(3)).count();
    net.isolate(n(2));
    assert_blocked_until_heal(&mut net, 1, "removed member's ack counted");
    assert_eq!(net.sent.iter().filter(|m| m.to == n(3)).count(), sent_to_3);
}

/// Thesis §4.2.2: a leader removed from the configuration steps down once
/// the change commits, and the remaining voters elect a leader among
/// themselves.
#[test]
fn removed_leader_steps_down_and_the_rest_elect_a_leader() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    change(&mut net, 1, single(ConfChangeOp::Remove(n(1))));
    net.tick_all(40);
    assert_eq!(net.node(n(1)).role(), Role::Follower);
    let leaders = net.leaders();
    assert_eq!(leaders.len(), 1);
    assert!(leaders[0] == n(2) || leaders[0] == n(3), "{leaders:?}");
    for id in [2, 3] {
        assert_eq!(net.node(n(id)).conf_state(), &voters(&[2, 3]));
    }
    net.propose(leaders[0], b"after").unwrap();
    for id in [2, 3] {
        assert_eq!(net.applied_data(n(id)), vec![b"after".to_vec()]);
    }
}
