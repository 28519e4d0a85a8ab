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
    /// Paths open without credentials; `None` keeps the default probes.
    pub auth_open_paths: Option<Vec<String>>,
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
        let auth_open_paths = self
            .pick(
                "auth_open_paths",
                args.auth_open_paths.clone(),
                file.auth_open_paths.clone(),
            )?
            .map(|text| open_paths(&text))
            .transpose()?;
        Ok(SecuritySettings {
            auth_token_file,
            join_token_file,
            max_client_connections,
            auth_open_paths,
        })
    }
}

/// `/health,/ready` to paths; each must start with `/`.
fn open_paths(text: &str) -> Result<Vec<String>, ConfigError> {
    let paths: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|path| !path.is_empty())
        .map(str::to_owned)
        .collect();
    match paths.iter().find(|path| !path.starts_with('/')) {
        Some(bad) => Err(ConfigError::InvalidValue {
            origin: super::Origin::Flag("auth-open-paths"),
            name: "auth_open_paths",
            value: text.to_owned(),
            reason: format!("{bad:?} is not a path starting with /"),
        }),
        None => Ok(paths),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_paths_are_a_comma_list_of_absolute_paths() {
        assert_eq!(
            open_paths("/health, /ready").expect("valid"),
            vec!["/health".to_owned(), "/ready".to_owned()]
        );
        assert!(
            open_paths("").expect("valid").is_empty(),
            "empty closes all"
        );
        assert!(open_paths("/health,metrics").is_err());
    }
}
