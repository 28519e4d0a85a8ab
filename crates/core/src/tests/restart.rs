//! What a member must keep across a restart besides its log and hard state:
//! the configuration in force (thesis §4.1), the lease it vouched for
//! (thesis §6.4.1), and which reads it asked for (thesis §6.4).

use super::network::*;
use crate::*;

fn voters(raw: &[u64]) -> ConfState {
    ConfState::with_voters(raw.iter().map(|&i| n(i)))
}

fn no_lease(c: &mut Config) {
    c.pre_vote = false;
    c.check_quorum = false;
}

/// A new start of a member: what a restarted process draws afresh.
fn fresh_start(seed: u64) -> impl Fn(&mut Config) {
    move |c| c.seed = seed
}

/// Every term in which more than one member believes it leads.
fn terms_with_two_leaders(net: &Network) -> Vec<Term> {
    let mut terms: Vec<Term> = net
        .nodes
        .values()
        .filter(|node| node.role() == Role::Leader)
        .map(RawNode::term)
        .collect();
    terms.sort();
    let mut doubled: Vec<Term> = terms
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    doubled.dedup();
    doubled
}

/// A member's configuration is its snapshot's changed by every committed
/// configuration entry, however far its state machine has applied. {1,2,3} moves to {1,4,5} through a
/// joint configuration; n1 restarts with its state machine past both
/// configuration entries. Were it to take the snapshot's {1,2,3}, n1 and n2
/// would elect a leader on one side of a partition while n4 and n5 elect
/// one on the other: two leaders in one term.
#[test]
fn restart_takes_the_configuration_from_the_log_not_the_snapshot() {
    let members: Vec<NodeId> = (1..=5).map(n).collect();
    let mut net = Network::with_members(&members, &voters(&[1, 2, 3]), no_lease);
    net.elect(n(1));
    let change = ConfChange {
        ops: vec![
            ConfChangeOp::AddVoter(n(4)),
            ConfChangeOp::AddVoter(n(5)),
            ConfChangeOp::Remove(n(2)),
            ConfChangeOp::Remove(n(3)),
        ],
        transition: ConfChangeTransition::Auto,
    };
    net.node_mut(n(1)).propose_conf_change(&change).unwrap();
    net.stabilize();
    assert_eq!(net.node(n(1)).conf_state(), &voters(&[1, 4, 5]));

    let applied = net.node(n(1)).applied_index();
    net.restart(n(1), applied, |c| {
        no_lease(c);
        c.seed = 101;
    });
    assert_eq!(
        net.node(n(1)).conf_state(),
        &voters(&[1, 4, 5]),
        "configuration entries after the snapshot are in force"
    );

    net.partition(&[n(1), n(2), n(3)], &[n(4), n(5)]);
    net.node_mut(n(1)).campaign();
    net.stabilize();
    net.node_mut(n(4)).campaign();
    net.stabilize();
    assert_eq!(terms_with_two_leaders(&net), Vec::<Term>::new());
    assert_ne!(
        net.node(n(1)).role(),
        Role::Leader,
        "n2 is no voter of {{1,4,5}}"
    );
    assert_eq!(net.node(n(4)).role(), Role::Leader);
}

/// A configuration takes effect when applied, on every member alike: a
/// restarted member does not take an uncommitted configuration entry from
/// its log, which its peers, still on the applied one, would not share
/// (simulator seed 808: two leaders in one term). Once the entry is
/// overwritten it never takes effect.
#[test]
fn restart_does_not_take_an_uncommitted_configuration_entry() {
    let mut net = Network::new(3, no_lease);
    net.elect(n(1));
    net.isolate(n(1));
    let learner = ConfChange::single(ConfChangeOp::AddLearner(n(4)));
    net.node_mut(n(1)).propose_conf_change(&learner).unwrap();
    net.stabilize();
    net.heal();
    net.isolate(n(1));
    net.elect(n(2));
    net.propose(n(2), b"x").unwrap();

    let applied = net.node(n(1)).applied_index();
    net.restart(n(1), applied, |c| {
        no_lease(c);
        c.seed = 202;
    });
    assert_eq!(net.node(n(1)).conf_state(), &voters(&[1, 2, 3]));
    net.heal();
    net.tick(n(2), Config::new(n(2)).heartbeat_ticks);
    net.stabilize();
    assert_eq!(net.node(n(1)).conf_state(), &voters(&[1, 2, 3]));
    assert_eq!(net.applied_data(n(1)), vec![b"x".to_vec()]);
}

/// Elects n1 with default settings (pre-vote, check-quorum) and lets one
/// heartbeat round establish its lease.
fn leader_with_lease() -> Network {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    net.tick(n(1), Config::new(n(1)).heartbeat_ticks);
    net.stabilize();
    assert!(net.node(n(1)).lease_valid());
    net
}

