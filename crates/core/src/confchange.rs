//! Applying a membership change to a configuration (thesis §4.3). Pure
//! functions: the same change on the same state always gives the same
//! result, so every member moves through identical configurations.

use crate::error::ConfChangeError;
use crate::membership::{ConfChange, ConfChangeOp, ConfChangeTransition, ConfState};
use crate::types::NodeId;
use std::collections::BTreeSet;

/// The configuration that results from applying `change` to `current`.
pub(crate) fn apply(
    current: &ConfState,
    change: &ConfChange,
) -> Result<ConfState, ConfChangeError> {
    current.validate()?;
    let next = if change.is_leave_joint() {
        leave_joint(current)?
    } else if use_joint(change, current) {
        enter_joint(current, change)?
    } else {
        simple(current, change)?
    };
    next.validate()?;
    check_has_voters(&next)?;
    Ok(next)
}

fn use_joint(change: &ConfChange, current: &ConfState) -> bool {
    match change.transition {
        ConfChangeTransition::Joint | ConfChangeTransition::JointExplicit => true,
        ConfChangeTransition::Auto => voter_changes(current, change) > 1,
    }
}

/// How many voters an operation list adds or removes.
fn voter_changes(current: &ConfState, change: &ConfChange) -> usize {
    change
        .ops
        .iter()
        .filter(|op| match op {
            ConfChangeOp::AddVoter(id) => !current.voters.contains(id),
            ConfChangeOp::AddLearner(id) | ConfChangeOp::Remove(id) => current.voters.contains(id),
        })
        .count()
}

fn leave_joint(current: &ConfState) -> Result<ConfState, ConfChangeError> {
    if !current.is_joint() {
        return Err(ConfChangeError::NotJoint);
    }
    let mut next = current.clone();
    next.voters_outgoing.clear();
    let demoted = std::mem::take(&mut next.learners_next);
    next.learners.extend(demoted);
    next.auto_leave = false;
    Ok(next)
}

fn enter_joint(current: &ConfState, change: &ConfChange) -> Result<ConfState, ConfChangeError> {
    if current.is_joint() {
        return Err(ConfChangeError::AlreadyJoint);
    }
    let mut next = current.clone();
    next.voters_outgoing = current.voters.clone();
    apply_ops(&mut next, &change.ops)?;
    next.auto_leave = change.transition != ConfChangeTransition::JointExplicit;
    Ok(next)
}

fn simple(current: &ConfState, change: &ConfChange) -> Result<ConfState, ConfChangeError> {
    if current.is_joint() {
        return Err(ConfChangeError::AlreadyJoint);
    }
    let mut next = current.clone();
    apply_ops(&mut next, &change.ops)?;
    let changed = next.voters.symmetric_difference(&current.voters).count();
    if changed > 1 {
        return Err(ConfChangeError::MultipleVoterChanges);
    }
    Ok(next)
}

fn apply_ops(state: &mut ConfState, ops: &[ConfChangeOp]) -> Result<(), ConfChangeError> {
    let mut seen = BTreeSet::new();
    for &op in ops {
        let id = op.node();
        if id.is_none() {
            return Err(ConfChangeError::InvalidNodeId { node: id });
        }
        if !seen.insert(id) {
            return Err(ConfChangeError::DuplicateNode { node: id });
        }
        match op {
            ConfChangeOp::AddVoter(id) => add_voter(state, id),
            ConfChangeOp::AddLearner(id) => add_learner(state, id),
            ConfChangeOp::Remove(id) => remove(state, id)?,
        }
    }
    Ok(())
}

fn add_voter(state: &mut ConfState, id: NodeId) {
    state.learners.remove(&id);
    state.learners_next.remove(&id);
    state.voters.insert(id);
}

fn add_learner(state: &mut ConfState, id: NodeId) {
    state.voters.remove(&id);
    if state.voters_outgoing.contains(&id) {
        // Still votes in C_old until the joint configuration is left.
        state.learners_next.insert(id);
    } else {
        state.learners.insert(id);
    }
}

fn remove(state: &mut ConfState, id: NodeId) -> Result<(), ConfChangeError> {
    let was_member =
        state.voters.remove(&id) | state.learners.remove(&id) | state.learners_next.remove(&id);
    if !was_member && !state.voters_outgoing.contains(&id) {
        return Err(ConfChangeError::NotMember { node: id });
    }
    Ok(())
}

