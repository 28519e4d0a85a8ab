//! Protocol tests, named after the rule each proves, run on an in-memory
//! network of `RawNode`s that delivers messages only when told to.

mod format;
mod network;
mod scenario;

mod election;
mod gateway;
mod membership;
mod reads;
mod replication;
mod restart;
mod snapshot;
mod transfer;
