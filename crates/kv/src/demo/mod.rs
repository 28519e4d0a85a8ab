//! `quorate demo`: a 3-node cluster on loopback, a mixed workload from
//! several clients, the leader killed with SIGKILL and restarted, and the
//! recorded client history checked for linearizability.
//!
//! It needs no configuration and nothing outside one temporary directory:
//! the nodes are child processes of this binary (`quorate serve`) on free
//! loopback ports, and everything is removed and killed when it ends, also
//! on Ctrl-C.
//!
//! Module layout:
//! - `cluster`: starting, killing and restarting the child processes;
//! - `probe`: leader and catch-up polling through `GET /v1/cluster`;
//! - `workload`, `recorder`: the clients and the history they record;
//! - `stats`, `report`: latency histograms and the closing summary.

pub mod cluster;
pub mod probe;
mod recorder;
mod report;
pub mod stats;
mod workload;

use cluster::{ClusterError, LocalCluster, NodeTimings};
use indicatif::{ProgressBar, ProgressStyle};
use probe::{CatchUp, LeaderSeen, ProbeError};
use quorate_check::linearizability::{check, CheckConfig};
use quorate_kv::cli::{Client, ClientError, RetryPolicy};
use recorder::Recorder;
use report::{Failover, Summary};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use workload::{ClientTally, Shared};

/// Default workload length: long enough for a failover and a catch-up in
/// the middle, short enough that the whole demo stays well under a minute.
const DURATION_S_DEFAULT: f64 = 10.0;
/// Workload length of `--quick`, for tests.
const DURATION_S_QUICK: f64 = 4.0;
/// Time for the first election, processes starting included.
const FIRST_LEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Time for the survivors to elect a new leader.
const FAILOVER_TIMEOUT: Duration = Duration::from_secs(15);
/// Time for the restarted node to catch up.
const CATCH_UP_TIMEOUT: Duration = Duration::from_secs(30);
/// Time clients get to finish their last request once told to stop; a
/// request still running then is recorded as never answered.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// Limit on one client request. An answer later than this is recorded as
/// outcome unknown, so it is short: a failover should not stall clients.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(2);

/// The flags of `quorate demo`.
#[derive(clap::Args, Clone, Debug, PartialEq)]
pub struct DemoArgs {
    /// Workload length in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = DURATION_S_DEFAULT)]
    pub duration: f64,
    /// Concurrent clients.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub clients: u64,
    /// A short run (4 s of workload), e.g. for tests; overrides --duration.
    #[arg(long)]
    pub quick: bool,
    /// Leave the cluster running after the summary, until Ctrl-C.
    #[arg(long)]
    pub keep: bool,
}

/// Why the demo could not run to its verdict.
#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    #[error(transparent)]
    Probe(#[from] ProbeError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("--duration must be between 1 and 3600 seconds, not {0}")]
    Duration(f64),
    #[error("--clients must be between 1 and 256, not {0}")]
    Clients(u64),
    #[error("no endpoint answered GET /v1/cluster: {0}")]
    Unreachable(String),
    #[error("--base-port places a temporary cluster; it does not apply with --endpoints")]
    BasePortWithEndpoints,
    #[error("interrupted")]
    Interrupted,
}

/// Runs the demo; `Ok(false)` when the history was not shown
/// linearizable. Ctrl-C stops it and kills the cluster.
pub async fn run(args: DemoArgs) -> Result<bool, DemoError> {
    let duration_s = if args.quick {
        DURATION_S_QUICK
    } else {
        args.duration
    };
    if !(1.0..=3600.0).contains(&duration_s) {
        return Err(DemoError::Duration(duration_s));
    }
    if !(1..=256).contains(&args.clients) {
        return Err(DemoError::Clients(args.clients));
    }
    let duration = Duration::from_secs_f64(duration_s);
    tokio::select! {
        result = demo(duration, args.clients, args.keep) => result,
        _ = tokio::signal::ctrl_c() => Err(DemoError::Interrupted),
    }
}

async fn demo(duration: Duration, clients: u64, keep: bool) -> Result<bool, DemoError> {
    let mut cluster = LocalCluster::start(NodeTimings::default())?;
    println!("started 3 quorate nodes under {}", cluster.root().display());
    let first = probe::wait_for_leader(&mut cluster, None, 0, FIRST_LEADER_TIMEOUT).await?;
    let leader_url = cluster.node(first.leader_id())?.client_url();
    println!(
        "node {} leads term {}; status page: {leader_url}/",
        first.leader_id(),
        first.status.term
    );
    println!(
        "running {clients} clients for {:.0}s: puts, deletes, compare-and-sets, linearizable reads",
        duration.as_secs_f64()
    );
    let recorder = Arc::new(Recorder::new());
    let shared = Shared::new(Arc::clone(&recorder));
    let started = Instant::now();
    let progress = Progress::start(duration, &shared);
    let handles = start_clients(&cluster.client_urls(), clients, &shared)?;
    let events = run_faults(&mut cluster, &progress, started, duration).await;
    let tallies = stop_clients(handles, &shared).await;
    let elapsed = started.elapsed();
    progress.finish();
    let (failover, catch_up) = events?;
    let history = recorder.snapshot();
    let check_started = Instant::now();
    let verdict = check(&history, &CheckConfig::default());
    let summary = Summary::new(
        &tallies,
        elapsed,
        failover,
        catch_up,
        check_started.elapsed(),
    );
    print!("{}", summary.render(history.len()));
    let linearizable = report::print_verdict(&verdict, &history);
    if keep {
        keep_running(&cluster).await;
    }
    Ok(linearizable)
}

