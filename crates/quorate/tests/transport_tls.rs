//! Mutual TLS: nodes with certificates from the cluster CA talk; a peer
//! whose certificate comes from another CA is refused in either role.

mod tls_support;
mod transport_support;

use bytes::{Bytes, BytesMut};
use quorate::transport::{Inbound, SnapshotData, TcpTransport, TlsConfig, Transport};
use quorate::wire::{Frame, FrameCodec, Handshake};
use quorate_core::{GroupId, Message, MessageBody, NodeId, Term};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::sync::Arc;
use tls_support::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::codec::Encoder;
use transport_support::*;

const CLUSTER: u64 = 0x715;
async fn tls_node(
    id: u64,
    identity: &Identity,
    ca: &Ca,
    dir: &std::path::Path,
) -> (TcpTransport, tokio::sync::mpsc::Receiver<Inbound>) {
    let mut config = config(id, CLUSTER, dir);
    config.tls = Some(tls(identity, ca));
    start(config).await
}

/// A raw TLS client presenting `identity` and trusting `trusted`.
fn raw_client(identity: &Identity, trusted: &Ca) -> tokio_rustls::TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(trusted.cert.der().clone()).expect("root");
    let chain = CertificateDer::pem_slice_iter(identity.chain_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("chain");
    let key = PrivateKeyDer::from_pem_slice(identity.key_pem.as_bytes()).expect("key");
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_client_auth_cert(chain, key)
    .expect("client config");
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn nodes_with_certificates_from_the_cluster_ca_exchange_messages_and_snapshots() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster_ca = ca("cluster CA");
    let (a, _a_rx) = tls_node(1, &issue(&cluster_ca, "n1"), &cluster_ca, dir.path()).await;
    let (b, mut b_rx) = tls_node(2, &issue(&cluster_ca, "n2"), &cluster_ca, dir.path()).await;
    a.set_peer(NodeId::new(2), b.local_addr());
    b.set_peer(NodeId::new(1), a.local_addr());
    let messages: Vec<_> = (0..50).map(|g| heartbeat(1, 2, g, 3)).collect();
    a.send(NodeId::new(2), messages.clone());
    assert_eq!(collect(&mut b_rx, messages.len()).await.0, messages);
    let data = pseudo_random_bytes(200_000, 9);
    let message = Message {
        from: NodeId::new(1),
        to: NodeId::new(2),
        term: Term::new(2),
        body: MessageBody::InstallSnapshot(quorate_core::InstallSnapshot {
            meta: quorate_core::SnapshotMeta::default(),
        }),
    };
    let sent = tokio::spawn(a.send_snapshot(
        NodeId::new(2),
        GroupId::new(3),
        message,
        SnapshotData::Bytes(Bytes::from(data.clone())),
    ));
    match next(&mut b_rx).await {
        Inbound::Snapshot { path, .. } => {
            assert!(tokio::fs::read(&path).await.expect("reads") == data)
        }
        other => panic!("expected a snapshot, got {other:?}"),
    }
    sent.await.expect("joins").expect("snapshot sent over TLS");
}

#[tokio::test]
async fn a_peer_with_a_certificate_from_another_ca_is_refused() {
    init_tracing();
    let dir = tempfile::tempdir().expect("tempdir");
    let cluster_ca = ca("cluster CA");
    let rogue_ca = ca("rogue CA");
    let (a, _a_rx) = tls_node(1, &issue(&cluster_ca, "n1"), &cluster_ca, dir.path()).await;
    let (b, mut b_rx) = tls_node(2, &issue(&cluster_ca, "n2"), &cluster_ca, dir.path()).await;
    a.set_peer(NodeId::new(2), b.local_addr());
    b.set_peer(NodeId::new(1), a.local_addr());
    let name = ServerName::try_from(SERVER_NAME).expect("name");

    // As a client: it trusts the cluster CA (so it accepts the server) but
    // presents a rogue certificate; the server must not answer the handshake.
    let rogue = issue(&rogue_ca, "n1");
    let tcp = TcpStream::connect(b.local_addr()).await.expect("connects");
    let mut reply = Vec::new();
    if let Ok(mut stream) = raw_client(&rogue, &cluster_ca)
        .connect(name.clone(), tcp)
        .await
    {
        let mut hello = BytesMut::new();
        FrameCodec::default()
            .encode(
                &Frame::Handshake(Handshake::new(CLUSTER, NodeId::new(1), NodeId::new(2))),
                &mut hello,
            )
            .expect("encodes");
        let _ = stream.write_all(&hello).await;
        let read = tokio::time::timeout(SAFETY_TIMEOUT, stream.read_to_end(&mut reply)).await;
        assert!(read.expect("server hung up").is_err() || reply.is_empty());
    }
    assert!(
        reply.is_empty(),
        "no handshake reply for a rogue certificate"
    );

    // As a server seen from a rogue client: the cluster's certificate is not
    // trusted by a client that only knows the rogue CA, and vice versa.
    let tcp = TcpStream::connect(b.local_addr()).await.expect("connects");
    let rogue_only = raw_client(&rogue, &rogue_ca).connect(name, tcp).await;
    assert!(
        rogue_only.is_err(),
        "the cluster's server certificate fails rogue trust"
    );

    // The transport keeps serving its real peers.
    let messages: Vec<_> = (0..3).map(|g| heartbeat(1, 2, g, 1)).collect();
    a.send(NodeId::new(2), messages.clone());
    assert_eq!(collect(&mut b_rx, messages.len()).await.0, messages);
}

#[test]
fn tls_config_rejects_malformed_or_empty_pem() {
    let cluster_ca = ca("cluster CA");
    let node = issue(&cluster_ca, "n1");
    let ca_pem = cluster_ca.cert.pem();
    assert!(
        TlsConfig::from_pem(b"", node.key_pem.as_bytes(), ca_pem.as_bytes(), SERVER_NAME).is_err()
    );
    assert!(TlsConfig::from_pem(
        node.chain_pem.as_bytes(),
        b"not a key",
        ca_pem.as_bytes(),
        SERVER_NAME
    )
    .is_err());
    assert!(TlsConfig::from_pem(
        node.chain_pem.as_bytes(),
        node.key_pem.as_bytes(),
        b"",
        SERVER_NAME
    )
    .is_err());
    assert!(TlsConfig::from_pem(
        node.chain_pem.as_bytes(),
        node.key_pem.as_bytes(),
        ca_pem.as_bytes(),
        "not a name!"
    )
    .is_err());
}
