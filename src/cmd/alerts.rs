//! `dealerflow alerts test --alerts FILE.toml`: checks a rules file and sends one sample alert to each of its
//! targets (the rules themselves run in `dealerflow serve --alerts FILE.toml`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use dealerflow_serve::alerts::{send_samples, AlertsConfig};

use crate::cmd::sync_clickhouse::runtime;

/// Check an alert rules file and try its webhook targets.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
dealerflow alerts test --alerts alerts.toml\n  \
dealerflow serve --data-dir data/live --alerts alerts.toml\n\n\
The rules file has [[target]] webhooks (json, discord or slack) and [[rule]] entries; see the README.")]
pub struct AlertsArgs {
    #[command(subcommand)]
    action: AlertsAction,
}

#[derive(Debug, Subcommand)]
enum AlertsAction {
    /// Read the rules file and send one sample alert to every target, once (no retry); exit 0 only when every
    /// target took it.
    #[command(after_help = "Example: dealerflow alerts test --alerts alerts.toml")]
    Test {
        /// The rules file (TOML).
        #[arg(long)]
        alerts: PathBuf,
    },
}

/// Runs `dealerflow alerts`.
pub fn run(args: AlertsArgs) -> Result<ExitCode> {
    match args.action {
        AlertsAction::Test { alerts } => test(alerts),
    }
}

fn test(path: PathBuf) -> Result<ExitCode> {
    let config = AlertsConfig::load(&path)?;
    println!(
        "{}: {} rule(s), {} target(s)",
        path.display(),
        config.rules.len(),
        config.targets.len()
    );
    if config.targets.is_empty() {
        bail!(
            "{}: no [[target]] to send a sample to (alerts would go to the journal and the stream only)",
            path.display()
        );
    }
    let results = runtime()?.block_on(send_samples(&config))?;
    let failed = results.iter().filter(|(_, r)| r.is_err()).count();
    for (target, result) in &results {
        match result {
            Ok(()) => println!(
                "sent a sample to {} ({}, {})",
                target.name,
                target.format.as_str(),
                target.display_url()
            ),
            Err(e) => println!("FAILED {}: {e}", target.name),
        }
    }
    if failed > 0 {
        bail!(
            "{failed} of {} target(s) did not take the sample",
            results.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}
