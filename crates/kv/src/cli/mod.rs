//! The client side of the `quorate` binary: `quorate kv` and `quorate
//! cluster` against a running cluster's HTTP API.

mod args;
mod client;
mod commands;
mod output;

pub use args::{
    ClientOptions, ClusterCommand, ConsistencyArg, KvCommand, Output, ENDPOINT_DEFAULT,
};
pub use client::{
    Client, ClientError, ClientRequest, ClientResponse, ClientTls, RetryPolicy, RESPONSE_BYTES_MAX,
};
pub use commands::{run_cluster, run_kv, Printed};
pub use output::Table;
