//! The seam between the HTTP router and the replicated node.
//!
//! The router validates requests and maps results and errors onto HTTP;
//! everything that needs Raft goes through [`KvService`]. The runtime
//! wiring implements it over a `quorate::Group<KvStateMachine>`: `write`
//! stamps the leader's time into a [`crate::KvCommand`] and proposes it,
//! `read` runs the query on the state machine at the asked consistency.
//! Tests implement it in memory.

use super::error::KvError;
use super::types::{
    ClusterStatus, Health, MemberChange, SnapshotResult, TransferLeader, TransferResult,
};
use crate::sessions::SessionKey;
use crate::store::{KeyValue, RangeRequest, RangeResponse};
use crate::wire::{WriteRequest, WriteResponse};
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use std::future::Future;

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    /// ReadIndex through the leader: sees every write acknowledged before
    /// the read started.
    #[default]
    Linearizable,
    /// The leader's lease; linearizable while clock drift stays bounded.
    Lease,
    /// This node's applied state; may be arbitrarily old.
    Stale,
}

/// A validated write, with its exactly-once key when the client sent one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WriteCall {
    pub request: WriteRequest,
    pub session: Option<SessionKey>,
}

/// What a read asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadQuery {
    Get { key: Bytes },
    Range(RangeRequest),
}

/// A read's answer, same variant as its [`ReadQuery`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadAnswer {
    Get {
        kv: Option<KeyValue>,
        /// The map's revision the read saw.
        revision: u64,
    },
    Range(RangeResponse),
}

/// What the HTTP API needs from a node. Errors are [`KvError`]s, which
/// say whether a write may have happened; a follower answers writes and
/// linearizable reads with [`KvError::NotLeader`] carrying the leader's
/// client URL.
pub trait KvService: Send + Sync + 'static {
    /// Replicates and applies one write; resolves once applied.
    fn write(&self, call: WriteCall)
        -> impl Future<Output = Result<WriteResponse, KvError>> + Send;

    /// Reads at `consistency`.
    fn read(
        &self,
        query: ReadQuery,
        consistency: Consistency,
    ) -> impl Future<Output = Result<ReadAnswer, KvError>> + Send;

    /// Members, leader and indexes as this node sees them.
    fn cluster_status(&self) -> impl Future<Output = Result<ClusterStatus, KvError>> + Send;

    /// Adds a learner, promotes one or removes a member.
    fn change_member(
        &self,
        change: MemberChange,
    ) -> impl Future<Output = Result<ClusterStatus, KvError>> + Send;

    /// Hands leadership to another voter.
    fn transfer_leader(
        &self,
        request: TransferLeader,
    ) -> impl Future<Output = Result<TransferResult, KvError>> + Send;

    /// Takes a snapshot now and compacts the log behind it.
    fn snapshot(&self) -> impl Future<Output = Result<SnapshotResult, KvError>> + Send;

    /// Liveness and readiness, cheap enough for frequent probes.
    fn health(&self) -> Health;

    /// Metrics in the Prometheus text format.
    fn metrics(&self) -> String;
}
