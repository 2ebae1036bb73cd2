//! The effective site: the profile with every default filled in. Everything after loading reads this.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::quantity::{Bytes, Millicores};

pub const API_VERSION: &str = "openlsp.io/v1alpha1";
pub const KIND: &str = "Site";

/// The Bitcoin network (chain) the whole site runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    Mainnet,
    Testnet,
    Testnet4,
    Signet,
    Regtest,
    /// btcd's private test network (its chaincfg SimNetParams); only btcd runs it.
    Simnet,
}

impl Network {
    pub const ALL: [Network; 6] = [
        Network::Mainnet,
        Network::Testnet,
        Network::Testnet4,
        Network::Signet,
        Network::Regtest,
        Network::Simnet,
    ];

    /// The profile spelling (`mainnet`).
    pub fn as_str(self) -> &'static str {
        match self {
            Network::Mainnet => "mainnet",
            Network::Testnet => "testnet",
            Network::Testnet4 => "testnet4",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
            Network::Simnet => "simnet",
        }
    }

    /// bitcoind's `chain=` value, which is also its config section name.
    pub fn bitcoind_chain(self) -> &'static str {
        match self {
            Network::Mainnet => "main",
            Network::Testnet => "test",
            Network::Testnet4 => "testnet4",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
            // Refused by validation: bitcoind has no simnet.
            Network::Simnet => "simnet",
        }
    }

    /// bitcoind's default RPC port on this network (btcd's differ: [`BitcoinNode::rpc_port`]).
    pub fn rpc_port(self) -> u16 {
        match self {
            Network::Mainnet => 8332,
            Network::Testnet => 18332,
            Network::Testnet4 => 48332,
            Network::Signet => 38332,
            Network::Regtest => 18443,
            // Only btcd runs simnet (btcd's params.go).
            Network::Simnet => 18556,
        }
    }

    /// bitcoind's default P2P port on this network.
    pub fn p2p_port(self) -> u16 {
        match self {
            Network::Mainnet => 8333,
            Network::Testnet => 18333,
            Network::Testnet4 => 48333,
            Network::Signet => 38333,
            Network::Regtest => 18444,
            // chaincfg's SimNetParams.DefaultPort.
            Network::Simnet => 18555,
        }
    }

    /// bitcoind's default port for inbound Tor connections (`-bind=...=onion`), from
    /// chainparamsbase.cpp's `OnionServiceTargetPort`.
    pub fn onion_target_port(self) -> u16 {
        match self {
            Network::Mainnet => 8334,
            Network::Testnet => 18334,
            Network::Testnet4 => 48334,
            Network::Signet => 38334,
            Network::Regtest => 18445,
            // btcd takes onion peers on its P2P port.
            Network::Simnet => 18555,
        }
    }
}

/// Which Bitcoin daemon a node runs (`spec.bitcoin[].implementation`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum BitcoinImplementation {
    /// bitcoind (Bitcoin Core or Knots).
    #[default]
    Bitcoind,
    /// btcd, the Go full node (btcsuite/btcd); the only one that runs simnet, and a backend for
    /// LND alone.
    Btcd,
}

impl BitcoinImplementation {
    pub fn as_str(self) -> &'static str {
        match self {
            BitcoinImplementation::Bitcoind => "bitcoind",
            BitcoinImplementation::Btcd => "btcd",
        }
    }
}

/// How the site uses Tor (`spec.tor.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum TorMode {
    /// No Tor at all.
    Off,
    /// Clearnet and onion: onion peers through Tor, clearnet peers directly.
    Hybrid,
    /// Every outbound connection through Tor; inbound only through onion services.
    TorOnly,
}

impl TorMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TorMode::Off => "off",
            TorMode::Hybrid => "hybrid",
            TorMode::TorOnly => "tor-only",
        }
    }
}

/// How inbound P2P connections (8333, 9735) reach the nodes (`spec.networking.inbound`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Inbound {
    /// A `hostPort` on the node's machine: the default for one Pi.
    HostPort,
    /// A `LoadBalancer` Service per node (MetalLB, a cloud).
    LoadBalancer,
    /// A ClusterIP Service per node for the microk8s nginx ingress TCP routes.
    Ingress,
    /// No clearnet inbound.
    None,
}

impl Inbound {
    pub fn as_str(self) -> &'static str {
        match self {
            Inbound::HostPort => "hostPort",
            Inbound::LoadBalancer => "loadBalancer",
            Inbound::Ingress => "ingress",
            Inbound::None => "none",
        }
    }
}

/// A Lightning node's APIs, which can be given an onion service or an Ingress by name: LND's
/// REST and gRPC, Core Lightning's clnrest and cln-grpc.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum LndApi {
    Rest,
    Grpc,
}

