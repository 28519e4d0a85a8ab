//! Corruption: bit flips and truncations at random offsets of every segment
//! (so in every record kind: entries, hard state, truncate, compact,
//! snapshot, checkpoint, relocation, seal, and the header), a torn last
//! record, a zeroed tail and a wrong header. Each must be detected: open
//! refuses with the damaged file named, or cuts a torn tail of the newest
//! segment; never is a damaged byte served.

mod common;

use common::*;
use quorate_core::GroupId;
use quorate_wal::{FaultFs, Wal, WalBatch, WalOpenError};
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SEGMENT_BYTES: u64 = 16 * 1024;

struct Fixture {
    fs: FaultFs,
    /// Model after each batch: `prefixes[k]` holds the first k batches.
    prefixes: Vec<Model>,
}

/// A log with every record kind across several segments, including a slow
/// group whose entries get relocated.
fn build() -> Fixture {
    let fs = FaultFs::new();
    let wal = Wal::open_with_fs(
        Arc::new(fs.clone()),
        Path::new("/wal"),
        options(SEGMENT_BYTES),
    )
    .expect("open");
    let mut rng = SeqRng(7);
    let mut model = Model::default();
    let mut prefixes = vec![model.normalized()];
    let slow = GroupId::new(50);
    let first = vec![entry(slow, 1, 1, 64), entry(slow, 2, 1, 64)];
    wal.write(to_batch(&[Op::Append(slow, first.clone())]))
        .expect("write");
    model.apply(&Op::Append(slow, first));
    prefixes.push(model.normalized());
    for _ in 0..160 {
        let mut ops = Vec::new();
        for _ in 0..3 {
            let op = random_op(&mut rng, &model, 4, 200);
            model.apply(&op);
            ops.push(op);
        }
        wal.write(to_batch(&ops)).expect("write");
        prefixes.push(model.normalized());
    }
    assert!(
        wal.stats().relocated_entries > 0,
        "fixture should relocate: {:?}",
        wal.stats()
    );
    drop(wal);
    Fixture { fs, prefixes }
}

fn segments(fs: &FaultFs) -> Vec<PathBuf> {
    fs.files()
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "wal"))
        .collect()
}

/// Opens a damaged copy and checks the outcome; returns true when the open
/// was refused.
fn check_outcome(fixture: &Fixture, fs: &FaultFs, damaged: &Path, what: &str) -> bool {
    match Wal::open_with_fs(
        Arc::new(fs.clone()),
        Path::new("/wal"),
        options(SEGMENT_BYTES),
    ) {
        Err(WalOpenError::Corrupt { file, .. }) => {
            assert!(file.starts_with("/wal"), "{what}: error names {file:?}");
            true
        }
        Err(other) => panic!("{what}: unexpected error {other}"),
        Ok(wal) => {
            let actual = read_back(&wal);
            let k = fixture.prefixes.iter().rposition(|p| *p == actual);
            let k = k.unwrap_or_else(|| {
                panic!("{what}: served a state that was never written ({damaged:?})")
            });
            let full = fixture.prefixes.len() - 1;
            if k < full {
                assert!(
                    wal.recovery_report().truncated_tail.is_some(),
                    "{what}: lost data silently"
                );
            }
            false
        }
    }
}

fn used_len(bytes: &[u8]) -> usize {
    bytes.iter().rposition(|&b| b != 0).map_or(0, |p| p + 1)
}

#[test]
fn bit_flips_anywhere_are_detected_and_never_served() {
    let fixture = build();
    let files = segments(&fixture.fs);
    assert!(
        files.len() >= 3,
        "fixture spans several segments: {files:?}"
    );
    let mut rng = SeqRng(11);
    let mut refused = 0;
    for trial in 0..600 {
        let file = &files[rng.below(files.len() as u64) as usize];
        let fs = fixture.fs.crash(0);
        let mut bytes = fs.file_bytes(file).expect("segment");
        let offset = rng.below(used_len(&bytes) as u64) as usize;
        bytes[offset] ^= 1 << rng.below(8);
        fs.set_file_bytes(file, bytes);
        let what = format!("trial {trial}: bit flip at {file:?}:{offset}");
        refused += usize::from(check_outcome(&fixture, &fs, file, &what));
    }
    assert!(
        refused > 300,
        "most flips must refuse to open ({refused}/600)"
    );
}

