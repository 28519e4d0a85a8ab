//! The first frame on every connection: who is calling, for which cluster,
//! and whom it thinks it is calling.
//!
//! Both sides send one. The dialler speaks first; the listener checks it
//! and answers with its own, which the dialler checks in turn. A refusal
//! closes the connection without an answer, so a stranger learns nothing
//! about the cluster; the refusing side logs the typed reason.

use super::{MAGIC, PROTOCOL_VERSION};
use quorate_core::NodeId;

/// The handshake as sent on the wire (see [`super::WireFrame`]).
#[derive(Clone, Copy, PartialEq, prost::Message)]
pub struct WireHandshake {
    /// [`MAGIC`]: cheap evidence the bytes come from a quorate peer at all.
    #[prost(fixed32, tag = "1")]
    pub magic: u32,
    #[prost(uint32, tag = "2")]
    pub protocol_version: u32,
    #[prost(uint64, tag = "3")]
    pub cluster_id: u64,
    /// The sender's node id.
    #[prost(uint64, tag = "4")]
    pub node: u64,
    /// The node id the sender expects to be talking to.
    #[prost(uint64, tag = "5")]
    pub peer: u64,
}

/// A decoded handshake. Fields stay raw until [`Handshake::verify`] has
/// judged them, so a bad value is reported rather than lost in decoding.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Handshake {
    pub magic: u32,
    pub protocol_version: u32,
    pub cluster_id: u64,
    pub node: NodeId,
    pub peer: NodeId,
}

/// Why a connection's handshake failed. Each refusal is logged with this
/// reason by the side that refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    #[error("bad magic {found:#010x}: the caller is not a quorate node")]
    BadMagic { found: u32 },
    #[error("protocol version {theirs} is not ours ({ours}); upgrade one side")]
    VersionMismatch { ours: u32, theirs: u32 },
    #[error("cluster id {theirs} is not ours ({ours}); the peer belongs to another cluster")]
    ClusterMismatch { ours: u64, theirs: u64 },
    #[error("the peer believes it called {addressed}, but this is {local}; fix its address book")]
    WrongAddressee { local: NodeId, addressed: NodeId },
    #[error("node id {node} is not a configured peer; add it with set_peer before it connects")]
    UnknownNode { node: NodeId },
    #[error("expected node {expected} at this address, found {found}")]
    UnexpectedNode { expected: NodeId, found: NodeId },
    #[error("no handshake within the request timeout")]
    Timeout,
    #[error("the peer closed the connection during the handshake (it may have refused us)")]
    Closed,
    #[error("the first frame was not a handshake")]
    NotAHandshake,
    #[error("the handshake frame is malformed: {source}")]
    Frame {
        #[source]
        source: super::FrameError,
    },
    #[error("TLS negotiation failed: {source}")]
    Tls {
        #[source]
        source: std::io::Error,
    },
}

/// What the receiving side requires of a handshake.
#[derive(Clone, Copy, Debug)]
pub struct HandshakeExpectation {
    pub cluster_id: u64,
    /// This node: the handshake must be addressed to it.
    pub local: NodeId,
    /// When dialling, the node the address belongs to; `None` when
    /// accepting, where the caller checks membership separately.
    pub remote: Option<NodeId>,
}

impl Handshake {
    /// The handshake this node sends to `peer`.
    pub fn new(cluster_id: u64, node: NodeId, peer: NodeId) -> Self {
        Handshake {
            magic: MAGIC,
            protocol_version: PROTOCOL_VERSION,
            cluster_id,
            node,
            peer,
        }
    }

    /// Checks every field, in order of how fundamental the mismatch is.
    pub fn verify(&self, expect: &HandshakeExpectation) -> Result<(), HandshakeError> {
        if self.magic != MAGIC {
            return Err(HandshakeError::BadMagic { found: self.magic });
        }
        if self.protocol_version != PROTOCOL_VERSION {
            return Err(HandshakeError::VersionMismatch {
                ours: PROTOCOL_VERSION,
                theirs: self.protocol_version,
            });
        }
        if self.cluster_id != expect.cluster_id {
            return Err(HandshakeError::ClusterMismatch {
                ours: expect.cluster_id,
                theirs: self.cluster_id,
            });
        }
        if self.peer != expect.local {
            return Err(HandshakeError::WrongAddressee {
                local: expect.local,
                addressed: self.peer,
            });
        }
        if self.node.is_none() || self.node == expect.local {
            return Err(HandshakeError::UnknownNode { node: self.node });
        }
        match expect.remote {
            Some(expected) if expected != self.node => Err(HandshakeError::UnexpectedNode {
                expected,
                found: self.node,
            }),
            _ => Ok(()),
        }
    }
}

impl From<&Handshake> for WireHandshake {
    fn from(h: &Handshake) -> Self {
        WireHandshake {
            magic: h.magic,
            protocol_version: h.protocol_version,
            cluster_id: h.cluster_id,
            node: h.node.get(),
            peer: h.peer.get(),
        }
    }
}

impl From<WireHandshake> for Handshake {
    fn from(w: WireHandshake) -> Self {
        Handshake {
            magic: w.magic,
            protocol_version: w.protocol_version,
            cluster_id: w.cluster_id,
            node: NodeId::new(w.node),
            peer: NodeId::new(w.peer),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expectation() -> HandshakeExpectation {
        HandshakeExpectation {
            cluster_id: 7,
            local: NodeId::new(1),
            remote: Some(NodeId::new(2)),
        }
    }

    #[test]
    fn handshake_from_the_expected_peer_passes() {
        let hello = Handshake::new(7, NodeId::new(2), NodeId::new(1));
        assert!(hello.verify(&expectation()).is_ok());
    }

    #[test]
    fn handshake_from_another_cluster_is_refused() {
        let hello = Handshake::new(8, NodeId::new(2), NodeId::new(1));
        assert!(matches!(
            hello.verify(&expectation()),
            Err(HandshakeError::ClusterMismatch { ours: 7, theirs: 8 })
        ));
    }

    #[test]
    fn handshake_with_bad_magic_or_version_is_refused() {
        let mut hello = Handshake::new(7, NodeId::new(2), NodeId::new(1));
        hello.magic ^= 1;
        assert!(matches!(
            hello.verify(&expectation()),
            Err(HandshakeError::BadMagic { .. })
        ));
        let mut hello = Handshake::new(7, NodeId::new(2), NodeId::new(1));
        hello.protocol_version += 1;
        assert!(matches!(
            hello.verify(&expectation()),
            Err(HandshakeError::VersionMismatch { .. })
        ));
    }

    #[test]
    fn handshake_from_an_unexpected_or_misaddressed_node_is_refused() {
        let hello = Handshake::new(7, NodeId::new(3), NodeId::new(1));
        assert!(matches!(
            hello.verify(&expectation()),
            Err(HandshakeError::UnexpectedNode { .. })
        ));
        let hello = Handshake::new(7, NodeId::new(2), NodeId::new(9));
        assert!(matches!(
            hello.verify(&expectation()),
            Err(HandshakeError::WrongAddressee { .. })
        ));
        let hello = Handshake::new(7, NodeId::NONE, NodeId::new(1));
        assert!(matches!(
            hello.verify(&expectation()),
            Err(HandshakeError::UnknownNode { .. })
        ));
    }
}
