//! Membership changes through a [`Group`] handle: learners with warm-up
//! rounds, promotion, removal, and joint changes of the voter set
//! (thesis chapter 4).

use crate::error::{MembershipError, ProposeError};
use crate::group::Group;
use crate::node::events::Command;
use crate::state_machine::StateMachine;
use quorate_core::{ConfChange, ConfChangeOp, ConfChangeTransition, NodeId, Role};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use tokio::sync::oneshot;
use tokio::time::Instant;

impl<SM: StateMachine> Group<SM> {
    /// Adds `node` (reachable at `addr`) as a learner and returns once it
    /// caught up: a warm-up round ends when the learner reaches the
    /// leader's last index as of the round's start; it is caught up when a
    /// round takes less than `catch_up_round` (at most
    /// `catch_up_rounds_max` rounds). The address is replicated through the
    /// log, so every member (and every later leader) can reach it.
    pub async fn add_learner(&self, node: NodeId, addr: SocketAddr) -> Result<(), MembershipError> {
        self.propose_framed::<()>(crate::node::encode_address(node, addr))
            .await?;
        self.change(ConfChange::single(ConfChangeOp::AddLearner(node)))
            .await?;
        self.catch_up(node).await
    }

    /// Makes learner `node` a voter.
    pub async fn promote(&self, node: NodeId) -> Result<(), MembershipError> {
        let status = self.status().await.map_err(|_| ProposeError::Shutdown)?;
        if !status.conf_state.learners.contains(&node) {
            return Err(MembershipError::NotLearner { node });
        }
        self.change(ConfChange::single(ConfChangeOp::AddVoter(node)))
            .await
    }

    /// Removes `node`, voter or learner. Removing the leader makes it hand
    /// over to the most caught-up voter once the change commits.
    pub async fn remove(&self, node: NodeId) -> Result<(), MembershipError> {
        self.change(ConfChange::single(ConfChangeOp::Remove(node)))
            .await
    }

    /// Changes the voter set to exactly `voters`, through a joint
    /// configuration when more than one voter changes; returns once the
    /// joint configuration was left.
    pub async fn change_membership(&self, voters: BTreeSet<NodeId>) -> Result<(), MembershipError> {
        let status = self.status().await.map_err(|_| ProposeError::Shutdown)?;
        let current = &status.conf_state.voters;
        let mut ops: Vec<ConfChangeOp> = voters
            .difference(current)
            .map(|&id| ConfChangeOp::AddVoter(id))
            .collect();
        ops.extend(
            current
                .difference(&voters)
                .map(|&id| ConfChangeOp::Remove(id)),
        );
        if ops.is_empty() {
            return Ok(());
        }
        let transition = if ops.len() > 1 {
            ConfChangeTransition::Joint
        } else {
            ConfChangeTransition::Auto
        };
        self.change(ConfChange { ops, transition }).await?;
        self.wait_joint_left().await
    }

    /// Proposes a configuration change and waits until it applied here.
    async fn change(&self, change: ConfChange) -> Result<(), MembershipError> {
        let (tx, rx) = oneshot::channel::<Result<(), ProposeError>>();
        self.submit(Command::ConfChange {
            group: self.id(),
            change,
            waiter: Box::new(tx),
        })?;
        let timeout = self.inner.config.request_timeout;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(_)) => Err(ProposeError::Aborted.into()),
            Err(_) => Err(ProposeError::Timeout.into()),
        }
    }

    /// Polls status (once a tick) until no joint configuration remains.
    async fn wait_joint_left(&self) -> Result<(), MembershipError> {
        let deadline = Instant::now() + self.inner.config.request_timeout;
        let mut poll = tokio::time::interval(self.inner.config.tick_interval);
        while Instant::now() < deadline {
            poll.tick().await;
            let status = self.status().await.map_err(|_| ProposeError::Shutdown)?;
            if !status.conf_state.is_joint() {
                return Ok(());
            }
        }
        Err(ProposeError::Timeout.into())
    }

    /// Warm-up rounds for a new learner (polling the leader's status once
    /// a tick, each round bounded by the request timeout).
    async fn catch_up(&self, node: NodeId) -> Result<(), MembershipError> {
        let config = &self.inner.config;
        let rounds = config.catch_up_rounds_max;
        let mut poll = tokio::time::interval(config.tick_interval);
        for round in 1..=rounds {
            let start = Instant::now();
            let status = self.status().await.map_err(|_| ProposeError::Shutdown)?;
            let target = status.last_index;
            loop {
                poll.tick().await;
                let status = self.status().await.map_err(|_| ProposeError::Shutdown)?;
                if status.role != Role::Leader {
                    let leader_hint = status.leader;
                    return Err(ProposeError::NotLeader { leader_hint }.into());
                }
                let matched = status
                    .peers
                    .iter()
                    .any(|p| p.id == node && p.match_index >= target);
                if matched {
                    break;
                }
                if start.elapsed() > config.request_timeout {
                    return Err(MembershipError::CatchUpTimeout {
                        node,
                        rounds: round,
                    });
                }
            }
            let took = start.elapsed();
            tracing::info!(group = %self.id(), %node, round, ?took, "learner warm-up round done");
            if took < config.catch_up_round {
                return Ok(());
            }
        }
        Err(MembershipError::CatchUpTimeout { node, rounds })
    }
}
