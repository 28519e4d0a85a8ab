//! The command line of the client subcommands (`quorate kv`, `quorate
//! cluster`), as clap derive types so `main` and tests parse alike.

use crate::api::Consistency;
use clap::{Args, Subcommand, ValueEnum};

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
    #[arg(long, global = true, default_value_t = 10_000)]
    pub timeout_ms: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Human-readable tables and values.
    Table,
    /// The server's JSON.
    Json,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum ConsistencyArg {
    #[default]
    Linearizable,
    Lease,
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
        key: String,
        #[arg(long, value_enum, default_value_t = ConsistencyArg::Linearizable)]
        consistency: ConsistencyArg,
    },
    /// Set a key.
    Put {
        key: String,
        value: String,
        /// Makes the write exactly-once: a resend with the same key is
        /// answered without applying again.
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// Delete a key.
    Delete {
        key: String,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
    /// List keys with a prefix.
    Scan {
        #[arg(default_value = "")]
        prefix: String,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, value_enum, default_value_t = ConsistencyArg::Linearizable)]
        consistency: ConsistencyArg,
    },
    /// Compare-and-set: write VALUE only if the key is as expected.
    Cas {
        key: String,
        value: String,
        /// Expected current value.
        #[arg(
            long,
            conflicts_with = "expect_mod_revision",
            required_unless_present = "expect_mod_revision"
        )]
        expect_value: Option<String>,
        /// Expected mod revision; 0 means "the key must not exist".
        #[arg(long)]
        expect_mod_revision: Option<u64>,
        #[arg(long)]
        idempotency_key: Option<String>,
    },
}

/// `quorate cluster ...`
#[derive(Subcommand, Clone, Debug, PartialEq, Eq)]
pub enum ClusterCommand {
    /// Show members, leader, term and indexes.
    Status,
    /// Add a member as a learner (it replicates but does not vote).
    Add {
        id: u64,
        /// Where peers reach the new member, e.g. http://10.0.0.4:7001.
        peer_url: String,
        #[arg(long)]
        client_url: Option<String>,
    },
    /// Make a caught-up learner a voter.
    Promote { id: u64 },
    /// Remove a member.
    Remove { id: u64 },
    /// Hand leadership to a voter (or let the leader choose).
    Transfer { id: Option<u64> },
}
