//! Start-up checks that touch the machine: TLS files readable, the data
//! directory belongs to this cluster, the ports are free. They run after
//! [`ServeConfig::resolve`] and before the node starts, so a mistake is
//! one clear error instead of a half-started node.

use super::{ConfigError, Listener, ServeConfig, TlsFiles};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;

/// File in the data directory naming the cluster it belongs to.
pub const CLUSTER_ID_FILE: &str = "cluster-id";

impl ServeConfig {
    /// Every TLS file can be read.
    pub fn check_tls_files(&self) -> Result<(), ConfigError> {
        for (listener, files) in [
            (Listener::Peer, &self.peer_tls),
            (Listener::Client, &self.client_tls),
        ] {
            let Some(TlsFiles { cert, key, ca }) = files else {
                continue;
            };
            for path in [Some(cert), Some(key), ca.as_ref()].into_iter().flatten() {
                std::fs::File::open(path).map_err(|source| ConfigError::TlsFileUnreadable {
                    listener,
                    path: path.clone(),
                    source,
                })?;
            }
        }
        Ok(())
    }

    /// Refuses a data directory that records another cluster id than the
    /// one given, adopts the recorded id when none was given (a restart),
    /// and records this one in a new or empty directory. The id is written
    /// to a temporary file, synced and renamed, then the directory is
    /// synced, so a crash leaves either no marker or a whole one.
    pub fn check_data_dir(&mut self) -> Result<(), ConfigError> {
        let dir = &self.data_dir;
        let io_error = |source| ConfigError::DataDir {
            dir: dir.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io_error)?;
        let marker = dir.join(CLUSTER_ID_FILE);
        match std::fs::read_to_string(&marker) {
            Ok(found) if found.trim() == self.cluster_id => Ok(()),
            Ok(found) if !self.cluster_id_given && !found.trim().is_empty() => {
                self.cluster_id = found.trim().to_owned();
                Ok(())
            }
            Ok(found) => Err(ConfigError::ForeignDataDir {
                dir: dir.clone(),
                found: found.trim().to_owned(),
                expected: self.cluster_id.clone(),
            }),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                write_marker(dir, &self.cluster_id).map_err(io_error)
            }
            Err(error) => Err(io_error(error)),
        }
    }

    /// Both listen addresses can be bound now. The server binds them again
    /// to serve; map that error with [`bind_error`] too.
    pub fn check_ports(&self) -> Result<(), ConfigError> {
        for (listener, address) in [
            (Listener::Peer, self.listen_peer),
            (Listener::Client, self.listen_client),
        ] {
            TcpListener::bind(address).map_err(|error| bind_error(listener, address, error))?;
        }
        Ok(())
    }
}

/// A bind failure as a [`ConfigError`]: "in use" gets its own variant.
pub fn bind_error(listener: Listener, address: SocketAddr, error: std::io::Error) -> ConfigError {
    if error.kind() == std::io::ErrorKind::AddrInUse {
        return ConfigError::PortInUse { listener, address };
    }
    ConfigError::Listen {
        listener,
        address,
        source: error,
    }
}

fn write_marker(dir: &Path, cluster_id: &str) -> std::io::Result<()> {
    let temporary = dir.join(format!("{CLUSTER_ID_FILE}.tmp"));
    let mut file = std::fs::File::create(&temporary)?;
    file.write_all(cluster_id.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&temporary, dir.join(CLUSTER_ID_FILE))?;
    std::fs::File::open(dir)?.sync_all()
}
