//! Client authentication and authorization: bearer tokens and client
//! certificates with roles.
//!
//! The token file (`--auth-token-file`) holds one credential a line as
//! `ROLE sha256:HEX [NAME]`: the SHA-256 of a token, never the token, so
//! a leaked file does not leak credentials; or `ROLE cert-sha256:HEX
//! [NAME]`: the SHA-256 fingerprint of a client certificate's DER (with
//! client TLS and `--client-ca-file`). A request sends `Authorization:
//! Bearer <token>`, whose hash picks the role; without a known token, the
//! connection's client certificate does. Roles nest:
//! `read` (gets, scans, cluster status) < `readwrite` (puts, deletes,
//! transactions) < `admin` (membership, leadership transfer, snapshots).
//! Probes (`/health`, `/ready`, `/metrics`) stay open so orchestrators and
//! scrapers need no secret. Without a token file nothing is checked (the
//! local demo).

use super::reject::Rejection;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::Response;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Paths answered without credentials unless configured otherwise.
pub const OPEN_PATHS_DEFAULT: [&str; 3] = ["/health", "/ready", "/metrics"];

/// What a token may do; each role includes the ones before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Read,
    ReadWrite,
    Admin,
}

impl Role {
    fn parse(text: &str) -> Option<Role> {
        match text {
            "read" => Some(Role::Read),
            "readwrite" => Some(Role::ReadWrite),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::ReadWrite => "readwrite",
            Role::Admin => "admin",
        }
    }
}

/// Why a token file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenFileError {
    #[error("cannot read token file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("token file line {line} is not `ROLE sha256:HEX [NAME]` or `ROLE cert-sha256:HEX [NAME]` with ROLE read, readwrite or admin and 64 hex digits")]
    Malformed { line: usize },
    #[error("token file line {line} repeats the token of line {first}")]
    Duplicate { line: usize, first: usize },
    #[error("token file has no tokens; add one, or drop --auth-token-file to run without client authentication")]
    Empty,
}

/// The configured tokens and certificates (by hash) and the open paths.
#[derive(Clone, Debug)]
pub struct Authenticator {
    roles: HashMap<[u8; 32], (Role, usize)>,
    certificates: HashMap<[u8; 32], (Role, usize)>,
    open_paths: Vec<String>,
}

/// The SHA-256 fingerprint of the client certificate a TLS connection
/// presented; the listener puts it into every request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientCertificate(pub [u8; 32]);

impl ClientCertificate {
    /// The fingerprint of a DER-encoded certificate.
    pub fn of_der(der: &[u8]) -> ClientCertificate {
        ClientCertificate(digest(der))
    }

    /// `cert-sha256:HEX`, as the token file names it.
    pub fn name(&self) -> String {
        format!("cert-sha256:{}", super::hex_encode(&self.0))
    }
}

/// `sha256:HEX` of a token, as the token file stores it.
pub fn token_hash(token: &str) -> String {
    format!("sha256:{}", super::hex_encode(&digest(token.as_bytes())))
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    let hash = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(hash.as_ref());
    out
}

impl Authenticator {
    /// Reads a token file.
    pub fn from_file(path: &Path) -> Result<Authenticator, TokenFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenFileError::Io {
            path: path.to_owned(),
            source,
        })?;
        Authenticator::parse(&text)
    }

    /// Parses a token file's text; `#` starts a comment line.
    pub fn parse(text: &str) -> Result<Authenticator, TokenFileError> {
        let mut roles = HashMap::new();
        let mut certificates = HashMap::new();
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut words = line.split_whitespace();
            let role = words.next().and_then(Role::parse);
            let credential = words.next().unwrap_or_default();
            let (table, hex) = match credential.strip_prefix("cert-sha256:") {
                Some(hex) => (&mut certificates, Some(hex)),
                None => (&mut roles, credential.strip_prefix("sha256:")),
            };
            let hash = hex
                .and_then(super::types::hex_decode)
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok());
            let (Some(role), Some(hash)) = (role, hash) else {
                return Err(TokenFileError::Malformed { line: line_no });
            };
            if let Some(&(_, first)) = table.get(&hash) {
                return Err(TokenFileError::Duplicate {
                    line: line_no,
                    first,
                });
            }
            table.insert(hash, (role, line_no));
        }
        if roles.is_empty() && certificates.is_empty() {
            return Err(TokenFileError::Empty);
        }
        Ok(Authenticator {
            roles,
            certificates,
            open_paths: OPEN_PATHS_DEFAULT.map(str::to_owned).to_vec(),
        })
    }

    /// Replaces the paths answered without credentials.
    pub fn with_open_paths(mut self, paths: Vec<String>) -> Authenticator {
        self.open_paths = paths;
        self
    }

    /// The role of the request's bearer token; `None` without a known one.
    pub fn role_of(&self, headers: &HeaderMap) -> Option<Role> {
        let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
        let (scheme, token) = value.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return None;
        }
        let token = token.trim();
        if token.is_empty() {
            return None;
        }
        self.roles
            .get(&digest(token.as_bytes()))
            .map(|&(role, _)| role)
    }

    /// The role of a client certificate; `None` for an unknown one.
    pub fn role_of_certificate(&self, certificate: &ClientCertificate) -> Option<Role> {
        self.certificates.get(&certificate.0).map(|&(role, _)| role)
    }

    /// The role a request needs; `None` for an open path.
    pub fn required(&self, method: &Method, path: &str) -> Option<Role> {
        if self.open_paths.iter().any(|open| open == path) {
            return None;
        }
        let admin = ["/v1/cluster/members", "/v1/cluster/leader", "/v1/snapshot"];
        if admin.contains(&path) {
            return Some(Role::Admin);
        }
        if method == Method::GET || method == Method::HEAD {
            return Some(Role::Read);
        }
        Some(Role::ReadWrite)
    }
}