/// Thesis §6.4.1: a member that restarts may have promised the leader, just
/// before it stopped, not to help elect anyone else for an election
/// timeout. It cannot remember that promise, so it keeps it: no vote and no
/// pre-vote until an election timeout has passed since it started.
/// Otherwise n2 and the restarted n3 elect a new leader that commits
/// writes while n1 still serves lease reads: a stale read.
#[test]
fn restarted_member_grants_no_vote_for_an_election_timeout() {
    let mut net = leader_with_lease();
    let applied = net.node(n(3)).applied_index();
    net.restart(n(3), applied, fresh_start(303));
    net.isolate(n(1));
    net.node_mut(n(2)).campaign();
    net.stabilize();
    assert_ne!(net.node(n(2)).role(), Role::Leader);
    assert!(
        net.leaders().iter().all(|&id| id == n(1)),
        "no second leader"
    );
    assert!(net.node(n(1)).lease_valid(), "n1's lease is still honoured");

    let election_ticks = Config::new(n(3)).election_ticks;
    net.tick(n(3), election_ticks - 1);
    net.node_mut(n(2)).campaign();
    net.stabilize();
    assert_ne!(
        net.node(n(2)).role(),
        Role::Leader,
        "still within the timeout"
    );
    net.node_mut(n(3)).expire_restart_lease();
    net.node_mut(n(2)).campaign();
    net.stabilize();
    assert_eq!(
        net.node(n(2)).role(),
        Role::Leader,
        "votes resume afterwards"
    );
}

/// Thesis §3.10: a forced election for a leadership transfer is not
/// refused; the old leader asked for it and gave up its lease.
#[test]
fn restarted_member_votes_in_a_transfer_at_once() {
    let mut net = leader_with_lease();
    let applied = net.node(n(3)).applied_index();
    net.restart(n(3), applied, fresh_start(304));
    net.node_mut(n(1)).transfer_leadership(n(3)).unwrap();
    net.stabilize();
    assert_eq!(net.node(n(3)).role(), Role::Leader);
}

/// Thesis §6.4 (etcd#20418): request ids are the asker's and may repeat
/// after it restarts. A late answer to read 7 of n2's earlier start must
/// not answer read 7 of its new start at a stale index.
#[test]
fn read_answer_meant_for_an_earlier_start_is_dropped() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    net.blocked.insert("ReadIndexResp");
    net.node_mut(n(2)).read_index(7, ReadMode::Quorum).unwrap();
    net.stabilize();
    let late = net.sent_kind("ReadIndexResp")[0].clone();
    let MessageBody::ReadIndexResponse(old) = late.body else {
        unreachable!("selected by kind")
    };
    let stale_index = old.read_index.expect("the leader answered");

    let applied = net.node(n(2)).applied_index();
    net.restart(n(2), applied, fresh_start(505));
    let written = net.propose(n(1), b"newer").unwrap();
    assert!(written.index > stale_index);
    net.node_mut(n(2)).read_index(7, ReadMode::Quorum).unwrap();
    net.node_mut(n(2)).step(late).unwrap();
    net.handle_ready(n(2));
    assert_eq!(net.read_answer(n(2), 7), None, "the late answer is dropped");

    net.blocked.clear();
    net.tick(n(1), Config::new(n(1)).heartbeat_ticks);
    net.node_mut(n(2)).read_index(7, ReadMode::Quorum).unwrap();
    net.stabilize();
    let answer = net.read_answer(n(2), 7).expect("answered");
    assert!(
        answer >= written.index,
        "read at {answer}, wrote at {}",
        written.index
    );
}

/// §5.4.1 with a replaced disk: n3 acknowledged x with n1, then lost its
/// disk and came back empty, knowing no configuration. n2 missed x. Were
/// n3 to vote, n2 would win the next term without x, and n1's log would be
/// overwritten: an acknowledged write lost.
#[test]
fn member_without_a_configuration_grants_no_vote() {
    let mut net = Network::new(3, no_lease);
    net.elect(n(1));
    net.isolate(n(2));
    let x = net.propose(n(1), b"x").unwrap();
    assert_eq!(net.node(n(1)).commit_index(), x.index, "n1 and n3 hold x");
    net.add_node(n(3), ConfState::default(), no_lease);
    net.heal();
    net.isolate(n(1));
    net.node_mut(n(2)).campaign();
    net.stabilize();
    assert_ne!(net.node(n(2)).role(), Role::Leader, "n2 lacks x");
    assert_eq!(net.leaders(), vec![n(1)], "n1 still leads, x is safe");
    net.heal();
    net.tick_all(4 * Config::new(n(1)).election_ticks);
    assert_eq!(net.leaders(), vec![n(1)], "only a member holding x can win");
    net.propose(n(1), b"y").unwrap();
    assert_eq!(net.applied_data(n(2)), vec![b"x".to_vec(), b"y".to_vec()]);
}
