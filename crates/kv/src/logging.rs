//! Log setup of `quorate serve`: to stderr, filtered by `RUST_LOG`
//! (default `info`), as text or one JSON object per line. Colour codes
//! are written only to a terminal unless asked for, so a log file or a
//! pipe stays plain text.

use clap::{Args, ValueEnum};
use std::io::IsTerminal;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// One JSON object per event, for log collectors.
    Json,
}

/// When text logs carry ANSI colour codes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum LogColor {
    /// Only when stderr is a terminal.
    #[default]
    Auto,
    /// Also into files and pipes.
    Always,
    /// Not even on a terminal.
    Never,
}

/// The log flags, shared by every subcommand that logs.
#[derive(Args, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LogOptions {
    /// Log line format (filter with RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Colour in text logs: auto colours only a terminal.
    #[arg(long, global = true, value_enum, default_value_t = LogColor::Auto)]
    pub log_color: LogColor,
}

impl LogOptions {
    /// Whether text lines carry colour codes, given whether stderr is a
    /// terminal.
    pub fn colored(self, terminal: bool) -> bool {
        match self.log_color {
            LogColor::Auto => terminal,
            LogColor::Always => true,
            LogColor::Never => false,
        }
    }

    /// Installs the global subscriber writing to stderr.
    pub fn install(self) {
        let filter = tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        match self.log_format {
            LogFormat::Text => builder
                .with_ansi(self.colored(std::io::stderr().is_terminal()))
                .init(),
            LogFormat::Json => builder.json().with_ansi(false).init(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_colours_only_a_terminal() {
        let auto = LogOptions::default();
        assert!(auto.colored(true));
        assert!(!auto.colored(false));
        let always = LogOptions {
            log_color: LogColor::Always,
            ..auto
        };
        assert!(always.colored(false));
        let never = LogOptions {
            log_color: LogColor::Never,
            ..auto
        };
        assert!(!never.colored(true));
    }
}
