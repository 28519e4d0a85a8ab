//! The client port's connection handling: how many connections, and how
//! long each may sit without progress.
//!
//! A client that opens connections and sends nothing (or a header a byte
//! a minute, "slowloris") must not hold resources forever: headers must
//! arrive within [`ConnectionLimits::header_read_timeout`] (hyper starts
//! that clock whenever it waits for a request head, so it also closes idle
//! keep-alive connections), a connection on which neither side makes
//! progress for [`ConnectionLimits::idle_timeout`] is closed (a stalled
//! body upload or a client that stopped reading), and past
//! [`ConnectionLimits::connections_max`] connections a new one gets an
//! immediate 503 and is closed.

use crate::api::ClientCertificate;
use axum::extract::ConnectInfo;
use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};

/// Default of `--max-client-connections`.
pub const CLIENT_CONNECTIONS_MAX_DEFAULT: usize = crate::config::MAX_CLIENT_CONNECTIONS_DEFAULT;
/// Time a client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Time a connection may make no progress in either direction.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// hyper's own buffer for a request head; the router's header limits
/// (431 with a JSON body) are below it.
pub const HEAD_BUFFER_BYTES_MAX: usize = 64 * 1024;
/// Headers hyper parses; the router refuses more than its own limit.
pub const HEAD_HEADERS_MAX: usize = 128;
/// Time open connections get to finish once shutdown began.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The bounds of the client listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub connections_max: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> ConnectionLimits {
        ConnectionLimits {
            connections_max: CLIENT_CONNECTIONS_MAX_DEFAULT,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
        }
    }
}

/// The JSON error body sent to a connection over the limit.
const OVER_LIMIT_BODY: &str = "{\"code\":\"busy\",\"message\":\"too many client connections (not applied); retry after 1s\",\"outcome\":\"not_applied\",\"indeterminate\":false,\"retry_after_s\":1}";

fn over_limit_response() -> Vec<u8> {
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{OVER_LIMIT_BODY}",
        OVER_LIMIT_BODY.len()
    )
    .into_bytes()
}

/// Serves `app` on every connection `listener` accepts until `shutdown`
/// resolves, then lets open requests finish for up to [`DRAIN_TIMEOUT`].
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send,
) where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
    L::Io: ClientIdentity + AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.connections_max.max(1)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(HEAD_BUFFER_BYTES_MAX)
        .max_headers(HEAD_HEADERS_MAX);
    tokio::pin!(shutdown);
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
            tracing::debug!(?peer, "client connection refused: too many connections");
            tokio::spawn(refuse(io));
            continue;
        };
        // Handlers that check where a request came from, or which
        // certificate it presented, read these.
        let mut with_peer = app.clone().layer(axum::Extension(ConnectInfo(peer)));
        if let Some(certificate) = io.client_certificate() {
            with_peer = with_peer.layer(axum::Extension(certificate));
        }
        let io = TokioIo::new(Idle::new(io, limits.idle_timeout));
        let service = TowerToHyperService::new(with_peer);
        let connection = graceful.watch(builder.serve_connection(io, service));
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(?peer, %error, "client connection closed");
            }
            drop(permit);
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open client connections did not finish in time; closing them");
    }
}

/// What a connection proves about its client.
pub trait ClientIdentity {
    /// The fingerprint of the client certificate, on TLS connections that
    /// presented one.
    fn client_certificate(&self) -> Option<ClientCertificate>;
}

impl ClientIdentity for tokio::net::TcpStream {
    fn client_certificate(&self) -> Option<ClientCertificate> {
        None
    }
}

impl ClientIdentity for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    fn client_certificate(&self) -> Option<ClientCertificate> {
        let chain = self.get_ref().1.peer_certificates()?;
        chain
            .first()
            .map(|leaf| ClientCertificate::of_der(leaf.as_ref()))
    }
}