impl LndApi {
    pub fn as_str(self) -> &'static str {
        match self {
            LndApi::Rest => "rest",
            LndApi::Grpc => "grpc",
        }
    }
}

/// Which Lightning daemon a node runs (`spec.lightning[].implementation`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Implementation {
    /// LND from Lightning Labs.
    #[default]
    Lnd,
    /// Core Lightning (lightningd) from Blockstream.
    Cln,
}

impl Implementation {
    /// How messages name it: `LND`, `CLN`.
    pub fn label(self) -> &'static str {
        match self {
            Implementation::Lnd => "LND",
            Implementation::Cln => "CLN",
        }
    }
}

/// Which Let's Encrypt server the Ingresses' certificates come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Acme {
    Production,
    Staging,
}

/// CPU architecture of the host; images must be published for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Arm64,
    Amd64,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Arm64 => "arm64",
            Arch::Amd64 => "amd64",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Site {
    pub api_version: String,
    pub kind: String,
    pub metadata: Metadata,
    pub spec: SiteSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SiteSpec {
    pub network: Network,
    pub namespace: String,
    pub host: Host,
    pub disks: BTreeMap<String, Disk>,
    pub bitcoin: Vec<BitcoinNode>,
    pub lightning: Vec<LightningNode>,
    pub tor: Tor,
    pub networking: Networking,
    pub monitoring: Monitoring,
    pub ingress: Ingress,
    pub backup: Backup,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub btcpay: Option<Btcpay>,
    pub apps: Apps,
}

/// The names of BTCPay's workloads, Services and data directories: fixed, one store per site,
/// so no node may take them.
pub const BTCPAY_OBJECTS: [&str; 3] = ["btcpay", "btcpay-nbxplorer", "btcpay-postgres"];

/// `spec.btcpay`: BTCPay Server, its NBXplorer and their PostgreSQL (docs/btcpay.md), named
/// [`BTCPAY_OBJECTS`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Btcpay {
    pub bitcoin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lightning: Option<String>,
    pub disk: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub onion: bool,
    pub resources: Resources,
    pub image: String,
    pub nbxplorer_image: String,
    pub postgres_image: String,
    /// The spec.backup targets PostgreSQL's dumps go to, by name.
    pub backup_targets: Vec<String>,
    /// openlsp's image, for the tunnel to a CLN node's RPC socket.
    pub tunnel_image: String,
}

/// `spec.apps`: the channel management UIs (docs/apps.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Apps {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtl: Option<App>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thunderhub: Option<App>,
}

/// Which UI an [`App`] is; its name is its workload's, Service's and Secrets' prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppKind {
    Rtl,
    Thunderhub,
}

impl AppKind {
    pub const ALL: [AppKind; 2] = [AppKind::Rtl, AppKind::Thunderhub];

    pub fn name(self) -> &'static str {
        match self {
            AppKind::Rtl => "rtl",
            AppKind::Thunderhub => "thunderhub",
        }
    }

    /// What the operator calls it.
    pub fn title(self) -> &'static str {
        match self {
            AppKind::Rtl => "RTL",
            AppKind::Thunderhub => "ThunderHub",
        }
    }
}

/// One UI: the nodes it manages and how it is reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    pub nodes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    pub onion: bool,
    pub resources: Resources,
    pub image: String,
}

impl Apps {
    /// The UIs the profile turns on, each with its kind.
    pub fn enabled(&self) -> Vec<(AppKind, &App)> {
        AppKind::ALL
            .into_iter()
            .filter_map(|kind| self.get(kind).map(|app| (kind, app)))
            .collect()
    }

    pub fn get(&self, kind: AppKind) -> Option<&App> {
        match kind {
            AppKind::Rtl => self.rtl.as_ref(),
            AppKind::Thunderhub => self.thunderhub.as_ref(),
        }
    }
}

/// `spec.backup`: where each Lightning node's channel backup is copied, verified, every time it
/// changes (docs/backup.md).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Backup {
    pub targets: Vec<BackupTarget>,
    /// Timestamped copies kept on each target.
    pub keep: u32,
}

/// One place the backups go: a directory on a disk of the node's machine (other than the disks
/// it protects), or an rclone remote. Validation makes sure exactly one is set.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupTarget {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rclone: Option<Rclone>,
}

/// An rclone remote (`name:path`) and the operator-provided secret that holds its config.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rclone {
    pub remote: String,
    pub config: String,
}

impl Rclone {
    /// The remote's name: what comes before the first `:`.
    pub fn remote_name(&self) -> &str {
        self.remote.split_once(':').map_or("", |(name, _)| name)
    }
}

