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

#[derive(Default)]
struct Totals {
    steps: u64,
    payload_bytes: u64,
    elapsed: Duration,
    syncs: u64,
    latency_us: Option<Histogram<u64>>,
}

impl Totals {
    fn mib_per_sec(&self) -> f64 {
        self.payload_bytes as f64 / (1 << 20) as f64 / self.elapsed.as_secs_f64()
    }

    fn record(&mut self, micros: u64) {
        let histogram = self
            .latency_us
            .get_or_insert_with(|| Histogram::new(3).expect("histogram"));
        histogram.record(micros.max(1)).expect("record");
    }

    fn quantile(&self, q: f64) -> u64 {
        self.latency_us
            .as_ref()
            .map_or(0, |h| h.value_at_quantile(q))
    }
}

/// How a step reaches the WAL.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// One batch holding every group's entry (what the runtime's driver does).
    StepBatch,
    /// One batch per group, submitted back to back; the writer coalesces.
    BatchPerGroup,
}

struct WalCase {
    wal: Wal,
    next_index: u64,
}

fn open_wal(dir: &Path) -> WalCase {
    let mut options = WalOptions::new(NodeId::new(1), 1);
    options.segment_bytes = SEGMENT_BYTES;
    WalCase {
        wal: Wal::open(dir, options).expect("open"),
        next_index: 1,
    }
}

fn run_wal(
    case: &mut WalCase,
    mode: Mode,
    groups: u64,
    data: &Bytes,
    budget: Duration,
    totals: &mut Totals,
) {
    let (sender, receiver) = mpsc::channel::<Instant>();
    let syncs_before = case.wal.stats().syncs;
    let start = Instant::now();
    while start.elapsed() < budget {
        let index = Index::new(case.next_index);
        case.next_index += 1;
        let mut batch = WalBatch::new();
        let submitted = Instant::now();
        for g in 0..groups {
            let entry = Entry {
                term: Term::new(1),
                index,
                kind: EntryKind::Normal,
                data: data.clone(),
            };
            batch.append(GroupId::new(g + 1), &[entry]);
            if mode == Mode::BatchPerGroup || g + 1 == groups {
                let sender = sender.clone();
                let full = std::mem::take(&mut batch);
                case.wal
                    .submit(full, move |r| {
                        r.expect("durable");
                        let _ = sender.send(submitted);
                    })
                    .expect("submit");
            }
        }
        let acks = if mode == Mode::BatchPerGroup {
            groups
        } else {
            1
        };
        for _ in 0..acks {
            let submitted = receiver.recv().expect("ack");
            totals.record(submitted.elapsed().as_micros() as u64);
        }
        totals.steps += 1;
        totals.payload_bytes += groups * data.len() as u64;
    }
    totals.elapsed += start.elapsed();
    totals.syncs += case.wal.stats().syncs - syncs_before;
}

fn preallocate(file: &std::fs::File, len: u64) {
    // SAFETY: the descriptor is open; posix_fallocate reads only integers.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len as libc::off_t) };
    assert!(rc == 0 || rc == libc::EOPNOTSUPP, "fallocate failed: {rc}");
    file.sync_all().expect("sync");
}

struct RawCase {
    dir: PathBuf,
    file: std::fs::File,
    file_no: u32,
    offset: u64,
}

fn open_raw(dir: &Path, n: u32) -> std::fs::File {
    let path = dir.join(format!("raw-{n}"));
    let file = OpenOptions::new()
        .create(true)
        .read(true)
        .write(true)
        .truncate(true)
        .open(path)
        .expect("raw file");
    preallocate(&file, SEGMENT_BYTES);
    file
}

fn run_raw(case: &mut RawCase, step_bytes: &[u8], budget: Duration, totals: &mut Totals) {
    let start = Instant::now();
    while start.elapsed() < budget {
        if case.offset + step_bytes.len() as u64 > SEGMENT_BYTES {
            case.file_no += 1;
            case.file = open_raw(&case.dir, case.file_no);
            case.offset = 0;
            totals.syncs += 1;
        }
        let t = Instant::now();
        case.file
            .write_all_at(step_bytes, case.offset)
            .expect("write");
        case.file.sync_data().expect("fdatasync");
        totals.record(t.elapsed().as_micros() as u64);
        case.offset += step_bytes.len() as u64;
        totals.steps += 1;
        totals.syncs += 1;
        totals.payload_bytes += step_bytes.len() as u64;
    }
    totals.elapsed += start.elapsed();
}

/// A fresh directory on the benchmarked disk, removed when dropped.
fn bench_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = match std::env::var_os("QUORATE_WAL_BENCH_DIR") {
        Some(base) => tempfile::tempdir_in(base).expect("bench dir"),
        None => tempfile::tempdir().expect("tempdir"),
    };
    let path = dir.path().to_path_buf();
    (dir, path)
}

/// Alternates WAL and raw in short slices so both see the same disk weather.
fn run_case(mode: Mode, groups: u64, entry_bytes: usize, budget: Duration) -> (Totals, Totals) {
    let (_wal_guard, wal_dir) = bench_dir();
    let (_raw_guard, raw_dir) = bench_dir();
    let mut wal_case = open_wal(&wal_dir);
    let mut raw_case = RawCase {
        file: open_raw(&raw_dir, 0),
        dir: raw_dir,
        file_no: 0,
        offset: 0,
    };
    let data = Bytes::from(vec![0xA5u8; entry_bytes]);
    let step_bytes = vec![0xA5u8; groups as usize * entry_bytes];
    let (mut wal, mut raw) = (Totals::default(), Totals::default());
    let slices = 8;
    for _ in 0..slices {
        run_wal(
            &mut wal_case,
            mode,
            groups,
            &data,
            budget / slices,
            &mut wal,
        );
        run_raw(&mut raw_case, &step_bytes, budget / slices, &mut raw);
    }
    (wal, raw)
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
    for (mode, title) in [
        (
            Mode::StepBatch,
            "one batch per step holding every group (driver usage)",
        ),
        (
            Mode::BatchPerGroup,
            "one batch per group per step, coalesced by the writer",
        ),
    ] {
        println!("\n{title}\n");
        println!("| entry | groups | WAL MiB/s | raw MiB/s | ratio | WAL fsyncs/s | fsyncs/step | WAL p50 µs | WAL p99 µs | raw p50 µs | raw p99 µs |");
        println!("|---|---|---|---|---|---|---|---|---|---|---|");
        for entry_bytes in [64usize, 1024, 16 * 1024] {
            for groups in [1u64, 8, 64] {
                let (wal, raw) = run_case(mode, groups, entry_bytes, budget);
                println!(
                    "| {entry_bytes} B | {groups} | {:.1} | {:.1} | {:.0}% | {:.0} | {:.2} | {} | {} | {} | {} |",
                    wal.mib_per_sec(),
                    raw.mib_per_sec(),
                    100.0 * wal.mib_per_sec() / raw.mib_per_sec(),
                    wal.syncs as f64 / wal.elapsed.as_secs_f64(),
                    wal.syncs as f64 / wal.steps as f64,
                    wal.quantile(0.5),
                    wal.quantile(0.99),
                    raw.quantile(0.5),
                    raw.quantile(0.99),
                );
            }
        }
    }
}
