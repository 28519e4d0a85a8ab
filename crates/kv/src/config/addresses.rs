//! Checks of the addresses a node advertises and the cluster it starts
//! with, which start silently wrong otherwise: a client URL that is not a
//! URL, a peer listener other than the node's own `--initial-cluster`
//! entry, two members at one peer address.

use super::{ClusterStart, ConfigError};
use std::net::SocketAddr;

/// Whether `url` is `http(s)://HOST:PORT` with an optional `/`: what
/// clients are redirected to and what a member record may hold.
pub fn check_client_url(url: &str) -> Result<(), ConfigError> {
    let invalid = || ConfigError::ClientUrl {
        url: url.to_owned(),
    };
    let uri: axum::http::Uri = url.parse().map_err(|_| invalid())?;
    let scheme_ok = matches!(uri.scheme_str(), Some("http" | "https"));
    let path_ok = matches!(uri.path(), "" | "/") && uri.query().is_none();
    if !scheme_ok || !path_ok || uri.host().is_none_or(str::is_empty) || uri.port_u16().is_none() {
        return Err(invalid());
    }
    Ok(())
}

/// Refuses an initial cluster in which two ids share a peer address, or
/// whose entry for this node is not the address this node listens on
/// (a wildcard listener matches any host with the same port).
pub fn check_initial_cluster(
    start: &ClusterStart,
    node_id: u64,
    listen_peer: SocketAddr,
) -> Result<(), ConfigError> {
    let ClusterStart::Initial { members } = start else {
        return Ok(());
    };
    let mut seen: std::collections::BTreeMap<&str, u64> = std::collections::BTreeMap::new();
    for (&id, address) in members {
        if let Some(&first) = seen.get(address.as_str()) {
            return Err(ConfigError::SharedPeerAddress {
                address: address.clone(),
                first,
                second: id,
            });
        }
        seen.insert(address, id);
    }
    let Some(own) = members.get(&node_id) else {
        return Ok(());
    };
    if !listens_at(listen_peer, own) {
        return Err(ConfigError::ListenPeerMismatch {
            node_id,
            listen_peer,
            entry: own.clone(),
        });
    }
    Ok(())
}

/// Whether a listener bound to `listen` accepts connections to `entry`
/// (`HOST:PORT`). Host names are trusted when the port matches.
fn listens_at(listen: SocketAddr, entry: &str) -> bool {
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return addr == listen || (listen.ip().is_unspecified() && addr.port() == listen.port());
    }
    entry
        .rsplit_once(':')
        .and_then(|(_, port)| port.parse::<u16>().ok())
        .is_some_and(|port| port == listen.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn initial(entries: &[(u64, &str)]) -> ClusterStart {
        ClusterStart::Initial {
            members: entries
                .iter()
                .map(|&(id, addr)| (id, addr.to_owned()))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    /// issue 11 item 7: `--advertise-client-url 'not a url'` started silently.
    #[test]
    fn a_client_url_must_be_http_host_and_port() {
        for good in ["http://127.0.0.1:7000", "https://db.example:443/"] {
            assert!(check_client_url(good).is_ok(), "{good}");
        }
        for bad in [
            "not a url",
            "127.0.0.1:7000",
            "ftp://h:1",
            "http://h",
            "http://h:1/x",
            "http://h:1/?a=b",
        ] {
            assert!(
                matches!(check_client_url(bad), Err(ConfigError::ClientUrl { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn two_ids_at_one_peer_address_are_refused() {
        let start = initial(&[(1, "127.0.0.1:7001"), (2, "127.0.0.1:7001")]);
        let listen = "127.0.0.1:7001".parse().expect("addr");
        let error = check_initial_cluster(&start, 1, listen).expect_err("shared");
        assert!(matches!(
            error,
            ConfigError::SharedPeerAddress {
                first: 1,
                second: 2,
                ..
            }
        ));
    }

    #[test]
    fn listen_peer_must_match_the_nodes_own_entry() {
        let start = initial(&[(1, "127.0.0.1:7001"), (2, "127.0.0.1:7002")]);
        let other = "127.0.0.1:7009".parse().expect("addr");
        let error = check_initial_cluster(&start, 1, other).expect_err("mismatch");
        assert!(matches!(
            error,
            ConfigError::ListenPeerMismatch { node_id: 1, .. }
        ));
        let wildcard = "0.0.0.0:7001".parse().expect("addr");
        assert!(check_initial_cluster(&start, 1, wildcard).is_ok());
        let named = initial(&[(1, "node1.internal:7001")]);
        assert!(check_initial_cluster(&named, 1, wildcard).is_ok());
    }
}
