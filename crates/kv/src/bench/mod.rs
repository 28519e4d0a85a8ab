//! `quorate bench`: a closed-loop load generator. Clients each send one
//! request at a time for a fixed time per phase: writes, then reads at
//! each consistency level (linearizable, lease, stale). It reports
//! throughput and p50/p99/p999 latency per phase from HDR histograms.
//!
//! Against `--endpoints` it loads a running cluster, writing `bench/*`
//! keys that it deletes at the end unless `--keep-keys`; without them it
//! starts a temporary 3-node cluster on loopback, as the demo does (on
//! free ports, or from `--base-port`). With
//! `--etcd-endpoints` every phase also runs against an etcd cluster (its
//! v3 JSON gateway) right after quorate's, and the report ends with the
//! throughput ratios measured side by side.

mod cleanup;
mod progress;

use crate::demo::cluster::{LocalCluster, NodeTimings};
use crate::demo::probe;
use crate::demo::stats::{human, Latency};
use crate::demo::DemoError;
use axum::http::Method;
use bytes::Bytes;
use progress::PhaseProgress;
use quorate_kv::cli::{Client, ClientError, ClientRequest, RetryPolicy, Table};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// Time for the temporary cluster's first election.
const FIRST_LEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The flags of `quorate bench`.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct BenchArgs {
    /// Client URLs of a running cluster; none starts a temporary one.
    #[arg(long, value_delimiter = ',', value_name = "URL,...")]
    pub endpoints: Vec<String>,
    /// Concurrent clients, each with one request in flight.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub clients: u64,
    /// Seconds per phase.
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    pub duration: f64,
    /// Distinct keys written and read.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub keys: u64,
    /// Bytes per written value.
    #[arg(long, value_name = "BYTES", default_value_t = 100)]
    pub value_size: usize,
    /// Client URLs of an etcd (3.4+) cluster to load with the same phases,
    /// interleaved with quorate's (etcd has no lease read; that phase is
    /// skipped for it).
    #[arg(long, value_delimiter = ',', value_name = "URL,...")]
    pub etcd_endpoints: Vec<String>,
    /// Leave the bench/* keys written to --endpoints (and etcd) in place;
    /// by default they are deleted when the benchmark ends.
    #[arg(long)]
    pub keep_keys: bool,
    /// Ports of the temporary cluster: node N listens for peers on
    /// PORT+2(N-1) and for clients on the next port [default: free ports].
    #[arg(long, value_name = "PORT")]
    pub base_port: Option<u16>,
}

/// The key a benchmark client writes and reads for number `key`.
fn key_name(key: u64) -> String {
    format!("bench/{key:08}")
}

/// Which service a phase loads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Quorate,
    /// etcd's v3 JSON gateway: `POST /v3/kv/put` and `/v3/kv/range`.
    Etcd,
}

/// One phase's load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Put,
    Read(&'static str),
}

impl Phase {
    fn name(self) -> String {
        match self {
            Phase::Put => "put".to_owned(),
            Phase::Read(consistency) => format!("get ({consistency})"),
        }
    }
}

const PHASES: [Phase; 4] = [
    Phase::Put,
    Phase::Read("linearizable"),
    Phase::Read("lease"),
    Phase::Read("stale"),
];

/// What one phase measured.
#[derive(Debug, Default)]
struct PhaseResult {
    latency: Latency,
    errors: u64,
    elapsed: Duration,
}

/// Runs every phase and prints the table. Ctrl-C stops it (and the
/// temporary cluster, if any).
pub async fn run(args: BenchArgs) -> Result<(), DemoError> {
    if !(0.1..=3600.0).contains(&args.duration) {
        return Err(DemoError::Duration(args.duration));
    }
    if !(1..=4096).contains(&args.clients) {
        return Err(DemoError::Clients(args.clients));
    }
    if args.base_port.is_some() && !args.endpoints.is_empty() {
        return Err(DemoError::BasePortWithEndpoints);
    }
    tokio::select! {
        result = bench(args) => result,
        _ = tokio::signal::ctrl_c() => Err(DemoError::Interrupted),
    }
}

