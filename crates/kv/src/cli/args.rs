//! The command line of the client subcommands (`quorate kv`, `quorate
//! cluster`), as clap derive types so `main` and tests parse alike.

use super::client::ClientTls;
use crate::api::Consistency;
use clap::{Args, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Where the client URL of a local single node listens by default.
pub const ENDPOINT_DEFAULT: &str = "http://127.0.0.1:7000";

/// Options every client subcommand takes.
#[derive(Args, Clone, Debug, PartialEq, Eq)]
pub struct ClientOptions {
    /// Client URLs of cluster members, comma-separated; tried in order,
    /// redirects to the leader are followed.
    #[arg(long, global = true, value_delimiter = ',', default_value = ENDPOINT_DEFAULT)]
    pub endpoints: Vec<String>,
    /// Output format.
    #[arg(short = 'o', long = "output", global = true, value_enum, default_value_t = Output::Table)]
    pub output: Output,
    /// Give up on one request after this many milliseconds.
    #[arg(long, global = true, value_name = "MS", default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// CA certificate (PEM) the servers' certificates must chain to;
    /// needed for https:// endpoints.
    #[arg(long, global = true, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) to present to servers that require one
    /// (`serve --client-ca-file`); needs --key-file.
    #[arg(long, global = true, value_name = "FILE", requires = "key_file")]
    pub cert_file: Option<PathBuf>,
    /// Private key (PEM) of --cert-file.
    #[arg(long, global = true, value_name = "FILE", requires = "cert_file")]
    pub key_file: Option<PathBuf>,
}

impl ClientOptions {
    /// The TLS files, when any was given.
    pub fn tls(&self) -> Option<ClientTls> {
        let tls = ClientTls {
            ca: self.ca_file.clone(),
            cert: self.cert_file.clone(),
            key: self.key_file.clone(),
        };
        (tls != ClientTls::default()).then_some(tls)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable tables and values.
    Table,
    /// The server's JSON.
    Json,
}

/// How fresh a read must be.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ConsistencyArg {
    /// Confirmed with a quorum: sees every write acknowledged before it.
    #[default]
    Linearizable,
    /// Served by the leader under its lease, without a quorum round.
    Lease,
    /// Served by the node asked, from what it has applied; may be old.
    Stale,
}

impl From<ConsistencyArg> for Consistency {
    fn from(arg: ConsistencyArg) -> Consistency {
        match arg {
            ConsistencyArg::Linearizable => Consistency::Linearizable,
            ConsistencyArg::Lease => Consistency::Lease,
            ConsistencyArg::Stale => Consistency::Stale,
        }
    }
}

/// `quorate kv ...`
#[derive(Subcommand, Clone, Debug, PartialEq, Eq)]
pub enum KvCommand {
    /// Print a key's value.
    Get {
        /// The key (any UTF-8 text; `/` is an ordinary character).
        key: String,
        /// How fresh the value must be.
        #[arg(long, value_enum, default_value_t = ConsistencyArg::Linearizable)]
        consistency: ConsistencyArg,
    },
    /// Set a key (the value from stdin when it is `-` or left out).
    Put {
        /// The key (any UTF-8 text).
        key: String,
        /// The value; `-` or none reads it from stdin, byte for byte.
        value: Option<String>,
        /// Makes the write exactly-once: a resend with the same key is
        /// answered without applying again.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
    /// Delete a key.
    #[command(visible_alias = "del")]
    Delete {
        /// The key to delete.
        key: String,
        /// Makes the delete exactly-once: a resend with the same key is
        /// answered without applying again.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
    /// List keys with a prefix.
    ///
    /// Bytes that are not UTF-8 print as 0x and hex digits; text that
    /// starts with 0x or a quote, or holds control characters, prints
    /// quoted, so the two never look alike.
    Scan {
        /// Only keys starting with this text; none lists every key.
        #[arg(default_value = "")]
        prefix: String,
        /// Most keys listed.
        #[arg(long, value_name = "N", default_value_t = 100)]
        limit: usize,
        /// How fresh the listing must be.
        #[arg(long, value_enum, default_value_t = ConsistencyArg::Linearizable)]
        consistency: ConsistencyArg,
    },
    /// Compare-and-set: write VALUE only if the key is as expected.
    Cas {
        /// The key to compare and set.
        key: String,
        /// The value written when the compare holds.
        value: String,
        /// Expected current value.
        #[arg(
            long,
            conflicts_with = "expect_mod_revision",
            required_unless_present = "expect_mod_revision"
        )]
        expect_value: Option<String>,
        /// Expected mod revision; 0 means "the key must not exist".
        #[arg(long, value_name = "REVISION")]
        expect_mod_revision: Option<u64>,
        /// Makes the write exactly-once: a resend with the same key is
        /// answered without applying again.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
    },
}

/// `quorate cluster ...`
#[derive(Subcommand, Clone, Debug, PartialEq, Eq)]
pub enum ClusterCommand {
    /// Show members, leader, term and indexes (replication progress as
    /// the leader sees it).
    Status,
    /// Add a member as a learner (it replicates but does not vote).
    Add {
        /// The new member's node id (its `serve --node-id`).
        id: u64,
        /// Where peers reach the new member, e.g. 10.0.0.4:7001.
        peer_url: String,
        /// The new member's client URL, for redirects and the status page.
        #[arg(long, value_name = "URL")]
        client_url: Option<String>,
    },
    /// Make a caught-up learner a voter.
    Promote {
        /// The learner's node id.
        id: u64,
    },
    /// Remove a member.
    Remove {
        /// The member's node id.
        id: u64,
    },
    /// Hand leadership to a voter (or let the leader choose).
    Transfer {
        /// The voter to lead; none picks the most caught-up one.
        id: Option<u64>,
    },
}
