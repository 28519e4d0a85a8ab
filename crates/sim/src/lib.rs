//! quorate-sim: a deterministic whole-cluster simulator for quorate.
//!
//! The simulator runs real `quorate-core` nodes over a simulated network,
//! disk and clock, all driven from one seed, so any failure replays exactly:
//!
//! - [`cluster`] is the event queue, network and node set; [`node`] models
//!   durability (only what a completed fsync wrote survives a crash) and
//!   the replicated KV state machine;
//! - [`faults`] plans network, crash, pause, clock and membership faults
//!   and runs the nemesis; [`restarts`] crashes nodes at the worst points
//!   of snapshotting and lease keeping; [`hostile`] fuzzes messages;
//!   [`figure8`] scripts the §5.4.2 sequence; [`clients`] runs the workload
//!   and records the history; [`seeding`] gives every incarnation its own
//!   core seed;
//! - [`check`] judges every step (outcome checks and rule checks);
//!   [`liveness`] measures leaderless time and split votes;
//! - [`run`] runs and judges one seed, [`runner`] many seeds on threads.
//!
//! Client histories are judged by the `quorate-check` crate, re-exported
//! here as [`history`], [`kv_model`] and [`linearizability`].

pub use quorate_check::{history, kv_model, linearizability};

pub mod check;
pub mod clients;
pub mod cluster;
pub mod command;
pub mod faults;
pub mod figure8;
pub mod hostile;
pub mod liveness;
pub mod node;
pub mod options;
pub mod restarts;
pub mod run;
pub mod runner;
pub mod seeding;