impl Backup {
    /// The operator-provided secrets the targets name, each once, in profile order, with the
    /// index of the first target that names it.
    pub fn rclone_configs(&self) -> Vec<(usize, &str)> {
        let mut found: Vec<(usize, &str)> = Vec::new();
        for (i, target) in self.targets.iter().enumerate() {
            if let Some(rclone) = &target.rclone
                && !found.iter().any(|(_, name)| *name == rclone.config)
            {
                found.push((i, rclone.config.as_str()));
            }
        }
        found
    }
}

/// `spec.tor`: one Tor daemon for the site, with openlsp's onion services.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Tor {
    pub mode: TorMode,
    pub image: String,
    pub resources: Resources,
}

impl Tor {
    pub fn enabled(&self) -> bool {
        self.mode != TorMode::Off
    }
}

/// `spec.networking`: IP families and how inbound P2P reaches the nodes. (`spec.network` is
/// the chain.)
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Networking {
    pub ipv6: bool,
    pub inbound: Inbound,
    /// Public addresses the nodes advertise to peers.
    #[serde(rename = "externalIPs")]
    pub external_ips: Vec<String>,
}

/// `spec.monitoring`: exporters, ServiceMonitors, alerts and dashboards for the Prometheus
/// operator and Grafana of microk8s' observability addon (kube-prometheus-stack).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Monitoring {
    pub enabled: bool,
    /// The `release` label Prometheus selects ServiceMonitors, PodMonitors and rules by.
    pub release: String,
    /// Where Prometheus and Grafana (and its dashboard sidecar) run: the only namespace that
    /// may scrape the site's metrics ports.
    pub namespace: String,
    pub lndmon: bool,
    pub exporter_image: String,
    pub lndmon_image: String,
    /// openlsp's image, for `openlsp exporter cln`.
    pub cln_exporter_image: String,
}

/// `spec.ingress`: cert-manager ClusterIssuers and the Ingresses the profile names.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ingress {
    pub enabled: bool,
    pub class_name: String,
    /// Where the ingress controller runs: the only namespace that may reach a published API.
    pub controller_namespace: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub acme: Acme,
    /// Public hostname of Grafana, if it gets an Ingress.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grafana: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Host {
    pub node_name: String,
    pub arch: Arch,
    pub memory: Bytes,
    pub cpus: u32,
    /// Memory kept free for the OS, microk8s and its addons.
    pub reserved_memory: Bytes,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Disk {
    pub path: String,
    pub size: Bytes,
    /// The Kubernetes node the disk is attached to.
    pub node_name: String,
    /// Opt-in: Bitcoin and Lightning nodes may share this disk.
    pub allow_bitcoin_and_lightning: bool,
    /// Opt-in: the path may be a directory on the root filesystem instead of its own mount.
    pub allow_root_filesystem: bool,
}

/// Memory (request = limit) and CPU request of one node's pod; the CPU limit is the host's CPUs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Resources {
    pub memory: Bytes,
    pub cpu: Millicores,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BitcoinNode {
    pub name: String,
    pub implementation: BitcoinImplementation,
    pub disk: String,
    pub txindex: bool,
    /// Prune target in MiB; absent for a full node.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prune: Option<u64>,
    /// bitcoind `dbcache` in MiB.
    pub dbcache: u64,
    /// bitcoind `maxmempool` in MiB.
    pub maxmempool: u64,
    pub image: String,
    pub resources: Resources,
    /// Source ranges allowed to reach RPC (the pod network).
    pub rpc_allow_ip: Vec<String>,
    /// Public hostnames of APIs, only those the profile names.
    pub ingress: BitcoinIngress,
    /// A btcd node's RPC certificate from cert-manager; absent: openlsp makes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls: Option<BtcdTls>,
}

/// A btcd node's RPC certificate issued by cert-manager (`spec.bitcoin[].tls`), as kiln's
/// `certSecret` was: a `Certificate` for the node's Service names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BtcdTls {
    /// The cert-manager issuer's name.
    pub issuer: String,
    /// Issuer (in the site's namespace) or ClusterIssuer [default: Issuer, as cert-manager's].
    #[serde(default)]
    pub kind: IssuerKind,
}

/// cert-manager's two issuer kinds.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum IssuerKind {
    #[default]
    Issuer,
    ClusterIssuer,
}

