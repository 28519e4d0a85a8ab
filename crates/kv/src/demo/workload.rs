//! The demo's clients: each sends a random mix of puts, deletes,
//! compare-and-sets and linearizable reads over a few keys, one request
//! at a time, and records every request and answer.
//!
//! Every written value is unique (one shared counter), so a read names the
//! write it saw and the checker can tell a stale read from a fresh one.
//! Keys `demo/k1`..`demo/k5` are keys 1..5 of the checked history.

use super::recorder::{classify, Recorder};
use super::stats::Latencies;
use axum::http::{Method, StatusCode};
use bytes::Bytes;
use quorate_check::history::{Op, Output, Value};
use quorate_kv::api::{Blob, CompareJson, CompareOpJson, OpJson, TxnRequestJson, TxnResult};
use quorate_kv::cli::{Client, ClientError, ClientRequest};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use tokio::time::Instant;

/// Keys the workload touches. Few keys make clients collide often, which
/// is where a consistency bug would show.
pub const KEY_COUNT: u64 = 5;

/// The service key of history key `key`.
pub fn key_name(key: u64) -> String {
    format!("demo/k{key}")
}

/// What every client shares.
#[derive(Clone, Debug)]
pub struct Shared {
    pub recorder: Arc<Recorder>,
    /// Source of unique written values.
    pub next_value: Arc<AtomicU64>,
    /// Set when clients should stop after their current request.
    pub stop: Arc<AtomicBool>,
    /// Requests finished (any outcome), for the progress bar.
    pub finished: Arc<AtomicU64>,
}

