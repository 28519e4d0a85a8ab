//! An in-memory [`KvService`] over a real [`KvStateMachine`], with a
//! script of errors to answer the next calls with.

#![allow(dead_code)]

use bytes::Bytes;
use quorate_kv::api::{
    ClusterStatus, Consistency, Health, KvError, KvService, MemberChange, MemberRole, MemberStatus,
    ReadAnswer, ReadQuery, SnapshotResult, TransferLeader, TransferResult, WriteCall,
};
use quorate_kv::{
    ApplyError, KvCommand, KvStateMachine, SessionKey, SessionsConfig, WriteResponse,
};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Default)]
struct Inner {
    machine: Option<KvStateMachine>,
    /// Errors answered to the next calls, front first, before any work.
    script: VecDeque<KvError>,
    /// The session key of every write, in order.
    sessions: Vec<Option<SessionKey>>,
    /// The consistency of every read, in order.
    consistencies: Vec<Consistency>,
    members: Vec<MemberStatus>,
    calls: usize,
}

/// A single, always-leading node unless scripted otherwise.
#[derive(Clone, Default)]
pub struct FakeService {
    inner: Arc<Mutex<Inner>>,
}

impl FakeService {
    pub fn new() -> FakeService {
        let fake = FakeService::default();
        {
            let mut inner = fake.lock();
            inner.machine = Some(KvStateMachine::new(SessionsConfig::default()));
            inner.members = vec![MemberStatus {
                id: 1,
                role: MemberRole::Voter,
                peer_url: "http://127.0.0.1:7001".into(),
                client_url: Some("http://127.0.0.1:2379".into()),
                is_leader: true,
                match_index: Some(0),
                lag_entries: None,
                last_contact_ms: None,
            }];
        }
        fake
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next call (of any kind that can fail) answers `error`.
    pub fn fail_next(&self, error: KvError) {
        self.lock().script.push_back(error);
    }

    pub fn sessions(&self) -> Vec<Option<SessionKey>> {
        self.lock().sessions.clone()
    }

    pub fn consistencies(&self) -> Vec<Consistency> {
        self.lock().consistencies.clone()
    }

    /// Calls that reached the service, failed or not.
    pub fn calls(&self) -> usize {
        self.lock().calls
    }

    fn scripted(&self) -> Result<(), KvError> {
        let mut inner = self.lock();
        inner.calls += 1;
        match inner.script.pop_front() {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    fn status(inner: &Inner) -> ClusterStatus {
        let machine = inner.machine.as_ref().expect("machine is set");
        ClusterStatus {
            cluster_id: "test".into(),
            node_id: 1,
            leader_id: Some(1),
            term: 2,
            commit_index: machine.applied_index(),
            applied_index: machine.applied_index(),
            revision: machine.store().revision(),
            members: inner.members.clone(),
            leader_changes: Vec::new(),
        }
    }
}

impl KvService for FakeService {
    async fn write(&self, call: WriteCall) -> Result<WriteResponse, KvError> {
        self.scripted()?;
        let mut inner = self.lock();
        inner.sessions.push(call.session.clone());
        let machine = inner.machine.as_mut().expect("machine is set");
        let index = machine.applied_index() + 1;
        let data = KvCommand {
            issued_at_ms: index,
            session: call.session,
            request: call.request,
        }
        .encode();
        machine.apply(index, &data).map_err(|error| match error {
            ApplyError::IdempotencyKeyReused { .. } => KvError::IdempotencyKeyReused,
            _ => KvError::Indeterminate,
        })
    }

    async fn read(
        &self,
        query: ReadQuery,
        consistency: Consistency,
    ) -> Result<ReadAnswer, KvError> {
        self.scripted()?;
        let mut inner = self.lock();
        inner.consistencies.push(consistency);
        let store = inner.machine.as_ref().expect("machine is set").store();
        Ok(match query {
            ReadQuery::Get { key } => ReadAnswer::Get {
                kv: store.get(&key),
                revision: store.revision(),
            },
            ReadQuery::Range(request) => ReadAnswer::Range(store.range(&request)),
        })
    }

    async fn cluster_status(&self) -> Result<ClusterStatus, KvError> {
        self.scripted()?;
        Ok(FakeService::status(&self.lock()))
    }

    async fn change_member(&self, change: MemberChange) -> Result<ClusterStatus, KvError> {
        self.scripted()?;
        let mut inner = self.lock();
        let quorate_kv::api::MemberAction::AddLearner = change.action else {
            return Ok(FakeService::status(&inner));
        };
        inner.members.push(MemberStatus {
            id: change.id,
            role: MemberRole::Learner,
            peer_url: change.peer_url.unwrap_or_default(),
            client_url: change.client_url,
            is_leader: false,
            match_index: None,
            lag_entries: None,
            last_contact_ms: None,
        });
        Ok(FakeService::status(&inner))
    }

    async fn transfer_leader(&self, request: TransferLeader) -> Result<TransferResult, KvError> {
        self.scripted()?;
        Ok(TransferResult {
            leader_id: request.target.unwrap_or(1),
        })
    }

    async fn snapshot(&self) -> Result<SnapshotResult, KvError> {
        self.scripted()?;
        let inner = self.lock();
        let machine = inner.machine.as_ref().expect("machine is set");
        Ok(SnapshotResult {
            index: machine.applied_index(),
            bytes: machine.snapshot().len() as u64,
        })
    }

    fn health(&self) -> Health {
        Health {
            live: true,
            ready: true,
            reason: None,
        }
    }

    fn metrics(&self) -> String {
        "# TYPE quorate_kv_test gauge\nquorate_kv_test 1\n".into()
    }
}

/// Bytes from text.
pub fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}