async fn bench(args: BenchArgs) -> Result<(), DemoError> {
    // Keeps the temporary cluster alive until the benchmark ends.
    let mut local = None;
    let endpoints = if args.endpoints.is_empty() {
        let mut cluster = LocalCluster::start_at(NodeTimings::default(), args.base_port)?;
        let leader = probe::wait_for_leader(&mut cluster, None, 0, FIRST_LEADER_TIMEOUT).await?;
        println!(
            "started a temporary 3-node cluster under {}",
            cluster.root().display()
        );
        let endpoints = leader_first(
            cluster.client_urls(),
            &cluster.node(leader.leader_id())?.client_url(),
        );
        local = Some(cluster);
        endpoints
    } else {
        args.endpoints.clone()
    };
    if !any_answers(&endpoints).await {
        return Err(DemoError::Unreachable(endpoints.join(",")));
    }
    let policy = RetryPolicy {
        request_timeout: Duration::from_secs(5),
        ..RetryPolicy::default()
    };
    let client = Arc::new(Client::new(&endpoints, policy)?);
    println!(
        "{} clients, {:.1}s per phase, {} keys (bench/*), {}-byte values, against {}",
        args.clients,
        args.duration,
        args.keys,
        args.value_size,
        endpoints.join(",")
    );
    let etcd = if args.etcd_endpoints.is_empty() {
        None
    } else {
        Some(Arc::new(Client::new(&args.etcd_endpoints, policy)?))
    };
    let mut table = Table::new(&["phase", "ops", "ops/s", "p50", "p99", "p999", "errors"]);
    let mut ratios = Vec::new();
    for phase in PHASES {
        let result = run_phase(&client, Target::Quorate, &args, phase).await;
        table.row(row(phase, Target::Quorate, &result));
        if let (Some(etcd), true) = (&etcd, phase != Phase::Read("lease")) {
            let theirs = run_phase(etcd, Target::Etcd, &args, phase).await;
            table.row(row(phase, Target::Etcd, &theirs));
            ratios.push((
                phase.name(),
                rate(&result) / rate(&theirs).max(f64::EPSILON),
            ));
        }
    }
    print!("{}", table.render());
    for (phase, ratio) in ratios {
        println!("quorate / etcd throughput, {phase}: {ratio:.2}x");
    }
    // A temporary cluster goes away whole; a real one gets its keys back.
    if local.is_none() {
        clean_up(&client, etcd.as_deref(), &args).await;
    }
    drop(local);
    Ok(())
}

/// Deletes the `bench/*` keys from the target clusters, or says where
/// they were left.
async fn clean_up(client: &Client, etcd: Option<&Client>, args: &BenchArgs) {
    if args.keep_keys {
        println!(
            "kept the keys bench/00000000 to {}",
            key_name(args.keys.max(1) - 1)
        );
        return;
    }
    match cleanup::delete_quorate(client, args.keys.max(1)).await {
        Ok(_) => println!("deleted the bench/* keys it wrote (--keep-keys keeps them)"),
        Err(error) => eprintln!("warning: the bench/* keys could not all be deleted: {error}"),
    }
    if let Some(etcd) = etcd {
        if let Err(error) = cleanup::delete_etcd(etcd).await {
            eprintln!("warning: the bench/* keys in etcd could not be deleted: {error}");
        }
    }
}

fn rate(result: &PhaseResult) -> f64 {
    result.latency.count() as f64 / result.elapsed.as_secs_f64().max(f64::EPSILON)
}

/// Whether any endpoint serves the API, so a typo fails at once rather
/// than after every request of every phase has timed out.
async fn any_answers(endpoints: &[String]) -> bool {
    for endpoint in endpoints {
        if probe::status(endpoint).await.is_ok() {
            return true;
        }
    }
    false
}

/// `urls` with the leader's first, so writes skip the redirect.
fn leader_first(mut urls: Vec<String>, leader: &str) -> Vec<String> {
    urls.sort_by_key(|url| url != leader);
    urls
}

fn row(phase: Phase, target: Target, result: &PhaseResult) -> Vec<String> {
    let name = match target {
        Target::Quorate => phase.name(),
        Target::Etcd => format!("{} etcd", phase.name()),
    };
    vec![
        name,
        result.latency.count().to_string(),
        format!("{:.0}", rate(result)),
        human(result.latency.quantile(0.5)),
        human(result.latency.quantile(0.99)),
        human(result.latency.quantile(0.999)),
        result.errors.to_string(),
    ]
}

