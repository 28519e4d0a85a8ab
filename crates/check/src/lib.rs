//! quorate-check: what clients of a replicated KV service asked and were
//! told, and whether some real-time order explains it.
//!
//! Used by the simulator on every run and by `quorate demo` on the history
//! it records against a real cluster. It knows nothing of Raft.
//!
//! - [`history`] records requests and answers, including writes whose
//!   outcome the client never learned;
//! - [`kv_model`] is the sequential specification the answers must match;
//! - [`linearizability`] decides whether some order of the recorded
//!   operations, consistent with real time, explains every answer.

pub mod history;
pub mod kv_model;
pub mod linearizability;
