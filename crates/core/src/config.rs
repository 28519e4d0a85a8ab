//! Per-node protocol settings. Every bound is named here with its default and
//! checked once by [`Config::validate`].

use crate::error::ConfigError;
use crate::types::NodeId;

pub const ELECTION_TICKS_DEFAULT: u32 = 10;
pub const HEARTBEAT_TICKS_DEFAULT: u32 = 2;
pub const LEASE_DRIFT_TICKS_DEFAULT: u32 = 2;
pub const APPEND_BYTES_MAX_DEFAULT: u64 = 1 << 20;
pub const INFLIGHT_MSGS_MAX_DEFAULT: usize = 256;
pub const INFLIGHT_BYTES_MAX_DEFAULT: u64 = 32 << 20;
pub const UNCOMMITTED_BYTES_MAX_DEFAULT: u64 = 64 << 20;
pub const PROPOSAL_BYTES_MAX_DEFAULT: u64 = 8 << 20;
pub const APPLY_BYTES_MAX_DEFAULT: u64 = 64 << 20;
pub const READ_QUEUE_MAX_DEFAULT: usize = 4096;

/// Settings for one member of one group.
#[derive(Clone, Debug)]
pub struct Config {
    /// This member's id; never zero.
    pub id: NodeId,
    /// Ticks without hearing from a leader before campaigning; the actual
    /// timeout is drawn from `[election_ticks, 2 * election_ticks)` (§5.2).
    pub election_ticks: u32,
    /// Ticks between leader heartbeats; must be below `election_ticks`.
    pub heartbeat_ticks: u32,
    /// Run a pre-vote round before a real election (thesis §9.6), so a node
    /// that was partitioned away cannot disrupt a healthy leader on return.
    pub pre_vote: bool,
    /// The leader steps down when it has not heard from a quorum within an
    /// election timeout (thesis §6.2). Required for lease reads.
    pub check_quorum: bool,
    /// A standby voter votes and counts towards quorums but never starts an
    /// election, not even when asked to take over by a transfer.
    pub standby: bool,
    /// Election priority: a voter whose log is exactly as up to date as a
    /// candidate's refuses it if the voter's own priority is higher, so
    /// among equally current members the preferred one tends to lead.
    /// Equal priorities (the default, 0) change nothing.
    pub priority: u64,
    /// Ticks subtracted from the leader lease to bound clock drift between
    /// members (thesis §6.4.1). At least one: ticks are counted, not
    /// measured, so rounding alone can make a follower's election timeout
    /// end up to one tick before the leader's view of it.
    pub lease_drift_ticks: u32,
    /// Entries per AppendEntries message stop after this many bytes (at least
    /// one entry is always sent).
    pub append_bytes_max: u64,
    /// Unacknowledged AppendEntries messages per follower.
    pub inflight_msgs_max: usize,
    /// Unacknowledged entry bytes per follower.
    pub inflight_bytes_max: u64,
    /// Bytes of proposed-but-uncommitted entries the leader accepts before
    /// refusing proposals with `Backpressure`.
    pub uncommitted_bytes_max: u64,
    /// The largest single proposal accepted.
    pub proposal_bytes_max: u64,
    /// Committed entry bytes handed to the application per `Ready`.
    pub apply_bytes_max: u64,
    /// Pending ReadIndex requests held before refusing with `QueueFull`.
    pub read_queue_max: usize,
    /// Seed of the node's private RNG (election jitter).
    pub seed: u64,
}

impl Config {
    /// Defaults for member `id`, seeding the RNG from the id.
    pub fn new(id: NodeId) -> Self {
        Config {
            id,
            election_ticks: ELECTION_TICKS_DEFAULT,
            heartbeat_ticks: HEARTBEAT_TICKS_DEFAULT,
            pre_vote: true,
            check_quorum: true,
            standby: false,
            priority: 0,
            lease_drift_ticks: LEASE_DRIFT_TICKS_DEFAULT,
            append_bytes_max: APPEND_BYTES_MAX_DEFAULT,
            inflight_msgs_max: INFLIGHT_MSGS_MAX_DEFAULT,
            inflight_bytes_max: INFLIGHT_BYTES_MAX_DEFAULT,
            uncommitted_bytes_max: UNCOMMITTED_BYTES_MAX_DEFAULT,
            proposal_bytes_max: PROPOSAL_BYTES_MAX_DEFAULT,
            apply_bytes_max: APPLY_BYTES_MAX_DEFAULT,
            read_queue_max: READ_QUEUE_MAX_DEFAULT,
            seed: id.get(),
        }
    }

    /// Checks every bound once, at construction.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.id.is_none() {
            return Err(ConfigError::ZeroId);
        }
        min("heartbeat_ticks", u64::from(self.heartbeat_ticks), 1)?;
        min("lease_drift_ticks", u64::from(self.lease_drift_ticks), 1)?;
        if self.election_ticks <= self.heartbeat_ticks {
            return Err(ConfigError::NotGreater {
                field: "election_ticks",
                value: u64::from(self.election_ticks),
                other: "heartbeat_ticks",
                other_value: u64::from(self.heartbeat_ticks),
            });
        }
        if self.election_ticks <= self.lease_drift_ticks {
            return Err(ConfigError::NotGreater {
                field: "election_ticks",
                value: u64::from(self.election_ticks),
                other: "lease_drift_ticks",
                other_value: u64::from(self.lease_drift_ticks),
            });
        }
        min("append_bytes_max", self.append_bytes_max, 1)?;
        min("inflight_msgs_max", self.inflight_msgs_max as u64, 1)?;
        min("inflight_bytes_max", self.inflight_bytes_max, 1)?;
        min("uncommitted_bytes_max", self.uncommitted_bytes_max, 1)?;
        min("proposal_bytes_max", self.proposal_bytes_max, 1)?;
        min("apply_bytes_max", self.apply_bytes_max, 1)?;
        min("read_queue_max", self.read_queue_max as u64, 1)?;
        Ok(())
    }
}

fn min(field: &'static str, value: u64, min: u64) -> Result<(), ConfigError> {
    if value < min {
        return Err(ConfigError::TooSmall { field, min, value });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thesis §6.4.1: the lease must be shorter than the followers'
    /// election timeout by the drift bound; tick rounding alone needs one.
    #[test]
    fn lease_without_a_drift_allowance_is_refused() {
        let mut config = Config::new(NodeId::new(1));
        config.lease_drift_ticks = 0;
        assert_eq!(
            config.validate(),
            Err(ConfigError::TooSmall {
                field: "lease_drift_ticks",
                min: 1,
                value: 0
            })
        );
        config.lease_drift_ticks = 1;
        assert_eq!(config.validate(), Ok(()));
    }
}
