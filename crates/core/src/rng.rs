//! A tiny seeded PRNG (SplitMix64). The core takes no global randomness:
//! election jitter comes from here, seeded through `Config::seed`, so a run
//! is a pure function of its inputs.

#[derive(Clone, Debug)]
pub(crate) struct Rng {
    state: u64,
}

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng { state: seed }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `lo..hi`; `hi > lo`.
    pub(crate) fn range(&mut self, lo: u32, hi: u32) -> u32 {
        assert!(hi > lo, "empty range {lo}..{hi}");
        lo + (self.next_u64() % u64::from(hi - lo)) as u32
    }
}
