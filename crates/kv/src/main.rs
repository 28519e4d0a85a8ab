//! The `quorate` binary: the server (`serve`), its clients (`kv`,
//! `cluster`), a self-contained demo (`demo`) and a load generator
//! (`bench`).

mod bench;
mod demo;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use quorate_kv::cli::{
    run_cluster, run_kv, Client, ClientOptions, ClusterCommand, KvCommand, RetryPolicy,
};
use std::process::ExitCode;
use std::time::Duration;

/// quorate: a replicated key-value store on Raft.
#[derive(Parser, Debug)]
#[command(name = "quorate", version, about)]
struct Cli {
    #[command(flatten)]
    options: ClientOptions,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Read and write keys.
    #[command(subcommand)]
    Kv(KvCommand),
    /// Inspect and change cluster membership and leadership.
    #[command(subcommand)]
    Cluster(ClusterCommand),
    /// Run a cluster member: bootstrap, restart or join, then serve HTTP.
    Serve(Box<quorate_kv::config::ServeArgs>),
    /// Start a 3-node cluster on loopback, crash its leader under load and
    /// check the clients' history for linearizability.
    Demo(demo::DemoArgs),
    /// Measure throughput and latency of a cluster (a temporary one when
    /// no --endpoints are given).
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|error| error.exit());
    if let Command::Bench(args) = &mut cli.command {
        // `--endpoints` is also a global flag with a default; bench starts
        // its own cluster unless the user named one.
        let given = matches
            .subcommand_matches("bench")
            .and_then(|bench| bench.value_source("endpoints"))
            .is_some_and(|source| source != clap::parser::ValueSource::DefaultValue);
        if !given {
            args.endpoints.clear();
        }
    }
    if let Command::Serve(args) = &cli.command {
        return match run_serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                // Serve errors already name their causes in one sentence.
                eprintln!("Error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    if let Command::Demo(_) | Command::Bench(_) = &cli.command {
        return run_tool(cli.command);
    }
    match run(cli) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// Runs one command; `Ok(false)` when it ran but did not succeed (a
/// compare-and-set whose compare failed).
fn run(cli: Cli) -> anyhow::Result<bool> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let policy = RetryPolicy {
        request_timeout: Duration::from_millis(cli.options.timeout_ms),
        ..RetryPolicy::default()
    };
    let output = cli.options.output;
    let printed = runtime.block_on(async {
        let client = Client::new(&cli.options.endpoints, policy)?;
        match cli.command {
            Command::Kv(command) => run_kv(&client, command, output).await,
            Command::Cluster(command) => run_cluster(&client, command, output).await,
            Command::Serve(_) => unreachable!("serve runs before the client runtime"),
            Command::Demo(_) | Command::Bench(_) => {
                unreachable!("demo and bench run before the client runtime")
            }
        }
    })?;
    print!("{}", printed.text);
    Ok(printed.succeeded)
}

/// `quorate serve`: logs to stderr (`RUST_LOG`, default `info`), then runs
/// one member on a multi-threaded runtime until SIGINT or SIGTERM.
fn run_serve(args: &quorate_kv::config::ServeArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let config = quorate_kv::config::ServeConfig::resolve(args, &|name| std::env::var(name).ok())?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| anyhow::anyhow!("cannot start the async runtime: {error}"))?;
    runtime.block_on(async {
        let metrics = quorate_kv::server::install_metrics();
        let shutdown = quorate_kv::server::shutdown_signal();
        quorate_kv::server::serve(config, metrics, shutdown).await
    })?;
    Ok(())
}

/// `quorate demo` and `quorate bench`. The runtime's `block_on` keeps the
/// orchestration on the main thread, which spawns the cluster's nodes: on
/// Linux they die with the thread that spawned them.
fn run_tool(command: Command) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("Error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match command {
            Command::Demo(args) => demo::run(args).await,
            Command::Bench(args) => bench::run(args).await.map(|()| true),
            _ => Ok(true),
        }
    });
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("Error: {error}");
            ExitCode::FAILURE
        }
    }
}
