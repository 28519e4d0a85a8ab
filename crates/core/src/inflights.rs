//! The in-flight window of one follower: AppendEntries messages sent but not
//! yet acknowledged, bounded by count and by bytes, so a slow follower cannot
//! make the leader buffer without limit.

use crate::types::Index;
use std::collections::VecDeque;

#[derive(Clone, Debug)]
pub(crate) struct Inflights {
    /// (last index carried, entry bytes carried), oldest first; last indexes
    /// strictly increase.
    window: VecDeque<(Index, u64)>,
    bytes: u64,
    msgs_max: usize,
    bytes_max: u64,
}

impl Inflights {
    pub(crate) fn new(msgs_max: usize, bytes_max: u64) -> Self {
        Inflights {
            window: VecDeque::with_capacity(msgs_max.min(64)),
            bytes: 0,
            msgs_max,
            bytes_max,
        }
    }

    /// True when no further message may be sent.
    pub(crate) fn full(&self) -> bool {
        self.window.len() >= self.msgs_max || self.bytes >= self.bytes_max
    }

    #[cfg(test)]
    pub(crate) fn count(&self) -> usize {
        self.window.len()
    }

    /// Records a message carrying entries up to `last`.
    pub(crate) fn add(&mut self, last: Index, bytes: u64) {
        assert!(!self.full(), "inflights overflow");
        if let Some(&(prev, _)) = self.window.back() {
            assert!(last > prev, "inflight {last} not after {prev}");
        }
        self.window.push_back((last, bytes));
        self.bytes += bytes;
    }

    /// Frees every message whose entries are all acknowledged by `index`.
    pub(crate) fn free_to(&mut self, index: Index) {
        while let Some(&(last, bytes)) = self.window.front() {
            if last > index {
                break;
            }
            self.bytes -= bytes;
            self.window.pop_front();
        }
    }

    /// Frees the oldest message (a heartbeat response shows the follower is
    /// alive, so one more message may be worth sending).
    pub(crate) fn free_first(&mut self) {
        if let Some((_, bytes)) = self.window.pop_front() {
            self.bytes -= bytes;
        }
    }

    pub(crate) fn reset(&mut self) {
        self.window.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_bounded_by_count_and_bytes() {
        let mut by_count = Inflights::new(2, 1_000);
        by_count.add(Index::new(1), 10);
        by_count.add(Index::new(2), 10);
        assert!(by_count.full());
        by_count.free_to(Index::new(1));
        assert!(!by_count.full());

        let mut by_bytes = Inflights::new(10, 100);
        by_bytes.add(Index::new(5), 100);
        assert!(by_bytes.full());
        by_bytes.free_first();
        assert!(!by_bytes.full());
        assert_eq!(by_bytes.count(), 0);
    }

    #[test]
    fn free_to_releases_only_fully_acknowledged_messages() {
        let mut window = Inflights::new(10, 1_000);
        for last in [3, 6, 9] {
            window.add(Index::new(last), 1);
        }
        window.free_to(Index::new(7));
        assert_eq!(window.count(), 1);
        window.free_to(Index::new(9));
        assert_eq!(window.count(), 0);
    }
}
