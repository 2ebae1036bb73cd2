//! openlsp turns one site profile into a running Bitcoin and Lightning stack on Kubernetes.
//!
//! The pipeline is the module structure:
//! [`profile`] (load and validate) → [`secrets`] (the state dir: credentials generated once,
//! loaded, checked) → [`plan`] (render templates; pure) → `diff` (planned vs live) → `cluster`
//! (the only code that talks to the API server).
//! [`commands`] orchestrate one verb each and [`ui`] owns every byte written to the terminal.
//! [`template_dir`] and [`render_dir`] read and write plan's files, so plan stays pure.
//! docs/architecture.md is the map.

pub(crate) mod bootstrap;
pub(crate) mod channel_backup;
pub mod cli;
pub(crate) mod cln_metrics;
pub(crate) mod cln_rest;
pub(crate) mod cluster;
pub(crate) mod commands;
pub(crate) mod controller;
pub(crate) mod deploy;
pub(crate) mod diff;
pub(crate) mod fsutil;
/// For the fuzz targets in fuzz/ only.
#[doc(hidden)]
pub mod fuzzing;
pub(crate) mod health;
pub(crate) mod host;
pub(crate) mod images;
pub(crate) mod kiln;
pub(crate) mod object;
pub(crate) mod operator;
pub(crate) mod plan;
pub(crate) mod profile;
pub(crate) mod render_dir;
pub(crate) mod secrets;
pub(crate) mod template_dir;
pub(crate) mod tunnel;
pub(crate) mod ui;

use std::process::ExitCode;

use cli::{Cli, Command};
use commands::Outcome;

/// Exit code for errors: bad input, cluster unreachable, conflicts.
pub const EXIT_ERROR: u8 = 2;

/// Runs one command line and returns the process exit code.
pub async fn run(cli: Cli) -> ExitCode {
    let colour = match cli.global.color {
        cli::ColorChoice::Auto => ui::Colour::Auto,
        cli::ColorChoice::Always => ui::Colour::Always,
        cli::ColorChoice::Never => ui::Colour::Never,
    };
    let ui = ui::Ui::new(colour, cli.global.quiet);
    let result = match &cli.command {
        Command::Init(args) => commands::init::run(&ui, &cli.global, args),
        Command::Validate(args) => commands::validate::run(&ui, &cli.global, args),
        Command::Render(args) => commands::render::run(&ui, &cli.global, args),
        Command::Diff(args) => commands::diff::run(&ui, &cli.global, args).await,
        Command::Apply(args) => commands::apply::run(&ui, &cli.global, args).await,
        Command::Delete(args) => commands::delete::run(&ui, &cli.global, args).await,
        Command::Bootstrap(args) => commands::bootstrap::run(&ui, &cli.global, args).await,
        Command::Secrets(args) => commands::secrets::run(&ui, &cli.global, args).await,
        Command::Backup(args) => commands::backup::run(&ui, &cli.global, args).await,
        Command::Connect(args) => commands::connect::run(&ui, &cli.global, args).await,
        Command::Completions(args) => commands::completions::run(&ui, args),
        Command::Schema(args) => commands::schema::run(&ui, args),
        Command::Controller(args) => commands::controller::run(&ui, &cli.global, args).await,
        Command::Status(args) => commands::status::run(&ui, &cli.global, args).await,
        Command::Man(args) => commands::man::run(&ui, args),
        Command::Exporter(args) => commands::exporter::run(&ui, args).await,
        Command::Tunnel(args) => commands::tunnel::run(&ui, args).await,
        Command::Import(args) => commands::import::run(&ui, &cli.global, args),
    };
    match result {
        Ok(Outcome::Ok) => ExitCode::SUCCESS,
        Ok(Outcome::DiffFound | Outcome::Degraded | Outcome::Stale) => ExitCode::from(1),
        Err(err) => {
            ui.error(&err);
            ExitCode::from(EXIT_ERROR)
        }
    }
}

/// Sends `tracing` logs to stderr; `-v` raises the level, `RUST_LOG` overrides it.
pub fn init_tracing(verbosity: u8) {
    let default = match verbosity {
        0 => "openlsp=warn",
        1 => "openlsp=info",
        2 => "openlsp=debug",
        _ => "openlsp=trace,kube=debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .try_init();
}
