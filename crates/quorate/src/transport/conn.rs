//! Establishing a connection: TCP, optional TLS, then the quorate handshake,
//! each step under its own timeout, on both the dialling and the accepting
//! side. What comes out is a framed reader and writer that know which node
//! is at the other end.

use super::tcp_config::TcpConfig;
use crate::wire::{
    Frame, FrameCodec, FrameError, Handshake, HandshakeError, HandshakeExpectation, WireFrame,
};
use futures::{SinkExt, StreamExt};
use quorate_core::NodeId;
use std::net::SocketAddr;
use tokio::io::{AsyncRead, AsyncWrite, ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_util::codec::{FramedRead, FramedWrite};

/// A byte stream, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub(crate) type FrameReader = FramedRead<ReadHalf<Box<dyn Io>>, FrameCodec>;
pub(crate) type FrameWriter = FramedWrite<WriteHalf<Box<dyn Io>>, FrameCodec>;

/// An authenticated connection to `peer`.
pub(crate) struct Connection {
    pub peer: NodeId,
    pub reader: FrameReader,
    pub writer: FrameWriter,
}

/// Why dialling a peer failed. The caller retries with backoff.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum DialError {
    #[error("connecting to {addr} timed out")]
    ConnectTimeout { addr: SocketAddr },
    #[error("connecting to {addr} failed: {source}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("handshake with {addr} failed: {source}")]
    Handshake {
        addr: SocketAddr,
        #[source]
        source: HandshakeError,
    },
}

/// Connects to `peer` at `addr` and completes both handshakes.
pub(crate) async fn dial(
    config: &TcpConfig,
    peer: NodeId,
    addr: SocketAddr,
) -> Result<Connection, DialError> {
    let tcp = match timeout(config.connect_timeout, TcpStream::connect(addr)).await {
        Err(_) => return Err(DialError::ConnectTimeout { addr }),
        Ok(Err(source)) => return Err(DialError::Connect { addr, source }),
        Ok(Ok(tcp)) => tcp,
    };
    // Raft messages are small and latency-bound; batching is done above.
    let _ = tcp.set_nodelay(true);
    let handshake = |source| DialError::Handshake { addr, source };
    let io: Box<dyn Io> = match &config.tls {
        None => Box::new(tcp),
        Some(tls) => {
            let connect = tls.connector().connect(tls.server_name(), tcp);
            match timeout(config.request_timeout, connect).await {
                Err(_) => return Err(handshake(HandshakeError::Timeout)),
                Ok(Err(source)) => return Err(handshake(HandshakeError::Tls { source })),
                Ok(Ok(stream)) => Box::new(stream),
            }
        }
    };
    let (mut reader, mut writer) = split(io, config.frame_bytes_max);
    let hello = Handshake::new(config.cluster_id, config.node_id, peer);
    send_handshake(config, &mut writer, &hello)
        .await
        .map_err(handshake)?;
    let reply = read_handshake(config, &mut reader)
        .await
        .map_err(handshake)?;
    let expect = HandshakeExpectation {
        cluster_id: config.cluster_id,
        local: config.node_id,
        remote: Some(peer),
    };
    reply.verify(&expect).map_err(handshake)?;
    Ok(Connection {
        peer,
        reader,
        writer,
    })
}

/// Completes TLS and the handshake on an accepted socket. `is_known` says
/// whether a node id is a configured peer; strangers are refused.
pub(crate) async fn accept(
    config: &TcpConfig,
    tcp: TcpStream,
    is_known: impl Fn(NodeId) -> bool,
) -> Result<Connection, HandshakeError> {
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = match &config.tls {
        None => Box::new(tcp),
        Some(tls) => match timeout(config.request_timeout, tls.acceptor().accept(tcp)).await {
            Err(_) => return Err(HandshakeError::Timeout),
            Ok(Err(source)) => return Err(HandshakeError::Tls { source }),
            Ok(Ok(stream)) => Box::new(stream),
        },
    };
    let (mut reader, mut writer) = split(io, config.frame_bytes_max);
    let hello = read_handshake(config, &mut reader).await?;
    let expect = HandshakeExpectation {
        cluster_id: config.cluster_id,
        local: config.node_id,
        remote: None,
    };
    hello.verify(&expect)?;
    if !is_known(hello.node) {
        return Err(HandshakeError::UnknownNode { node: hello.node });
    }
    let reply = Handshake::new(config.cluster_id, config.node_id, hello.node);
    send_handshake(config, &mut writer, &reply).await?;
    Ok(Connection {
        peer: hello.node,
        reader,
        writer,
    })
}

fn split(io: Box<dyn Io>, frame_bytes_max: usize) -> (FrameReader, FrameWriter) {
    let (read, write) = tokio::io::split(io);
    let codec = FrameCodec::new(frame_bytes_max);
    (
        FramedRead::new(read, codec.clone()),
        FramedWrite::new(write, codec),
    )
}

async fn send_handshake(
    config: &TcpConfig,
    writer: &mut FrameWriter,
    hello: &Handshake,
) -> Result<(), HandshakeError> {
    let frame = WireFrame::from(&Frame::Handshake(*hello));
    match timeout(config.request_timeout, writer.send(frame)).await {
        Err(_) => Err(HandshakeError::Timeout),
        Ok(Err(FrameError::Io { .. })) => Err(HandshakeError::Closed),
        Ok(Err(source)) => Err(HandshakeError::Frame { source }),
        Ok(Ok(())) => Ok(()),
    }
}

async fn read_handshake(
    config: &TcpConfig,
    reader: &mut FrameReader,
) -> Result<Handshake, HandshakeError> {
    match timeout(config.request_timeout, reader.next()).await {
        Err(_) => Err(HandshakeError::Timeout),
        Ok(None) | Ok(Some(Err(FrameError::Io { .. }))) => Err(HandshakeError::Closed),
        Ok(Some(Err(source))) => Err(HandshakeError::Frame { source }),
        Ok(Some(Ok(Frame::Handshake(hello)))) => Ok(hello),
        Ok(Some(Ok(_))) => Err(HandshakeError::NotAHandshake),
    }
}
