//! The `quorate` binary. This build has the client subcommands only;
//! `serve`, `demo` and `bench` arrive with the runtime wiring.

use anyhow::Context;
use clap::{Parser, Subcommand};
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Serve(args) = &cli.command {
        return match run_serve(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("Error: {error:#}");
                ExitCode::FAILURE
            }
        };
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
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let metrics = quorate_kv::server::install_metrics();
        let shutdown = quorate_kv::server::shutdown_signal();
        quorate_kv::server::serve(config, metrics, shutdown).await
    })?;
    Ok(())
}
