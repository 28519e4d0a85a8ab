//! Property tests: random appends, truncations, compactions, snapshot
//! installs, hard states, clean reopens and simulated power losses across
//! many groups, checked against an in-memory model after every step.
//! Tiny segments make rotation, segment deletion and relocation frequent.

mod common;

use common::*;
use proptest::prelude::*;
use quorate_wal::{FaultFs, Wal};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

const GROUPS: u64 = 6;
const SEGMENT_BYTES: u64 = 16384;

fn open(fs: &FaultFs) -> Wal {
    Wal::open_with_fs(
        Arc::new(fs.clone()),
        Path::new("/wal"),
        options(SEGMENT_BYTES),
    )
    .expect("open")
}

/// A batch of 1..=4 operations valid against `model` (applied to it).
fn random_batch(rng: &mut SeqRng, model: &mut Model) -> Vec<Op> {
    let count = 1 + rng.below(4);
    let mut ops = Vec::new();
    for _ in 0..count {
        let op = random_op(rng, model, GROUPS, 200);
        model.apply(&op);
        ops.push(op);
    }
    ops
}

fn run_sequential(seed: u64, steps: usize) {
    let mut fs = FaultFs::new();
    let mut rng = SeqRng(seed);
    let mut model = Model::default();
    let mut wal = open(&fs);
    for _ in 0..steps {
        match rng.below(40) {
            0 => {
                drop(wal);
                wal = open(&fs);
                assert_matches(&wal, &model);
            }
            1 => {
                // Power loss while the writer may be deleting or relocating.
                let crashed = fs.crash(rng.next());
                drop(wal);
                fs = crashed;
                wal = open(&fs);
                assert_matches(&wal, &model);
            }
            _ => {
                let ops = random_batch(&mut rng, &mut model);
                wal.write(to_batch(&ops)).expect("valid batch is written");
                if rng.below(8) == 0 {
                    assert_matches(&wal, &model);
                }
            }
        }
    }
    assert_matches(&wal, &model);
    eprintln!(
        "seed {seed}: {:?}, {} bytes on disk",
        wal.stats(),
        fs.used_bytes()
    );
    // Space stays bounded: live bytes here are tiny, so only a few segments.
    let segments = fs
        .files()
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .count();
    assert!(segments <= 8, "{segments} segments for a small live set");
}

/// Batches in flight when power fails: the recovered log must equal the
/// model after some prefix of the batches that includes every acknowledged
/// one.
fn run_crash_in_flight(seed: u64, batches: usize) {
    let fs = FaultFs::new();
    let mut rng = SeqRng(seed);
    let mut model = Model::default();
    let mut prefixes = vec![model.normalized()];
    let wal = open(&fs);
    let acked = Arc::new(AtomicU64::new(0));
    let crash_after = rng.below(batches as u64);
    let mut crashed = None;
    for k in 0..batches {
        let ops = random_batch(&mut rng, &mut model);
        prefixes.push(model.normalized());
        let counter = Arc::clone(&acked);
        wal.submit(to_batch(&ops), move |r| {
            assert!(r.is_ok());
            counter.fetch_add(1, Ordering::SeqCst);
        })
        .expect("submit");
        if k as u64 == crash_after {
            let durable = acked.load(Ordering::SeqCst) as usize;
            crashed = Some((fs.crash(rng.next()), durable));
        }
    }
    drop(wal);
    let (crashed, durable) = crashed.expect("crash point reached");
    let wal = open(&crashed);
    let actual = read_back(&wal);
    // A batch can leave the state unchanged (say, a repeated hard state), so
    // take the longest matching prefix.
    let found = prefixes.iter().rposition(|p| *p == actual);
    let found = found.unwrap_or_else(|| panic!("recovered state matches no prefix (seed {seed})"));
    assert!(
        found >= durable,
        "acknowledged batch lost: recovered prefix {found} < acknowledged {durable} (seed {seed})"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn wal_matches_model_across_reopens_and_power_loss(seed in any::<u64>(), steps in 100usize..300) {
        run_sequential(seed, steps);
    }

    #[test]
    fn power_loss_with_batches_in_flight_keeps_every_acknowledged_batch(seed in any::<u64>(), batches in 5usize..60) {
        run_crash_in_flight(seed, batches);
    }
}

#[test]
fn long_sequential_run_exercises_rotation_and_relocation() {
    run_sequential(0xC0FFEE, 1500);
}
