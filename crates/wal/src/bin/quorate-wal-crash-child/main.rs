//! Crash-harness child: opens the WAL in the given directory, then writes
//! random batches forever, several in flight at once, printing each batch
//! (`B <k> <ops>`) before submitting it and `A <k>` once it is durable. The
//! parent kills it with SIGKILL at a random moment and checks the log.
//!
//! Usage: `quorate-wal-crash-child <dir> <seed>`.

mod workload;

use quorate_core::{LogStore, NodeId};
use quorate_wal::{Wal, WalBatch, WalOptions};
use std::io::Write;
use std::sync::mpsc;
use workload::{apply, random_op, Group, Model, Rng};

/// Groups written by the harness.
pub const GROUPS: u64 = 8;
/// Batches submitted but not yet acknowledged, at most.
const INFLIGHT_MAX: usize = 8;
/// Small segments so rotation, deletion and relocation happen often.
pub const SEGMENT_BYTES: u64 = 256 * 1024;

fn load(wal: &Wal) -> Model {
    let mut model = Model::new();
    for group in wal.groups() {
        let log = wal.group_log(group);
        let snapshot = log.snapshot_meta().last;
        let mut entries = Vec::new();
        let mut lo = log.first_index();
        while lo <= log.last_index() {
            let chunk = log
                .entries(lo, log.last_index().next(), u64::MAX)
                .expect("readable");
            lo = lo.plus(chunk.len() as u64);
            entries.extend(chunk.iter().map(|e| (e.term.get(), e.data.len() as u64)));
        }
        let hs = log.hard_state();
        let state = Group {
            snapshot: (snapshot.index.get(), snapshot.term.get()),
            entries,
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

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .expect("usage: quorate-wal-crash-child <dir> <seed>");
    let seed: u64 = args.next().and_then(|s| s.parse().ok()).expect("seed");
    let mut options = WalOptions::new(NodeId::new(1), 7);
    options.segment_bytes = SEGMENT_BYTES;
    let wal = Wal::open(&dir, options).expect("the WAL opens");
    let mut model = load(&wal);
    let mut rng = Rng(seed);
    let (ack_sender, acks) = mpsc::channel::<u64>();
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut inflight = 0usize;
    for k in 1u64.. {
        while inflight >= INFLIGHT_MAX {
            let acked = acks.recv().expect("writer alive");
            writeln!(out, "A {acked}").expect("stdout");
            inflight -= 1;
        }
        while let Ok(acked) = acks.try_recv() {
            writeln!(out, "A {acked}").expect("stdout");
            inflight -= 1;
        }
        let ops: Vec<_> = (0..1 + rng.below(4))
            .map(|_| {
                let op = random_op(&mut rng, &model, GROUPS);
                apply(&mut model, &op);
                op
            })
            .collect();
        let text: Vec<String> = ops.iter().map(|op| op.encode()).collect();
        writeln!(out, "B {k} {}", text.join(";")).expect("stdout");
        out.flush().expect("stdout");
        let mut batch = WalBatch::new();
        ops.iter().for_each(|op| op.add_to(&mut batch));
        let sender = ack_sender.clone();
        wal.submit(batch, move |result| {
            result.expect("batch durable");
            let _ = sender.send(k);
        })
        .expect("batch accepted");
        inflight += 1;
    }
}
