//! Requests one member makes to another member's client API: `--join`
//! (cluster status, then the add request) and a follower publishing its
//! record to the leader. Plain HTTP, or HTTPS when the cluster serves
//! clients over TLS: the node then presents its client certificate and
//! trusts the client CA (or, without one, the peer CA). Where the cluster
//! checks client tokens, `--join-token-file` supplies an admin token.

use super::boot::ServeError;
use crate::config::ServeConfig;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST, LOCATION};
use axum::http::{HeaderValue, Method, Request, StatusCode, Uri};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Redirects followed for one request (to the leader, then maybe again
/// after an election).
pub const REDIRECTS_MAX: u32 = 5;
/// Limit on one request, connection and TLS handshake included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read: a cluster status or an error body.
pub const ANSWER_BYTES_MAX: usize = 4 << 20;

/// A member-to-member HTTP(S) client.
#[derive(Clone)]
pub struct MemberClient {
    tls: Option<TlsConnector>,
    /// Sent as `Authorization: Bearer` (`--join-token-file`).
    token: Option<String>,
}

/// A final answer: status and body.
pub struct Answer {
    pub status: StatusCode,
    pub body: Bytes,
}

impl MemberClient {
    /// HTTPS support when this node serves clients over TLS.
    pub fn new(config: &ServeConfig) -> Result<MemberClient, ServeError> {
        let token = match &config.security.join_token_file {
            Some(path) => Some(read_token(path)?),
            None => None,
        };
        let Some(files) = &config.client_tls else {
            return Ok(MemberClient { tls: None, token });
        };
        let bad = |detail: String| ServeError::ClientTls { detail };
        let ca = files
            .ca
            .as_ref()
            .or(config.peer_tls.as_ref().and_then(|peer| peer.ca.as_ref()));
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = ca {
            for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(e.to_string()))? {
                roots
                    .add(cert.map_err(|e| bad(e.to_string()))?)
                    .map_err(|e| bad(e.to_string()))?;
            }
        }
        let chain = CertificateDer::pem_file_iter(&files.cert)
            .and_then(Iterator::collect)
            .map_err(|e| bad(e.to_string()))?;
        let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| bad(e.to_string()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| bad(e.to_string()))?
            .with_root_certificates(roots)
            .with_client_auth_cert(chain, key)
            .map_err(|e| bad(e.to_string()))?;
        Ok(MemberClient {
            tls: Some(TlsConnector::from(Arc::new(client))),
            token,
        })
    }

    /// Sends `body` (JSON when given) to `base` + `path`, following 307s.
    pub async fn send(
        &self,
        base: &str,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Answer, String> {
        let body = Bytes::from(body.unwrap_or_default());
        let mut target: Uri = format!("{}{path}", base.trim_end_matches('/'))
            .parse()
            .map_err(|_| format!("invalid URL {base}{path}"))?;
        for _ in 0..=REDIRECTS_MAX {
            let (status, location, answer) = tokio::time::timeout(
                REQUEST_TIMEOUT,
                self.send_once(&target, method.clone(), body.clone()),
            )
            .await
            .map_err(|_| format!("{target}: no answer within {REQUEST_TIMEOUT:?}"))??;
            match (status, location) {
                (StatusCode::TEMPORARY_REDIRECT, Some(location)) => target = location,
                _ => {
                    return Ok(Answer {
                        status,
                        body: answer,
                    })
                }
            }
        }
        Err(format!("more than {REDIRECTS_MAX} redirects"))
    }

    async fn send_once(
        &self,
        target: &Uri,
        method: Method,
        body: Bytes,
    ) -> Result<(StatusCode, Option<Uri>, Bytes), String> {
        let host = target.host().ok_or_else(|| format!("{target}: no host"))?;
        let https = target.scheme_str() == Some("https");
        let port = target.port_u16().unwrap_or(if https { 443 } else { 80 });
        let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
            .await
            .map_err(|e| format!("{target}: {e}"))?;
        let mut request = Request::builder()
            .method(method)
            .uri(target.path_and_query().map_or("/", |pq| pq.as_str()))
            .header(HOST, host)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Some(token) = &self.token {
            request = request.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Full::new(body)).map_err(|e| e.to_string())?;
        let response = if https {
            let tls = self.tls.as_ref().ok_or_else(|| {
                format!("{target}: https needs --client-cert-file and --client-key-file")
            })?;
            let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                .map_err(|e| e.to_string())?;
            let stream = tls
                .connect(name, tcp)
                .await
                .map_err(|e| format!("{target}: {e}"))?;
            exchange(TokioIo::new(stream), request).await?
        } else {
            exchange(TokioIo::new(tcp), request).await?
        };
        let (parts, body) = response.into_parts();
        let body = Limited::new(body, ANSWER_BYTES_MAX)
            .collect()
            .await
            .map_err(|e| format!("{target}: {e}"))?
            .to_bytes();
        let location = parts
            .headers
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse().ok());
        Ok((parts.status, location, body))
    }
}

/// The first line of a token file, trimmed.
fn read_token(path: &std::path::Path) -> Result<String, ServeError> {
    let text = std::fs::read_to_string(path).map_err(|source| ServeError::TlsFile {
        path: path.to_owned(),
        source,
    })?;
    let token = text.lines().next().unwrap_or_default().trim().to_owned();
    if token.is_empty() {
        return Err(ServeError::JoinToken {
            path: path.to_owned(),
        });
    }
    Ok(token)
}

async fn exchange<IO>(
    io: IO,
    request: Request<Full<Bytes>>,
) -> Result<axum::http::Response<hyper::body::Incoming>, String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())
}
