//! What the leader knows of one follower's log (Figure 2's nextIndex and
//! matchIndex) and how it replicates to it: probe, replicate or snapshot.

use crate::inflights::Inflights;
use crate::types::Index;

/// How the leader currently sends to a follower.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ProgressState {
    /// Unknown match: send one message, wait for its answer.
    Probe,
    /// Known match: stream entries optimistically, bounded by the window.
    Replicate,
    /// The follower needs a snapshot through `pending`; wait for it.
    Snapshot { pending: Index },
}

/// Invariant: `match_index < next_index`.
#[derive(Clone, Debug)]
pub(crate) struct Progress {
    /// Highest index known to be replicated on the follower (Figure 2).
    pub(crate) match_index: Index,
    /// Index of the next entry to send (Figure 2).
    pub(crate) next_index: Index,
    pub(crate) state: ProgressState,
    /// In probe state, a message is out and unanswered.
    pub(crate) probe_sent: bool,
    pub(crate) inflights: Inflights,
    /// Heard from since the last check-quorum round.
    pub(crate) recent_active: bool,
    /// Leader tick of the last message from this follower.
    pub(crate) last_contact_tick: u64,
    /// Highest ReadIndex round the follower acknowledged.
    pub(crate) read_round_acked: u64,
    /// Highest commit index sent, to skip redundant empty appends.
    pub(crate) commit_sent: Index,
}

impl Progress {
    pub(crate) fn new(next_index: Index, msgs_max: usize, bytes_max: u64) -> Self {
        Progress {
            match_index: Index::ZERO,
            next_index,
            state: ProgressState::Probe,
            probe_sent: false,
            inflights: Inflights::new(msgs_max, bytes_max),
            recent_active: false,
            last_contact_tick: 0,
            read_round_acked: 0,
            commit_sent: Index::ZERO,
        }
    }

    /// True when nothing should be sent now.
    pub(crate) fn is_paused(&self) -> bool {
        match self.state {
            ProgressState::Probe => self.probe_sent,
            ProgressState::Replicate => self.inflights.full(),
            ProgressState::Snapshot { .. } => true,
        }
    }

    pub(crate) fn become_probe(&mut self) {
        let next = match self.state {
            ProgressState::Snapshot { pending } => pending.next().max(self.match_index.next()),
            _ => self.match_index.next(),
        };
        self.state = ProgressState::Probe;
        self.next_index = next;
        self.probe_sent = false;
        self.inflights.reset();
    }

    pub(crate) fn become_replicate(&mut self) {
        self.state = ProgressState::Replicate;
        self.next_index = self.match_index.next();
        self.probe_sent = false;
        self.inflights.reset();
    }

    pub(crate) fn become_snapshot(&mut self, pending: Index) {
        self.state = ProgressState::Snapshot { pending };
        self.probe_sent = false;
        self.inflights.reset();
    }

    /// The follower answered at leader tick `tick`.
    pub(crate) fn heard_from(&mut self, tick: u64) {
        self.recent_active = true;
        self.last_contact_tick = tick;
    }

    /// The runtime finished streaming a snapshot: probe after it if it was
    /// delivered, or from the known match if it was not.
    pub(crate) fn snapshot_reported(&mut self, delivered: bool) {
        if !matches!(self.state, ProgressState::Snapshot { .. }) {
            return;
        }
        if !delivered {
            self.state = ProgressState::Snapshot {
                pending: self.match_index,
            };
        }
        self.become_probe();
    }

    /// Records that a message carrying entries through `last` was sent.
    pub(crate) fn sent_entries(&mut self, last: Index, count: u64, bytes: u64) {
        match self.state {
            ProgressState::Replicate => {
                if count > 0 {
                    self.next_index = last.next();
                    self.inflights.add(last, bytes);
                }
            }
            ProgressState::Probe => self.probe_sent = true,
            ProgressState::Snapshot { .. } => unreachable!("append sent in snapshot state"),
        }
    }

    /// Handles an acceptance through `index`. Returns false if it was stale.
    pub(crate) fn maybe_update(&mut self, index: Index) -> bool {
        self.probe_sent = false;
        if index <= self.match_index {
            return false;
        }
        self.match_index = index;
        self.next_index = self.next_index.max(index.next());
        self.inflights.free_to(index);
        true
    }

    /// Handles a rejection of the append whose prev_log_index was
    /// `rejected`; `probe_hint` is where the leader should probe next, at
    /// most its last index (the caller clamps the follower's hint), so
    /// next_index never moves past what the leader can send.
    /// Returns false if the rejection was stale.
    pub(crate) fn maybe_decr_to(&mut self, rejected: Index, probe_hint: Index) -> bool {
        match self.state {
            ProgressState::Replicate => {
                if rejected <= self.match_index {
                    return false;
                }
                self.become_probe();
                self.next_index = probe_hint.next().min(rejected).max(self.match_index.next());
                true
            }
            ProgressState::Probe => {
                if self.next_index.prev() != rejected {
                    return false;
                }
                self.next_index = probe_hint.next().min(rejected).max(self.match_index.next());
                self.probe_sent = false;
                true
            }
            ProgressState::Snapshot { .. } => false,
        }
    }

    pub(crate) fn check(&self) {
        assert!(
            self.match_index < self.next_index,
            "progress invariant broken: match {} >= next {}",
            self.match_index,
            self.next_index
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn progress(next: u64) -> Progress {
        Progress::new(Index::new(next), 4, 1 << 20)
    }

    #[test]
    fn probe_sends_one_message_until_answered() {
        let mut pr = progress(5);
        assert!(!pr.is_paused());
        pr.sent_entries(Index::new(7), 3, 30);
        assert!(pr.is_paused());
        assert_eq!(pr.next_index, Index::new(5), "probe does not advance next");
        pr.maybe_update(Index::new(7));
        assert!(!pr.is_paused());
    }

    #[test]
    fn replicate_advances_next_optimistically_and_pauses_when_window_full() {
        let mut pr = progress(1);
        pr.become_replicate();
        for last in 1..=4 {
            pr.sent_entries(Index::new(last), 1, 10);
        }
        assert_eq!(pr.next_index, Index::new(5));
        assert!(pr.is_paused());
        assert!(pr.maybe_update(Index::new(2)));
        assert!(!pr.is_paused());
    }

    #[test]
    fn rejection_in_replicate_falls_back_to_probe_at_hint() {
        let mut pr = progress(1);
        pr.maybe_update(Index::new(3));
        pr.become_replicate();
        pr.sent_entries(Index::new(10), 7, 70);
        assert!(pr.maybe_decr_to(Index::new(8), Index::new(5)));
        assert_eq!(pr.state, ProgressState::Probe);
        assert_eq!(pr.next_index, Index::new(6));
        assert!(
            !pr.maybe_decr_to(Index::new(2), Index::new(1)),
            "stale rejection ignored"
        );
        pr.check();
    }

    #[test]
    fn stale_probe_rejection_is_ignored() {
        let mut pr = progress(10);
        pr.sent_entries(Index::new(12), 3, 3);
        assert!(!pr.maybe_decr_to(Index::new(5), Index::new(2)));
        assert!(pr.maybe_decr_to(Index::new(9), Index::new(4)));
        assert_eq!(pr.next_index, Index::new(5));
    }
}
