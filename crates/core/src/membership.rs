//! Membership: the configuration a group runs under, changes to it, and the
//! snapshot metadata that records it (thesis chapter 4, joint consensus §4.3).

use crate::error::DecodeError;
use crate::types::{EntryId, NodeId};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::collections::BTreeSet;

/// A group's membership. Outside a joint configuration `voters_outgoing` is
/// empty. Invariants (checked by [`ConfState::validate`]): no id is both a
/// voter and a learner; `learners_next` holds outgoing voters that become
/// learners when the joint configuration is left.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct ConfState {
    pub voters: BTreeSet<NodeId>,
    /// The old voter set while in a joint configuration (C_old of C_old,new).
    pub voters_outgoing: BTreeSet<NodeId>,
    pub learners: BTreeSet<NodeId>,
    /// Outgoing voters that are demoted to learners when the joint
    /// configuration is left; until then they still vote in C_old.
    pub learners_next: BTreeSet<NodeId>,
    /// Leave the joint configuration automatically once it commits.
    pub auto_leave: bool,
}

impl ConfState {
    /// A plain configuration of voters.
    pub fn with_voters(voters: impl IntoIterator<Item = NodeId>) -> Self {
        ConfState {
            voters: voters.into_iter().collect(),
            ..ConfState::default()
        }
    }

    /// True while in a joint configuration.
    pub fn is_joint(&self) -> bool {
        !self.voters_outgoing.is_empty()
    }

    /// True if `id` votes in either half of the configuration.
    pub fn is_voter(&self, id: NodeId) -> bool {
        self.voters.contains(&id) || self.voters_outgoing.contains(&id)
    }

    /// True if `id` is a learner, now or after leaving the joint state.
    pub fn is_learner(&self, id: NodeId) -> bool {
        self.learners.contains(&id) || self.learners_next.contains(&id)
    }

    /// True if `id` is a member in any capacity.
    pub fn contains(&self, id: NodeId) -> bool {
        self.is_voter(id) || self.is_learner(id)
    }

    /// Every member: voters (both halves) and learners, sorted, once each.
    pub fn members(&self) -> BTreeSet<NodeId> {
        let mut all = self.voters.clone();
        all.extend(self.voters_outgoing.iter().copied());
        all.extend(self.learners.iter().copied());
        all.extend(self.learners_next.iter().copied());
        all
    }

    /// Checks the structural invariants; a decoded or proposed state must pass.
    pub fn validate(&self) -> Result<(), crate::ConfChangeError> {
        use crate::ConfChangeError as E;
        if let Some(&id) = self.voters.iter().find(|id| id.is_none()) {
            return Err(E::InvalidNodeId { node: id });
        }
        if let Some(&id) = self.voters.intersection(&self.learners).next() {
            return Err(E::VoterAndLearner { node: id });
        }
        if let Some(&id) = self.voters_outgoing.intersection(&self.learners).next() {
            return Err(E::VoterAndLearner { node: id });
        }
        if let Some(&id) = self
            .learners_next
            .iter()
            .find(|id| !self.voters_outgoing.contains(id))
        {
            return Err(E::LearnerNextNotOutgoing { node: id });
        }
        if !self.is_joint() && self.auto_leave {
            return Err(E::AutoLeaveOutsideJoint);
        }
        Ok(())
    }

    /// Appends the binary encoding (used in conf-change entries' replies,
    /// snapshot metadata and the WAL).
    pub fn encode(&self, out: &mut BytesMut) {
        for set in [
            &self.voters,
            &self.voters_outgoing,
            &self.learners,
            &self.learners_next,
        ] {
            out.put_u32_le(u32::try_from(set.len()).expect("member count fits u32"));
            for id in set {
                out.put_u64_le(id.get());
            }
        }
        out.put_u8(u8::from(self.auto_leave));
    }

    /// Decodes what [`ConfState::encode`] wrote, consuming it from `input`.
    pub fn decode(input: &mut impl Buf) -> Result<Self, DecodeError> {
        let mut sets: [BTreeSet<NodeId>; 4] = Default::default();
        for set in &mut sets {
            let count = read_u32(input)?;
            if u64::from(count) * 8 > input.remaining() as u64 {
                return Err(DecodeError::Truncated);
            }
            for _ in 0..count {
                set.insert(NodeId::new(input.get_u64_le()));
            }
        }
        let auto_leave = match read_u8(input)? {
            0 => false,
            1 => true,
            other => return Err(DecodeError::BadTag { tag: other }),
        };
        let [voters, voters_outgoing, learners, learners_next] = sets;
        let state = ConfState {
            voters,
            voters_outgoing,
            learners,
            learners_next,
            auto_leave,
        };
        state.validate().map_err(|_| DecodeError::Invalid)?;
        Ok(state)
    }
}

/// One step of a membership change.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConfChangeOp {
    /// Add a voter, or promote a learner to voter.
    AddVoter(NodeId),
    /// Add a learner, or demote a voter to learner.
    AddLearner(NodeId),
    /// Remove a member of any kind.
    Remove(NodeId),
}

impl ConfChangeOp {
    pub fn node(self) -> NodeId {
        match self {
            ConfChangeOp::AddVoter(id)
            | ConfChangeOp::AddLearner(id)
            | ConfChangeOp::Remove(id) => id,
        }
    }
}

