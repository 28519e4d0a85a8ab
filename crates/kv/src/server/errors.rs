//! Runtime errors as client API errors.
//!
//! The runtime says whether a write may have happened ([`quorate::Outcome`]);
//! the API keeps that distinction: every "not applied" error becomes a
//! redirect, a 503 or a refusal, and every "outcome unknown" one becomes
//! [`KvError::Indeterminate`] (504).

use crate::api::{Busy, Field, KvError, Refusal};
use quorate::{MembershipError, Outcome, ProposeError, ReadError, TransferError};

/// Seconds a client backs off after a busy answer.
pub const BUSY_RETRY_AFTER_S: u32 = 1;

/// Where to send a client that reached a node which cannot serve it.
pub(crate) trait LeaderRedirect {
    /// The leader's client URL when a leader other than this node is known.
    fn not_leader(&self, hint: Option<quorate::NodeId>) -> KvError;
}

fn busy(busy: Busy) -> KvError {
    KvError::Busy {
        busy,
        retry_after_s: BUSY_RETRY_AFTER_S,
    }
}

pub(crate) fn propose_error(error: &ProposeError, redirect: &impl LeaderRedirect) -> KvError {
    if error.outcome() == Outcome::Unknown {
        return KvError::Indeterminate;
    }
    match error {
        ProposeError::NotLeader { leader_hint } => redirect.not_leader(*leader_hint),
        ProposeError::Overwritten { .. } => redirect.not_leader(None),
        ProposeError::QueueFull { .. } | ProposeError::Backpressure { .. } => {
            busy(Busy::Backpressure)
        }
        ProposeError::TransferInProgress { .. } | ProposeError::ChangeInProgress { .. } => {
            busy(Busy::ChangeInProgress)
        }
        ProposeError::TooLarge { size, limit } => KvError::TooLarge {
            field: Field::Body,
            size: *size,
            limit: *limit,
        },
        ProposeError::InvalidChange(_) => KvError::Refused {
            refusal: Refusal::InvalidMembershipChange,
        },
        _ => busy(Busy::NotReady),
    }
}

pub(crate) fn read_error(error: &ReadError, redirect: &impl LeaderRedirect) -> KvError {
    match error {
        ReadError::NoLeader => KvError::NotLeader { leader_url: None },
        ReadError::LeadershipChanged => redirect.not_leader(None),
        ReadError::QueueFull { .. } => busy(Busy::Backpressure),
        ReadError::Timeout => KvError::ReadTimeout,
        _ => busy(Busy::NotReady),
    }
}

pub(crate) fn membership_error(error: &MembershipError, redirect: &impl LeaderRedirect) -> KvError {
    match error {
        MembershipError::Propose(error) => propose_error(error, redirect),
        // The learner was added; only its catch-up wait gave up.
        MembershipError::CatchUpTimeout { .. } => KvError::Indeterminate,
        MembershipError::NotLearner { .. } => KvError::Refused {
            refusal: Refusal::InvalidMembershipChange,
        },
        _ => busy(Busy::NotReady),
    }
}

pub(crate) fn transfer_error(error: &TransferError, redirect: &impl LeaderRedirect) -> KvError {
    match error {
        TransferError::NotLeader { leader_hint } => redirect.not_leader(*leader_hint),
        TransferError::NotVoter { .. } => KvError::Refused {
            refusal: Refusal::InvalidTransferTarget,
        },
        // The target may still take over: the answer is not known.
        TransferError::Timeout { .. } => KvError::Indeterminate,
        _ => busy(Busy::NotReady),
    }
}

pub(crate) fn not_ready() -> KvError {
    busy(Busy::NotReady)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorate::NodeId;

    struct Fixed;
    impl LeaderRedirect for Fixed {
        fn not_leader(&self, hint: Option<NodeId>) -> KvError {
            KvError::NotLeader {
                leader_url: hint.map(|id| format!("http://node-{id}")),
            }
        }
    }

    #[test]
    fn unknown_outcomes_are_indeterminate_and_refusals_are_not() {
        assert_eq!(
            propose_error(&ProposeError::Timeout, &Fixed),
            KvError::Indeterminate
        );
        assert_eq!(
            propose_error(&ProposeError::Aborted, &Fixed),
            KvError::Indeterminate
        );
        let redirect = propose_error(
            &ProposeError::NotLeader {
                leader_hint: Some(NodeId::new(2)),
            },
            &Fixed,
        );
        assert_eq!(redirect.status().as_u16(), 307);
        let full = propose_error(&ProposeError::QueueFull { limit: 1 }, &Fixed);
        assert_eq!(full.status().as_u16(), 503);
        assert_eq!(
            read_error(&ReadError::NoLeader, &Fixed).status().as_u16(),
            503
        );
    }
}