impl BitcoinNode {
    /// The node's RPC port on `network`: bitcoind's, or btcd's (btcd params.go), which differ.
    pub fn rpc_port(&self, network: Network) -> u16 {
        match self.implementation {
            BitcoinImplementation::Bitcoind => network.rpc_port(),
            BitcoinImplementation::Btcd => match network {
                Network::Mainnet => 8334,
                Network::Testnet | Network::Regtest => 18334,
                Network::Testnet4 => 48334,
                Network::Signet => 38332,
                Network::Simnet => 18556,
            },
        }
    }

    /// The port Tor forwards the node's onion peers to: bitcoind's `bind=…=onion` port, which
    /// tags them as onion peers; btcd takes them on its P2P port.
    pub fn onion_target_port(&self, network: Network) -> u16 {
        match self.implementation {
            BitcoinImplementation::Bitcoind => network.onion_target_port(),
            BitcoinImplementation::Btcd => network.p2p_port(),
        }
    }
}

/// bitcoind's HTTP API that can be given an Ingress by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BitcoinIngress {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rpc: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LightningNode {
    pub name: String,
    pub implementation: Implementation,
    /// The Bitcoin node it uses, by name.
    pub bitcoin: String,
    pub disk: String,
    pub alias: String,
    pub color: String,
    pub image: String,
    pub resources: Resources,
    pub tls_extra_domains: Vec<String>,
    pub tls_extra_ips: Vec<String>,
    /// APIs reachable through the node's private onion service (for remote wallets).
    pub onion: Vec<LndApi>,
    /// Public hostnames of APIs, only those the profile names.
    pub ingress: BTreeMap<LndApi, String>,
}

impl Site {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn namespace(&self) -> &str {
        &self.spec.namespace
    }

    /// Namespaces the site's namespaced objects may live in: its own first, then those of
    /// addons it puts objects into.
    pub fn managed_namespaces(&self) -> Vec<&str> {
        let mut namespaces = vec![self.namespace()];
        let dashboards = self.spec.monitoring.enabled
            || (self.spec.ingress.enabled && self.spec.ingress.grafana.is_some());
        if dashboards && self.spec.monitoring.namespace != self.namespace() {
            namespaces.push(self.spec.monitoring.namespace.as_str());
        }
        namespaces
    }

    pub fn bitcoin_node(&self, name: &str) -> Option<&BitcoinNode> {
        self.spec.bitcoin.iter().find(|node| node.name == name)
    }

    /// The site's bitcoind nodes.
    pub fn bitcoind_nodes(&self) -> impl Iterator<Item = &BitcoinNode> {
        self.spec
            .bitcoin
            .iter()
            .filter(|node| node.implementation == BitcoinImplementation::Bitcoind)
    }

    /// The site's btcd nodes.
    pub fn btcd_nodes(&self) -> impl Iterator<Item = &BitcoinNode> {
        self.spec
            .bitcoin
            .iter()
            .filter(|node| node.implementation == BitcoinImplementation::Btcd)
    }

    /// Whether Bitcoin node `name` is btcd.
    pub fn is_btcd(&self, name: &str) -> bool {
        self.bitcoin_node(name)
            .is_some_and(|node| node.implementation == BitcoinImplementation::Btcd)
    }

    /// Whether BTCPay's PostgreSQL dumps its databases to some backup target.
    pub fn dumps_database(&self) -> bool {
        self.spec
            .btcpay
            .as_ref()
            .is_some_and(|b| !b.backup_targets.is_empty())
    }

    pub fn lightning_node(&self, name: &str) -> Option<&LightningNode> {
        self.spec.lightning.iter().find(|node| node.name == name)
    }

    /// The Core Lightning node BTCPay takes Lightning payments with, through `openlsp tunnel`.
    pub fn btcpay_cln(&self) -> Option<&LightningNode> {
        let name = self.spec.btcpay.as_ref()?.lightning.as_deref()?;
        self.lightning_node(name)
            .filter(|node| node.implementation == Implementation::Cln)
    }

    /// The Lightning nodes that use `bitcoin` as their backend, in profile order.
    pub fn clients_of<'a>(&'a self, bitcoin: &'a str) -> impl Iterator<Item = &'a LightningNode> {
        self.spec
            .lightning
            .iter()
            .filter(move |node| node.bitcoin == bitcoin)
    }

    /// The Kubernetes node a disk lives on.
    pub fn machine_of_disk(&self, disk: &str) -> &str {
        self.spec
            .disks
            .get(disk)
            .map_or(self.spec.host.node_name.as_str(), |d| d.node_name.as_str())
    }

    /// Memory the site's pods may use on one machine.
    pub fn memory_budget(&self) -> Bytes {
        Bytes(
            self.spec
                .host
                .memory
                .0
                .saturating_sub(self.spec.host.reserved_memory.0),
        )
    }
}
