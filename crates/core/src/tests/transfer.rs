//! Leadership transfer (thesis §3.10).

use super::network::*;
use crate::*;

fn heartbeat_ticks() -> u32 {
    Config::new(n(1)).heartbeat_ticks
}

fn election_ticks() -> u32 {
    Config::new(n(1)).election_ticks
}

/// Position in `net.sent` of the first message matching `pred`.
fn first_sent(net: &Network, pred: impl Fn(&Message) -> bool) -> Option<usize> {
    net.sent.iter().position(pred)
}

/// Thesis §3.10: a caught-up target gets TimeoutNow at once and wins a
/// forced election, which voters grant even within the old leader's lease.
#[test]
fn transfer_to_up_to_date_follower_makes_it_leader_promptly() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    net.tick_all(heartbeat_ticks());
    let term = net.node(n(1)).term();
    net.node_mut(n(1)).transfer_leadership(n(2)).unwrap();
    net.stabilize();
    assert_eq!(net.leaders(), vec![n(2)]);
    assert_eq!(
        net.node(n(2)).term(),
        term.next(),
        "one election, no pre-vote"
    );
    let timeouts = net.sent_kind("TimeoutNow");
    assert_eq!(timeouts.len(), 1);
    assert_eq!((timeouts[0].from, timeouts[0].to), (n(1), n(2)));
    let forced = net.sent.iter().any(|m| {
        m.from == n(2)
            && m.to == n(3)
            && matches!(m.body, MessageBody::VoteRequest(r) if r.force && !r.pre_vote)
    });
    assert!(forced, "the transfer election bypasses the lease");
    for id in [n(1), n(3)] {
        assert_eq!(net.node(id).leader(), Some(n(2)));
    }
}

/// Thesis §3.10: a target that lags is first brought up to date; TimeoutNow
/// follows only once it holds the leader's whole log.
#[test]
fn transfer_to_lagging_follower_first_catches_it_up() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    net.isolate(n(3));
    let last = net.propose(n(1), b"a").unwrap();
    net.heal();
    net.node_mut(n(1)).transfer_leadership(n(3)).unwrap();
    net.stabilize();
    assert!(
        net.sent_kind("TimeoutNow").is_empty(),
        "target not yet caught up"
    );
    net.tick_all(heartbeat_ticks());
    assert_eq!(net.leaders(), vec![n(3)]);
    let caught_up = first_sent(&net, |m| {
        m.from == n(3)
            && matches!(m.body, MessageBody::AppendResponse(AppendResponse::Accepted { match_index })
                if match_index >= last.index)
    });
    let timeout_now = first_sent(&net, |m| m.body == MessageBody::TimeoutNow);
    assert!(caught_up.is_some() && timeout_now.is_some());
    assert!(
        caught_up < timeout_now,
        "TimeoutNow before the target caught up"
    );
    assert_eq!(net.applied_data(n(3)), vec![b"a".to_vec()]);
}

/// Thesis §3.10: the leader stops accepting proposals while a transfer is
/// in progress, so the target can catch up and stay caught up.
#[test]
fn proposals_are_refused_during_a_transfer() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    net.isolate(n(3));
    net.node_mut(n(1)).transfer_leadership(n(3)).unwrap();
    let last = net.node(n(1)).last_index();
    let err = net.propose(n(1), b"x").unwrap_err();
    assert_eq!(err, ProposeError::TransferInProgress { target: n(3) });
    let change = ConfChange::single(ConfChangeOp::AddLearner(n(4)));
    let err = net.node_mut(n(1)).propose_conf_change(&change).unwrap_err();
    let expected = ConfChangeError::Propose(ProposeError::TransferInProgress { target: n(3) });
    assert_eq!(err, expected);
    assert_eq!(net.node(n(1)).last_index(), last);
    assert_eq!(net.node(n(1)).status().transfer_target, Some(n(3)));
}

/// Thesis §3.10: a transfer that does not complete within an election
/// timeout is aborted and the leader accepts proposals again.
#[test]
fn transfer_to_unreachable_target_aborts_after_election_timeout() {
    let mut net = Network::new(3, |_| {});
    net.elect(n(1));
    let term = net.node(n(1)).term();
    net.isolate(n(3));
    net.node_mut(n(1)).transfer_leadership(n(3)).unwrap();
    net.tick_all(election_ticks() - 1);
    assert_eq!(net.node(n(1)).status().transfer_target, Some(n(3)));
    assert!(net.propose(n(1), b"early").is_err());
    net.tick_all(1);
    assert_eq!(net.node(n(1)).status().transfer_target, None);
    assert_eq!(net.leaders(), vec![n(1)]);
    assert_eq!(net.node(n(1)).term(), term);
    let id = net.propose(n(1), b"late").unwrap();
    assert_eq!(net.node(n(1)).commit_index(), id.index);
    assert_eq!(net.applied_data(n(2)), vec![b"late".to_vec()]);
}

/// Thesis §3.10: only a voter can take over, and a leader cannot transfer
/// to itself; a refused transfer starts nothing.
#[test]
fn transfer_to_non_voter_or_self_is_refused() {
    let conf = ConfState {
        learners: [n(4)].into_iter().collect(),
        ..ConfState::with_voters([n(1), n(2), n(3)])
    };
    let mut net = Network::with_members(&[n(1), n(2), n(3), n(4)], &conf, |_| {});
    net.elect(n(1));
    let leader = net.node_mut(n(1));
    assert_eq!(
        leader.transfer_leadership(n(4)),
        Err(TransferError::NotVoter { target: n(4) })
    );
    assert_eq!(
        leader.transfer_leadership(n(9)),
        Err(TransferError::NotVoter { target: n(9) })
    );
    assert_eq!(
        leader.transfer_leadership(n(1)),
        Err(TransferError::AlreadyLeader)
    );
    assert_eq!(leader.status().transfer_target, None);
    let refused = net.node_mut(n(2)).transfer_leadership(n(3));
    assert_eq!(
        refused,
        Err(TransferError::NotLeader { leader: Some(n(1)) })
    );
    net.propose(n(1), b"x").unwrap();
    assert!(net.sent_kind("TimeoutNow").is_empty());
}
