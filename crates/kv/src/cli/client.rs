//! The HTTP client behind `quorate kv` and `quorate cluster`: tries the
//! endpoints in turn, follows redirects to the leader, and retries `503`
//! answers with bounded backoff.
//!
//! Retrying is safe exactly when the server said "not applied": a 503, a
//! 307, or a connection that could not be opened. Any other failure after
//! a write was sent is reported as outcome unknown and not retried.

use crate::api::ErrorBody;
use axum::http::header::{CONTENT_TYPE, LOCATION, RETRY_AFTER};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::rt::TokioExecutor;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Largest response body read, so a broken server cannot exhaust memory.
pub const RESPONSE_BYTES_MAX: usize = 64 * 1024 * 1024;

/// How hard the client tries before giving up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total sends of one request, redirects not counted.
    pub attempts_max: u32,
    /// Redirects followed for one request.
    pub redirects_max: u32,
    /// First backoff after a 503 without `Retry-After`; doubles per retry.
    pub backoff_initial: Duration,
    /// Cap on any wait, including a server's `Retry-After`.
    pub backoff_max: Duration,
    /// Limit on one send, connection included.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            attempts_max: 8,
            redirects_max: 5,
            backoff_initial: Duration::from_millis(100),
            backoff_max: Duration::from_secs(2),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// TLS files of the client: the CA servers' certificates chain to, and
/// the certificate and key presented to servers that require one.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientTls {
    pub ca: Option<PathBuf>,
    pub cert: Option<PathBuf>,
    pub key: Option<PathBuf>,
}

