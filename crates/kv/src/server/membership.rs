//! The leader's checks of a membership change before it proposes one.
//!
//! The runtime refuses changes that break Raft's rules; these checks
//! refuse the ones that are legal but harmful: re-adding a member (which
//! would demote a voter to a learner), two members at one peer address,
//! removing the last voter, and changes after which the voters this
//! leader still hears from are fewer than the new configuration's quorum
//! (the cluster would stop committing). Each refusal names its reason.

use crate::api::{MemberAction, Refusal};
use quorate::{ConfState, GroupStatus, NodeId};
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::Duration;

/// A voter the leader heard from within this time counts as reachable.
pub const REACHABLE_WITHIN: Duration = Duration::from_secs(2);

/// Whether `id` is a voter or learner, in either half of a joint
/// configuration.
pub(crate) fn is_member(conf: &ConfState, id: u64) -> bool {
    let id = NodeId::new(id);
    conf.voters.contains(&id)
        || conf.voters_outgoing.contains(&id)
        || conf.learners.contains(&id)
        || conf.learners_next.contains(&id)
}

/// What the checks look at: the leader's view of the group and the peer
/// addresses it dials.
pub(crate) struct View<'a> {
    pub conf: &'a ConfState,
    /// Voters and learners this leader heard from recently, itself included.
    pub reachable: BTreeSet<NodeId>,
    pub peer_addrs: &'a BTreeMap<u64, SocketAddr>,
}

impl<'a> View<'a> {
    /// The view from a leader's group status.
    pub(crate) fn of(status: &'a GroupStatus, peer_addrs: &'a BTreeMap<u64, SocketAddr>) -> Self {
        let mut reachable: BTreeSet<NodeId> = status
            .peers
            .iter()
            .filter(|peer| peer.last_contact <= REACHABLE_WITHIN)
            .map(|peer| peer.id)
            .collect();
        reachable.insert(status.node);
        View {
            conf: &status.conf_state,
            reachable,
            peer_addrs,
        }
    }
}

/// Refuses a harmful change of member `id` (reachable at `addr` when it
/// is added).
pub(crate) fn check(
    view: &View<'_>,
    action: MemberAction,
    id: u64,
    addr: Option<SocketAddr>,
) -> Result<(), Refusal> {
    match action {
        MemberAction::AddLearner => check_add(view, id, addr),
        MemberAction::Promote => {
            let mut voters = view.conf.voters.clone();
            voters.insert(NodeId::new(id));
            check_quorum(view, &voters)
        }
        MemberAction::Remove => {
            if !is_member(view.conf, id) {
                return Err(Refusal::NotAMember);
            }
            let mut voters = view.conf.voters.clone();
            voters.remove(&NodeId::new(id));
            if voters.is_empty() {
                return Err(Refusal::LastVoter);
            }
            check_quorum(view, &voters)
        }
    }
}

fn check_add(view: &View<'_>, id: u64, addr: Option<SocketAddr>) -> Result<(), Refusal> {
    if is_member(view.conf, id) {
        return Err(Refusal::AlreadyAMember);
    }
    let Some(addr) = addr else {
        return Ok(());
    };
    let taken = view
        .peer_addrs
        .iter()
        .any(|(&other, &known)| other != id && known == addr && is_member(view.conf, other));
    if taken {
        return Err(Refusal::PeerAddressInUse);
    }
    Ok(())
}

/// The new voter set must keep a reachable majority.
fn check_quorum(view: &View<'_>, voters: &BTreeSet<NodeId>) -> Result<(), Refusal> {
    let reachable = voters
        .iter()
        .filter(|id| view.reachable.contains(id))
        .count();
    if reachable < voters.len() / 2 + 1 {
        return Err(Refusal::QuorumUnreachable);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(voters: &[u64], learners: &[u64]) -> ConfState {
        let mut conf = ConfState::with_voters(voters.iter().map(|&id| NodeId::new(id)));
        conf.learners = learners.iter().map(|&id| NodeId::new(id)).collect();
        conf
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn view<'a>(
        conf: &'a ConfState,
        reachable: &[u64],
        peers: &'a BTreeMap<u64, SocketAddr>,
    ) -> View<'a> {
        View {
            conf,
            reachable: reachable.iter().map(|&id| NodeId::new(id)).collect(),
            peer_addrs: peers,
        }
    }

    /// issue 11 item 4: re-adding a voter would demote it to a learner.
    #[test]
    fn adding_an_existing_voter_or_learner_is_already_a_member() {
        let conf = conf(&[1, 2, 3], &[4]);
        let peers = BTreeMap::new();
        let view = view(&conf, &[1, 2, 3, 4], &peers);
        for id in [1, 3, 4] {
            let refused = check(&view, MemberAction::AddLearner, id, Some(addr(9000)));
            assert_eq!(refused, Err(Refusal::AlreadyAMember), "id {id}");
        }
        assert_eq!(
            check(&view, MemberAction::AddLearner, 5, Some(addr(9000))),
            Ok(())
        );
    }

    #[test]
    fn a_peer_address_of_another_member_is_refused() {
        let conf = conf(&[1, 2], &[]);
        let peers = BTreeMap::from([(1, addr(7001)), (2, addr(7002)), (9, addr(7009))]);
        let view = view(&conf, &[1, 2], &peers);
        assert_eq!(
            check(&view, MemberAction::AddLearner, 3, Some(addr(7002))),
            Err(Refusal::PeerAddressInUse)
        );
        // Node 9 is not a member (an add that failed): its address is free.
        assert_eq!(
            check(&view, MemberAction::AddLearner, 3, Some(addr(7009))),
            Ok(())
        );
    }

    #[test]
    fn removing_the_last_voter_is_refused() {
        let conf = conf(&[1], &[2]);
        let peers = BTreeMap::new();
        let view = view(&conf, &[1, 2], &peers);
        assert_eq!(
            check(&view, MemberAction::Remove, 1, None),
            Err(Refusal::LastVoter)
        );
        assert_eq!(check(&view, MemberAction::Remove, 2, None), Ok(()));
        assert_eq!(
            check(&view, MemberAction::Remove, 7, None),
            Err(Refusal::NotAMember)
        );
    }

    /// Removing a reachable voter of {1,2,3} while 3 is down leaves {1,3}
    /// with one reachable voter: no quorum.
    #[test]
    fn a_change_that_leaves_no_reachable_quorum_is_refused() {
        let conf = conf(&[1, 2, 3], &[4]);
        let peers = BTreeMap::new();
        let view = view(&conf, &[1, 2, 4], &peers);
        assert_eq!(
            check(&view, MemberAction::Remove, 2, None),
            Err(Refusal::QuorumUnreachable)
        );
        assert_eq!(check(&view, MemberAction::Remove, 3, None), Ok(()));
        // Promoting reachable 4 keeps 3 of 4 reachable; an unreachable
        // learner would leave 2 of 4.
        assert_eq!(check(&view, MemberAction::Promote, 4, None), Ok(()));
        let down = super::View {
            reachable: [1, 2].map(NodeId::new).into_iter().collect(),
            ..view
        };
        assert_eq!(
            check(&down, MemberAction::Promote, 4, None),
            Err(Refusal::QuorumUnreachable)
        );
    }
}
