//! The `quorate` binary: the server (`serve`), its clients (`kv`,
//! `cluster`), a self-contained demo (`demo`) and a load generator
//! (`bench`).

mod bench;
mod demo;
mod logging;

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
    #[command(flatten)]
    log: logging::LogOptions,
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
        cli.log.install();
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
        let client = Client::with_tls(&cli.options.endpoints, policy, cli.options.tls())?;
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

/// `quorate serve`: runs one member on a multi-threaded runtime until
/// SIGINT or SIGTERM, logging as set up by [`logging::LogOptions`].
fn run_serve(args: &quorate_kv::config::ServeArgs) -> anyhow::Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every flag and argument of every subcommand, `--help` and
    /// `--version` aside, says what it is for.
    #[test]
    fn every_argument_has_help_text() {
        fn walk(command: &clap::Command, path: &str, blank: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                if help.trim().is_empty() {
                    blank.push(format!("{path} {id}"));
                }
            }
            for sub in command.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), blank);
            }
        }
        let mut blank = Vec::new();
        walk(&Cli::command(), "quorate", &mut blank);
        assert!(blank.is_empty(), "arguments without help: {blank:?}");
    }

    #[test]
    fn del_is_an_alias_of_delete_and_put_reads_stdin_without_a_value() {
        let cli = Cli::try_parse_from(["quorate", "kv", "del", "a"]).expect("parses");
        assert!(matches!(cli.command, Command::Kv(KvCommand::Delete { .. })));
        let cli = Cli::try_parse_from(["quorate", "kv", "put", "a"]).expect("parses");
        assert!(matches!(
            cli.command,
            Command::Kv(KvCommand::Put { value: None, .. })
        ));
    }
}
