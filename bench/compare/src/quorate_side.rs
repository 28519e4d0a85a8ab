//! The quorate-core cluster: the same in-memory cluster the core's own
//! criterion benchmark measures.

use crate::Cluster;
use bytes::Bytes;

#[path = "../../../crates/core/benches/support/mem_cluster.rs"]
mod mem_cluster;

pub use mem_cluster::{MemCluster as QuorateCluster, BATCH};

impl Cluster for QuorateCluster {
    fn commit_batch(&mut self, payload: &[u8]) {
        QuorateCluster::commit_batch(self, &Bytes::copy_from_slice(payload));
    }
}
