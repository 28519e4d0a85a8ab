//! The local address book of a serving node: `peers` in the data
//! directory, one `ID=HOST:PORT` a line.
//!
//! The runtime does not persist the addresses of a cluster's initial
//! members (they are not in any log entry), so the server records them on
//! first start and reads them back on restart: a restarted node needs only
//! `--data-dir`. Addresses learned later travel through the log and the
//! member directory.

use std::collections::BTreeMap;
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

/// File name of the address book inside the data directory.
pub const PEERS_FILE: &str = "peers";

/// Why the address book could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PeersFileError {
    #[error("cannot access {}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} line {line} is not ID=HOST:PORT; fix or delete the file and pass --initial-cluster", path.display())]
    Malformed {
        path: std::path::PathBuf,
        line: usize,
    },
}

/// Reads the address book; `None` when the file does not exist.
pub fn load(dir: &Path) -> Result<Option<BTreeMap<u64, SocketAddr>>, PeersFileError> {
    let path = dir.join(PEERS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(PeersFileError::Io { path, source }),
    };
    let mut peers = BTreeMap::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let parsed = line
            .split_once('=')
            .and_then(|(id, addr)| Some((id.parse().ok()?, addr.parse().ok()?)));
        let Some((id, addr)) = parsed else {
            return Err(PeersFileError::Malformed {
                path,
                line: number + 1,
            });
        };
        peers.insert(id, addr);
    }
    Ok(Some(peers))
}

/// Writes the address book atomically: temporary file, sync, rename,
/// directory sync.
pub fn save(dir: &Path, peers: &BTreeMap<u64, SocketAddr>) -> Result<(), PeersFileError> {
    let path = dir.join(PEERS_FILE);
    let io = |source| PeersFileError::Io {
        path: path.clone(),
        source,
    };
    let temporary = dir.join(format!("{PEERS_FILE}.tmp"));
    let mut file = std::fs::File::create(&temporary).map_err(io)?;
    for (id, addr) in peers {
        writeln!(file, "{id}={addr}").map_err(io)?;
    }
    file.sync_all().map_err(io)?;
    std::fs::rename(&temporary, &path).map_err(io)?;
    std::fs::File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_book_round_trips_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert!(load(dir.path()).expect("reads").is_none());
        let peers = BTreeMap::from([
            (1, "127.0.0.1:7001".parse().expect("addr")),
            (2, "127.0.0.1:7002".parse().expect("addr")),
        ]);
        save(dir.path(), &peers).expect("writes");
        assert_eq!(load(dir.path()).expect("reads"), Some(peers));
        std::fs::write(dir.path().join(PEERS_FILE), "1=nowhere\n").expect("writes");
        assert!(matches!(
            load(dir.path()),
            Err(PeersFileError::Malformed { line: 1, .. })
        ));
    }
}
