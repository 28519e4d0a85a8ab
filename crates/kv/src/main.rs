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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
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
        }
    })?;
    print!("{}", printed.text);
    Ok(printed.succeeded)
}
