//! Settings that decide who may use the client port: client tokens, the
//! token a joining node presents, and the connection bound.

use super::{ConfigError, Layers};
use std::path::PathBuf;

/// Default of `--max-client-connections`.
pub const MAX_CLIENT_CONNECTIONS_DEFAULT: usize = 1024;

/// Client authentication and connection bounds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecuritySettings {
    /// Token hashes and roles; `None` serves every client (the demo).
    pub auth_token_file: Option<PathBuf>,
    /// The admin token `--join` presents to a cluster that checks tokens.
    pub join_token_file: Option<PathBuf>,
    pub max_client_connections: usize,
}

impl Layers<'_> {
    pub(super) fn security(&self) -> Result<SecuritySettings, ConfigError> {
        let (args, file) = (self.args, &self.file);
        let auth_token_file = self.pick(
            "auth_token_file",
            args.auth_token_file.clone(),
            file.auth_token_file.clone(),
        )?;
        let join_token_file = self.pick(
            "join_token_file",
            args.join_token_file.clone(),
            file.join_token_file.clone(),
        )?;
        let max_client_connections = self
            .pick(
                "max_client_connections",
                args.max_client_connections,
                file.max_client_connections,
            )?
            .unwrap_or(MAX_CLIENT_CONNECTIONS_DEFAULT);
        if max_client_connections == 0 {
            return Err(ConfigError::Zero {
                field: "max_client_connections",
            });
        }
        Ok(SecuritySettings {
            auth_token_file,
            join_token_file,
            max_client_connections,
        })
    }
}
