//! quorate: Raft for Rust applications.
//!
//! (Crate documentation is completed as the runtime lands.)

pub mod transport;
pub mod wire;
