//! Duplicate elimination with client sessions (thesis §6.3): a wrapper any
//! [`StateMachine`] can use so a retried command applies at most once.
//!
//! A client picks a unique `client_id` and numbers its commands 1, 2, 3...
//! ([`SessionCommand::encode`]). The wrapper remembers per client the
//! highest sequence applied and its response; a retry of that sequence
//! returns the cached response instead of applying again. Sessions expire
//! deterministically, by log position: one unused for `expiry_entries`
//! entries is dropped on every member at the same index. A command for an
//! unknown session with a sequence above 1 may be a retry of something
//! already applied and forgotten, so it is refused ([`SessionResponse::Expired`]).

use crate::state_machine::{Command, SnapshotReader, StateMachine};
use bytes::{Buf, BufMut, Bytes, BytesMut};
use quorate_core::Index;
use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

/// Default session lifetime in log entries.
pub const SESSION_EXPIRY_ENTRIES_DEFAULT: u64 = 1_000_000;

/// Encodes commands for a [`Sessions`] state machine.
pub struct SessionCommand;

impl SessionCommand {
    /// The log payload for command `sequence` (from 1) of `client_id`.
    pub fn encode(client_id: u64, sequence: u64, payload: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(16 + payload.len());
        out.put_u64_le(client_id);
        out.put_u64_le(sequence);
        out.put_slice(payload);
        out.freeze()
    }
}

/// What a session command resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionResponse<R> {
    /// Applied now.
    Applied(R),
    /// Applied before; the cached response (`None` when the cache was
    /// rebuilt from a snapshot, which keeps sequences only).
    Duplicate(Option<R>),
    /// The session is unknown (expired or never opened) and the sequence
    /// is not 1: not applied. Open a new session (new client id).
    Expired,
    /// Older than the session's last command: its response is gone. Not
    /// applied now.
    Stale,
    /// Shorter than the session header: not applied.
    Malformed,
}

struct Session<R> {
    sequence: u64,
    last_used: Index,
    response: Option<R>,
}

/// Wraps `SM` with client sessions.
pub struct Sessions<SM: StateMachine> {
    inner: SM,
    sessions: BTreeMap<u64, Session<SM::Response>>,
    /// (last use, client) for expiry in log order.
    by_use: BTreeSet<(Index, u64)>,
    expiry_entries: u64,
}

impl<SM: StateMachine> Sessions<SM>
where
    SM::Response: Clone + Sync,
{
    pub fn new(inner: SM) -> Self {
        Sessions::with_expiry(inner, SESSION_EXPIRY_ENTRIES_DEFAULT)
    }

    /// Sessions unused for `expiry_entries` log entries are forgotten.
    pub fn with_expiry(inner: SM, expiry_entries: u64) -> Self {
        Sessions {
            inner,
            sessions: BTreeMap::new(),
            by_use: BTreeSet::new(),
            expiry_entries: expiry_entries.max(1),
        }
    }

    pub fn inner(&self) -> &SM {
        &self.inner
    }

    /// Live sessions.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Decides one command: `Ok` passes it to the inner machine.
    fn admit(
        &mut self,
        command: &Command,
    ) -> Result<(u64, u64, Bytes), SessionResponse<SM::Response>> {
        let mut data = command.data.clone();
        if data.len() < 16 {
            return Err(SessionResponse::Malformed);
        }
        let (client, sequence) = (data.get_u64_le(), data.get_u64_le());
        match self.sessions.get(&client) {
            None if sequence > 1 => Err(SessionResponse::Expired),
            None => Ok((client, sequence, data)),
            Some(session) if sequence == session.sequence => {
                Err(SessionResponse::Duplicate(session.response.clone()))
            }
            Some(session) if sequence < session.sequence => Err(SessionResponse::Stale),
            Some(_) => Ok((client, sequence, data)),
        }
    }

    fn touch(&mut self, client: u64, sequence: u64, at: Index, response: Option<SM::Response>) {
        if let Some(old) = self.sessions.get(&client) {
            self.by_use.remove(&(old.last_used, client));
        }
        self.by_use.insert((at, client));
        self.sessions.insert(
            client,
            Session {
                sequence,
                last_used: at,
                response,
            },
        );
    }

    fn expire(&mut self, applied: Index) {
        while let Some(&(used, client)) = self.by_use.first() {
            if used.plus(self.expiry_entries) > applied {
                break;
            }
            self.by_use.pop_first();
            self.sessions.remove(&client);
        }
    }
}

