//! Structured logs (tracing) on stderr for the long-running commands; `RUST_LOG` overrides the default level.

use std::io::IsTerminal;

/// Installs the stderr subscriber at `info` (or `RUST_LOG`), with colours only when stderr is a terminal.
pub fn init_logging() {
    init_logging_at("info");
}

/// The same with another default filter (`RUST_LOG` still overrides it).
pub fn init_logging_at(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
