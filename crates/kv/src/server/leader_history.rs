//! The leader changes this node saw, with the wall-clock time it saw
//! each, so the status page can list when elections happened rather than
//! when the page was opened.

use super::service::NodeService;
use crate::api::LeaderChange;
use quorate::GroupEvent;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use tokio::sync::broadcast::error::RecvError;

/// Changes kept, newest first; older ones are dropped.
pub const LEADER_CHANGES_MAX: usize = 20;

/// A bounded, newest-first list of leader changes.
#[derive(Debug, Default)]
pub struct LeaderHistory {
    changes: Mutex<VecDeque<LeaderChange>>,
}

impl LeaderHistory {
    /// Records `(term, leader)` seen at `at_ms` unless it is what the
    /// newest entry already says.
    pub fn observe(&self, term: u64, leader_id: Option<u64>, at_ms: u64) {
        let mut changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        let same = changes
            .front()
            .is_some_and(|newest| newest.leader_id == leader_id && newest.term == term);
        if same {
            return;
        }
        changes.push_front(LeaderChange {
            at_ms,
            term,
            leader_id,
        });
        changes.truncate(LEADER_CHANGES_MAX);
        assert!(changes.len() <= LEADER_CHANGES_MAX);
    }

    /// Newest first.
    pub fn recent(&self) -> Vec<LeaderChange> {
        let changes = self.changes.lock().unwrap_or_else(PoisonError::into_inner);
        changes.iter().cloned().collect()
    }
}

/// Milliseconds since the Unix epoch on this node's clock.
#[allow(clippy::disallowed_methods)] // The page shows people wall-clock times.
fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

/// Records the group's leader changes until aborted. The leader known at
/// start (or after missed events) is read from the group's status.
pub async fn run(service: Arc<NodeService>) {
    let mut events = service.group.subscribe();
    record_current(&service).await;
    loop {
        match events.recv().await {
            Ok(GroupEvent::LeaderChanged { term, leader }) => {
                let leader = leader.map(quorate::NodeId::get);
                service
                    .leader_history
                    .observe(term.get(), leader, wall_clock_ms());
            }
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => record_current(&service).await,
            Err(RecvError::Closed) => return,
        }
    }
}

async fn record_current(service: &NodeService) {
    if let Ok(status) = service.group.status().await {
        let leader = status.leader.map(quorate::NodeId::get);
        service
            .leader_history
            .observe(status.term.get(), leader, wall_clock_ms());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_changes_newest_first_without_repeats() {
        let history = LeaderHistory::default();
        history.observe(1, None, 10);
        history.observe(2, Some(3), 20);
        history.observe(2, Some(3), 30);
        let recent = history.recent();
        assert_eq!(recent.len(), 2);
        assert_eq!(
            (recent[0].term, recent[0].leader_id, recent[0].at_ms),
            (2, Some(3), 20)
        );
        for term in 3..40 {
            history.observe(term, Some(1), term);
        }
        assert_eq!(history.recent().len(), LEADER_CHANGES_MAX);
        assert_eq!(history.recent()[0].term, 39);
    }
}
