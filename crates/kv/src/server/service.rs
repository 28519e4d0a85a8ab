//! [`NodeService`]: the client API's [`KvService`] over a quorate node.
//!
//! Writes are proposed as [`KvCommand`]s stamped with this node's wall
//! clock (only session expiry reads it). Linearizable and lease reads are
//! served by the leader only: a follower answers them, like writes, with a
//! redirect to the leader's client URL, which it finds in the replicated
//! member directory (see `machine`). Stale reads are served locally.

use super::errors::{
    membership_error, not_ready, propose_error, read_error, transfer_error, LeaderRedirect,
};
use super::machine::{
    encode_member_record, Applied, MemberRecord, ReplicatedKv, MEMBER_URL_BYTES_MAX,
};
use super::member_client::MemberClient;
use super::membership;
use super::status::cluster_status;
use crate::api::{
    BadRequest, ClusterStatus, Consistency, Health, KvError, KvService, MemberAction, MemberChange,
    ReadAnswer, ReadQuery, Refusal, SnapshotResult, TransferLeader, TransferResult, WriteCall,
};
use crate::{ApplyError, KvCommand, WriteResponse};
use metrics_exporter_prometheus::PrometheusHandle;
use quorate::transport::Transport;
use quorate::{Group, NodeId};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

/// Who this node is, as clients and peers see it.
#[derive(Clone, Debug)]
pub struct Identity {
    pub node_id: u64,
    pub cluster_id: String,
    /// Base URL clients are redirected to, e.g. `http://127.0.0.1:7000`.
    pub client_url: String,
    /// `host:port` peers reach this node at.
    pub peer_addr: String,
    /// Never campaigns (`--standby`).
    pub standby: bool,
}

impl Identity {
    pub fn record(&self) -> MemberRecord {
        MemberRecord {
            client_url: self.client_url.clone(),
            peer_addr: self.peer_addr.clone(),
            standby: self.standby,
        }
    }
}

/// The service behind the HTTP API of `quorate serve`.
pub struct NodeService {
    pub(crate) group: Group<ReplicatedKv>,
    pub(crate) identity: Identity,
    pub(crate) transport: Arc<dyn Transport>,
    /// Peer addresses known locally (initial cluster, join, later records).
    pub(crate) peers: Mutex<BTreeMap<u64, SocketAddr>>,
    /// Kept current by the housekeeping task; probes read it without I/O.
    pub(crate) health: Mutex<Health>,
    metrics: Option<PrometheusHandle>,
    /// Reaches other members' client APIs (a follower's own record).
    pub(crate) member_client: MemberClient,
    /// When each member's record was last proposed for it (`records`).
    pub(crate) record_slots: Mutex<BTreeMap<u64, tokio::time::Instant>>,
    /// This node applied its own removal: it serves no more reads or
    /// writes (410), so clients go to a current member.
    pub(crate) removed: std::sync::atomic::AtomicBool,
    /// Leader changes seen here, for `GET /v1/cluster`.
    pub(crate) leader_history: super::leader_history::LeaderHistory,
}

/// A redirect target resolved against one read of the member directory.
pub(crate) struct Redirect {
    me: NodeId,
    leader: Option<NodeId>,
    directory: BTreeMap<u64, MemberRecord>,
}

impl LeaderRedirect for Redirect {
    fn not_leader(&self, hint: Option<NodeId>) -> KvError {
        match hint.or(self.leader) {
            // This node leads after all (leadership just moved here).
            Some(leader) if leader == self.me => not_ready(),
            Some(leader) => KvError::NotLeader {
                leader_url: self
                    .directory
                    .get(&leader.get())
                    .map(|record| record.client_url.clone())
                    .filter(|url| !url.is_empty()),
            },
            None => KvError::NotLeader { leader_url: None },
        }
    }
}

/// Milliseconds since the Unix epoch on this node's clock.
#[allow(clippy::disallowed_methods)] // Session expiry needs the leader's wall clock.
fn wall_clock_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| {
            u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX)
        })
}

impl NodeService {
    pub fn new(
        group: Group<ReplicatedKv>,
        identity: Identity,
        transport: Arc<dyn Transport>,
        peers: BTreeMap<u64, SocketAddr>,
        metrics: Option<PrometheusHandle>,
        member_client: MemberClient,
    ) -> NodeService {
        NodeService {
            group,
            identity,
            transport,
            peers: Mutex::new(peers),
            health: Mutex::new(Health {
                live: true,
                ready: false,
                reason: Some("starting".into()),
            }),
            metrics,
            member_client,
            record_slots: Mutex::new(BTreeMap::new()),
            removed: std::sync::atomic::AtomicBool::new(false),
            leader_history: super::leader_history::LeaderHistory::default(),
        }
    }