impl<SM: StateMachine> StateMachine for Sessions<SM>
where
    SM::Response: Clone + Sync,
{
    type Response = SessionResponse<SM::Response>;

    fn apply(&mut self, commands: &[Command], applied_index: Index) -> Vec<Self::Response> {
        let mut out: Vec<Option<Self::Response>> = Vec::with_capacity(commands.len());
        let mut admitted = Vec::new();
        let mut owners = Vec::new();
        for (position, command) in commands.iter().enumerate() {
            match self.admit(command) {
                Ok((client, sequence, payload)) => {
                    // A second copy of the same sequence in this batch is a
                    // duplicate of the first.
                    self.touch(client, sequence, command.index, None);
                    admitted.push(Command {
                        index: command.index,
                        term: command.term,
                        data: payload,
                    });
                    owners.push((position, client, sequence, command.index));
                    out.push(None);
                }
                Err(response) => out.push(Some(response)),
            }
        }
        let responses = self.inner.apply(&admitted, applied_index);
        assert_eq!(
            responses.len(),
            admitted.len(),
            "inner apply must answer each command"
        );
        for ((position, client, sequence, index), response) in owners.into_iter().zip(responses) {
            self.touch(client, sequence, index, Some(response.clone()));
            out[position] = Some(SessionResponse::Applied(response));
        }
        self.expire(applied_index);
        out.into_iter()
            .map(|r| r.expect("every command answered"))
            .collect()
    }

    fn snapshot(&mut self) -> std::io::Result<SnapshotReader> {
        let mut table = BytesMut::new();
        table.put_u64_le(self.sessions.len() as u64);
        for (&client, session) in &self.sessions {
            table.put_u64_le(client);
            table.put_u64_le(session.sequence);
            table.put_u64_le(session.last_used.get());
        }
        let inner = self.inner.snapshot()?;
        Ok(Box::new(Read::chain(
            std::io::Cursor::new(table.freeze()),
            inner,
        )))
    }

    fn restore(&mut self, snapshot: &mut dyn Read, applied_index: Index) -> std::io::Result<()> {
        let mut word = [0u8; 8];
        snapshot.read_exact(&mut word)?;
        let count = u64::from_le_bytes(word);
        self.sessions.clear();
        self.by_use.clear();
        for _ in 0..count {
            let mut fields = [0u64; 3];
            for field in &mut fields {
                snapshot.read_exact(&mut word)?;
                *field = u64::from_le_bytes(word);
            }
            let [client, sequence, used] = fields;
            self.touch(client, sequence, Index::new(used), None);
        }
        self.inner.restore(snapshot, applied_index)
    }

    fn applied_index(&self) -> Index {
        self.inner.applied_index()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quorate_core::Term;

    #[derive(Default)]
    struct Counter {
        value: u64,
        applied: Index,
    }

    impl StateMachine for Counter {
        type Response = u64;
        fn apply(&mut self, commands: &[Command], applied_index: Index) -> Vec<u64> {
            self.applied = applied_index;
            commands
                .iter()
                .map(|_| {
                    self.value += 1;
                    self.value
                })
                .collect()
        }
        fn snapshot(&mut self) -> std::io::Result<SnapshotReader> {
            Ok(Box::new(std::io::Cursor::new(
                self.value.to_le_bytes().to_vec(),
            )))
        }
        fn restore(
            &mut self,
            snapshot: &mut dyn Read,
            applied_index: Index,
        ) -> std::io::Result<()> {
            let mut word = [0u8; 8];
            snapshot.read_exact(&mut word)?;
            self.value = u64::from_le_bytes(word);
            self.applied = applied_index;
            Ok(())
        }
        fn applied_index(&self) -> Index {
            self.applied
        }
    }

    fn command(index: u64, client: u64, sequence: u64) -> Command {
        Command {
            index: Index::new(index),
            term: Term::new(1),
            data: SessionCommand::encode(client, sequence, b"incr"),
        }
    }

    /// Thesis §6.3: a retried command returns the first response and is
    /// not applied twice.
    #[test]
    fn retried_command_applies_once_and_returns_cached_response() {
        let mut sm = Sessions::new(Counter::default());
        let first = sm.apply(&[command(1, 7, 1)], Index::new(1));
        assert_eq!(first, vec![SessionResponse::Applied(1)]);
        let retry = sm.apply(&[command(2, 7, 1), command(3, 7, 2)], Index::new(3));
        assert_eq!(
            retry,
            vec![
                SessionResponse::Duplicate(Some(1)),
                SessionResponse::Applied(2)
            ]
        );
        assert_eq!(sm.inner().value, 2);
        assert_eq!(
            sm.apply(&[command(4, 7, 1)], Index::new(4)),
            vec![SessionResponse::Stale]
        );
    }

    /// Thesis §6.3: expiry is decided by log position, identically on all
    /// members; an expired session's later command is refused.
    #[test]
    fn unused_session_expires_by_log_position() {
        let mut sm = Sessions::with_expiry(Counter::default(), 10);
        sm.apply(&[command(1, 7, 1)], Index::new(1));
        sm.apply(&[], Index::new(11));
        assert_eq!(sm.session_count(), 0);
        assert_eq!(
            sm.apply(&[command(12, 7, 2)], Index::new(12)),
            vec![SessionResponse::Expired]
        );
    }

    #[test]
    fn sessions_survive_snapshot_and_restore() {
        let mut sm = Sessions::new(Counter::default());
        sm.apply(&[command(1, 7, 1)], Index::new(1));
        let mut data = Vec::new();
        sm.snapshot()
            .expect("snapshot")
            .read_to_end(&mut data)
            .expect("read");
        let mut restored = Sessions::new(Counter::default());
        restored
            .restore(&mut &data[..], Index::new(1))
            .expect("restore");
        assert_eq!(restored.inner().value, 1);
        assert_eq!(
            restored.apply(&[command(2, 7, 1)], Index::new(2)),
            vec![SessionResponse::Duplicate(None)]
        );
    }
}