/// The progress bar, and lines printed above it.
struct Progress {
    bar: ProgressBar,
    ticker: JoinHandle<()>,
}

impl Progress {
    fn start(duration: Duration, shared: &Shared) -> Progress {
        let total_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        let bar = ProgressBar::new(total_ms);
        let style = ProgressStyle::with_template("{bar:40} {elapsed:>3} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        let started = Instant::now();
        let finished = Arc::clone(&shared.finished);
        let ticking = bar.clone();
        let ticker = tokio::spawn(async move {
            loop {
                let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
                ticking.set_position(elapsed_ms.min(total_ms));
                ticking.set_message(format!("{} ops", finished.load(Ordering::Relaxed)));
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Progress { bar, ticker }
    }

    /// Prints a line above the bar; works whether or not the bar is drawn
    /// (it is hidden when stderr is not a terminal).
    fn say(&self, line: &str) {
        self.bar.suspend(|| println!("{line}"));
    }

    fn finish(self) {
        self.ticker.abort();
        self.bar.finish_and_clear();
    }
}

fn start_clients(
    endpoints: &[String],
    clients: u64,
    shared: &Shared,
) -> Result<Vec<JoinHandle<ClientTally>>, DemoError> {
    let policy = RetryPolicy {
        request_timeout: REQUEST_TIMEOUT,
        attempts_max: 20,
        backoff_initial: Duration::from_millis(20),
        backoff_max: Duration::from_millis(200),
        ..RetryPolicy::default()
    };
    (1..=clients)
        .map(|client_id| {
            // Each client starts at a different node so the load spreads
            // and some requests take the redirect path.
            let count = endpoints.len();
            let offset = usize::try_from(client_id).unwrap_or(0) % count;
            let rotated: Vec<String> = (0..count)
                .map(|index| endpoints[(index + offset) % count].clone())
                .collect();
            let client = Client::new(&rotated, policy)?;
            Ok(tokio::spawn(workload::run_client(
                client_id,
                client,
                shared.clone(),
            )))
        })
        .collect()
}

/// Kills the leader a third of the way in, measures the election, restarts
/// the killed node a little past half way and waits for it to catch up,
/// then lets the workload run to its end.
async fn run_faults(
    cluster: &mut LocalCluster,
    progress: &Progress,
    started: Instant,
    duration: Duration,
) -> Result<(Failover, CatchUp), DemoError> {
    tokio::time::sleep_until(started + duration.mul_f64(0.3)).await;
    let old = probe::wait_for_leader(cluster, None, 0, FAILOVER_TIMEOUT).await?;
    let killed = old.leader_id();
    cluster.kill(killed)?;
    let killed_at = Instant::now();
    progress.say(&format!(
        "killed leader node {killed} (SIGKILL) at term {}",
        old.status.term
    ));
    let new: LeaderSeen =
        probe::wait_for_leader(cluster, Some(killed), old.status.term, FAILOVER_TIMEOUT).await?;
    let failover = Failover {
        killed,
        new_leader: new.leader_id(),
        elapsed: new.at.duration_since(killed_at),
    };
    progress.say(&format!(
        "node {} elected leader of term {} after {}",
        failover.new_leader,
        new.status.term,
        stats::human(failover.elapsed)
    ));
    tokio::time::sleep_until(started + duration.mul_f64(0.55)).await;
    cluster.restart(killed)?;
    let restarted_at = Instant::now();
    progress.say(&format!("restarted node {killed} with its data directory"));
    let catch_up = probe::wait_caught_up(
        cluster,
        killed,
        restarted_at,
        CATCH_UP_TIMEOUT,
        |applied, target| {
            progress
                .bar
                .set_message(format!("node {killed} applied {applied}/{target}"));
        },
    )
    .await?;
    progress.say(&format!(
        "node {killed} caught up: applied index {} -> {} (leader's commit) in {}",
        catch_up.applied_first,
        catch_up.target,
        stats::human(catch_up.elapsed)
    ));
    tokio::time::sleep_until(started + duration).await;
    Ok((failover, catch_up))
}

/// Tells clients to stop and collects their tallies. A client still
/// waiting for an answer after `DRAIN_TIMEOUT` is abandoned; its request
/// stays pending, which the checker treats as outcome unknown.
async fn stop_clients(handles: Vec<JoinHandle<ClientTally>>, shared: &Shared) -> Vec<ClientTally> {
    shared.stop.store(true, Ordering::Relaxed);
    let deadline = tokio::time::Instant::now() + DRAIN_TIMEOUT;
    let mut tallies = Vec::with_capacity(handles.len());
    for handle in handles {
        let abort = handle.abort_handle();
        match tokio::time::timeout_at(deadline, handle).await {
            Ok(Ok(tally)) => tallies.push(tally),
            Ok(Err(_)) => {}
            Err(_) => abort.abort(),
        }
    }
    tallies
}

/// Leaves the cluster up for curl until Ctrl-C (which `run` turns into
/// shutting every node down).
async fn keep_running(cluster: &LocalCluster) {
    let urls = cluster.client_urls();
    let first = urls.first().cloned().unwrap_or_default();
    println!();
    println!("the cluster keeps running; try:");
    println!("  curl -L -X PUT --data-binary hello {first}/v1/kv/greeting");
    println!("  curl -L {first}/v1/kv/greeting");
    println!("  curl -L '{first}/v1/kv?prefix=demo/'");
    println!("  curl {first}/v1/cluster");
    for url in &urls {
        println!("  status page: {url}/");
    }
    println!(
        "press Ctrl-C to stop it (data under {})",
        cluster.root().display()
    );
    std::future::pending::<()>().await;
}