    pub fn group(&self) -> &Group<ReplicatedKv> {
        &self.group
    }

    /// The replicated member directory as applied here.
    pub(crate) async fn directory(&self) -> BTreeMap<u64, MemberRecord> {
        self.group
            .read(quorate::Consistency::Stale, |sm| sm.members().clone())
            .await
            .unwrap_or_default()
    }

    pub(crate) async fn redirect(&self) -> Redirect {
        Redirect {
            me: self.group.node_id(),
            leader: self.group.leader(),
            directory: self.directory().await,
        }
    }

    pub(crate) fn peers_now(&self) -> BTreeMap<u64, SocketAddr> {
        self.peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Proposes a member record; the leader only.
    pub(crate) async fn propose_record(
        &self,
        id: u64,
        record: &MemberRecord,
    ) -> Result<(), KvError> {
        match self.group.propose(encode_member_record(id, record)).await {
            Ok(_) => Ok(()),
            Err(error) => Err(propose_error(&error, &self.redirect().await)),
        }
    }

    async fn require_leader(&self) -> Result<(), KvError> {
        if self.group.is_leader() {
            return Ok(());
        }
        Err(self.redirect().await.not_leader(None))
    }

    async fn add_learner(&self, change: &MemberChange, addr: SocketAddr) -> Result<(), KvError> {
        let record = MemberRecord {
            client_url: change.client_url.clone().unwrap_or_default(),
            peer_addr: addr.to_string(),
            standby: false,
        };
        self.propose_record(change.id, &record).await?;
        self.peers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(change.id, addr);
        let node = NodeId::new(change.id);
        match self.group.add_learner(node, addr).await {
            Ok(()) => Ok(()),
            Err(error) => Err(membership_error(&error, &self.redirect().await)),
        }
    }

    /// The new member's peer address, checked for size and resolved.
    async fn new_member_addr(change: &MemberChange) -> Result<SocketAddr, KvError> {
        let peer_url = change.peer_url.as_deref().unwrap_or_default();
        let client_url = change.client_url.as_deref().unwrap_or_default();
        if peer_url.len().max(client_url.len()) > MEMBER_URL_BYTES_MAX {
            return Err(KvError::bad_request(
                BadRequest::MemberUrls,
                format!("member URLs are limited to {MEMBER_URL_BYTES_MAX} bytes"),
            ));
        }
        if !client_url.is_empty() && crate::config::check_client_url(client_url).is_err() {
            return Err(KvError::bad_request(
                BadRequest::MemberUrls,
                format!("client_url {client_url:?} is not an http(s)://host:port URL"),
            ));
        }
        resolve_peer(peer_url).await
    }

    /// Refuses a harmful change before anything is proposed (see
    /// `membership`); the leader only.
    async fn check_change(
        &self,
        change: &MemberChange,
        addr: Option<SocketAddr>,
    ) -> Result<(), KvError> {
        let status = self.group.status().await.map_err(|_| not_ready())?;
        let peers = self.peers_now();
        let view = membership::View::of(&status, &peers);
        membership::check(&view, change.action, change.id, addr)
            .map_err(|refusal| KvError::Refused { refusal })
    }

    fn refuse_if_removed(&self) -> Result<(), KvError> {
        if self.removed.load(std::sync::atomic::Ordering::Relaxed) {
            return Err(KvError::Removed);
        }
        Ok(())
    }

    /// The most caught-up voter other than this node.
    async fn transfer_target(&self) -> Result<NodeId, KvError> {
        let status = self.group.status().await.map_err(|_| not_ready())?;
        status
            .peers
            .iter()
            .filter(|peer| peer.id != status.node && status.conf_state.voters.contains(&peer.id))
            .max_by_key(|peer| peer.match_index)
            .map(|peer| peer.id)
            .ok_or(KvError::Refused {
                refusal: Refusal::InvalidTransferTarget,
            })
    }
}

/// `host:port` or `http(s)://host:port[/]` to one socket address.
pub(crate) async fn resolve_peer(url: &str) -> Result<SocketAddr, KvError> {
    let bad = |detail: String| KvError::bad_request(BadRequest::MemberUrls, detail);
    let host_port = url
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/');
    if host_port.is_empty() {
        return Err(bad("peer_url is empty".into()));
    }
    let mut addrs = tokio::net::lookup_host(host_port)
        .await
        .map_err(|error| bad(format!("peer_url {url:?} does not resolve: {error}")))?;
    addrs
        .next()
        .ok_or_else(|| bad(format!("peer_url {url:?} has no address")))
}

fn answer(sm: &ReplicatedKv, query: ReadQuery) -> ReadAnswer {
    let store = sm.kv().store();
    match query {
        ReadQuery::Get { key } => ReadAnswer::Get {
            kv: store.get(&key),
            revision: store.revision(),
        },
        ReadQuery::Range(request) => ReadAnswer::Range(store.range(&request)),
    }
}

impl KvService for NodeService {
    async fn write(&self, call: WriteCall) -> Result<WriteResponse, KvError> {
        self.refuse_if_removed()?;
        let command = KvCommand {
            issued_at_ms: wall_clock_ms(),
            session: call.session,
            request: call.request,
        };
        match self.group.propose(command.encode()).await {
            Ok(Applied::Write(Ok(response))) => Ok(response),
            Ok(Applied::Write(Err(ApplyError::IdempotencyKeyReused { .. }))) => {
                Err(KvError::IdempotencyKeyReused)
            }
            Ok(Applied::Write(Err(error))) => {
                Err(KvError::bad_request(BadRequest::Json, error.to_string()))
            }
            Ok(Applied::Member) => Err(KvError::Indeterminate),
            Err(error) => Err(propose_error(&error, &self.redirect().await)),
        }
    }

