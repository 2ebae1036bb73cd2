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
    /// Check this machine, make the safe fixes, and write the site profile.
    Init(InitArgs),
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
    /// Copy a trusted chain into a Bitcoin node: preflight, stop, copy, start.
    Bootstrap(BootstrapArgs),
    /// Credentials after day one: list, rotate, pull, export, import, set, a node's seed.
    Secrets(SecretsArgs),
    /// Channel backups: status of every target, the latest backup to a file, restore.
    Backup(BackupArgs),
    /// Print a connection URI and QR code for a mobile wallet (it contains a macaroon or rune).
    Connect(ConnectArgs),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the profile's JSON Schema for editors (or, with --crd, the Site CRD).
    Schema(SchemaArgs),
    /// Keep the site as declared from inside the cluster: the Site custom resource.
    Controller(ControllerArgs),
    /// How the site is doing: pods, waiting reasons with the next step, onion addresses, the
    /// last apply or reconcile (exit 1 when degraded).
    Status(StatusArgs),
    /// Print the manual page (roff), or write one page per command to a directory.
    Man(ManArgs),
    /// Serve a node's Prometheus metrics (what the site's exporter pods run).
    Exporter(ExporterArgs),
    /// Carry BTCPay's connections to a Core Lightning node's RPC socket over mutual TLS (what
    /// the tunnel containers of BTCPay's and CLN's pods run).
    Tunnel(TunnelArgs),
    /// Write a site profile from another tool's manifests (kiln's BitcoinNode and LightningNode).
    Import(SiteImportArgs),
}

#[derive(Debug, Args)]
pub struct SiteImportArgs {
    #[command(subcommand)]
    pub command: SiteImportCommand,
}

#[derive(Debug, Subcommand)]
pub enum SiteImportCommand {
    /// kiln operator manifests: BitcoinNode, LightningNode, and the Secrets and cert-manager
    /// Certificates they name. Writes the profile (-p, openlsp.yaml) and moves plain-text
    /// credentials into the state dir; lists every field it does not carry over.
    Kiln(KilnImportArgs),
}

#[derive(Debug, Args)]
pub struct KilnImportArgs {
    /// The kiln manifests (YAML, one or more documents each).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,

    /// Replace an existing profile file, and state-dir values that differ (the old ones go to
    /// history/).
    #[arg(long)]
    pub force: bool,

    /// The Kubernetes node the site runs on.
    #[arg(long, default_value = "node-1", value_name = "NAME")]
    pub node_name: String,

    /// Its memory, as in the profile (8Gi).
    #[arg(long, default_value = "8Gi", value_name = "SIZE")]
    pub memory: String,

    /// Its CPUs.
    #[arg(long, default_value_t = 4, value_name = "N")]
    pub cpus: u32,

    /// The directory under which the chain and channel disks are (`DIR/chain`, `DIR/channels`).
    #[arg(long, default_value = "/var/lib/openlsp", value_name = "DIR")]
    pub disk_dir: String,

    /// The cert-manager Issuer for btcd's certificate, when its Certificate is not among the
    /// files [default: openlsp makes the certificate].
    #[arg(long, value_name = "NAME")]
    pub issuer: Option<String>,
}

#[derive(Debug, Args)]
pub struct TunnelArgs {
    #[command(subcommand)]
    pub command: TunnelCommand,
}

#[derive(Debug, Subcommand)]
pub enum TunnelCommand {
    /// Beside lightningd: accept TLS from holders of a client certificate of the CA, and join
    /// each connection to the RPC socket.
    Serve(TunnelServeArgs),
    /// Beside BTCPay: offer a unix socket, and carry each connection over TLS to the serve end.
    Connect(TunnelConnectArgs),
}

/// The PEM files of one end of the tunnel.
#[derive(Debug, Clone, Args)]
pub struct TunnelTlsArgs {
    /// The CA certificate the other end's certificate must chain to.
    #[arg(long, value_name = "FILE")]
    pub ca: PathBuf,

    /// This end's certificate.
    #[arg(long, value_name = "FILE")]
    pub cert: PathBuf,

    /// This end's private key.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
}

#[derive(Debug, Clone, Args)]
pub struct TunnelServeArgs {
    /// Where to accept TLS connections.
    #[arg(long, value_name = "ADDR")]
    pub listen: std::net::SocketAddr,