impl ClientTls {
    fn rustls_config(&self) -> Result<rustls::ClientConfig, ClientError> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let bad = |path: &PathBuf, error: &dyn std::fmt::Display| ClientError::Tls {
            detail: format!("{}: {error}", path.display()),
        };
        let mut roots = rustls::RootCertStore::empty();
        if let Some(ca) = &self.ca {
            for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(ca, &e))? {
                let cert = cert.map_err(|e| bad(ca, &e))?;
                roots.add(cert).map_err(|e| bad(ca, &e))?;
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|error| ClientError::Tls {
                detail: error.to_string(),
            })?
            .with_root_certificates(roots);
        match (&self.cert, &self.key) {
            (Some(cert), Some(key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .and_then(Iterator::collect)
                    .map_err(|e| bad(cert, &e))?;
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| bad(key, &e))?;
                builder
                    .with_client_auth_cert(chain, key_der)
                    .map_err(|e| bad(cert, &e))
            }
            (None, None) => Ok(builder.with_no_client_auth()),
            _ => Err(ClientError::Tls {
                detail: "--cert-file and --key-file go together".to_owned(),
            }),
        }
    }
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    #[error("no endpoints given; pass --endpoints http://HOST:PORT[,...]")]
    NoEndpoints,
    #[error("invalid endpoint {endpoint:?}: expected http://HOST:PORT or https://HOST:PORT")]
    InvalidEndpoint { endpoint: String },
    #[error("https endpoints need --ca-file: the CA the servers' certificates chain to")]
    CaMissing,
    #[error("invalid TLS settings: {detail}")]
    Tls { detail: String },
    #[error("no VALUE given and stdin is a terminal; give VALUE, pipe it in, or pass - to type it (end with Ctrl-D)")]
    ValueMissing,
    #[error("cannot read the value from stdin: {0}")]
    Stdin(#[source] std::io::Error),
    #[error("no endpoint could be reached ({attempts} attempts); last error: {last}")]
    Unreachable { attempts: u32, last: String },
    #[error("the cluster had no leader after {attempts} attempts (not applied); retry later")]
    NoLeader { attempts: u32 },
    #[error("more than {limit} redirects (not applied); the cluster's leader keeps moving")]
    TooManyRedirects { limit: u32 },
    #[error("redirect without a valid Location header (not applied)")]
    BadRedirect,
    #[error("the request to {endpoint} failed after it was sent (outcome unknown): {detail}")]
    Transport { endpoint: String, detail: String },
    #[error("no answer from {endpoint} within {timeout:?} (outcome unknown)")]
    Timeout { endpoint: String, timeout: Duration },
    #[error("{} ({}): {}", status.as_u16(), body.code, body.message)]
    Api { status: StatusCode, body: ErrorBody },
    #[error("unexpected {status} answer: {text}")]
    Unexpected { status: StatusCode, text: String },
    #[error("invalid {name} header value")]
    InvalidHeader { name: &'static str },
    #[error("invalid JSON in the answer: {0}")]
    Decode(#[from] serde_json::Error),
}

/// A successful answer.
#[derive(Debug)]
pub struct ClientResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// One request to send.
#[derive(Clone, Debug)]
pub struct ClientRequest {
    pub method: Method,
    /// Path and query, e.g. `/v1/kv/a?consistency=stale`.
    pub path: String,
    pub body: Bytes,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ClientRequest {
    pub fn new(method: Method, path: impl Into<String>) -> ClientRequest {
        ClientRequest {
            method,
            path: path.into(),
            body: Bytes::new(),
            headers: Vec::new(),
        }
    }
}

/// What one send came to.
enum Step {
    Done(ClientResponse),
    Redirect(Uri),
    Unavailable(Option<Duration>),
    ConnectFailed(String),
}

/// A client for a list of endpoints.
pub struct Client {
    endpoints: Vec<Uri>,
    policy: RetryPolicy,
    tls: Option<ClientTls>,
    http: HyperClient<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl Client {
    /// `endpoints` as `http://host:port` or `host:port`.
    pub fn new(endpoints: &[String], policy: RetryPolicy) -> Result<Client, ClientError> {
        Client::with_tls(endpoints, policy, None)
    }

    /// Like [`Client::new`], speaking HTTPS to `https://` endpoints with
    /// `tls` (needed for them).
    pub fn with_tls(
        endpoints: &[String],
        policy: RetryPolicy,
        tls: Option<ClientTls>,
    ) -> Result<Client, ClientError> {
        if endpoints.is_empty() {
            return Err(ClientError::NoEndpoints);
        }
        let endpoints: Vec<Uri> = endpoints
            .iter()
            .map(|endpoint| parse_endpoint(endpoint))
            .collect::<Result<_, _>>()?;
        let https = endpoints
            .iter()
            .any(|uri| uri.scheme_str() == Some("https"));
        let config = match &tls {
            Some(tls) => tls.rustls_config()?,
            None if https => return Err(ClientError::CaMissing),
            None => ClientTls::default().rustls_config()?,
        };
        let mut connector = HttpConnector::new();
        connector.enforce_http(false);
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(config)
            .https_or_http()
            .enable_http1()
            .wrap_connector(connector);
        let http = HyperClient::builder(TokioExecutor::new()).build(connector);
        Ok(Client {
            endpoints,
            policy,
            tls,
            http,
        })
    }

    /// A client for one other endpoint, with the same TLS and timeout,
    /// that tries once: for a second opinion the caller can do without.
    pub fn single_try(&self, endpoint: &str) -> Result<Client, ClientError> {
        let policy = RetryPolicy {
            attempts_max: 1,
            ..self.policy
        };
        Client::with_tls(&[endpoint.to_owned()], policy, self.tls.clone())
    }

    /// Sends `request`, following redirects and retrying 503s and
    /// unreachable endpoints. A 2xx answer is `Ok`; any other is
    /// [`ClientError::Api`] with the server's JSON error.
    pub async fn send(&self, request: &ClientRequest) -> Result<ClientResponse, ClientError> {
        let mut endpoint_index = 0;
        let mut target = self.url(endpoint_index, &request.path)?;
        let mut redirects = 0;
        let mut attempts = 0;
        let mut backoff = self.policy.backoff_initial;
        let mut last_connect_error = String::new();
        while attempts < self.policy.attempts_max {
            attempts += 1;
            match self.send_once(&target, request).await? {
                Step::Done(response) => return finish(response),
                Step::Redirect(location) => {
                    redirects += 1;
                    if redirects > self.policy.redirects_max {
                        return Err(ClientError::TooManyRedirects {
                            limit: self.policy.redirects_max,
                        });
                    }
                    attempts -= 1;
                    target = location;
                }
                Step::Unavailable(retry_after) => {
                    if attempts == self.policy.attempts_max {
                        return Err(ClientError::NoLeader { attempts });
                    }
                    let wait = retry_after.unwrap_or(backoff).min(self.policy.backoff_max);
                    tokio::time::sleep(wait).await;
                    backoff = backoff.saturating_mul(2);
                }
                Step::ConnectFailed(error) => {
                    last_connect_error = error;
                    endpoint_index = (endpoint_index + 1) % self.endpoints.len();
                    target = self.url(endpoint_index, &request.path)?;
                    if endpoint_index == 0 && attempts < self.policy.attempts_max {
                        // Every endpoint refused: wait before the next round.
                        tokio::time::sleep(backoff.min(self.policy.backoff_max)).await;
                        backoff = backoff.saturating_mul(2);
                    }
                }
            }
        }
        Err(ClientError::Unreachable {
            attempts,
            last: last_connect_error,
        })
    }

    fn url(&self, endpoint_index: usize, path: &str) -> Result<Uri, ClientError> {
        let base = &self.endpoints[endpoint_index];
        let text = format!("{}{path}", base.to_string().trim_end_matches('/'));
        text.parse()
            .map_err(|_| ClientError::InvalidEndpoint { endpoint: text })
    }

    async fn send_once(&self, target: &Uri, request: &ClientRequest) -> Result<Step, ClientError> {
        let mut builder = Request::builder()
            .method(request.method.clone())
            .uri(target.clone());
        for (name, value) in &request.headers {
            builder = builder.header(name, value);
        }
        let http_request = builder.body(Full::new(request.body.clone())).map_err(|_| {
            ClientError::InvalidEndpoint {
                endpoint: target.to_string(),
            }
        })?;
        let timeout = self.policy.request_timeout;
        let endpoint = target.to_string();
        let sent = tokio::time::timeout(timeout, async {
            let response = self.http.request(http_request).await?;
            let (parts, body) = response.into_parts();
            let body = Limited::new(body, RESPONSE_BYTES_MAX).collect().await;
            Ok::<_, SendError>((parts, body))
        })
        .await
        .map_err(|_| ClientError::Timeout {
            endpoint: endpoint.clone(),
            timeout,
        })?;
        let (parts, body) = match sent {
            Ok(answer) => answer,
            Err(SendError(error)) if error.is_connect() => {
                return Ok(Step::ConnectFailed(format!(
                    "{endpoint}: {}",
                    chain(&error)
                )));
            }
            Err(SendError(error)) => {
                return Err(ClientError::Transport {
                    endpoint,
                    detail: chain(&error),
                })
            }
        };
        let body = body
            .map_err(|error| ClientError::Transport {
                endpoint: endpoint.clone(),
                detail: error.to_string(),
            })?
            .to_bytes();
        classify(parts.status, parts.headers, body, target)
    }
}

/// The hyper client's error, named so the connect case can be told apart.
struct SendError(hyper_util::client::legacy::Error);

impl From<hyper_util::client::legacy::Error> for SendError {
    fn from(error: hyper_util::client::legacy::Error) -> SendError {
        SendError(error)
    }
}

/// An error with its sources, e.g. "client error (Connect): tcp connect
/// error: Connection refused".
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn classify(
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
    target: &Uri,
) -> Result<Step, ClientError> {
    if status == StatusCode::TEMPORARY_REDIRECT || status == StatusCode::PERMANENT_REDIRECT {
        let location = headers
            .get(LOCATION)
            .and_then(|value| value.to_str().ok())
            .ok_or(ClientError::BadRedirect)?;
        return resolve(location, target).map(Step::Redirect);
    }
    if status == StatusCode::SERVICE_UNAVAILABLE {
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        return Ok(Step::Unavailable(retry_after));
    }
    Ok(Step::Done(ClientResponse {
        status,
        headers,
        body,
    }))
}

/// An absolute `Location`, or a path on the same endpoint.
fn resolve(location: &str, target: &Uri) -> Result<Uri, ClientError> {
    let absolute = if location.starts_with('/') {
        let authority = target.authority().ok_or(ClientError::BadRedirect)?;
        let scheme = target.scheme_str().unwrap_or("http");
        format!("{scheme}://{authority}{location}")
    } else {
        location.to_owned()
    };
    let uri: Uri = absolute.parse().map_err(|_| ClientError::BadRedirect)?;
    match uri.scheme_str() {
        Some("http" | "https") if uri.authority().is_some() => Ok(uri),
        _ => Err(ClientError::BadRedirect),
    }
}

fn finish(response: ClientResponse) -> Result<ClientResponse, ClientError> {
    if response.status.is_success() {
        return Ok(response);
    }
    let is_json = response
        .headers
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| value.starts_with("application/json"));
    match is_json.then(|| serde_json::from_slice::<ErrorBody>(&response.body)) {
        Some(Ok(body)) => Err(ClientError::Api {
            status: response.status,
            body,
        }),
        _ => Err(ClientError::Unexpected {
            status: response.status,
            text: String::from_utf8_lossy(&response.body).into_owned(),
        }),
    }
}

/// Accepts `http://host:port`, `https://host:port` and `host:port`;
/// refuses other schemes.
fn parse_endpoint(endpoint: &str) -> Result<Uri, ClientError> {
    let invalid = || ClientError::InvalidEndpoint {
        endpoint: endpoint.to_owned(),
    };
    let text = if endpoint.contains("://") {
        endpoint.to_owned()
    } else {
        format!("http://{endpoint}")
    };
    let uri: Uri = text.parse().map_err(|_| invalid())?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(_)) if uri.path() == "/" || uri.path().is_empty() => Ok(uri),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_accept_host_port_and_http_urls_only() {
        assert!(parse_endpoint("127.0.0.1:7000").is_ok());
        assert!(parse_endpoint("http://localhost:7000").is_ok());
        assert!(parse_endpoint("https://localhost:7000").is_ok());
        assert!(parse_endpoint("ftp://localhost:7000").is_err());
        assert!(parse_endpoint("http://localhost:7000/v1").is_err());
        assert!(parse_endpoint("").is_err());
    }

    #[test]
    fn relative_redirects_stay_on_the_endpoint() {
        let target: Uri = "http://10.0.0.1:7000/v1/kv/a".parse().expect("uri");
        let uri = resolve("/v1/kv/b", &target).expect("resolves");
        assert_eq!(uri.to_string(), "http://10.0.0.1:7000/v1/kv/b");
        assert!(resolve("ftp://x/y", &target).is_err());
        let secure: Uri = "https://10.0.0.1:7000/v1/kv/a".parse().expect("uri");
        let uri = resolve("/v1/kv/b", &secure).expect("resolves");
        assert_eq!(uri.to_string(), "https://10.0.0.1:7000/v1/kv/b");
    }
}
