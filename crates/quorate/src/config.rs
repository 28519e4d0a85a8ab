//! Settings of a [`crate::Node`]: every bound is a named field with a
//! default constant, checked once by [`NodeConfig::validate`].

use crate::error::ConfigError;
use quorate_core::NodeId;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One logical tick of every group's Raft clock.
pub const TICK_INTERVAL_DEFAULT: Duration = Duration::from_millis(10);
/// 15 ticks of 10 ms: election timeouts are drawn from 150–300 ms.
pub const ELECTION_TICKS_DEFAULT: u32 = 15;
/// 5 ticks of 10 ms: a heartbeat every 50 ms.
pub const HEARTBEAT_TICKS_DEFAULT: u32 = 5;
/// How long a client call waits for its outcome before giving up.
pub const REQUEST_TIMEOUT_DEFAULT: Duration = Duration::from_secs(5);
/// Client commands queued for the driver; beyond it calls fail `QueueFull`.
pub const COMMAND_QUEUE_MAX_DEFAULT: usize = 4096;
/// Committed bytes handed to a group's apply worker and not yet applied;
/// beyond it the driver stops taking that group's `Ready` batches.
pub const APPLY_BACKLOG_BYTES_MAX_DEFAULT: u64 = 256 << 20;
/// Take a snapshot after this many applied entries...
pub const SNAPSHOT_ENTRIES_DEFAULT: u64 = 10_000;
/// ...or after this many applied bytes, whichever comes first.
pub const SNAPSHOT_BYTES_DEFAULT: u64 = 64 << 20;
/// Warm-up rounds a new learner gets to catch up with the leader.
pub const CATCH_UP_ROUNDS_MAX_DEFAULT: u32 = 10;
/// A learner is caught up once one round (reaching the leader's last index
/// as of the round's start) takes less than this.
pub const CATCH_UP_ROUND_DEFAULT: Duration = Duration::from_millis(500);
/// Events a slow `subscribe()` receiver may fall behind before it loses
/// the oldest ones.
pub const EVENTS_CAPACITY_DEFAULT: usize = 256;
/// WAL segment file size: each is preallocated whole, so an empty node
/// takes this much disk at once.
pub const WAL_SEGMENT_BYTES_DEFAULT: u64 = 64 << 20;
/// Room for a WAL record's and frame's own bytes around the largest entry.
const PROPOSAL_SEGMENT_SLACK_BYTES: u64 = 4096;
/// How often a node whose disk is full retries its pending WAL write.
pub const DISK_FULL_RETRY_DEFAULT: Duration = Duration::from_millis(100);

/// When a group snapshots its state machine and compacts its log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotPolicy {
    /// Applied entries since the last snapshot that trigger a new one.
    pub entries_since_last: u64,
    /// Applied entry bytes since the last snapshot that trigger a new one.
    pub bytes_since_last: u64,
}

impl Default for SnapshotPolicy {
    fn default() -> Self {
        SnapshotPolicy {
            entries_since_last: SNAPSHOT_ENTRIES_DEFAULT,
            bytes_since_last: SNAPSHOT_BYTES_DEFAULT,
        }
    }
}

/// Settings of one node (one process). Build with [`NodeConfig::new`] and
/// adjust fields.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// This node's id in every group it belongs to; never zero.
    pub node_id: NodeId,
    /// Names the cluster; the WAL refuses a directory of another cluster.
    pub cluster_id: u64,
    /// Holds the WAL (`wal/`) and snapshots; nothing else is needed to
    /// restart the node.
    pub data_dir: PathBuf,
    /// Addresses of peer nodes known at start (more are learned from the
    /// log when members are added).
    pub peers: BTreeMap<NodeId, SocketAddr>,
    pub tick_interval: Duration,
    pub election_ticks: u32,
    pub heartbeat_ticks: u32,
    pub request_timeout: Duration,
    pub command_queue_max: usize,
    pub apply_backlog_bytes_max: u64,
    pub snapshot_policy: SnapshotPolicy,
    pub catch_up_rounds_max: u32,
    pub catch_up_round: Duration,
    pub events_capacity: usize,
    /// Size of each WAL segment file (see [`WAL_SEGMENT_BYTES_DEFAULT`]).
    pub wal_segment_bytes: u64,
    /// On a full disk the node keeps its unwritten batches, acknowledges
    /// nothing (peers see it as unavailable, the rest of the cluster keeps
    /// writing) and retries this often; it resumes once space is freed.
    pub disk_full_retry: Duration,
    /// Per-group protocol settings; `id`, tick counts and `seed` are
    /// filled in from this config for each group.
    pub raft: quorate_core::Config,
}

