//! Quorum arithmetic: majority and joint (both majorities) configurations
//! (§5.3 commit rule, thesis §4.3 joint consensus).

use crate::types::{Index, NodeId};
use std::collections::{BTreeMap, BTreeSet};

/// The outcome of counting votes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum VoteResult {
    /// A quorum granted.
    Won,
    /// A quorum can no longer grant.
    Lost,
    /// Undecided: waiting for more responses.
    Pending,
}

/// Sorting more voters than this on the stack would not pay; beyond it the
/// committed index falls back to a heap buffer.
const STACK_VOTERS_MAX: usize = 7;

/// The highest index held by a majority of `voters`, given each voter's
/// acknowledged index. A voter missing from `acked` counts as zero. An empty
/// voter set commits everything (it imposes no constraint, which makes the
/// joint rule reduce to the other half).
pub fn majority_committed(voters: &BTreeSet<NodeId>, acked: impl Fn(NodeId) -> Index) -> Index {
    let n = voters.len();
    if n == 0 {
        return Index::new(u64::MAX);
    }
    let mut stack = [Index::ZERO; STACK_VOTERS_MAX];
    let mut heap;
    let values: &mut [Index] = if n <= STACK_VOTERS_MAX {
        &mut stack[..n]
    } else {
        heap = vec![Index::ZERO; n];
        &mut heap
    };
    for (slot, &id) in values.iter_mut().zip(voters) {
        *slot = acked(id);
    }
    values.sort_unstable();
    // Sorted ascending, the element at n - (n/2 + 1) is held by a majority.
    values[n - (n / 2 + 1)]
}

/// The vote result of one majority configuration.
pub fn majority_vote(voters: &BTreeSet<NodeId>, votes: &BTreeMap<NodeId, bool>) -> VoteResult {
    if voters.is_empty() {
        return VoteResult::Won;
    }
    let (mut granted, mut missing) = (0usize, 0usize);
    for id in voters {
        match votes.get(id) {
            Some(true) => granted += 1,
            Some(false) => {}
            None => missing += 1,
        }
    }
    let quorum = voters.len() / 2 + 1;
    if granted >= quorum {
        VoteResult::Won
    } else if granted + missing >= quorum {
        VoteResult::Pending
    } else {
        VoteResult::Lost
    }
}

/// The committed index of a (possibly joint) configuration: the minimum of
/// both majorities' indexes (thesis §4.3: agreement needs both).
pub fn joint_committed(
    incoming: &BTreeSet<NodeId>,
    outgoing: &BTreeSet<NodeId>,
    acked: impl Fn(NodeId) -> Index,
) -> Index {
    let a = majority_committed(incoming, &acked);
    let b = majority_committed(outgoing, &acked);
    a.min(b)
}

/// The vote result of a (possibly joint) configuration.
pub fn joint_vote(
    incoming: &BTreeSet<NodeId>,
    outgoing: &BTreeSet<NodeId>,
    votes: &BTreeMap<NodeId, bool>,
) -> VoteResult {
    let a = majority_vote(incoming, votes);
    let b = majority_vote(outgoing, votes);
    match (a, b) {
        (VoteResult::Won, VoteResult::Won) => VoteResult::Won,
        (VoteResult::Lost, _) | (_, VoteResult::Lost) => VoteResult::Lost,
        _ => VoteResult::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn set(ids: &[u64]) -> BTreeSet<NodeId> {
        ids.iter().map(|&i| NodeId::new(i)).collect()
    }

    /// The naive definition: the largest index i such that a majority has
    /// acknowledged at least i.
    fn naive_committed(voters: &BTreeSet<NodeId>, acked: &BTreeMap<NodeId, Index>) -> Index {
        if voters.is_empty() {
            return Index::new(u64::MAX);
        }
        let candidates: BTreeSet<Index> = voters
            .iter()
            .map(|id| acked.get(id).copied().unwrap_or_default())
            .collect();
        let mut best = Index::ZERO;
        for c in candidates {
            let holders = voters
                .iter()
                .filter(|id| acked.get(id).copied().unwrap_or_default() >= c)
                .count();
            if holders > voters.len() / 2 {
                best = best.max(c);
            }
        }
        best
    }

    proptest! {
        #[test]
        fn majority_committed_matches_naive_twin(
            acks in proptest::collection::vec(0u64..20, 0..11),
            absent in proptest::collection::vec(any::<bool>(), 11),
        ) {
            let voters: BTreeSet<NodeId> = (1..=acks.len() as u64).map(NodeId::new).collect();
            let acked: BTreeMap<NodeId, Index> = acks
                .iter()
                .enumerate()
                .filter(|(k, _)| !absent[*k])
                .map(|(k, &a)| (NodeId::new(k as u64 + 1), Index::new(a)))
                .collect();
            let fast = majority_committed(&voters, |id| acked.get(&id).copied().unwrap_or_default());
            prop_assert_eq!(fast, naive_committed(&voters, &acked));
        }
    }

    #[test]
    fn joint_commit_needs_both_majorities() {
        let acked = |id: NodeId| Index::new([0, 5, 5, 1, 1, 1][id.get() as usize]);
        let incoming = set(&[1, 2, 3]);
        let outgoing = set(&[3, 4, 5]);
        assert_eq!(majority_committed(&incoming, acked), Index::new(5));
        assert_eq!(joint_committed(&incoming, &outgoing, acked), Index::new(1));
    }

    #[test]
    fn vote_outcomes_for_majority_and_joint() {
        let votes: BTreeMap<NodeId, bool> = [(NodeId::new(1), true), (NodeId::new(2), false)]
            .into_iter()
            .collect();
        assert_eq!(majority_vote(&set(&[1, 2, 3]), &votes), VoteResult::Pending);
        assert_eq!(majority_vote(&set(&[1, 2]), &votes), VoteResult::Lost);
        assert_eq!(majority_vote(&set(&[1]), &votes), VoteResult::Won);
        assert_eq!(
            joint_vote(&set(&[1]), &set(&[1, 2, 3]), &votes),
            VoteResult::Pending
        );
        assert_eq!(joint_vote(&set(&[1]), &set(&[2]), &votes), VoteResult::Lost);
        assert_eq!(joint_vote(&set(&[1]), &set(&[]), &votes), VoteResult::Won);
    }
}
