//! Crash harness: a child process appends batches and prints each one
//! before submitting it and again once it is durable; the parent kills it
//! with SIGKILL at a random moment, reopens the log, and checks that it
//! equals the model after some prefix of the printed batches that includes
//! every acknowledged one, with every payload byte as written.
//!
//! Short mode (default, runs in `cargo test`): 6 cycles. Full mode:
//! `QUORATE_WAL_CRASH_CYCLES=200 cargo test --release -p quorate-wal --test crash -- --nocapture`

#[path = "../src/bin/quorate-wal-crash-child/workload.rs"]
mod workload;

use quorate_core::{LogStore, NodeId};
use quorate_wal::{Wal, WalOptions};
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::Duration;
use workload::{apply, entry, Group, Model, Op, Rng};

const SHORT_CYCLES: u64 = 6;

/// Reads the log back, checking every payload against its generator.
fn load_verified(wal: &Wal) -> Model {
    let mut model = Model::new();
    for group in wal.groups() {
        let log = wal.group_log(group);
        let snapshot = log.snapshot_meta().last;
        let entries = log
            .entries(log.first_index(), log.last_index().next(), u64::MAX)
            .expect("entries readable");
        for e in &entries {
            let expected = entry(
                group.get(),
                e.index.get(),
                e.term.get(),
                e.data.len() as u64,
            );
            assert_eq!(
                e.data, expected.data,
                "{group} entry {} holds bytes never written",
                e.index
            );
        }
        let hs = log.hard_state();
        let state = Group {
            snapshot: (snapshot.index.get(), snapshot.term.get()),
            entries: entries
                .iter()
                .map(|e| (e.term.get(), e.data.len() as u64))
                .collect(),
            hard_state: (
                hs.current_term.get(),
                hs.voted_for.get(),
                hs.commit_index.get(),
            ),
        };
        model.insert(group.get(), state);
    }
    model
}

fn normalized(model: &Model) -> Model {
    model
        .iter()
        .filter(|(_, g)| !g.is_empty())
        .map(|(k, g)| (*k, g.clone()))
        .collect()
}

fn options() -> WalOptions {
    let mut options = WalOptions::new(NodeId::new(1), 7);
    options.segment_bytes = 256 * 1024;
    options
}

/// Batches printed (in order) and the highest acknowledged batch number.
fn parse(output: &str) -> (Vec<Vec<Op>>, u64) {
    let mut batches = Vec::new();
    let mut acked = 0;
    // A SIGKILL can cut the last line short; only complete lines count.
    let complete = output.rfind('\n').map_or("", |end| &output[..end]);
    for line in complete.lines() {
        if let Some(rest) = line.strip_prefix("B ") {
            let (k, ops) = rest.split_once(' ').expect("batch line");
            assert_eq!(k.parse::<usize>().expect("batch number"), batches.len() + 1);
            batches.push(Op::decode_all(ops).expect("well-formed batch"));
        } else if let Some(k) = line.strip_prefix("A ") {
            let k: u64 = k.parse().expect("ack number");
            assert_eq!(k, acked + 1, "acknowledgements arrive in order");
            acked = k;
        }
    }
    (batches, acked)
}

/// One cycle: run the child, kill it, check the log. Returns the batches
/// acknowledged in this cycle.
#[allow(clippy::disallowed_methods)] // A real child process needs real time to run before the kill.
fn cycle(dir: &std::path::Path, seed: u64, model: &mut Model, rng: &mut Rng) -> u64 {
    let mut child = Command::new(env!("CARGO_BIN_EXE_quorate-wal-crash-child"))
        .arg(dir)
        .arg(seed.to_string())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let mut stdout = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut output = String::new();
        stdout
            .read_to_string(&mut output)
            .expect("read child output");
        output
    });
    std::thread::sleep(Duration::from_millis(5 + rng.below(120)));
    child.kill().expect("SIGKILL the child");
    let status = child.wait().expect("reap child");
    assert!(!status.success(), "the child exited by itself: {status}");
    let output = reader.join().expect("reader thread");
    let (batches, acked) = parse(&output);
    let wal =
        Wal::open(dir, options()).unwrap_or_else(|e| panic!("seed {seed}: reopen failed: {e}"));
    let recovered = load_verified(&wal);
    let mut prefix = model.clone();
    let mut matched = (normalized(&prefix) == recovered).then_some(0);
    for (k, ops) in batches.iter().enumerate() {
        ops.iter().for_each(|op| apply(&mut prefix, op));
        if normalized(&prefix) == recovered {
            matched = Some(k as u64 + 1);
        }
    }
    let matched = matched
        .unwrap_or_else(|| panic!("seed {seed}: recovered log matches no prefix of the batches"));
    assert!(
        matched >= acked,
        "seed {seed}: acknowledged batch lost ({matched} < {acked})"
    );
    *model = recovered;
    acked
}

#[test]
fn sigkill_never_loses_an_acknowledged_batch_nor_serves_corruption() {
    let cycles = std::env::var("QUORATE_WAL_CRASH_CYCLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SHORT_CYCLES);
    let dir = tempfile::tempdir().expect("tempdir");
    let mut model = Model::new();
    let mut rng = Rng(0x5EED);
    let mut acked_total = 0;
    for seed in 0..cycles {
        acked_total += cycle(dir.path(), seed, &mut model, &mut rng);
    }
    let entries: usize = model.values().map(|g| g.entries.len()).sum();
    eprintln!(
        "crash harness: {cycles} SIGKILL cycles, {acked_total} acknowledged batches, 0 lost, 0 corrupt; {} groups, {entries} live entries at the end",
        model.len()
    );
}
