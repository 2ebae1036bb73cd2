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
    /// Check this machine, make the safe fixes, and write the site profile.
    Init(InitArgs),
    /// Check the site profile and report every problem with its location.
    Validate(ValidateArgs),
    /// Print every Kubernetes object of the site (generates missing credentials first).
    Render(RenderArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Only check the machine (and the disks of the profile, if there is one); exit 2 when a check fails.
    #[arg(long, conflicts_with_all = ["fix", "force", "non_interactive", "InitAnswers"])]
    pub check: bool,

    /// Make the safe file edits (cgroup flags in cmdline.txt, ip_conntrack in /etc/modules), with backups.
    #[arg(long, conflicts_with_all = ["force", "non_interactive", "InitAnswers"])]
    pub fix: bool,

    /// With --fix: make the edits without asking.
    #[arg(short, long, requires = "fix")]
    pub yes: bool,

    /// Overwrite an existing profile.
    #[arg(long)]
    pub force: bool,

    /// Read the host's files under DIR instead of / (tests, or a mounted image).
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub host_root: PathBuf,

    /// Never ask: every answer comes from the flags below (or its default).
    #[arg(long)]
    pub non_interactive: bool,

    #[command(flatten)]
    pub answers: InitAnswers,
}

/// The wizard's answers as flags; each one given is not asked.
#[derive(Debug, Args)]
#[command(next_help_heading = "Answers")]
pub struct InitAnswers {
    /// Site name (a DNS label); also the namespace and the state dir's name.
    #[arg(long, value_name = "NAME")]
    pub site: Option<String>,

    /// The Bitcoin network.
    #[arg(long, value_parser = ["mainnet", "testnet", "testnet4", "signet", "regtest"])]
    pub network: Option<String>,

    /// This machine's Kubernetes node name [default: its hostname].
    #[arg(long, value_name = "NAME")]
    pub node: Option<String>,

    /// A disk, given twice: blockchain=PATH and lightning=PATH; add :SIZE (e.g. :1Ti) when PATH is not mounted yet.
    #[arg(long, value_name = "ROLE=PATH[:SIZE]")]
    pub disk: Vec<String>,

    /// Accept Bitcoin and Lightning on one disk when both --disk paths are the same.
    #[arg(long)]
    pub allow_bitcoin_and_lightning: bool,

    /// Keep the full chain and build the transaction index.
    #[arg(long, conflicts_with_all = ["no_txindex", "prune"])]
    pub txindex: bool,

    /// Keep the full chain without the transaction index.
    #[arg(long, conflicts_with = "prune")]
    pub no_txindex: bool,

    /// Keep only MIB of recent blocks (at least 550).
    #[arg(long, value_name = "MIB")]
    pub prune: Option<u64>,

    /// LND's public alias [default: the site name].
    #[arg(long, visible_alias = "lnd-alias", value_name = "TEXT")]
    pub alias: Option<String>,

    /// LND's colour, "#rrggbb" [default: #3399ff] (--color is the terminal's).
    #[arg(long, value_name = "#RRGGBB")]
    pub lnd_color: Option<String>,
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
