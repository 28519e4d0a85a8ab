//! Duplicate elimination for exactly-once writes (thesis §6.3).
//!
//! A client that may resend a write tags it with a [`SessionKey`] (its
//! client id and a request id, e.g. the HTTP `Idempotency-Key`). The first
//! apply records the response; a later command with the same key gets the
//! recorded response back without touching the map, on every member alike.
//!
//! Expiry must be deterministic, so it never reads a local clock: each
//! command carries the leader's wall-clock time when it was proposed, the
//! table's notion of "now" is the highest such time applied so far, and a
//! record expires once it is older than `ttl_ms` by that clock. The table
//! also holds at most `entries_max` records and evicts the oldest first;
//! both bounds must be equal on every member, which is why they live in
//! the replicated configuration ([`SessionsConfig`]) and not in flags.

use std::collections::{BTreeMap, BTreeSet};

/// Longest client id or request id accepted, in bytes.
pub const SESSION_ID_BYTES_MAX: usize = 128;

/// How long a response is remembered by default: one day, as common
/// idempotency-key APIs do.
pub const SESSION_TTL_MS_DEFAULT: u64 = 24 * 60 * 60 * 1000;

/// How many responses are remembered at most by default.
pub const SESSION_ENTRIES_MAX_DEFAULT: usize = 100_000;

/// Who sent a write and which of its writes it is.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SessionKey {
    pub client_id: String,
    pub request_id: String,
}

/// The bounds of the table; equal on every member of a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionsConfig {
    pub ttl_ms: u64,
    pub entries_max: usize,
}

impl Default for SessionsConfig {
    fn default() -> SessionsConfig {
        SessionsConfig {
            ttl_ms: SESSION_TTL_MS_DEFAULT,
            entries_max: SESSION_ENTRIES_MAX_DEFAULT,
        }
    }
}

/// What the table knows about a command's key.
#[derive(Debug, PartialEq, Eq)]
pub enum Dedup<'a, R> {
    /// Not seen (or expired): apply the command.
    Fresh,
    /// Seen with the same request: answer with the recorded response.
    Duplicate(&'a R),
    /// Seen with a different request: refuse, the key was reused.
    Conflict,
}

/// One remembered response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Record<R> {
    /// CRC32C of the encoded request, to tell a resend from a reuse of the
    /// key for another request.
    pub(crate) fingerprint: u32,
    /// The leader time (ms) of the command that created the record.
    pub(crate) created_ms: u64,
    pub(crate) response: R,
}

/// The table of recorded responses.
///
/// Invariant: `by_age` holds exactly `(record.created_ms, key)` for every
/// record in `records`, and `records.len() <= config.entries_max`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sessions<R> {
    config: SessionsConfig,
    records: BTreeMap<SessionKey, Record<R>>,
    by_age: BTreeSet<(u64, SessionKey)>,
    /// The highest command time applied (ms); never decreases.
    now_ms: u64,
}

impl<R> Sessions<R> {
    pub fn new(config: SessionsConfig) -> Sessions<R> {
        assert!(config.entries_max > 0, "sessions entries_max must be > 0");
        Sessions {
            config,
            records: BTreeMap::new(),
            by_age: BTreeSet::new(),
            now_ms: 0,
        }
    }

    pub fn config(&self) -> SessionsConfig {
        self.config
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The table's clock: the newest command time applied (ms).
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    /// Moves the clock to `command_ms` if later, and drops records older
    /// than the TTL. A command stamped earlier (a new leader with a slower
    /// clock) does not move the clock back.
    pub fn advance(&mut self, command_ms: u64) {
        self.now_ms = self.now_ms.max(command_ms);
        let horizon_ms = self.now_ms.saturating_sub(self.config.ttl_ms);
        while let Some((created_ms, _)) = self.by_age.first() {
            if *created_ms >= horizon_ms {
                break;
            }
            if let Some((_, key)) = self.by_age.pop_first() {
                self.records.remove(&key);
            }
        }
        self.check_invariants();
    }

    /// Looks up `key` for a command whose request hashes to `fingerprint`.
    pub fn check(&self, key: &SessionKey, fingerprint: u32) -> Dedup<'_, R> {
        match self.records.get(key) {
            None => Dedup::Fresh,
            Some(record) if record.fingerprint == fingerprint => Dedup::Duplicate(&record.response),
            Some(_) => Dedup::Conflict,
        }
    }

