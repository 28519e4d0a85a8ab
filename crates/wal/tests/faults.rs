//! The fault-injecting file layer: short writes are completed, a full disk
//! is a typed error that leaves the log readable and usable once space is
//! back, and a failed write or fsync aborts the process (no retry after EIO).

mod common;

use common::*;
use quorate_core::GroupId;
use quorate_wal::{FaultFs, FaultKind, Wal, WalOpenError, WalWriteError};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const SEGMENT_BYTES: u64 = 16 * 1024;

fn open(fs: &FaultFs) -> Result<Wal, WalOpenError> {
    Wal::open_with_fs(
        Arc::new(fs.clone()),
        Path::new("/wal"),
        options(SEGMENT_BYTES),
    )
}

fn batch_ops(rng: &mut SeqRng, model: &Model) -> (Vec<Op>, Model) {
    let mut next = model.clone();
    let mut ops = Vec::new();
    for _ in 0..3 {
        let op = random_op(rng, &next, 4, 300);
        next.apply(&op);
        ops.push(op);
    }
    (ops, next)
}

#[test]
fn short_writes_are_completed_transparently() {
    let fs = FaultFs::new();
    fs.set_short_writes(true);
    let wal = open(&fs).expect("open");
    let mut rng = SeqRng(3);
    let mut model = Model::default();
    for _ in 0..200 {
        let (ops, next) = batch_ops(&mut rng, &model);
        wal.write(to_batch(&ops)).expect("write");
        model = next;
    }
    drop(wal);
    fs.clear_faults();
    assert_matches(&open(&fs).expect("reopen"), &model);
}

#[test]
fn disk_full_is_a_typed_error_and_the_log_stays_readable() {
    for failing_write in [FaultKindCase::Space, FaultKindCase::WriteError] {
        let fs = FaultFs::new();
        let wal = open(&fs).expect("open");
        let mut rng = SeqRng(5);
        let mut model = Model::default();
        match failing_write {
            FaultKindCase::Space => fs.set_space_limit(Some(fs.used_bytes() + SEGMENT_BYTES / 2)),
            FaultKindCase::WriteError => fs.fail_writes_after(40, FaultKind::Enospc),
        }
        let mut refused = 0;
        for _ in 0..300 {
            let (ops, next) = batch_ops(&mut rng, &model);
            match wal.write(to_batch(&ops)) {
                Ok(()) => model = next,
                Err(WalWriteError::DiskFull { .. }) => refused += 1,
                Err(other) => panic!("unexpected error {other}"),
            }
        }
        assert!(refused > 0, "the disk never filled");
        assert_matches(&wal, &model);
        fs.clear_faults();
        for _ in 0..50 {
            let (ops, next) = batch_ops(&mut rng, &model);
            wal.write(to_batch(&ops)).expect("write once space is back");
            model = next;
        }
        drop(wal);
        assert_matches(&open(&fs).expect("reopen"), &model);
    }
}

/// With `disk_full_retry`, a full disk holds batches unacknowledged (the
/// node stops acknowledging what it cannot persist) and the WAL resumes by
/// itself once space is freed, losing nothing.
#[test]
fn disk_full_with_retry_holds_batches_until_space_returns() {
    let fs = FaultFs::new();
    let mut wal_options = options(SEGMENT_BYTES);
    wal_options.disk_full_retry = Some(std::time::Duration::from_millis(2));
    let wal =
        Wal::open_with_fs(Arc::new(fs.clone()), Path::new("/wal"), wal_options).expect("open");
    fs.set_space_limit(Some(fs.used_bytes() + SEGMENT_BYTES / 2));
    let (tx, rx) = std::sync::mpsc::channel();
    let mut rng = SeqRng(11);
    let mut model = Model::default();
    let mut held = None;
    for _ in 0..300 {
        let (ops, next) = batch_ops(&mut rng, &model);
        let tx = tx.clone();
        wal.submit(to_batch(&ops), move |result| {
            let _ = tx.send(result.is_ok());
        })
        .expect("submit");
        let acked = loop {
            match rx.recv_timeout(std::time::Duration::from_millis(1)) {
                Ok(ok) => break ok,
                Err(_) if wal.disk_full() => break false,
                Err(_) => {}
            }
        };
        if !acked {
            held = Some(next);
            break;
        }
        model = next;
    }
    let next = held.expect("the disk filled");
    assert!(wal.disk_full());
    assert_matches(&wal, &model);
    assert!(
        rx.recv_timeout(std::time::Duration::from_millis(50))
            .is_err(),
        "nothing is acknowledged while the disk is full"
    );
    fs.clear_faults();
    assert_eq!(
        rx.recv().ok(),
        Some(true),
        "acknowledged once space is back"
    );
    assert!(!wal.disk_full());
    assert_matches(&wal, &next);
    drop(wal);
    assert_matches(&open(&fs).expect("reopen"), &next);
}

#[derive(Clone, Copy)]
enum FaultKindCase {
    Space,
    WriteError,
}

#[test]
fn disk_full_at_open_is_a_typed_error() {
    let fs = FaultFs::new();
    fs.set_space_limit(Some(1024));
    let error = open(&fs).expect_err("no room for a segment");
    assert!(
        matches!(error, WalOpenError::DiskFull { needed, .. } if needed == SEGMENT_BYTES),
        "{error}"
    );
    assert!(error.to_string().contains("--wal-segment-bytes"), "{error}");
}

/// Runs `case` in a child process (this test binary re-run with an
/// environment variable) and checks it aborted with the fatal message.
fn assert_aborts(test_name: &str, case: &str) {
    let exe = std::env::current_exe().expect("test binary path");
    let output = Command::new(exe)
        .args(["--exact", test_name, "--nocapture", "--test-threads=1"])
        .env("QUORATE_WAL_ABORT_CASE", case)
        .output()
        .expect("spawn child");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        output.status.signal(),
        Some(libc_sigabrt()),
        "child did not abort: {stderr}"
    );
    assert!(
        stderr.contains("quorate-wal: FATAL"),
        "no fatal message: {stderr}"
    );
}

fn libc_sigabrt() -> i32 {
    6
}

/// In the child: write until the injected EIO hits; never returns.
fn run_abort_case(case: &str) {
    let fs = FaultFs::new();
    let wal = open(&fs).expect("open");
    match case {
        "write" => fs.fail_writes_after(3, FaultKind::Eio),
        _ => fs.fail_syncs_after(3),
    }
    let g = GroupId::new(1);
    for index in 1..100 {
        let _ = wal.write(to_batch(&[Op::Append(g, vec![entry(g, index, 1, 10)])]));
    }
    panic!("the injected {case} error did not abort");
}

#[test]
fn failed_write_aborts_the_process() {
    match std::env::var("QUORATE_WAL_ABORT_CASE") {
        Ok(case) => run_abort_case(&case),
        Err(_) => assert_aborts("failed_write_aborts_the_process", "write"),
    }
}

#[test]
fn failed_fsync_aborts_the_process() {
    match std::env::var("QUORATE_WAL_ABORT_CASE") {
        Ok(case) => run_abort_case(&case),
        Err(_) => assert_aborts("failed_fsync_aborts_the_process", "fsync"),
    }
}
