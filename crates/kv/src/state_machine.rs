//! The key-value state machine: the map, the session table and the applied
//! index, driven by committed [`KvCommand`]s.
//!
//! It does not depend on the runtime crate: the runtime's `StateMachine`
//! trait is implemented by a thin adapter over [`KvStateMachine::apply`],
//! [`KvStateMachine::snapshot`] and [`KvStateMachine::restore`].

use crate::command::{CommandDecodeError, KvCommand};
use crate::sessions::{Dedup, SessionKey, Sessions, SessionsConfig};
use crate::store::KvStore;
use crate::wire::{WriteRequest, WriteResponse};
use bytes::Bytes;

/// Why a committed command did not change the map. Every member reaches
/// the same error for the same command, so these are answers, not faults.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    #[error("the command could not be decoded (not applied): {0}")]
    Decode(#[from] CommandDecodeError),
    #[error("idempotency key {request_id:?} of client {client_id:?} was already used for a different request (not applied)")]
    IdempotencyKeyReused {
        client_id: String,
        request_id: String,
    },
}

/// What applying one command returns.
pub type ApplyResult = Result<WriteResponse, ApplyError>;

/// The replicated state: map, sessions and the index they reflect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvStateMachine {
    pub(crate) store: KvStore,
    pub(crate) sessions: Sessions<WriteResponse>,
    /// Raft index of the last command applied; never decreases.
    pub(crate) applied_index: u64,
}

impl KvStateMachine {
    pub fn new(sessions: SessionsConfig) -> KvStateMachine {
        KvStateMachine {
            store: KvStore::new(),
            sessions: Sessions::new(sessions),
            applied_index: 0,
        }
    }

    /// The map, for reads.
    pub fn store(&self) -> &KvStore {
        &self.store
    }

    pub fn sessions(&self) -> &Sessions<WriteResponse> {
        &self.sessions
    }

    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    /// Records that everything through `index` is applied, for entries the
    /// runtime does not pass on (no-ops, membership changes).
    pub fn advance_applied(&mut self, index: u64) {
        assert!(
            index >= self.applied_index,
            "applied index regressed: {} -> {index}",
            self.applied_index
        );
        self.applied_index = index;
    }

    /// Applies the command at log `index` (encoded by [`KvCommand::encode`]).
    pub fn apply(&mut self, index: u64, data: &Bytes) -> ApplyResult {
        self.advance_applied(index);
        let (command, fingerprint) = KvCommand::decode(data)?;
        self.sessions.advance(command.issued_at_ms);
        let Some(session) = command.session else {
            return Ok(self.execute(&command.request));
        };
        match self.sessions.check(&session, fingerprint) {
            Dedup::Duplicate(response) => return Ok(response.clone()),
            Dedup::Conflict => return Err(reused(session)),
            Dedup::Fresh => {}
        }
        let response = self.execute(&command.request);
        self.sessions.record(session, fingerprint, response.clone());
        Ok(response)
    }

    fn execute(&mut self, request: &WriteRequest) -> WriteResponse {
        match request {
            WriteRequest::Put { key, value } => {
                WriteResponse::Put(self.store.put(key.clone(), value.clone()))
            }
            WriteRequest::Delete { key } => WriteResponse::Delete(self.store.delete(key)),
            WriteRequest::Txn(txn) => WriteResponse::Txn(self.store.txn(txn)),
        }
    }
}

fn reused(session: SessionKey) -> ApplyError {
    ApplyError::IdempotencyKeyReused {
        client_id: session.client_id,
        request_id: session.request_id,
    }
}