    /// lightningd's RPC socket (`lightning-rpc` in its network directory).
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,

    /// A TCP port for the kubelet's probes, which accepts and closes.
    #[arg(long, value_name = "ADDR")]
    pub health: Option<std::net::SocketAddr>,

    #[command(flatten)]
    pub tls: TunnelTlsArgs,
}

#[derive(Debug, Clone, Args)]
pub struct TunnelConnectArgs {
    /// The unix socket to offer (BTCPay's `server=unix://PATH`).
    #[arg(long, value_name = "PATH")]
    pub socket: PathBuf,

    /// The serve end, host:port.
    #[arg(long, value_name = "HOST:PORT")]
    pub server: String,

    /// The name the serve end's certificate must carry [default: the host of --server].
    #[arg(long, value_name = "NAME")]
    pub server_name: Option<String>,

    /// A TCP port for the kubelet's probes, which accepts and closes.
    #[arg(long, value_name = "ADDR")]
    pub health: Option<std::net::SocketAddr>,

    #[command(flatten)]
    pub tls: TunnelTlsArgs,
}

#[derive(Debug, Args)]
pub struct ExporterArgs {
    #[command(subcommand)]
    pub command: ExporterCommand,
}

#[derive(Debug, Subcommand)]
pub enum ExporterCommand {
    /// Core Lightning, through its REST API (clnrest) with a read-only rune: cln_* metrics on
    /// GET /metrics.
    Cln(ClnExporterArgs),
}

#[derive(Debug, Clone, Args)]
pub struct ClnExporterArgs {
    /// CLNRest's address, e.g. https://cln.bitcoin.svc:3010.
    #[arg(long, value_name = "URL")]
    pub rest_url: String,

    /// A file holding the rune (read-only is enough); read again on every refresh.
    #[arg(long, value_name = "FILE")]
    pub rune_file: PathBuf,

    /// The node's CA certificate (PEM), which CLNRest's certificate must chain to.
    #[arg(long, value_name = "FILE")]
    pub ca_file: PathBuf,

    /// Where to serve /metrics.
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:9750")]
    pub listen: std::net::SocketAddr,

    /// Scrapes within this long of a refresh get its answer, not new calls to the node.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub refresh: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Print the Site CustomResourceDefinition instead.
    #[arg(long)]
    pub crd: bool,
}

#[derive(Debug, Args)]
pub struct ControllerArgs {
    #[command(subcommand)]
    pub command: ControllerCommand,
}

#[derive(Debug, Subcommand)]
pub enum ControllerCommand {
    /// Apply the Site CRD, the controller's ServiceAccount and RBAC, and its Deployment.
    Install(ControllerInstallArgs),
    /// Run the controller (in its Deployment, or locally against a kubeconfig).
    Run(ControllerRunArgs),
    /// Hand a site applied from this machine to the controller: its profile becomes a Site in
    /// its namespace, and its secrets stay exactly as they are in the cluster.
    Adopt,
}

#[derive(Debug, Args)]
pub struct ControllerInstallArgs {
    /// The namespace the controller runs in.
    #[arg(long, default_value = "openlsp-system")]
    pub namespace: String,

    /// The controller's image (build it from the Containerfile and push it to your registry).
    #[arg(long, default_value = crate::images::CONTROLLER_PLACEHOLDER)]
    pub image: String,

    /// Reconcile only the Sites in this namespace (default: every namespace).
    #[arg(long, value_name = "NAMESPACE")]
    pub watch_namespace: Option<String>,

    /// Apply without asking.
    #[arg(short, long)]
    pub yes: bool,

    /// Do not wait for the controller to become ready.
    #[arg(long)]
    pub no_wait: bool,

    /// How long to wait for the controller (e.g. 90s, 10m).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct ControllerRunArgs {
    /// The namespace of the leader election Lease [default: the pod's namespace, else openlsp-system].
    #[arg(long, env = "OPENLSP_CONTROLLER_NAMESPACE")]
    pub namespace: Option<String>,

    /// Watch only the Sites of this namespace (then namespaced RBAC in it is enough).
    #[arg(long)]
    pub watch_namespace: Option<String>,

    /// How often every Site is reconciled even without a change (a safety net; changes are
    /// seen on their watch events).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub resync: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Show the status again whenever it changes, until Ctrl-C.
    #[arg(short, long)]
    pub watch: bool,
}

