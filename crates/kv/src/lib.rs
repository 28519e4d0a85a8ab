//! quorate-kv: the replicated key-value service built on quorate.
//!
//! Module layout:
//! - `store`: the ordered map with etcd's revision model (put, delete,
//!   range, compare, transaction).
//! - `sessions`: duplicate elimination for exactly-once writes.
//! - `command`, `wire`, `codec`: the binary encoding of log commands.
//! - `state_machine`, `snapshot`: the state machine the runtime drives,
//!   and its checksummed snapshot format.
//!
//! - `api`: the HTTP/JSON client API over the [`api::KvService`] seam.
//! - `cli`: the HTTP client and the `quorate kv` / `quorate cluster`
//!   subcommands.
//! - `config`: flags, environment and TOML file of `quorate serve`.
//! - `server`: `quorate serve`, the runtime wiring behind the API.
//!
//! The state machine reads no clock and does no I/O a clock or does I/O: the same commands give the same
//! state on every member.

pub mod api;
pub mod cli;
mod codec;
mod command;
pub mod config;
pub mod server;
mod sessions;
mod snapshot;
mod state_machine;
mod store;
mod wire;

pub use codec::DecodeError;
pub use command::{CommandDecodeError, KvCommand, COMMAND_VERSION};
pub use sessions::{
    Dedup, SessionKey, Sessions, SessionsConfig, SESSION_ENTRIES_MAX_DEFAULT, SESSION_ID_BYTES_MAX,
    SESSION_TTL_MS_DEFAULT,
};
pub use snapshot::{SnapshotError, SNAPSHOT_MAGIC, SNAPSHOT_VERSION};
pub use state_machine::{ApplyError, ApplyResult, KvStateMachine};
pub use store::{
    Compare, CompareOp, CompareTarget, DeleteResponse, KeyValue, KvStore, Op, OpResponse,
    PutResponse, RangeRequest, RangeResponse, Txn, TxnResponse, RANGE_LIMIT_MAX,
};
pub use wire::{WriteRequest, WriteResponse};
