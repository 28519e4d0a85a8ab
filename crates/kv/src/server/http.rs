//! The client listener: the API router and the status page at `/`,
//! plain or TLS, with graceful shutdown.

use super::boot::ServeError;
use super::listener::{self, ConnectionLimits};
use super::records::{member_record_route, MEMBER_RECORD_PATH};
use super::service::NodeService;
use crate::api::{secured_router, ApiLimits, Authenticator};
use crate::config::ServeConfig;
use axum::extract::{MatchedPath, Request};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::future::Future;
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// The live status page: plain HTML and JavaScript, polling `/v1/cluster`.
const STATUS_PAGE: &str = include_str!("status.html");
/// TLS handshakes in progress at once; more connections wait in the
/// kernel's accept queue.
pub const TLS_HANDSHAKES_MAX: usize = 256;
/// Finished handshakes waiting for the HTTP server to take them.
pub const TLS_READY_QUEUE_MAX: usize = 64;
/// A client that does not finish its handshake in this time is dropped.
pub const TLS_HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

async fn status_page() -> impl IntoResponse {
    ([(CONTENT_TYPE, "text/html; charset=utf-8")], STATUS_PAGE)
}

/// Requests answered, by route pattern, method and status code.
pub const HTTP_REQUESTS_TOTAL: &str = "quorate_kv_http_requests_total";
/// Time to answer a request, by route pattern, in seconds.
pub const HTTP_REQUEST_SECONDS: &str = "quorate_kv_http_request_seconds";

/// The whole HTTP surface of a serving node, checking client tokens when
/// `auth` is given.
pub fn app(service: Arc<NodeService>, auth: Option<Arc<Authenticator>>) -> Router {
    let extra = Router::new()
        .route("/", get(status_page))
        .route(MEMBER_RECORD_PATH, post(member_record_route))
        .with_state(Arc::clone(&service));
    extra
        .merge(secured_router(service, ApiLimits::default(), auth))
        .route_layer(middleware::from_fn(record_request))
}

/// Counts and times every routed request. Labels use the route pattern
/// (`/v1/kv/{*key}`), never the path, so keys cannot blow up cardinality.
async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |path| path.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = tokio::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!(HTTP_REQUESTS_TOTAL, "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!(HTTP_REQUEST_SECONDS, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}

/// Client TLS settings, when configured: the server's certificate, and
/// client certificates required when a client CA is given.
pub fn client_tls(config: &ServeConfig) -> Result<Option<TlsAcceptor>, ServeError> {
    let Some(files) = &config.client_tls else {
        return Ok(None);
    };
    let bad = |detail: String| ServeError::ClientTls { detail };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(Iterator::collect)
        .map_err(|error| bad(format!("{}: {error}", files.cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|error| bad(format!("{}: {error}", files.key.display())))?;
    let builder = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| bad(error.to_string()))?;
    let builder = match &files.ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca)
                .map_err(|error| bad(format!("{}: {error}", ca.display())))?
            {
                let cert = cert.map_err(|error| bad(format!("{}: {error}", ca.display())))?;
                roots.add(cert).map_err(|error| bad(error.to_string()))?;
            }
            let verifier =
                rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                    .build()
                    .map_err(|error| bad(error.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut server = builder
        .with_single_cert(chain, key)
        .map_err(|error| bad(error.to_string()))?;
    server.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(TlsAcceptor::from(Arc::new(server))))
}

/// Serves until `shutdown` resolves, or until a `--join` request fails.
pub async fn serve(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    app: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
    joining: Option<JoinHandle<Result<(), ServeError>>>,
) -> Result<(), ServeError> {
    let (join_failed_tx, join_failed) = tokio::sync::oneshot::channel::<ServeError>();
    if let Some(joining) = joining {
        tokio::spawn(async move {
            if let Ok(Err(error)) = joining.await {
                let _ = join_failed_tx.send(error);
            }
        });
    }
    let (failed_tx, mut failed_rx) = mpsc::channel::<ServeError>(1);
    let stop = async move {
        tokio::select! {
            () = shutdown => {}
            Ok(error) = join_failed => { let _ = failed_tx.send(error).await; }
        }
    };
    match tls {
        None => listener::serve(listener, app, limits, stop).await,
        Some(acceptor) => {
            let listener = TlsListener::start(listener, acceptor);
            listener::serve(listener, app, limits, stop).await;
        }
    }
    match failed_rx.try_recv() {
        Ok(error) => Err(error),
        Err(_) => Ok(()),
    }
}

/// A listener handing axum connections whose TLS handshake finished.
/// Handshakes run in their own tasks so one slow client delays no other.
struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, std::net::SocketAddr)>,
    local: std::net::SocketAddr,
    accept_task: JoinHandle<()>,
}

impl TlsListener {
    fn start(listener: TcpListener, acceptor: TlsAcceptor) -> TlsListener {
        let local = listener
            .local_addr()
            .unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
        let (ready_tx, ready) = mpsc::channel(TLS_READY_QUEUE_MAX);
        let slots = Arc::new(Semaphore::new(TLS_HANDSHAKES_MAX));
        let accept_task = tokio::spawn(async move {
            loop {
                let Ok(permit) = Arc::clone(&slots).acquire_owned().await else {
                    return;
                };
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        tracing::debug!(%error, "accept failed");
                        continue;
                    }
                };
                let (acceptor, ready_tx) = (acceptor.clone(), ready_tx.clone());
                tokio::spawn(async move {
                    let handshake =
                        tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await;
                    drop(permit);
                    match handshake {
                        Ok(Ok(tls)) => {
                            let _ = ready_tx.send((tls, peer)).await;
                        }
                        Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
                    }
                });
            }
        });
        TlsListener {
            ready,
            local,
            accept_task,
        }
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accept task ended: nothing more will come.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}