impl Shared {
    pub fn new(recorder: Arc<Recorder>) -> Shared {
        Shared {
            recorder,
            next_value: Arc::new(AtomicU64::new(1)),
            stop: Arc::new(AtomicBool::new(false)),
            finished: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// What one client saw.
#[derive(Debug)]
pub struct ClientTally {
    pub completed: u64,
    pub failed: u64,
    pub indeterminate: u64,
    pub latencies: Latencies,
}

/// A small xorshift generator, seeded per client: the demo needs variety,
/// not statistical quality, and no extra dependency.
#[derive(Clone, Copy, Debug)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Runs client `client_id` until `shared.stop` is set.
pub async fn run_client(client_id: u64, client: Client, shared: Shared) -> ClientTally {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ client_id.wrapping_mul(0x2545_f491));
    let mut last_seen: [Option<Value>; KEY_COUNT as usize] = [None; KEY_COUNT as usize];
    let mut tally = ClientTally {
        completed: 0,
        failed: 0,
        indeterminate: 0,
        latencies: Latencies::new(),
    };
    while !shared.stop.load(Ordering::Relaxed) {
        let op = next_op(&mut rng, &last_seen, &shared.next_value);
        let id = shared.recorder.invoke(client_id, op);
        let started = Instant::now();
        let answer = execute(&client, op).await;
        match answer {
            Ok(output) => {
                shared.recorder.complete(id, output);
                tally.completed += 1;
                tally.latencies.record(op.is_read_only(), started.elapsed());
                remember(&mut last_seen, op, output);
            }
            Err(error) => {
                let failure = classify(&op, &error);
                shared.recorder.fail(id, failure);
                match failure {
                    super::recorder::Failure::Indeterminate => tally.indeterminate += 1,
                    super::recorder::Failure::NotApplied => tally.failed += 1,
                }
            }
        }
        shared.finished.fetch_add(1, Ordering::Relaxed);
    }
    tally
}

/// Picks the next request: 30% put, 10% delete, 20% compare-and-set, 40%
/// linearizable read.
fn next_op(rng: &mut Rng, last_seen: &[Option<Value>], next_value: &AtomicU64) -> Op {
    let key = rng.next() % KEY_COUNT + 1;
    let fresh = || next_value.fetch_add(1, Ordering::Relaxed);
    match rng.next() % 100 {
        0..30 => Op::Put {
            key,
            value: fresh(),
        },
        30..40 => Op::Delete { key },
        40..60 => Op::Cas {
            key,
            expected: last_seen[slot(key)],
            new: Some(fresh()),
        },
        _ => Op::Get { key },
    }
}

fn slot(key: u64) -> usize {
    usize::try_from(key - 1).unwrap_or(0)
}

/// Keeps the value this client last saw on a key, the expected value of
/// its next compare-and-set there.
fn remember(last_seen: &mut [Option<Value>], op: Op, output: Output) {
    let seen = match (op, output) {
        (Op::Put { value, .. }, _) => Some(value),
        (Op::Delete { .. }, _) => None,
        (Op::Cas { new, .. }, Output::Swapped(true)) => new,
        (Op::Get { .. }, Output::Read(value)) => value,
        _ => return,
    };
    last_seen[slot(op.key())] = seen;
}

/// Sends `op` and turns the answer into the checker's output.
pub async fn execute(client: &Client, op: Op) -> Result<Output, ClientError> {
    match op {
        Op::Put { key, value } => {
            let mut request = ClientRequest::new(Method::PUT, kv_path(key));
            request.body = Bytes::from(value.to_string());
            client.send(&request).await.map(|_| Output::Written)
        }
        Op::Delete { key } => {
            let request = ClientRequest::new(Method::DELETE, kv_path(key));
            client.send(&request).await.map(|_| Output::Written)
        }
        Op::Cas { key, expected, new } => compare_and_set(client, key, expected, new).await,
        Op::Get { key } => read(client, key).await,
    }
}

fn kv_path(key: u64) -> String {
    format!("/v1/kv/{}", key_name(key))
}

async fn read(client: &Client, key: u64) -> Result<Output, ClientError> {
    let path = format!("{}?consistency=linearizable", kv_path(key));
    match client.send(&ClientRequest::new(Method::GET, path)).await {
        Ok(response) => parse_value(&response.body).map(|value| Output::Read(Some(value))),
        Err(ClientError::Api { status, .. }) if status == StatusCode::NOT_FOUND => {
            Ok(Output::Read(None))
        }
        Err(error) => Err(error),
    }
}

/// A transaction: if the key holds `expected` (absent: never written or
/// deleted, which `mod_revision == 0` tests), put `new`.
async fn compare_and_set(
    client: &Client,
    key: u64,
    expected: Option<Value>,
    new: Option<Value>,
) -> Result<Output, ClientError> {
    let name = Blob::from(key_name(key).as_str());
    let compare = CompareJson {
        key: name.clone(),
        op: CompareOpJson::Equal,
        value: expected.map(|value| Blob::from(value.to_string().as_str())),
        mod_revision: expected.is_none().then_some(0),
        create_revision: None,
        version: None,
    };
    let success = match new {
        Some(value) => OpJson::Put {
            key: name,
            value: Blob::from(value.to_string().as_str()),
        },
        None => OpJson::Delete { key: name },
    };
    let txn = TxnRequestJson {
        compare: vec![compare],
        success: vec![success],
        failure: Vec::new(),
    };
    let mut request = ClientRequest::new(Method::POST, "/v1/txn");
    request.body = Bytes::from(serde_json::to_vec(&txn)?);
    let response = client.send(&request).await?;
    let result: TxnResult = serde_json::from_slice(&response.body)?;
    Ok(Output::Swapped(result.succeeded))
}

/// A stored value as the workload wrote it: a decimal number.
fn parse_value(body: &[u8]) -> Result<Value, ClientError> {
    std::str::from_utf8(body)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| ClientError::Unexpected {
            status: StatusCode::OK,
            text: format!("not a demo value: {}", String::from_utf8_lossy(body)),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_written_value_is_unique_and_keys_stay_in_range() {
        let mut rng = Rng(7);
        let counter = AtomicU64::new(1);
        let last_seen = [None; KEY_COUNT as usize];
        let mut written = std::collections::BTreeSet::new();
        for _ in 0..1000 {
            let op = next_op(&mut rng, &last_seen, &counter);
            assert!((1..=KEY_COUNT).contains(&op.key()));
            let value = match op {
                Op::Put { value, .. }
                | Op::Cas {
                    new: Some(value), ..
                } => value,
                _ => continue,
            };
            assert!(written.insert(value), "value {value} written twice");
        }
        assert!(written.len() > 300);
    }

    #[test]
    fn a_compare_and_set_expects_what_the_client_last_saw() {
        let mut last_seen = [None; KEY_COUNT as usize];
        remember(
            &mut last_seen,
            Op::Put { key: 2, value: 9 },
            Output::Written,
        );
        assert_eq!(last_seen[1], Some(9));
        let failed_cas = Op::Cas {
            key: 2,
            expected: Some(1),
            new: Some(10),
        };
        remember(&mut last_seen, failed_cas, Output::Swapped(false));
        assert_eq!(last_seen[1], Some(9));
        remember(&mut last_seen, Op::Get { key: 2 }, Output::Read(None));
        assert_eq!(last_seen[1], None);
        assert_eq!(parse_value(b"42").ok(), Some(42));
        assert!(parse_value(b"x").is_err());
    }
}
