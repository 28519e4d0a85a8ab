//! Mutually authenticated TLS between nodes (rustls with the `ring`
//! provider, so no C toolchain is needed).
//!
//! Every node holds a certificate issued by the cluster's CA and trusts only
//! that CA, as client and as server: a peer whose certificate comes from any
//! other CA fails the TLS handshake before a single Raft byte is read. TLS
//! proves cluster membership; which node a peer is comes from the quorate
//! handshake that follows, inside the encrypted stream.

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// TLS settings for a transport: built once, cheap to clone.
#[derive(Clone)]
pub struct TlsConfig {
    server: Arc<ServerConfig>,
    client: Arc<ClientConfig>,
    server_name: ServerName<'static>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

/// Why TLS settings could not be built. Each names the input to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the {what} PEM is malformed: {source}")]
    Pem {
        what: &'static str,
        #[source]
        source: rustls_pki_types::pem::Error,
    },
    #[error("the {what} PEM holds no certificate")]
    NoCertificate { what: &'static str },
    #[error("a CA certificate was rejected: {source}")]
    CaCertificate {
        #[source]
        source: rustls::Error,
    },
    #[error("the peer verifier could not be built from the CA bundle: {source}")]
    Verifier {
        #[source]
        source: rustls::server::VerifierBuilderError,
    },
    #[error("the certificate chain or private key was rejected: {source}")]
    Identity {
        #[source]
        source: rustls::Error,
    },
    #[error("`{name}` is not a valid DNS name or IP address for server verification")]
    ServerName { name: String },
}

impl TlsConfig {
    /// Builds client and server settings from PEM text: this node's
    /// certificate chain (leaf first) and private key, the CA bundle that
    /// issued every node's certificate, and `server_name`, the DNS name or
    /// IP address that every node's certificate carries as a subject
    /// alternative name (one shared name, since node identity is checked by
    /// the quorate handshake rather than by the certificate).
    pub fn from_pem(
        cert_chain_pem: &[u8],
        private_key_pem: &[u8],
        ca_pem: &[u8],
        server_name: &str,
    ) -> Result<Self, TlsConfigError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let chain = certificates(cert_chain_pem, "certificate chain")?;
        let roots = Arc::new(root_store(ca_pem)?);
        let key = || {
            PrivateKeyDer::from_pem_slice(private_key_pem).map_err(|source| TlsConfigError::Pem {
                what: "private key",
                source,
            })
        };
        let server = server_config(&provider, &roots, chain.clone(), key()?)?;
        let client = client_config(&provider, &roots, chain, key()?)?;
        let server_name = ServerName::try_from(server_name.to_owned()).map_err(|_| {
            TlsConfigError::ServerName {
                name: server_name.to_owned(),
            }
        })?;
        Ok(TlsConfig {
            server: Arc::new(server),
            client: Arc::new(client),
            server_name,
        })
    }

    /// [`TlsConfig::from_pem`] reading the three PEM files.
    pub fn from_pem_files(
        cert_chain: &Path,
        private_key: &Path,
        ca: &Path,
        server_name: &str,
    ) -> Result<Self, TlsConfigError> {
        let read = |path: &Path| {
            std::fs::read(path).map_err(|source| TlsConfigError::Read {
                path: path.to_owned(),
                source,
            })
        };
        Self::from_pem(
            &read(cert_chain)?,
            &read(private_key)?,
            &read(ca)?,
            server_name,
        )
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.server))
    }

    pub(crate) fn connector(&self) -> tokio_rustls::TlsConnector {
        tokio_rustls::TlsConnector::from(Arc::clone(&self.client))
    }

    pub(crate) fn server_name(&self) -> ServerName<'static> {
        self.server_name.clone()
    }
}

fn certificates(
    pem: &[u8],
    what: &'static str,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsConfigError::Pem { what, source })?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate { what });
    }
    Ok(certs)
}

fn root_store(ca_pem: &[u8]) -> Result<RootCertStore, TlsConfigError> {
    let mut roots = RootCertStore::empty();
    for cert in certificates(ca_pem, "CA bundle")? {
        roots
            .add(cert)
            .map_err(|source| TlsConfigError::CaCertificate { source })?;
    }
    Ok(roots)
}

fn server_config(
    provider: &Arc<CryptoProvider>,
    roots: &Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, TlsConfigError> {
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(provider))
            .build()
            .map_err(|source| TlsConfigError::Verifier { source })?;
    ServerConfig::builder_with_provider(Arc::clone(provider))
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsConfigError::Identity { source })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .map_err(|source| TlsConfigError::Identity { source })
}

fn client_config(
    provider: &Arc<CryptoProvider>,
    roots: &Arc<RootCertStore>,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ClientConfig, TlsConfigError> {
    let verifier =
        WebPkiServerVerifier::builder_with_provider(Arc::clone(roots), Arc::clone(provider))
            .build()
            .map_err(|source| TlsConfigError::Verifier { source })?;
    ClientConfig::builder_with_provider(Arc::clone(provider))
        .with_safe_default_protocol_versions()
        .map_err(|source| TlsConfigError::Identity { source })?
        .with_webpki_verifier(verifier)
        .with_client_auth_cert(chain, key)
        .map_err(|source| TlsConfigError::Identity { source })
}