/// The middleware: 401 without a known token, 403 with too weak a role.
pub(crate) async fn authorize(
    State(auth): State<Arc<Authenticator>>,
    request: Request,
    next: Next,
) -> Response {
    let Some(needed) = auth.required(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    let by_certificate = || {
        let certificate = request.extensions().get::<ClientCertificate>()?;
        auth.role_of_certificate(certificate)
    };
    match auth.role_of(request.headers()).or_else(by_certificate) {
        None => Rejection::Unauthorized.response(None),
        Some(role) if role < needed => Rejection::Forbidden.response(Some(format!(
            "role {} may not do this; it needs {}",
            role.name(),
            needed.name()
        ))),
        Some(_) => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        let value = HeaderValue::from_str(&format!("Bearer {token}")).expect("header");
        headers.insert(AUTHORIZATION, value);
        headers
    }

    #[test]
    fn tokens_are_matched_by_hash_and_map_to_their_role() {
        let file = format!(
            "# ops\nadmin {} ops\nread {}\n",
            token_hash("s3cret"),
            token_hash("viewer")
        );
        assert!(!file.contains("s3cret"), "the file holds no token");
        let auth = Authenticator::parse(&file).expect("parses");
        assert_eq!(auth.role_of(&bearer("s3cret")), Some(Role::Admin));
        assert_eq!(auth.role_of(&bearer("viewer")), Some(Role::Read));
        assert_eq!(auth.role_of(&bearer("guess")), None);
        assert_eq!(auth.role_of(&HeaderMap::new()), None);
    }

    #[test]
    fn client_certificates_map_to_roles_by_fingerprint() {
        let known = ClientCertificate::of_der(b"certificate of the ops team");
        let other = ClientCertificate::of_der(b"another certificate");
        let file = format!("admin {} ops\nread {}\n", known.name(), token_hash("t"));
        let auth = Authenticator::parse(&file).expect("parses");
        assert_eq!(auth.role_of_certificate(&known), Some(Role::Admin));
        assert_eq!(auth.role_of_certificate(&other), None);
        assert_eq!(auth.role_of(&bearer("t")), Some(Role::Read));
        let twice = format!("read {}\nadmin {}\n", known.name(), known.name());
        assert!(matches!(
            Authenticator::parse(&twice),
            Err(TokenFileError::Duplicate { line: 2, first: 1 })
        ));
    }

    #[test]
    fn routes_need_nested_roles_and_probes_are_open() {
        let auth = Authenticator::parse(&format!("read {}", token_hash("t"))).expect("parses");
        assert_eq!(auth.required(&Method::GET, "/health"), None);
        assert_eq!(auth.required(&Method::GET, "/metrics"), None);
        assert_eq!(auth.required(&Method::GET, "/v1/kv/a"), Some(Role::Read));
        assert_eq!(
            auth.required(&Method::PUT, "/v1/kv/a"),
            Some(Role::ReadWrite)
        );
        assert_eq!(
            auth.required(&Method::POST, "/v1/cluster/members"),
            Some(Role::Admin)
        );
        assert!(Role::Read < Role::ReadWrite && Role::ReadWrite < Role::Admin);
        let closed = auth.with_open_paths(Vec::new());
        assert_eq!(closed.required(&Method::GET, "/health"), Some(Role::Read));
    }

    #[test]
    fn malformed_duplicate_and_empty_files_are_refused() {
        let hash = token_hash("t");
        for (text, line) in [
            ("root sha256:00".to_owned(), 1),
            (format!("read {}", &hash[..20]), 1),
            (format!("\nread plain-token-{hash}"), 2),
        ] {
            let error = Authenticator::parse(&text).expect_err(&text);
            assert!(
                matches!(error, TokenFileError::Malformed { line: l } if l == line),
                "{text}: {error}"
            );
        }
        let twice = format!("read {hash}\nadmin {hash}\n");
        assert!(matches!(
            Authenticator::parse(&twice),
            Err(TokenFileError::Duplicate { line: 2, first: 1 })
        ));
        assert!(matches!(
            Authenticator::parse("# nothing\n"),
            Err(TokenFileError::Empty)
        ));
    }
}
