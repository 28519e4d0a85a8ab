//! Round trips through the public API on a real directory.

mod common;

use common::*;
use quorate_core::{GroupId, HardState, Index, LogStore, NodeId, StorageError, Term};
use quorate_wal::{BatchError, Wal, WalBatch, WalOpenError, WalWriteError};

fn g(n: u64) -> GroupId {
    GroupId::new(n)
}

#[test]
fn appended_entries_are_readable_and_survive_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = Model::default();
    {
        let wal = Wal::open(dir.path(), options(64 * 1024)).expect("open");
        let ops = vec![
            Op::Append(g(1), (1..=5).map(|i| entry(g(1), i, 1, 100)).collect()),
            Op::Append(g(2), (1..=3).map(|i| entry(g(2), i, 2, 10)).collect()),
            Op::HardState(
                g(1),
                HardState {
                    current_term: Term::new(1),
                    voted_for: NodeId::new(1),
                    commit_index: Index::new(3),
                },
            ),
        ];
        wal.write(to_batch(&ops)).expect("write");
        ops.iter().for_each(|op| model.apply(op));
        assert_matches(&wal, &model);
    }
    let wal = Wal::open(dir.path(), options(64 * 1024)).expect("reopen");
    assert_matches(&wal, &model);
    assert_eq!(wal.groups(), vec![g(1), g(2)]);
}

#[test]
fn log_store_reports_compacted_and_unavailable_like_mem_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = Wal::open(dir.path(), options(64 * 1024)).expect("open");
    let mut batch = WalBatch::new();
    batch.append(
        g(1),
        &(1..=10).map(|i| entry(g(1), i, 1, 8)).collect::<Vec<_>>(),
    );
    batch.compact(g(1), meta(Index::new(4), Term::new(1)));
    wal.write(batch).expect("write");
    let log = wal.group_log(g(1));
    assert_eq!(log.first_index(), Index::new(5));
    assert_eq!(log.last_index(), Index::new(10));
    assert_eq!(log.term(Index::new(4)), Ok(Term::new(1)));
    assert_eq!(
        log.term(Index::new(3)),
        Err(StorageError::Compacted {
            index: Index::new(3)
        })
    );
    assert_eq!(
        log.term(Index::new(11)),
        Err(StorageError::Unavailable {
            index: Index::new(11)
        })
    );
    assert_eq!(
        log.entries(Index::new(4), Index::new(6), 100),
        Err(StorageError::Compacted {
            index: Index::new(4)
        })
    );
    assert_eq!(
        log.entries(Index::new(5), Index::new(12), 100),
        Err(StorageError::Unavailable {
            index: Index::new(11)
        })
    );
    // max_bytes: at least one entry, then stop once exceeded (8 + 24 bytes each).
    assert_eq!(
        log.entries(Index::new(5), Index::new(11), 0)
            .expect("one")
            .len(),
        1
    );
    assert_eq!(
        log.entries(Index::new(5), Index::new(11), 64)
            .expect("two")
            .len(),
        2
    );
    assert_eq!(
        log.entries(Index::new(5), Index::new(5), 64)
            .expect("empty")
            .len(),
        0
    );
}

#[test]
fn invalid_batches_are_refused_before_writing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = Wal::open(dir.path(), options(64 * 1024)).expect("open");
    let mut gap = WalBatch::new();
    gap.append(g(1), &[entry(g(1), 3, 1, 1)]);
    assert!(matches!(
        wal.write(gap),
        Err(WalWriteError::InvalidBatch(BatchError::Gap { .. }))
    ));
    let mut ok = WalBatch::new();
    ok.append(
        g(1),
        &(1..=4).map(|i| entry(g(1), i, 1, 1)).collect::<Vec<_>>(),
    );
    ok.hard_state(
        g(1),
        HardState {
            current_term: Term::new(1),
            voted_for: NodeId::new(2),
            commit_index: Index::new(3),
        },
    );
    wal.write(ok).expect("valid batch");
    let mut committed = WalBatch::new();
    committed.truncate_suffix(g(1), Index::new(3));
    assert!(matches!(
        wal.write(committed),
        Err(WalWriteError::InvalidBatch(
            BatchError::TruncateCommitted { .. }
        ))
    ));
    let mut double_vote = WalBatch::new();
    double_vote.hard_state(
        g(1),
        HardState {
            current_term: Term::new(1),
            voted_for: NodeId::new(3),
            commit_index: Index::new(3),
        },
    );
    assert!(matches!(
        wal.write(double_vote),
        Err(WalWriteError::InvalidBatch(
            BatchError::HardStateRegressed { .. }
        ))
    ));
    let mut too_big = WalBatch::new();
    too_big.append(g(1), &[entry(g(1), 5, 1, 40 * 1024)]);
    assert!(matches!(
        wal.write(too_big),
        Err(WalWriteError::BatchTooLarge { .. })
    ));
    assert_eq!(wal.group_log(g(1)).last_index(), Index::new(4));
}

#[test]
fn a_second_open_of_the_same_directory_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _wal = Wal::open(dir.path(), options(64 * 1024)).expect("open");
    assert!(matches!(
        Wal::open(dir.path(), options(64 * 1024)),
        Err(WalOpenError::Locked { .. })
    ));
}

#[test]
fn node_or_cluster_id_mismatch_refuses_to_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    drop(Wal::open(dir.path(), options(64 * 1024)).expect("open"));
    let mut other_node = options(64 * 1024);
    other_node.node_id = NodeId::new(2);
    assert!(matches!(
        Wal::open(dir.path(), other_node),
        Err(WalOpenError::NodeIdMismatch { .. })
    ));
    let mut other_cluster = options(64 * 1024);
    other_cluster.cluster_id = 7;
    assert!(matches!(
        Wal::open(dir.path(), other_cluster),
        Err(WalOpenError::ClusterIdMismatch { .. })
    ));
}

#[test]
fn submit_callbacks_fire_in_order_with_group_commit() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = Wal::open(dir.path(), options(1 << 20)).expect("open");
    let (sender, receiver) = std::sync::mpsc::channel();
    for k in 0..200u64 {
        let group = g(1 + k % 8);
        let index = 1 + k / 8;
        let mut batch = WalBatch::new();
        batch.append(group, &[entry(group, index, 1, 64)]);
        let sender = sender.clone();
        wal.submit(batch, move |result| {
            sender.send((k, result.is_ok())).expect("send")
        })
        .expect("submit");
    }
    let acks: Vec<(u64, bool)> = (0..200).map(|_| receiver.recv().expect("ack")).collect();
    assert!(acks.iter().all(|(_, ok)| *ok));
    assert_eq!(
        acks.iter().map(|(k, _)| *k).collect::<Vec<_>>(),
        (0..200).collect::<Vec<_>>()
    );
    let stats = wal.stats();
    assert_eq!(stats.batches, 200);
    assert!(
        stats.frames <= 200,
        "group commit never merges more than it gets"
    );
}
