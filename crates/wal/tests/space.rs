//! Space reclamation: compacted segments are deleted, and a slow group that
//! pins an old segment gets its few live entries relocated, so disk use
//! stays within 2 × live bytes + 4 × segment_bytes.

mod common;

use common::*;
use quorate_core::{GroupId, Index, LogStore, Term};
use quorate_wal::{FaultFs, Wal, WalBatch};
use std::path::Path;
use std::sync::Arc;

const SEGMENT_BYTES: u64 = 32 * 1024;

#[test]
fn slow_group_does_not_pin_old_segments() {
    let fs = FaultFs::new();
    let open = || {
        Wal::open_with_fs(
            Arc::new(fs.clone()),
            Path::new("/wal"),
            options(SEGMENT_BYTES),
        )
        .expect("open")
    };
    let wal = open();
    let slow = GroupId::new(99);
    let slow_entries: Vec<_> = (1..=3).map(|i| entry(slow, i, 1, 100)).collect();
    let mut batch = WalBatch::new();
    batch.append(slow, &slow_entries);
    wal.write(batch).expect("slow group writes once");
    let mut model = Model::default();
    model.apply(&Op::Append(slow, slow_entries));
    let busy: Vec<GroupId> = (1..=4).map(GroupId::new).collect();
    let mut live_max = 0u64;
    for round in 1..=600u64 {
        let mut ops = Vec::new();
        for &g in &busy {
            ops.push(Op::Append(g, vec![entry(g, round, 1, 500)]));
            if round % 10 == 0 {
                ops.push(Op::Compact(g, meta(Index::new(round - 5), Term::new(1))));
            }
        }
        ops.iter().for_each(|op| model.apply(op));
        wal.write(to_batch(&ops)).expect("write");
        let live: u64 = model
            .groups
            .values()
            .flat_map(|m| &m.entries)
            .map(|e| e.data.len() as u64 + 24)
            .sum();
        live_max = live_max.max(live);
        let bound = 2 * live + 4 * SEGMENT_BYTES + SEGMENT_BYTES / 2;
        assert!(
            fs.used_bytes() <= bound,
            "round {round}: {} bytes on disk > bound {bound}; {:?} {:?}",
            fs.used_bytes(),
            wal.stats(),
            fs.files()
                .iter()
                .map(|p| fs.file_bytes(p).map(|b| b.len()))
                .collect::<Vec<_>>()
        );
    }
    assert_matches(&wal, &model);
    let stats = wal.stats();
    assert!(
        stats.relocated_entries >= 3,
        "the slow group's entries were never relocated: {stats:?}"
    );
    assert!(
        stats.segments_deleted > 10,
        "segments were not reclaimed: {stats:?}"
    );
    assert_matches(&wal, &model);
    drop(wal);
    let wal = open();
    assert_matches(&wal, &model);
    assert_eq!(
        wal.group_log(slow)
            .entries(Index::new(1), Index::new(4), u64::MAX)
            .expect("slow entries")
            .len(),
        3
    );
}