impl NodeConfig {
    pub fn new(node_id: NodeId, cluster_id: u64, data_dir: impl Into<PathBuf>) -> NodeConfig {
        let mut raft = quorate_core::Config::new(if node_id.is_none() {
            NodeId::new(1)
        } else {
            node_id
        });
        raft.election_ticks = ELECTION_TICKS_DEFAULT;
        raft.heartbeat_ticks = HEARTBEAT_TICKS_DEFAULT;
        NodeConfig {
            node_id,
            cluster_id,
            data_dir: data_dir.into(),
            peers: BTreeMap::new(),
            tick_interval: TICK_INTERVAL_DEFAULT,
            election_ticks: ELECTION_TICKS_DEFAULT,
            heartbeat_ticks: HEARTBEAT_TICKS_DEFAULT,
            request_timeout: REQUEST_TIMEOUT_DEFAULT,
            command_queue_max: COMMAND_QUEUE_MAX_DEFAULT,
            apply_backlog_bytes_max: APPLY_BACKLOG_BYTES_MAX_DEFAULT,
            snapshot_policy: SnapshotPolicy::default(),
            catch_up_rounds_max: CATCH_UP_ROUNDS_MAX_DEFAULT,
            catch_up_round: CATCH_UP_ROUND_DEFAULT,
            events_capacity: EVENTS_CAPACITY_DEFAULT,
            wal_segment_bytes: WAL_SEGMENT_BYTES_DEFAULT,
            disk_full_retry: DISK_FULL_RETRY_DEFAULT,
            raft,
        }
    }

    /// The election timeout's lower bound in wall-clock time.
    pub fn election_timeout(&self) -> Duration {
        self.tick_interval * self.election_ticks
    }

    /// Checks every bound once, before the node starts.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.node_id.is_none() {
            return Err(ConfigError::ZeroNodeId);
        }
        let positive = [
            ("tick_interval", self.tick_interval.is_zero()),
            ("request_timeout", self.request_timeout.is_zero()),
            ("catch_up_round", self.catch_up_round.is_zero()),
            ("command_queue_max", self.command_queue_max == 0),
            ("apply_backlog_bytes_max", self.apply_backlog_bytes_max == 0),
            ("events_capacity", self.events_capacity == 0),
            ("catch_up_rounds_max", self.catch_up_rounds_max == 0),
            (
                "snapshot_policy.entries_since_last",
                self.snapshot_policy.entries_since_last == 0,
            ),
            (
                "snapshot_policy.bytes_since_last",
                self.snapshot_policy.bytes_since_last == 0,
            ),
        ];
        if let Some((field, _)) = positive.iter().find(|(_, zero)| *zero) {
            return Err(ConfigError::Zero { field });
        }
        // One entry never spans WAL batches, and a batch is at most half a
        // segment (with its record and frame overhead).
        if self
            .raft
            .proposal_bytes_max
            .saturating_add(PROPOSAL_SEGMENT_SLACK_BYTES)
            > self.wal_segment_bytes / 2
        {
            return Err(ConfigError::ProposalExceedsSegment {
                proposal: self.raft.proposal_bytes_max,
                segment: self.wal_segment_bytes,
            });
        }
        self.group_raft_config(quorate_core::GroupId::new(0))
            .validate()
            .map_err(ConfigError::Raft)
    }

    /// The core's settings for one group: ticks from this config, and an
    /// RNG seed from the operating system's entropy, fresh at every start.
    /// Seeds derived from node and group ids put members' election timeouts
    /// in lock step (a seed sequence can be another's shifted by a few
    /// draws), and the seed also draws the incarnation that tells this
    /// start's forwarded reads from an earlier one's.
    pub(crate) fn group_raft_config(&self, group: quorate_core::GroupId) -> quorate_core::Config {
        let mut raft = self.raft.clone();
        raft.id = self.node_id;
        raft.election_ticks = self.election_ticks;
        raft.heartbeat_ticks = self.heartbeat_ticks;
        raft.seed = entropy_seed(self.node_id, group);
        raft
    }
}

/// 64 random bits from the operating system; should that fail, the
/// standard library's randomly keyed hasher over the ids and the time.
fn entropy_seed(node: NodeId, group: quorate_core::GroupId) -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one((
            node.get(),
            group.get(),
            std::time::SystemTime::now(),
        ))
    })
}