#[derive(Debug, Args)]
pub struct SecretsArgs {
    #[command(subcommand)]
    pub command: SecretsCommand,
}

#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// One row per secret: kind, consumers, date, fingerprint, expiry. Never a value.
    List(SecretsListArgs),
    /// Replace RPC credentials (two phases, no downtime) or reissue TLS certificates.
    Rotate(RotateArgs),
    /// Rebuild the state dir from the Secrets in the cluster.
    Pull(PullArgs),
    /// Write the state dir, encrypted with a passphrase, for an offline backup.
    Export(ExportArgs),
    /// Restore the state dir from an export.
    Import(ImportArgs),
    /// Show where a Lightning node's seed is; --reveal prints it once, after a typed confirmation.
    Seed(SeedArgs),
    /// Give a secret openlsp cannot make (a backup target's rclone config); kept 0600.
    Set(SetArgs),
    /// Show where a UI's login password is (rtl, thunderhub); --reveal prints it once.
    Password(PasswordArgs),
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// The UI: rtl or thunderhub.
    pub app: String,

    /// Print the password (asks to type the UI's name first).
    #[arg(long)]
    pub reveal: bool,

    /// The UI's name, typed in advance, to confirm --reveal without a terminal.
    #[arg(long, value_name = "APP")]
    pub confirm_app: Option<String>,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// The secret, as the profile names it (a backup target's `rclone.config`).
    pub name: String,

    /// The file with its value (`-`: standard input).
    #[arg(long, value_name = "FILE")]
    pub from_file: PathBuf,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: BackupCommand,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Every node's targets: last verified copy, its age and checksum, and whether it is the
    /// cluster's latest (exit 1 when one is stale or failing).
    Status(BackupStatusArgs),
    /// Write a node's latest channel backup, from its cluster copy, to a file (0600).
    Pull(BackupPullArgs),
    /// Give a running node a channel backup, so its peers close the channels and the funds
    /// come back on chain (after checks and a typed confirmation).
    Restore(BackupRestoreArgs),
}

#[derive(Debug, Args)]
pub struct BackupStatusArgs {
    /// Only this Lightning node [default: every one].
    pub node: Option<String>,
}

#[derive(Debug, Args)]
pub struct BackupPullArgs {
    /// The Lightning node.
    pub node: String,

    /// The file to write (0600); it must not exist yet.
    #[arg(short, long, value_name = "FILE")]
    pub output: PathBuf,
}

#[derive(Debug, Args)]
pub struct BackupRestoreArgs {
    /// The Lightning node to restore the channels of.
    pub node: String,

    /// The channel backup file (a node's channel.backup, from a target or `backup pull`).
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,

    /// The node's name, typed in advance, to confirm without a terminal.
    #[arg(long, value_name = "NODE")]
    pub confirm_node: Option<String>,
}

#[derive(Debug, Args)]
pub struct SecretsListArgs {
    /// Do not ask the cluster about the secrets only it holds (seed, macaroons).
    #[arg(long)]
    pub offline: bool,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// Secrets to rotate, by name as `openlsp secrets list` shows them.
    #[arg(value_name = "NAME", required_unless_present_any = ["all", "finish"])]
    pub names: Vec<String>,

    /// Rotate every RPC credential and certificate.
    #[arg(long, conflicts_with = "names")]
    pub all: bool,

    /// Finish phase 2 of pending RPC credential rotations (drop the old rpcauth lines).
    #[arg(long, conflicts_with_all = ["names", "all"])]
    pub finish: bool,

    /// Only show the plan.
    #[arg(long)]
    pub dry_run: bool,

    /// Rotate without asking.
    #[arg(short, long)]
    pub yes: bool,

    /// Do not wait for the clients; stop after phase 1 (finish later with --finish).
    #[arg(long)]
    pub no_wait: bool,

    /// How long to wait for each rollout (e.g. 90s, 10m).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Replace values that differ from the cluster's (the old ones go to history/).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The file to write (0600); it must not exist yet.
    #[arg(long, value_name = "FILE")]
    pub to: PathBuf,

    /// Read the passphrase from the first line of FILE instead of asking.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The export to restore.
    #[arg(long, value_name = "FILE")]
    pub from: PathBuf,

    /// Read the passphrase from the first line of FILE instead of asking.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,