async fn run_phase(
    client: &Arc<Client>,
    target: Target,
    args: &BenchArgs,
    phase: Phase,
) -> PhaseResult {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.duration);
    let value = Bytes::from(vec![b'x'; args.value_size]);
    let done = Arc::new(AtomicU64::new(0));
    let name = match target {
        Target::Quorate => phase.name(),
        Target::Etcd => format!("{} etcd", phase.name()),
    };
    let progress = PhaseProgress::start(
        name,
        Duration::from_secs_f64(args.duration),
        Arc::clone(&done),
    );
    let tasks: Vec<_> = (0..args.clients)
        .map(|client_id| {
            let client = Arc::clone(client);
            let value = value.clone();
            let done = Arc::clone(&done);
            let keys = args.keys.max(1);
            tokio::spawn(async move {
                let mut result = PhaseResult::default();
                let mut sequence = client_id;
                while Instant::now() < deadline {
                    let key = sequence % keys;
                    sequence += 7919;
                    let sent = Instant::now();
                    match send(&client, target, phase, key, &value).await {
                        Ok(()) => result.latency.record(sent.elapsed()),
                        Err(_) => result.errors += 1,
                    }
                    done.fetch_add(1, Ordering::Relaxed);
                }
                result
            })
        })
        .collect();
    let mut total = PhaseResult::default();
    for task in tasks {
        if let Ok(result) = task.await {
            total.latency.merge(&result.latency);
            total.errors += result.errors;
        }
    }
    total.elapsed = started.elapsed();
    progress.finish();
    total
}

/// One request. Reads of a key not written yet answer 404, which counts
/// as a successful read: the read path did all its work.
async fn send(
    client: &Client,
    target: Target,
    phase: Phase,
    key: u64,
    value: &Bytes,
) -> Result<(), ClientError> {
    if target == Target::Etcd {
        return client
            .send(&etcd_request(phase, key, value))
            .await
            .map(|_| ());
    }
    let path = format!("/v1/kv/{}", key_name(key));
    let request = match phase {
        Phase::Put => {
            let mut request = ClientRequest::new(Method::PUT, path);
            request.body = value.clone();
            request
        }
        Phase::Read(consistency) => {
            ClientRequest::new(Method::GET, format!("{path}?consistency={consistency}"))
        }
    };
    match client.send(&request).await {
        Ok(_) => Ok(()),
        Err(ClientError::Api { status, .. }) if status == axum::http::StatusCode::NOT_FOUND => {
            Ok(())
        }
        Err(error) => Err(error),
    }
}

/// The same operation through etcd's v3 JSON gateway: keys and values are
/// base64 in JSON; a linearizable read is etcd's default range, a stale
/// one a serializable range.
fn etcd_request(phase: Phase, key: u64, value: &Bytes) -> ClientRequest {
    use base64::Engine;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let key = encode(key_name(key).as_bytes());
    let (path, body) = match phase {
        Phase::Put => (
            "/v3/kv/put",
            format!(r#"{{"key":"{key}","value":"{}"}}"#, encode(value)),
        ),
        Phase::Read("stale") => (
            "/v3/kv/range",
            format!(r#"{{"key":"{key}","serializable":true}}"#),
        ),
        Phase::Read(_) => ("/v3/kv/range", format!(r#"{{"key":"{key}"}}"#)),
    };
    let mut request = ClientRequest::new(Method::POST, path);
    request.body = Bytes::from(body);
    request
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leader_comes_first() {
        let urls = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert_eq!(leader_first(urls, "b"), ["b", "a", "c"]);
    }

    #[test]
    fn rows_show_throughput_and_quantiles() {
        let mut result = PhaseResult::default();
        for _ in 0..10 {
            result.latency.record(Duration::from_millis(1));
        }
        result.elapsed = Duration::from_secs(2);
        let cells = row(Phase::Read("lease"), Target::Quorate, &result);
        assert_eq!(cells[0], "get (lease)");
        assert_eq!(cells[1], "10");
        assert_eq!(cells[2], "5");
        assert_eq!(cells[3], "1.0ms");
    }

    #[test]
    fn etcd_requests_use_the_v3_gateway_with_base64() {
        let value = Bytes::from_static(b"hi");
        let put = etcd_request(Phase::Put, 7, &value);
        assert_eq!(put.path, "/v3/kv/put");
        assert_eq!(
            &put.body[..],
            br#"{"key":"YmVuY2gvMDAwMDAwMDc=","value":"aGk="}"#
        );
        let stale = etcd_request(Phase::Read("stale"), 7, &value);
        assert_eq!(stale.path, "/v3/kv/range");
        assert!(std::str::from_utf8(&stale.body)
            .unwrap()
            .contains(r#""serializable":true"#));
        let linearizable = etcd_request(Phase::Read("linearizable"), 7, &value);
        assert!(!std::str::from_utf8(&linearizable.body)
            .unwrap()
            .contains("serializable"));
    }
}
