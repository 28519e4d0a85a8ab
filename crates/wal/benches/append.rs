//! Durable append throughput and latency of quorate-wal, side by side with
//! the machine's floor: raw sequential `pwrite` + `fdatasync` of the same
//! payload bytes per step on the same disk, into preallocated files.
//!
//! One *step* is what a runtime driver does per tick: every group submits a
//! batch of one entry, then the step waits for all acknowledgements. The
//! writer thread coalesces whatever is queued into one frame and one
//! `fdatasync` (group commit).
//!
//! Run: `cargo bench -p quorate-wal --bench append` (set
//! `QUORATE_WAL_BENCH_DIR` to benchmark another disk, `QUORATE_WAL_BENCH_SECS`
//! to change the time per case, default 2).
#![allow(clippy::disallowed_methods)] // A benchmark measures real time.

use bytes::Bytes;
use hdrhistogram::Histogram;
use quorate_core::{Entry, EntryKind, GroupId, Index, NodeId, Term};
use quorate_wal::{Wal, WalBatch, WalOptions};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const SEGMENT_BYTES: u64 = 64 << 20;

struct Result {
    steps: u64,
    payload_bytes: u64,
    elapsed: Duration,
    syncs: u64,
    latency_us: Histogram<u64>,
}

impl Result {
    fn mib_per_sec(&self) -> f64 {
        self.payload_bytes as f64 / (1 << 20) as f64 / self.elapsed.as_secs_f64()
    }
}

fn bench_dir() -> (Option<tempfile::TempDir>, PathBuf) {
    match std::env::var_os("QUORATE_WAL_BENCH_DIR") {
        Some(dir) => {
            let dir = tempfile::tempdir_in(dir).expect("bench dir");
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        }
        None => {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().to_path_buf();
            (Some(dir), path)
        }
    }
}

fn run_wal(dir: &Path, groups: u64, entry_bytes: usize, budget: Duration) -> Result {
    let mut options = WalOptions::new(NodeId::new(1), 1);
    options.segment_bytes = SEGMENT_BYTES;
    let wal = Wal::open(dir, options).expect("open");
    let data = Bytes::from(vec![0xA5u8; entry_bytes]);
    let mut latency_us = Histogram::<u64>::new(3).expect("histogram");
    let (sender, receiver) = mpsc::channel::<Instant>();
    let start = Instant::now();
    let mut steps = 0u64;
    while start.elapsed() < budget {
        let index = Index::new(steps + 1);
        for g in 0..groups {
            let mut batch = WalBatch::new();
            let entry = Entry {
                term: Term::new(1),
                index,
                kind: EntryKind::Normal,
                data: data.clone(),
            };
            batch.append(GroupId::new(g + 1), &[entry]);
            let sender = sender.clone();
            let submitted = Instant::now();
            wal.submit(batch, move |r| {
                r.expect("durable");
                let _ = sender.send(submitted);
            })
            .expect("submit");
        }
        for _ in 0..groups {
            let submitted = receiver.recv().expect("ack");
            let micros = submitted.elapsed().as_micros() as u64;
            latency_us.record(micros.max(1)).expect("record");
        }
        steps += 1;
    }
    let elapsed = start.elapsed();
    let syncs = wal.stats().syncs;
    Result {
        steps,
        payload_bytes: steps * groups * entry_bytes as u64,
        elapsed,
        syncs,
        latency_us,
    }
}

fn preallocate(file: &std::fs::File, len: u64) {
    // SAFETY: the descriptor is open; posix_fallocate reads only integers.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    assert!(rc == 0 || rc == libc::EOPNOTSUPP, "fallocate failed: {rc}");
    file.sync_all().expect("sync");
}

fn run_raw(dir: &Path, groups: u64, entry_bytes: usize, budget: Duration) -> Result {
    let step_bytes = vec![0xA5u8; groups as usize * entry_bytes];
    let mut latency_us = Histogram::<u64>::new(3).expect("histogram");
    let mut file_no = 0;
    let open = |n: u32| {
        let file = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(true)
            .open(dir.join(format!("raw-{n}")))
            .expect("raw file");
        preallocate(&file, SEGMENT_BYTES);
        file
    };
    let mut file = open(file_no);
    let mut offset = 0u64;
    let start = Instant::now();
    let mut steps = 0u64;
    let mut syncs = 0u64;
    while start.elapsed() < budget {
        if offset + step_bytes.len() as u64 > SEGMENT_BYTES {
            file_no += 1;
            file = open(file_no);
            offset = 0;
            syncs += 1;
        }
        let t = Instant::now();
        file.write_all_at(&step_bytes, offset).expect("write");
        file.sync_data().expect("fdatasync");
        latency_us
            .record((t.elapsed().as_micros() as u64).max(1))
            .expect("record");
        offset += step_bytes.len() as u64;
        steps += 1;
        syncs += 1;
    }
    let elapsed = start.elapsed();
    Result {
        steps,
        payload_bytes: steps * step_bytes.len() as u64,
        elapsed,
        syncs,
        latency_us,
    }
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let secs: u64 = std::env::var("QUORATE_WAL_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2);
    let budget = Duration::from_secs(secs);
    println!("| entry | groups | WAL MiB/s | raw MiB/s | ratio | WAL fsyncs/s | fsyncs/step | steps/s | WAL p50 µs | WAL p99 µs | raw p50 µs | raw p99 µs |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for entry_bytes in [64usize, 1024, 16 * 1024] {
        for groups in [1u64, 8, 64] {
            let (_wal_guard, wal_dir) = bench_dir();
            let wal = run_wal(&wal_dir, groups, entry_bytes, budget);
            drop(_wal_guard);
            let (_raw_guard, raw_dir) = bench_dir();
            let raw = run_raw(&raw_dir, groups, entry_bytes, budget);
            drop(_raw_guard);
            let secs = wal.elapsed.as_secs_f64();
            println!(
                "| {entry_bytes} B | {groups} | {:.1} | {:.1} | {:.0}% | {:.0} | {:.2} | {:.0} | {} | {} | {} | {} |",
                wal.mib_per_sec(),
                raw.mib_per_sec(),
                100.0 * wal.mib_per_sec() / raw.mib_per_sec(),
                wal.syncs as f64 / secs,
                wal.syncs as f64 / wal.steps as f64,
                wal.steps as f64 / secs,
                wal.latency_us.value_at_quantile(0.5),
                wal.latency_us.value_at_quantile(0.99),
                raw.latency_us.value_at_quantile(0.5),
                raw.latency_us.value_at_quantile(0.99),
            );
        }
    }
}
