//! Merging the layers into a [`ServeConfig`] and validating it.

use super::{
    ClusterStart, ConfigError, InitialClusterState, Layers, Listener, ServeConfig, TlsFiles,
    CLUSTER_ID_DEFAULT, ELECTION_TIMEOUT_MS_DEFAULT, HEARTBEAT_INTERVAL_MS_DEFAULT,
    LISTEN_CLIENT_DEFAULT, LISTEN_PEER_DEFAULT, SNAPSHOT_ENTRIES_DEFAULT, WAL_SEGMENT_BYTES_MIN,
};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

impl Layers<'_> {
    pub(super) fn resolve(self) -> Result<ServeConfig, ConfigError> {
        let (args, file) = (self.args, &self.file);
        let node_id = self
            .pick("node_id", args.node_id, file.node_id)?
            .unwrap_or(1);
        if node_id == 0 {
            return Err(ConfigError::ZeroNodeId);
        }
        let listen_peer = self
            .pick("listen_peer", args.listen_peer, file.listen_peer)?
            .unwrap_or_else(|| default_address(LISTEN_PEER_DEFAULT));
        let listen_client = self
            .pick("listen_client", args.listen_client, file.listen_client)?
            .unwrap_or_else(|| default_address(LISTEN_CLIENT_DEFAULT));
        if listen_peer == listen_client {
            return Err(ConfigError::SameAddress {
                address: listen_peer,
            });
        }
        let advertise_client_url = self
            .pick(
                "advertise_client_url",
                args.advertise_client_url.clone(),
                file.advertise_client_url.clone(),
            )?
            .unwrap_or_else(|| format!("http://{listen_client}"));
        let data_dir = self
            .pick("data_dir", args.data_dir.clone(), file.data_dir.clone())?
            .unwrap_or_else(|| PathBuf::from(format!("quorate-{node_id}.data")));
        let cluster_id = self.pick(
            "cluster_id",
            args.cluster_id.clone(),
            file.cluster_id.clone(),
        )?;
        let cluster_id_given = cluster_id.is_some();
        let cluster_id = cluster_id.unwrap_or_else(|| CLUSTER_ID_DEFAULT.to_owned());
        if cluster_id.is_empty() {
            return Err(ConfigError::Zero {
                field: "cluster_id length",
            });
        }
        let start = self.start(node_id, listen_peer)?;
        let initial_cluster_state = self.initial_cluster_state()?;
        super::check_client_url(&advertise_client_url)?;
        super::check_initial_cluster(&start, node_id, listen_peer)?;
        let (election_timeout, heartbeat_interval) = self.timeouts()?;
        let (snapshot_entries, standby) = self.snapshot_and_standby()?;
        let wal_segment_bytes = self.wal_segment_bytes()?;
        Ok(ServeConfig {
            node_id,
            data_dir,
            listen_peer,
            listen_client,
            advertise_client_url,
            cluster_id,
            cluster_id_given,
            start,
            initial_cluster_state,
            peer_tls: self.tls(Listener::Peer)?,
            client_tls: self.tls(Listener::Client)?,
            election_timeout,
            heartbeat_interval,
            snapshot_entries,
            wal_segment_bytes,
            standby,
            security: self.security()?,
        })
    }

    /// `new` unless told the data directory's member already belongs to a
    /// running cluster.
    fn initial_cluster_state(&self) -> Result<InitialClusterState, ConfigError> {
        Ok(self
            .pick(
                "initial_cluster_state",
                self.args.initial_cluster_state,
                self.file.initial_cluster_state,
            )?
            .unwrap_or_default())
    }

    /// The WAL segment size, at least `WAL_SEGMENT_BYTES_MIN`.
    fn wal_segment_bytes(&self) -> Result<u64, ConfigError> {
        let (args, file) = (self.args, &self.file);
        let bytes = self
            .pick(
                "wal_segment_bytes",
                args.wal_segment_bytes,
                file.wal_segment_bytes,
            )?
            .unwrap_or(quorate::WAL_SEGMENT_BYTES_DEFAULT);
        if bytes < WAL_SEGMENT_BYTES_MIN {
            return Err(ConfigError::TooSmall {
                field: "wal_segment_bytes",
                min: WAL_SEGMENT_BYTES_MIN,
                value: bytes,
            });
        }
        Ok(bytes)
    }

    /// Snapshot interval and the standby switch.
    fn snapshot_and_standby(&self) -> Result<(u64, bool), ConfigError> {
        let (args, file) = (self.args, &self.file);
        let snapshot_entries = self
            .pick(
                "snapshot_entries",
                args.snapshot_entries,
                file.snapshot_entries,
            )?
            .unwrap_or(SNAPSHOT_ENTRIES_DEFAULT);
        if snapshot_entries == 0 {
            return Err(ConfigError::Zero {
                field: "snapshot_entries",
            });
        }
        let standby = self
            .pick("standby", args.standby.then_some(true), file.standby)?
            .unwrap_or(false);
        Ok((snapshot_entries, standby))
    }

    fn start(&self, node_id: u64, listen_peer: SocketAddr) -> Result<ClusterStart, ConfigError> {
        let (args, file) = (self.args, &self.file);
        let join = self.pick("join", args.join.clone(), file.join.clone())?;
        let initial = self.pick(
            "initial_cluster",
            args.initial_cluster.clone(),
            file.initial_cluster.clone(),
        )?;
        match (join, initial) {
            (Some(_), Some(_)) => Err(ConfigError::JoinAndInitialCluster),
            (Some(url), None) => {
                let valid = url.starts_with("http://") || url.starts_with("https://");
                if !valid || url.parse::<axum::http::Uri>().is_err() {
                    return Err(ConfigError::JoinUrl { url });
                }
                Ok(ClusterStart::Join { client_url: url })
            }
            (None, Some(text)) => {
                let members = parse_initial_cluster(&text)?;
                if !members.contains_key(&node_id) {
                    return Err(ConfigError::NotInInitialCluster { node_id });
                }
                Ok(ClusterStart::Initial { members })
            }
            (None, None) => Ok(ClusterStart::Initial {
                members: BTreeMap::from([(node_id, listen_peer.to_string())]),
            }),
        }
    }

    fn timeouts(&self) -> Result<(Duration, Duration), ConfigError> {
        let (args, file) = (self.args, &self.file);
        let election_ms = self
            .pick(
                "election_timeout_ms",
                args.election_timeout_ms,
                file.election_timeout_ms,
            )?
            .unwrap_or(ELECTION_TIMEOUT_MS_DEFAULT);
        let heartbeat_ms = self
            .pick(
                "heartbeat_interval_ms",
                args.heartbeat_interval_ms,
                file.heartbeat_interval_ms,
            )?
            .unwrap_or(HEARTBEAT_INTERVAL_MS_DEFAULT);
        if heartbeat_ms == 0 {
            return Err(ConfigError::Zero {
                field: "heartbeat_interval_ms",
            });
        }
        if election_ms < heartbeat_ms.saturating_mul(2) {
            return Err(ConfigError::Timeouts {
                election_ms,
                heartbeat_ms,
            });
        }
        Ok((
            Duration::from_millis(election_ms),
            Duration::from_millis(heartbeat_ms),
        ))
    }

    fn tls(&self, listener: Listener) -> Result<Option<TlsFiles>, ConfigError> {
        let (args, file) = (self.args, &self.file);
        let (cert, key, ca) = match listener {
            Listener::Peer => (
                self.pick(
                    "peer_cert_file",
                    args.peer_cert_file.clone(),
                    file.peer_cert_file.clone(),
                )?,
                self.pick(
                    "peer_key_file",
                    args.peer_key_file.clone(),
                    file.peer_key_file.clone(),
                )?,
                self.pick(
                    "peer_ca_file",
                    args.peer_ca_file.clone(),
                    file.peer_ca_file.clone(),
                )?,
            ),
            Listener::Client => (
                self.pick(
                    "client_cert_file",
                    args.client_cert_file.clone(),
                    file.client_cert_file.clone(),
                )?,
                self.pick(
                    "client_key_file",
                    args.client_key_file.clone(),
                    file.client_key_file.clone(),
                )?,
                self.pick(
                    "client_ca_file",
                    args.client_ca_file.clone(),
                    file.client_ca_file.clone(),
                )?,
            ),
        };
        match (cert, key) {
            (None, None) if ca.is_none() => Ok(None),
            (Some(cert), Some(key)) => Ok(Some(TlsFiles { cert, key, ca })),
            _ => Err(ConfigError::TlsIncomplete { listener }),
        }
    }
}

fn default_address(text: &str) -> SocketAddr {
    text.parse().expect("default addresses are valid")
}

/// Parses `1=127.0.0.1:7001,2=127.0.0.1:7002`.
pub(super) fn parse_initial_cluster(text: &str) -> Result<BTreeMap<u64, String>, ConfigError> {
    let mut members = BTreeMap::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let invalid = || ConfigError::InitialClusterEntry {
            entry: entry.to_owned(),
        };
        let (id, address) = entry.split_once('=').ok_or_else(invalid)?;
        let id: u64 = id.trim().parse().map_err(|_| invalid())?;
        let address = address.trim();
        let port_ok = address
            .rsplit_once(':')
            .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
        if id == 0 || !port_ok {
            return Err(invalid());
        }
        if members.insert(id, address.to_owned()).is_some() {
            return Err(ConfigError::DuplicateMember { node_id: id });
        }
    }
    if members.is_empty() {
        return Err(ConfigError::InitialClusterEntry {
            entry: text.to_owned(),
        });
    }
    Ok(members)
}