    async fn read(
        &self,
        query: ReadQuery,
        consistency: Consistency,
    ) -> Result<ReadAnswer, KvError> {
        self.refuse_if_removed()?;
        let mode = match consistency {
            Consistency::Linearizable => quorate::Consistency::Linearizable,
            Consistency::Lease => quorate::Consistency::Lease,
            Consistency::Stale => quorate::Consistency::Stale,
        };
        if mode != quorate::Consistency::Stale {
            self.require_leader().await?;
        }
        match self.group.read(mode, move |sm| answer(sm, query)).await {
            Ok(answer) => Ok(answer),
            Err(error) => Err(read_error(&error, &self.redirect().await)),
        }
    }

    async fn cluster_status(&self) -> Result<ClusterStatus, KvError> {
        cluster_status(self).await
    }

    async fn change_member(&self, change: MemberChange) -> Result<ClusterStatus, KvError> {
        if change.id == 0 {
            return Err(KvError::bad_request(
                BadRequest::Json,
                "member id must be greater than zero",
            ));
        }
        self.require_leader().await?;
        let node = NodeId::new(change.id);
        let addr = match change.action {
            MemberAction::AddLearner => Some(Self::new_member_addr(&change).await?),
            _ => None,
        };
        self.check_change(&change, addr).await?;
        let result = match (change.action, addr) {
            (MemberAction::AddLearner, Some(addr)) => {
                self.add_learner(&change, addr).await?;
                Ok(())
            }
            (MemberAction::AddLearner, None) => Ok(()),
            (MemberAction::Promote, _) => self.group.promote(node).await,
            (MemberAction::Remove, _) => self.group.remove(node).await,
        };
        if let Err(error) = result {
            return Err(membership_error(&error, &self.redirect().await));
        }
        cluster_status(self).await
    }

    async fn transfer_leader(&self, request: TransferLeader) -> Result<TransferResult, KvError> {
        self.require_leader().await?;
        let target = match request.target {
            Some(0) => {
                return Err(KvError::Refused {
                    refusal: Refusal::InvalidTransferTarget,
                })
            }
            Some(id) => NodeId::new(id),
            None => self.transfer_target().await?,
        };
        if target == self.group.node_id() {
            return Ok(TransferResult {
                leader_id: target.get(),
            });
        }
        match self.group.transfer_leadership(target).await {
            Ok(()) => Ok(TransferResult {
                leader_id: target.get(),
            }),
            Err(error) => Err(transfer_error(&error, &self.redirect().await)),
        }
    }

    /// Asks the runtime for a snapshot now. The runtime takes it in the
    /// background; the answer reports the index it will cover and the size
    /// of the state as encoded now.
    async fn snapshot(&self) -> Result<SnapshotResult, KvError> {
        let (index, bytes) = self
            .group
            .read(quorate::Consistency::Stale, |sm| {
                (sm.kv().applied_index(), sm.kv().snapshot().len() as u64)
            })
            .await
            .map_err(|_| not_ready())?;
        self.group.snapshot_now();
        Ok(SnapshotResult { index, bytes })
    }

    fn health(&self) -> Health {
        self.health
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn metrics(&self) -> String {
        self.metrics
            .as_ref()
            .map(PrometheusHandle::render)
            .unwrap_or_default()
    }
}
