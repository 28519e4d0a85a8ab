//! Seeds for each node's core RNG. Every incarnation of every member draws
//! its own election jitter and its own incarnation number, so the inputs
//! are mixed through a full 64-bit finalizer: an affine formula such as
//! `node * k + seed` makes neighbouring runs share streams.

use quorate_core::NodeId;

/// SplitMix64's finalizer: a bijection on `u64` whose output bits each
/// depend on every input bit.
pub fn mix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The core seed of one incarnation of `node` in `group` of the run seeded
/// by `run_seed`: each input is folded in through [`mix64`], the running
/// value mixed before each input joins it, so the order of the inputs
/// matters (run 1 node 2 is not run 2 node 1).
pub fn node_seed(run_seed: u64, node: NodeId, group: u64, incarnation: u64) -> u64 {
    [node.get(), group, incarnation]
        .into_iter()
        .fold(mix64(run_seed), |acc, part| mix64(mix64(acc) ^ part))
}

/// The seeding mistake behind the `lockstep-jitter` planted bug: one seed
/// for every member and every restart.
pub fn lockstep_seed(run_seed: u64) -> u64 {
    mix64(run_seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_incarnation_of_every_member_gets_its_own_seed() {
        let mut seen = BTreeSet::new();
        for run in 0..20 {
            for node in 1..=8 {
                for incarnation in 0..8 {
                    let seed = node_seed(run, NodeId::new(node), 0, incarnation);
                    assert!(
                        seen.insert(seed),
                        "seed collision at {run}/{node}/{incarnation}"
                    );
                }
            }
        }
    }

    #[test]
    fn neighbouring_inputs_differ_in_about_half_the_bits() {
        let a = node_seed(7, NodeId::new(1), 0, 0);
        let b = node_seed(7, NodeId::new(2), 0, 0);
        let c = node_seed(8, NodeId::new(1), 0, 0);
        assert!((a ^ b).count_ones() > 16);
        assert!((a ^ c).count_ones() > 16);
    }
}