fn check_has_voters(state: &ConfState) -> Result<(), ConfChangeError> {
    if state.voters.is_empty() {
        return Err(ConfChangeError::InsufficientVoters);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(id: u64) -> NodeId {
        NodeId::new(id)
    }

    fn voters(ids: &[u64]) -> ConfState {
        ConfState::with_voters(ids.iter().map(|&i| n(i)))
    }

    fn change(ops: Vec<ConfChangeOp>, transition: ConfChangeTransition) -> ConfChange {
        ConfChange { ops, transition }
    }

    #[test]
    fn single_voter_change_applies_directly() {
        let next = apply(
            &voters(&[1, 2, 3]),
            &ConfChange::single(ConfChangeOp::AddVoter(n(4))),
        )
        .unwrap();
        assert_eq!(next, voters(&[1, 2, 3, 4]));
        assert!(!next.is_joint());
    }

    #[test]
    fn replacing_a_voter_enters_joint_and_leaving_completes_it() {
        let ops = vec![ConfChangeOp::AddVoter(n(4)), ConfChangeOp::Remove(n(1))];
        let joint = apply(
            &voters(&[1, 2, 3]),
            &change(ops, ConfChangeTransition::Auto),
        )
        .unwrap();
        assert!(joint.is_joint());
        assert!(joint.auto_leave);
        assert_eq!(joint.voters_outgoing, voters(&[1, 2, 3]).voters);
        let left = apply(&joint, &ConfChange::leave_joint()).unwrap();
        assert_eq!(left, voters(&[2, 3, 4]));
    }

    #[test]
    fn demoting_a_voter_in_joint_keeps_its_old_vote_until_leave() {
        let ops = vec![ConfChangeOp::AddLearner(n(3))];
        let joint = apply(
            &voters(&[1, 2, 3]),
            &change(ops, ConfChangeTransition::JointExplicit),
        )
        .unwrap();
        assert!(joint.learners_next.contains(&n(3)));
        assert!(joint.is_voter(n(3)), "still votes in C_old");
        assert!(!joint.auto_leave);
        let left = apply(&joint, &ConfChange::leave_joint()).unwrap();
        assert!(left.learners.contains(&n(3)));
        assert!(!left.is_voter(n(3)));
    }

    #[test]
    fn refuses_a_change_that_leaves_no_voter() {
        let err = apply(
            &voters(&[1]),
            &ConfChange::single(ConfChangeOp::Remove(n(1))),
        )
        .unwrap_err();
        assert_eq!(err, ConfChangeError::InsufficientVoters);
    }

    #[test]
    fn refuses_two_voter_changes_without_joint_and_nested_joint() {
        let ops = vec![ConfChangeOp::AddVoter(n(4)), ConfChangeOp::AddVoter(n(5))];
        let simple_change = change(ops.clone(), ConfChangeTransition::Auto);
        let joint = apply(&voters(&[1, 2, 3]), &simple_change).unwrap();
        assert!(joint.is_joint(), "auto transition goes joint");
        let again = apply(&joint, &ConfChange::single(ConfChangeOp::AddVoter(n(6)))).unwrap_err();
        assert_eq!(again, ConfChangeError::AlreadyJoint);
        assert_eq!(
            apply(&voters(&[1]), &ConfChange::leave_joint()).unwrap_err(),
            ConfChangeError::NotJoint
        );
    }

    #[test]
    fn learners_are_added_promoted_and_removed() {
        let with_learner = apply(
            &voters(&[1]),
            &ConfChange::single(ConfChangeOp::AddLearner(n(2))),
        )
        .unwrap();
        assert!(with_learner.is_learner(n(2)));
        let promoted = apply(
            &with_learner,
            &ConfChange::single(ConfChangeOp::AddVoter(n(2))),
        )
        .unwrap();
        assert!(promoted.is_voter(n(2)) && !promoted.is_learner(n(2)));
        let removed = apply(&promoted, &ConfChange::single(ConfChangeOp::Remove(n(2)))).unwrap();
        assert!(!removed.contains(n(2)));
        let missing = apply(&removed, &ConfChange::single(ConfChangeOp::Remove(n(9)))).unwrap_err();
        assert_eq!(missing, ConfChangeError::NotMember { node: n(9) });
    }

    #[test]
    fn duplicate_and_zero_ids_are_refused() {
        let dup = change(
            vec![ConfChangeOp::AddVoter(n(4)), ConfChangeOp::AddLearner(n(4))],
            ConfChangeTransition::Joint,
        );
        assert_eq!(
            apply(&voters(&[1]), &dup).unwrap_err(),
            ConfChangeError::DuplicateNode { node: n(4) }
        );
        let zero = ConfChange::single(ConfChangeOp::AddVoter(NodeId::NONE));
        assert!(matches!(
            apply(&voters(&[1]), &zero),
            Err(ConfChangeError::InvalidNodeId { .. })
        ));
    }
}
