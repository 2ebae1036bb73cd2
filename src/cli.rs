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
    /// Print a shell completion script.
    Completions(CompletionsArgs),
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