#[test]
fn truncation_at_any_offset_is_detected() {
    let fixture = build();
    let files = segments(&fixture.fs);
    let mut rng = SeqRng(12);
    for trial in 0..150 {
        let file = &files[rng.below(files.len() as u64) as usize];
        let fs = fixture.fs.crash(0);
        let mut bytes = fs.file_bytes(file).expect("segment");
        let cut = rng.below(used_len(&bytes) as u64) as usize;
        bytes.truncate(cut);
        fs.set_file_bytes(file, bytes);
        check_outcome(
            &fixture,
            &fs,
            file,
            &format!("trial {trial}: truncated {file:?} at {cut}"),
        );
    }
}

#[test]
fn torn_last_record_and_zeroed_tail_are_cut_with_a_report() {
    let fixture = build();
    let newest = segments(&fixture.fs).pop().expect("segments");
    let pristine = fixture.fs.file_bytes(&newest).expect("newest");
    let end = used_len(&pristine);
    for zeroed in [1usize, 7, 100, 400] {
        let fs = fixture.fs.crash(0);
        let mut bytes = pristine.clone();
        bytes[end.saturating_sub(zeroed)..end].fill(0);
        fs.set_file_bytes(&newest, bytes);
        let wal = Wal::open_with_fs(
            Arc::new(fs.clone()),
            Path::new("/wal"),
            options(SEGMENT_BYTES),
        )
        .expect("open");
        let actual = read_back(&wal);
        let k = fixture
            .prefixes
            .iter()
            .rposition(|p| *p == actual)
            .expect("a prefix");
        assert!(
            wal.recovery_report().truncated_tail.is_some(),
            "the cut is reported"
        );
        assert!(
            k >= fixture.prefixes.len() - 3,
            "only the torn batch is lost"
        );
        // The log keeps working after the cut.
        let mut batch = WalBatch::new();
        let g = GroupId::new(77);
        batch.append(g, &[entry(g, 1, 1, 10)]);
        wal.write(batch).expect("write after repairable tail");
        drop(wal);
        Wal::open_with_fs(
            Arc::new(fs.clone()),
            Path::new("/wal"),
            options(SEGMENT_BYTES),
        )
        .expect("reopen");
    }
}

#[test]
fn wrong_header_refuses_to_open() {
    let fixture = build();
    let first = segments(&fixture.fs).remove(0);
    let fs = fixture.fs.crash(0);
    let mut bytes = fs.file_bytes(&first).expect("segment");
    bytes[..8].copy_from_slice(b"NOTAWAL!");
    fs.set_file_bytes(&first, bytes);
    let result = Wal::open_with_fs(Arc::new(fs), Path::new("/wal"), options(SEGMENT_BYTES));
    assert!(
        matches!(result, Err(WalOpenError::Corrupt { offset: 0, .. })),
        "{result:?}"
    );
}

#[test]
fn repair_backs_up_then_cuts_at_the_damage() {
    let fixture = build();
    let files = segments(&fixture.fs);
    let fs = fixture.fs.crash(0);
    let middle = &files[files.len() / 2];
    let mut bytes = fs.file_bytes(middle).expect("segment");
    let offset = used_len(&bytes) / 2;
    bytes[offset] ^= 0x10;
    fs.set_file_bytes(middle, bytes);
    let open = || {
        Wal::open_with_fs(
            Arc::new(fs.clone()),
            Path::new("/wal"),
            options(SEGMENT_BYTES),
        )
    };
    assert!(matches!(open(), Err(WalOpenError::Corrupt { .. })));
    let report = Wal::repair_with_fs(
        Arc::new(fs.clone()),
        Path::new("/wal"),
        &options(SEGMENT_BYTES),
    );
    let report = report.expect("repairable");
    let backup = report.backup_dir.clone().expect("backed up");
    assert!(
        fs.files().iter().filter(|p| p.starts_with(&backup)).count() == files.len(),
        "{report:?}"
    );
    match open() {
        Ok(wal) => {
            let actual = read_back(&wal);
            assert!(
                fixture.prefixes.contains(&actual),
                "repaired log is a prefix"
            );
        }
        Err(error) => panic!("repaired log does not open: {error}"),
    }
}