    /// Remembers the response to a fresh command, evicting the oldest
    /// records when the table is full.
    pub fn record(&mut self, key: SessionKey, fingerprint: u32, response: R) {
        self.remove(&key);
        while self.records.len() >= self.config.entries_max {
            match self.by_age.pop_first() {
                Some((_, oldest)) => {
                    self.records.remove(&oldest);
                }
                None => break,
            }
        }
        let record = Record {
            fingerprint,
            created_ms: self.now_ms,
            response,
        };
        self.by_age.insert((record.created_ms, key.clone()));
        self.records.insert(key, record);
        self.check_invariants();
    }

    pub(crate) fn records(&self) -> impl ExactSizeIterator<Item = (&SessionKey, &Record<R>)> {
        self.records.iter()
    }

    /// Rebuilds a table from a snapshot's records. Records beyond the
    /// bound are dropped oldest first, as `record` would have.
    pub(crate) fn from_parts(
        config: SessionsConfig,
        now_ms: u64,
        records: impl IntoIterator<Item = (SessionKey, Record<R>)>,
    ) -> Sessions<R> {
        let mut sessions = Sessions::new(config);
        sessions.now_ms = now_ms;
        for (key, record) in records {
            sessions.by_age.insert((record.created_ms, key.clone()));
            sessions.records.insert(key, record);
        }
        while sessions.records.len() > config.entries_max {
            if let Some((_, oldest)) = sessions.by_age.pop_first() {
                sessions.records.remove(&oldest);
            }
        }
        sessions.advance(now_ms);
        sessions
    }

    fn remove(&mut self, key: &SessionKey) {
        if let Some(record) = self.records.remove(key) {
            self.by_age.remove(&(record.created_ms, key.clone()));
        }
    }

    fn check_invariants(&self) {
        assert!(
            self.records.len() <= self.config.entries_max,
            "sessions table over entries_max"
        );
        debug_assert_eq!(
            self.records.len(),
            self.by_age.len(),
            "sessions age index out of step"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(request_id: &str) -> SessionKey {
        SessionKey {
            client_id: "client".into(),
            request_id: request_id.into(),
        }
    }

    fn small(entries_max: usize) -> Sessions<u32> {
        Sessions::new(SessionsConfig {
            ttl_ms: 1_000,
            entries_max,
        })
    }

    #[test]
    fn resend_with_same_request_gets_recorded_response() {
        let mut sessions = small(10);
        sessions.record(key("a"), 7, 42);
        assert_eq!(sessions.check(&key("a"), 7), Dedup::Duplicate(&42));
        assert_eq!(sessions.check(&key("b"), 7), Dedup::Fresh);
    }

    #[test]
    fn reused_key_with_other_request_is_a_conflict() {
        let mut sessions = small(10);
        sessions.record(key("a"), 7, 42);
        assert_eq!(sessions.check(&key("a"), 8), Dedup::Conflict);
    }

    #[test]
    fn records_expire_by_command_time_not_local_clock() {
        let mut sessions = small(10);
        sessions.advance(5_000);
        sessions.record(key("a"), 1, 1);
        sessions.advance(5_999);
        assert_eq!(sessions.len(), 1);
        sessions.advance(6_001);
        assert_eq!(sessions.check(&key("a"), 1), Dedup::Fresh);
    }

    #[test]
    fn an_earlier_leader_clock_does_not_move_time_back() {
        let mut sessions = small(10);
        sessions.advance(5_000);
        sessions.advance(10);
        assert_eq!(sessions.now_ms(), 5_000);
    }

    #[test]
    fn a_full_table_evicts_the_oldest_record() {
        let mut sessions = small(2);
        sessions.advance(1);
        sessions.record(key("a"), 1, 1);
        sessions.advance(2);
        sessions.record(key("b"), 1, 2);
        sessions.advance(3);
        sessions.record(key("c"), 1, 3);
        assert_eq!(sessions.len(), 2);
        assert_eq!(sessions.check(&key("a"), 1), Dedup::Fresh);
        assert_eq!(sessions.check(&key("c"), 1), Dedup::Duplicate(&3));
    }
}