/// How a change moves between configurations.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum ConfChangeTransition {
    /// One voter change or only learner changes: apply directly; anything
    /// else: enter a joint configuration and leave it automatically.
    #[default]
    Auto,
    /// Always go through a joint configuration, left automatically.
    Joint,
    /// Enter a joint configuration and stay until an explicit leave.
    JointExplicit,
}

/// A membership change as proposed and stored in a log entry. An empty list
/// of operations means "leave the joint configuration".
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct ConfChange {
    pub ops: Vec<ConfChangeOp>,
    pub transition: ConfChangeTransition,
}

impl ConfChange {
    /// The change that leaves a joint configuration.
    pub fn leave_joint() -> Self {
        ConfChange::default()
    }

    /// A single operation with the automatic transition.
    pub fn single(op: ConfChangeOp) -> Self {
        ConfChange {
            ops: vec![op],
            transition: ConfChangeTransition::Auto,
        }
    }

    /// True for the change that leaves a joint configuration.
    pub fn is_leave_joint(&self) -> bool {
        self.ops.is_empty()
    }

    /// The entry payload for this change.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(8 + self.ops.len() * 9);
        out.put_u8(CONF_CHANGE_FORMAT_VERSION);
        out.put_u8(match self.transition {
            ConfChangeTransition::Auto => 0,
            ConfChangeTransition::Joint => 1,
            ConfChangeTransition::JointExplicit => 2,
        });
        out.put_u32_le(u32::try_from(self.ops.len()).expect("op count fits u32"));
        for op in &self.ops {
            let (tag, id) = match *op {
                ConfChangeOp::AddVoter(id) => (0u8, id),
                ConfChangeOp::AddLearner(id) => (1, id),
                ConfChangeOp::Remove(id) => (2, id),
            };
            out.put_u8(tag);
            out.put_u64_le(id.get());
        }
        out.freeze()
    }

    /// Decodes an entry payload written by [`ConfChange::encode`].
    pub fn decode(mut input: &[u8]) -> Result<Self, DecodeError> {
        let version = read_u8(&mut input)?;
        if version != CONF_CHANGE_FORMAT_VERSION {
            return Err(DecodeError::UnknownVersion { version });
        }
        let transition = match read_u8(&mut input)? {
            0 => ConfChangeTransition::Auto,
            1 => ConfChangeTransition::Joint,
            2 => ConfChangeTransition::JointExplicit,
            tag => return Err(DecodeError::BadTag { tag }),
        };
        let count = read_u32(&mut input)?;
        if u64::from(count) * 9 != input.len() as u64 {
            return Err(DecodeError::Truncated);
        }
        let mut ops = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let tag = input.get_u8();
            let id = NodeId::new(input.get_u64_le());
            ops.push(match tag {
                0 => ConfChangeOp::AddVoter(id),
                1 => ConfChangeOp::AddLearner(id),
                2 => ConfChangeOp::Remove(id),
                tag => return Err(DecodeError::BadTag { tag }),
            });
        }
        Ok(ConfChange { ops, transition })
    }
}

const CONF_CHANGE_FORMAT_VERSION: u8 = 1;

fn read_u8(input: &mut impl Buf) -> Result<u8, DecodeError> {
    if input.remaining() < 1 {
        return Err(DecodeError::Truncated);
    }
    Ok(input.get_u8())
}

fn read_u32(input: &mut impl Buf) -> Result<u32, DecodeError> {
    if input.remaining() < 4 {
        return Err(DecodeError::Truncated);
    }
    Ok(input.get_u32_le())
}

/// What a snapshot covers: the last entry it includes and the configuration
/// in force at that entry.
#[derive(Clone, PartialEq, Eq, Default, Debug)]
pub struct SnapshotMeta {
    pub last: EntryId,
    pub conf_state: ConfState,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(raw: &[u64]) -> BTreeSet<NodeId> {
        raw.iter().map(|&r| NodeId::new(r)).collect()
    }

    #[test]
    fn conf_state_round_trips_through_its_encoding() {
        let state = ConfState {
            voters: ids(&[1, 2, 4]),
            voters_outgoing: ids(&[1, 2, 3]),
            learners: ids(&[5]),
            learners_next: ids(&[3]),
            auto_leave: true,
        };
        let mut buf = BytesMut::new();
        state.encode(&mut buf);
        let decoded = ConfState::decode(&mut buf.freeze()).expect("decodes");
        assert_eq!(decoded, state);
    }

    #[test]
    fn conf_change_round_trips_and_rejects_truncation() {
        let change = ConfChange {
            ops: vec![
                ConfChangeOp::AddVoter(NodeId::new(4)),
                ConfChangeOp::Remove(NodeId::new(1)),
            ],
            transition: ConfChangeTransition::JointExplicit,
        };
        let bytes = change.encode();
        assert_eq!(ConfChange::decode(&bytes).expect("decodes"), change);
        for cut in 0..bytes.len() {
            assert!(
                ConfChange::decode(&bytes[..cut]).is_err(),
                "cut at {cut} decoded"
            );
        }
    }

    #[test]
    fn decoded_conf_state_must_be_valid() {
        let state = ConfState {
            voters: ids(&[1]),
            learners: ids(&[1]),
            ..ConfState::default()
        };
        let mut buf = BytesMut::new();
        state.encode(&mut buf);
        assert_eq!(
            ConfState::decode(&mut buf.freeze()),
            Err(DecodeError::Invalid)
        );
    }
}
