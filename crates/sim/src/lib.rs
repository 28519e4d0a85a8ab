//! quorate-sim: a deterministic whole-cluster simulator for quorate, and the
//! checkers that judge what it produces.
//!
//! The simulator runs real `quorate-core` nodes over a simulated network,
//! disk and clock, all driven from one seed, so any failure replays exactly.
//! The checking half is independent of the protocol:
//!
//! - [`history`] records what clients of the replicated KV service asked for
//!   and what they were told, including writes whose outcome they never
//!   learned;
//! - [`kv_model`] is the sequential specification those answers must match;
//! - [`linearizability`] decides whether some order of the recorded
//!   operations, consistent with real time, explains every answer.

pub mod history;
pub mod kv_model;
pub mod linearizability;

pub mod check;
pub mod clients;
pub mod cluster;
pub mod command;
pub mod faults;
pub mod node;
pub mod options;
pub mod run;
pub mod runner;
