//! Command-line definitions (clap derives only); commands turn these into validated inputs before work starts.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Run your own Bitcoin and Lightning infrastructure on Kubernetes from one site profile.
#[derive(Debug, Parser)]
#[command(name = "openlsp", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

/// Flags every command accepts.
#[derive(Debug, Clone, Args)]
pub struct GlobalArgs {
    /// The site profile to read.
    #[arg(
        short,
        long,
        global = true,
        default_value = "openlsp.yaml",
        env = "OPENLSP_PROFILE"
    )]
    pub profile: PathBuf,

    /// Where generated credentials and certificates live [default: $XDG_STATE_HOME/openlsp/<site>].
    #[arg(long, global = true, env = "OPENLSP_STATE_DIR")]
    pub state_dir: Option<PathBuf>,

    /// A directory of templates that replace the built-in ones file by file.
    #[arg(long, global = true, value_name = "DIR")]
    pub templates: Option<PathBuf>,

    /// Print only results and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// More log output on stderr (repeat for more).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Kubeconfig file [default: $KUBECONFIG, else ~/.kube/config, else in-cluster config].
    #[arg(long, global = true, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,

    /// Kubeconfig context to use [default: the current context].
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// When to use colour.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check the site profile and report every problem with its location.
    Validate(ValidateArgs),
    /// Print every Kubernetes object of the site (generates missing credentials first).
    Render(RenderArgs),
    /// Show what `apply` would change in the cluster (exit 1 when there are differences).
    Diff(DiffArgs),
    /// Make the cluster match the profile: server-side apply, prune, wait.
    Apply(ApplyArgs),
    /// Remove the site from the cluster, keeping its data unless --purge.
    Delete(DeleteArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// Output format: a coloured unified diff, or the plan as JSON for scripts.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// Apply without asking.
    #[arg(short, long)]
    pub yes: bool,

    /// Take over fields that another field manager owns.
    #[arg(long)]
    pub force_conflicts: bool,

    /// Also delete data objects (volumes, claims, credential Secrets) the profile no longer has.
    #[arg(long)]
    pub prune_data: bool,

    /// The site name, typed in advance, to confirm --prune-data without a terminal.
    #[arg(long, value_name = "SITE")]
    pub confirm_site: Option<String>,

    /// Do not wait for workloads to become ready.
    #[arg(long)]
    pub no_wait: bool,

    /// How long to wait for workloads (e.g. 90s, 10m, 1h).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Delete without asking (not enough for --purge).
    #[arg(short, long)]
    pub yes: bool,

    /// Delete data too: volumes, claims, credential Secrets and the namespace.
    #[arg(long)]
    pub purge: bool,

    /// The site name, typed in advance, to confirm --purge without a terminal.
    #[arg(long, value_name = "SITE")]
    pub confirm_site: Option<String>,
}

/// `90`, `90s`, `10m`, `1h`.
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: u64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration; use 90s, 10m or 1h"))?;
    let seconds = match unit {
        "s" => value,
        "m" => value * 60,
        "h" => value * 3600,
        _ => return Err(format!("{text:?} has unit {unit:?}; use s, m or h")),
    };
    Ok(std::time::Duration::from_secs(seconds))
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Print the profile with every default filled in.
    #[arg(long)]
    pub show_effective: bool,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// Write one file per object into DIR instead of printing to stdout.
    #[arg(short, long, value_name = "DIR")]
    pub output_dir: Option<PathBuf>,

    /// Include Secret values in the output (they are masked as *** otherwise).
    #[arg(long)]
    pub show_secrets: bool,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