async fn refuse<Io: AsyncWrite + Unpin>(mut io: Io) {
    let write = async {
        io.write_all(&over_limit_response()).await?;
        io.shutdown().await
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}

/// An I/O stream that fails with `TimedOut` once neither reads nor writes
/// made progress for its timeout.
struct Idle<Io> {
    io: Io,
    timeout: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl<Io> Idle<Io> {
    fn new(io: Io, timeout: Duration) -> Idle<Io> {
        Idle {
            io,
            timeout,
            deadline: Box::pin(tokio::time::sleep(timeout)),
        }
    }

    fn progressed(&mut self) {
        self.deadline.as_mut().reset(Instant::now() + self.timeout);
    }

    /// `Pending` from the stream: an error once the deadline passed.
    fn stalled<T>(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<T>> {
        match self.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "client connection idle too long",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<Io: AsyncRead + Unpin> AsyncRead for Idle<Io> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            Poll::Ready(result) => {
                this.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => this.stalled(cx),
        }
    }
}

impl<Io: AsyncWrite + Unpin> AsyncWrite for Idle<Io> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_write(cx, buf) {
            Poll::Ready(result) => {
                this.progressed();
                Poll::Ready(result)
            }
            Poll::Pending => this.stalled(cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_flush(cx) {
            Poll::Ready(result) => Poll::Ready(result),
            Poll::Pending => this.stalled(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    /// A server with short limits; returns its address.
    async fn start(limits: ConnectionLimits) -> std::net::SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().route("/", get(|| async { "ok" }));
        tokio::spawn(serve(listener, app, limits, std::future::pending()));
        addr
    }

    /// Reads until the server closes; what it sent, or `None` when it did
    /// not close within `limit`.
    async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
        let mut seen = Vec::new();
        let read = tokio::time::timeout(limit, stream.read_to_end(&mut seen)).await;
        match read {
            Ok(_) => Some(seen),
            Err(_) => None,
        }
    }

    fn short() -> ConnectionLimits {
        ConnectionLimits {
            connections_max: 2,
            header_read_timeout: Duration::from_millis(200),
            idle_timeout: Duration::from_millis(400),
        }
    }

    /// issue 11 item 5: a slowloris client (headers never finished) is
    /// closed once the header read timeout passes.
    #[tokio::test]
    async fn a_client_that_never_finishes_its_headers_is_closed() {
        let addr = start(short()).await;
        let mut slow = TcpStream::connect(addr).await.expect("connects");
        slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: a")
            .await
            .expect("writes");
        let closed = read_until_closed(&mut slow, Duration::from_secs(5)).await;
        assert!(closed.is_some(), "the slow connection is still open");
    }

    #[tokio::test]
    async fn an_idle_keep_alive_connection_is_closed() {
        let addr = start(short()).await;
        let mut idle = TcpStream::connect(addr).await.expect("connects");
        idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("writes");
        let answer = read_until_closed(&mut idle, Duration::from_secs(5))
            .await
            .expect("closed after the answer and the idle time");
        assert!(answer.starts_with(b"HTTP/1.1 200"), "{answer:?}");
    }

    /// Past `connections_max`, a new connection gets 503 with the JSON
    /// body and is closed; a freed slot serves again.
    #[tokio::test]
    async fn connections_over_the_limit_get_503() {
        let limits = ConnectionLimits {
            header_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            ..short()
        };
        let addr = start(limits).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut stream = TcpStream::connect(addr).await.expect("connects");
            // A whole request proves the server took the connection.
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .await
                .expect("writes");
            let mut first = [0u8; 12];
            stream.read_exact(&mut first).await.expect("answered");
            assert_eq!(&first, b"HTTP/1.1 200");
            held.push(stream);
        }
        let mut extra = TcpStream::connect(addr).await.expect("connects");
        let answer = read_until_closed(&mut extra, Duration::from_secs(5))
            .await
            .expect("closed");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 503"), "{text}");
        let body = text.split("\r\n\r\n").nth(1).expect("body");
        let json: serde_json::Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(json["code"], "busy");
        drop(held);
    }
}