    /// Replace values that differ (the old ones go to history/).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct SeedArgs {
    /// The Lightning node [default: the site's only one].
    pub node: Option<String>,

    /// Print the words, 24 for LND, 12 for CLN (asks to type the node's name first).
    #[arg(long)]
    pub reveal: bool,

    /// The node's name, typed in advance, to confirm --reveal without a terminal.
    #[arg(long, value_name = "NODE")]
    pub confirm_node: Option<String>,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The Lightning node.
    pub node: String,

    /// Connect over REST (port 8080; CLN: CLNRest on 3010, always).
    #[arg(long, conflicts_with = "grpc")]
    pub rest: bool,

    /// Connect over gRPC (port 10009; the default).
    #[arg(long)]
    pub grpc: bool,

    /// Host name or address the wallet reaches the node at [default: LND's first extra TLS name].
    #[arg(long)]
    pub host: Option<String>,

    /// Port the wallet reaches the node at [default: 10009, or 8080 with --rest; CLN: 3010].
    #[arg(long)]
    pub port: Option<u16>,

    /// Print without asking (it shows an admin macaroon or rune).
    #[arg(short, long)]
    pub yes: bool,
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

    /// Show the plan as `apply --replace-secrets NAME,...` would make it.
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub replace_secrets: Vec<String>,
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

    /// Write the state dir's values of these Secrets over the cluster's, where the two differ
    /// (asks for the site name; `secrets rotate` is the safe way to change a credential).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub replace_secrets: Vec<String>,

    /// The site name, typed in advance, to confirm --prune-data or --replace-secrets without a terminal.
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

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["from_dir", "from_host", "utxo_snapshot"])))]
pub struct BootstrapArgs {
    /// The Bitcoin node, by its name in spec.bitcoin.
    pub node: String,

    /// A datadir (or its network's directory) on the machine with the node's disk, its bitcoind
    /// stopped: an external disk with a copy, say.
    #[arg(long, value_name = "PATH")]
    pub from_dir: Option<std::path::PathBuf>,

    /// Another node's datadir over SSH, its bitcoind stopped, as rsync names it. The key is the
    /// provided secret bootstrap-ssh (openlsp secrets set bootstrap-ssh --from-file KEY).
    #[arg(long, value_name = "USER@HOST:PATH")]
    pub from_host: Option<String>,

    /// The source host's SSH port.
    #[arg(
        long,
        value_name = "PORT",
        default_value_t = 22,
        requires = "from_host"
    )]
    pub ssh_port: u16,

    /// The known_hosts file with the source host's key [default: ~/.ssh/known_hosts].
    #[arg(long, value_name = "FILE", requires = "from_host")]
    pub known_hosts: Option<std::path::PathBuf>,

    /// An assumeutxo snapshot (`bitcoin-cli dumptxoutset`'s file) on the machine with the node's
    /// disk: copied into the node's volume and loaded with loadtxoutset while the node runs.
    #[arg(long, value_name = "FILE")]
    pub utxo_snapshot: Option<std::path::PathBuf>,

    /// Remove files in the node's blocks, chainstate and indexes that the source lacks (asks first).
    #[arg(long, conflicts_with = "utxo_snapshot")]
    pub delete: bool,

    /// Limit the copy's bandwidth to KIB kibibytes per second.
    #[arg(long, value_name = "KIB", conflicts_with = "utxo_snapshot")]
    pub bwlimit: Option<u64>,

    /// Only the preflight: check both sides and report; change nothing, need no cluster.
    #[arg(long)]
    pub check: bool,

    /// Print the copy Job after the preflight and change nothing; needs no cluster.
    #[arg(long, conflicts_with = "check")]
    pub render: bool,

    /// Go ahead without asking (stopping the node, and --delete).
    #[arg(short, long)]
    pub yes: bool,

    /// Do not wait for bitcoind to reach the source's height once it runs again.
    #[arg(long, conflicts_with = "utxo_snapshot")]
    pub no_wait: bool,

    /// How long to wait for the node to stop and to start again, or (--utxo-snapshot) for its
    /// headers to reach the snapshot and its chainstate to show it (the copy is not limited).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    pub timeout: std::time::Duration,
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
pub struct ManArgs {
    /// Write openlsp.1 and openlsp-<command>.1 for every command into DIR instead.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
