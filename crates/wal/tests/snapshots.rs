//! The per-group snapshot store: durable, checksummed, newest two kept.

mod common;

use common::*;
use quorate_core::{GroupId, Index, LogStore, Term};
use quorate_wal::{SnapshotError, Wal, WalBatch};

#[test]
fn newest_two_snapshots_are_kept_and_verified() {
    let dir = tempfile::tempdir().expect("tempdir");
    let wal = Wal::open(dir.path(), options(64 * 1024)).expect("open");
    let g = GroupId::new(3);
    let store = wal.snapshots(g);
    assert!(store.newest().expect("empty store").is_none());
    let mut written = Vec::new();
    for k in 1..=3u64 {
        let data = vec![k as u8; 100_000 * k as usize];
        written.push(
            store
                .write_bytes(&meta(Index::new(10 * k), Term::new(k)), &data)
                .expect("write"),
        );
    }
    let listed = store.list().expect("list");
    assert_eq!(listed, vec![written[2].clone(), written[1].clone()]);
    let (newest, data) = store.newest().expect("read").expect("present");
    assert_eq!(newest, written[2]);
    assert_eq!(data.len(), 300_000);
    assert!(data.iter().all(|&b| b == 3));
    // Damage the newest: it is refused and the older one is served.
    let path = store.dir().join(&newest.name);
    let mut bytes = std::fs::read(&path).expect("read file");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&path, bytes).expect("damage");
    assert!(matches!(
        store.read(&newest),
        Err(SnapshotError::Corrupt { .. })
    ));
    let (fallback, _) = store.newest().expect("read").expect("older one");
    assert_eq!(fallback, written[1]);
}

#[test]
fn installed_snapshot_file_is_recorded_in_the_log() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = GroupId::new(4);
    {
        let wal = Wal::open(dir.path(), options(64 * 1024)).expect("open");
        let mut batch = WalBatch::new();
        batch.append(g, &(1..=5).map(|i| entry(g, i, 1, 10)).collect::<Vec<_>>());
        wal.write(batch).expect("write");
        let file = wal
            .snapshots(g)
            .write_bytes(&meta(Index::new(20), Term::new(2)), b"state")
            .expect("snapshot");
        let mut batch = WalBatch::new();
        batch.install_snapshot_file(g, &file);
        wal.write(batch).expect("install");
    }
    let wal = Wal::open(dir.path(), options(64 * 1024)).expect("reopen");
    let log = wal.group_log(g);
    assert_eq!(log.first_index(), Index::new(21));
    assert_eq!(log.last_index(), Index::new(20));
    assert_eq!(log.term(Index::new(20)), Ok(Term::new(2)));
    let file_ref = log.snapshot_file().expect("file recorded");
    let (newest, data) = wal.snapshots(g).newest().expect("read").expect("present");
    assert_eq!(file_ref.name, newest.name);
    assert_eq!(file_ref.checksum, newest.checksum);
    assert_eq!(&data[..], b"state");
}
