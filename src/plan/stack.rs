//! What the Tor, networking, monitoring and ingress templates see. Computed here, like
//! context.rs does for the nodes, so templates never build names, ports or addresses: the site
//! part (`site.tor`, `site.networking`, `site.monitoring`, `site.ingress`) comes from the profile
//! alone; the node parts (onion addresses and keys, exporter credentials) need the state dir.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::images;
use crate::profile::{Acme, BitcoinNode, Inbound, LightningNode, LndApi, Resources, Site, TorMode};

use super::PlanError;
use super::context::{
    BITCOIN_COMPONENT, LIGHTNING_COMPONENT, LND_GRPC_PORT, LND_P2P_PORT, LND_REST_PORT, SITE_LABEL,
    b64, secret, service_host,
};
use super::names;
use crate::secrets::{self as state, EXPORTER_RPC_USER, OnionKey, Secrets};

pub const TOR_SOCKS_PORT: u16 = 9050;
/// The Tor pod's memory-backed emptyDir: Tor's DataDirectory and every HiddenServiceDir.
pub const TOR_STATE_DIR: &str = "/var/lib/tor";
/// Tor's DataDirectory, under TOR_STATE_DIR.
const TOR_DATA_SUBDIR: &str = "data";
/// The HiddenServiceDirs' parent, under TOR_STATE_DIR.
const TOR_HS_SUBDIR: &str = "hs";
/// Where the Tor pod mounts the onion key Secrets, one directory per onion service.
pub const TOR_KEYS_DIR: &str = "/etc/tor/keys";
pub const EXPORTER_PORT: u16 = 9332;
/// The exporter pod's `headers` container (templates/bitcoind/headers-exporter.py.j2).
pub const HEADERS_EXPORTER_PORT: u16 = 9333;
/// LND's `prometheus.listen` port (sample-lnd.conf: `prometheus.listen=0.0.0.0:8989`).
pub const LND_METRICS_PORT: u16 = 8989;
/// lndmon's default `prometheus.listenaddr` port.
pub const LNDMON_PORT: u16 = 9092;
/// The RPCs jvstein/bitcoin-prometheus-exporter calls (bitcoind-monitor.py's `refresh_metrics`):
/// the union over its versions, since the pinned image's script cannot be read here and bitcoind
/// answers a call outside the whitelist with 403, after which the exporter sets no gauge at all.
/// Every one only reads; the exporter's user may call nothing else. The pod's `headers`
/// container calls only `getblockchaininfo`, as the same user.
pub const EXPORTER_RPCS: [&str; 14] = [
    "estimatesmartfee",  // bitcoin_est_smart_fee_<blocks>
    "getblock",          // the latest block's size, weight and transactions (older versions)
    "getblockchaininfo", // height, difficulty, size on disk, verification progress, best block
    "getblockstats",     // the latest block's size, weight, transactions and fees (newer versions)
    "getchaintips",      // bitcoin_num_chaintips
    "getchaintxstats",   // bitcoin_txcount (newer versions)
    "getmemoryinfo",     // bitcoin_meminfo_*
    "getmempoolinfo",    // bitcoin_mempool_*
    "getnettotals",      // bitcoin_total_bytes_recv and _sent
    "getnetworkhashps",  // bitcoin_hashps*
    "getnetworkinfo",    // peers, server and protocol version, warnings
    "getrpcinfo",        // bitcoin_rpc_active (newer versions)
    "listbanned",        // bitcoin_ban_created and bitcoin_banned_until
    "uptime",            // bitcoin_uptime
];
/// The exporter refreshes its metrics when `/metrics` is fetched, at most once in this many
/// seconds (its `RATE_LIMIT`): just under the 60 s scrape interval, so a scrape sees data at most
/// a minute old and the readiness probe (every 30 s) does not double bitcoind's RPC load.
pub const EXPORTER_RATE_LIMIT_SECONDS: u32 = 55;
/// Let's Encrypt's ACME v2 directories.
pub const LETSENCRYPT_PRODUCTION: &str = "https://acme-v02.api.letsencrypt.org/directory";
pub const LETSENCRYPT_STAGING: &str = "https://acme-staging-v02.api.letsencrypt.org/directory";

type Labels = BTreeMap<&'static str, String>;

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PortTarget {
    #[serde(rename = "virtual")]
    virtual_port: u16,
    target: String,
}

/// One HiddenServiceDir of the Tor daemon.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OnionServiceContext {
    name: String,
    secret: String,
    /// The HiddenServiceDir in the pod, for the torrc.
    dir: String,
    /// The same directory relative to the state dir, for copy-keys.sh.
    subdir: String,
    ports: Vec<PortTarget>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TorContext {
    enabled: bool,
    mode: &'static str,
    hybrid: bool,
    tor_only: bool,
    image: String,
    uid: i64,
    memory: String,
    cpu: String,
    cpu_limit: String,
    name: &'static str,
    config_map: &'static str,
    socks_port: u16,
    /// `host:port` of the SOCKS proxy, for bitcoind and LND.
    socks: String,
    /// Source ranges allowed to use the SOCKS port (`SocksPolicy accept`).
    socks_allow: Vec<String>,
    /// The NetworkPolicy's pods allowed to use the SOCKS port: this site's bitcoind and LND.
    socks_client_labels: Labels,
    socks_client_components: [&'static str; 2],
    /// The emptyDir holding Tor's DataDirectory and HiddenServiceDirs.
    state_dir: &'static str,
    /// The DataDirectory: absolute for the torrc, relative to `state_dir` for copy-keys.sh.
    data_dir: String,
    data_subdir: &'static str,
    /// Where the onion key Secrets are mounted.
    keys_dir: &'static str,
    node_name: String,
    services: Vec<OnionServiceContext>,
    labels: Labels,
    selector: Labels,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkingContext {
    ipv6: bool,
    inbound: &'static str,
    host_port: bool,
    /// `PreferDualStack` with IPv6, else absent (the cluster's default family).
    ip_family_policy: Option<&'static str>,
    /// The wildcard address nodes listen on: `[::]` (both families) with IPv6.
    listen_all: &'static str,
    external_ips: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskWatch {
    name: String,
    mountpoint: String,
    /// The Kubernetes node the disk is attached to: node-exporter reports every machine's
    /// mount points, so the same path elsewhere must not count.
    machine: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScrapeJob {
    node: String,
    job: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DashboardContext {
    name: String,
    uid: String,
    key: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitoringContext {
    enabled: bool,
    release: String,
    namespace: String,
    lndmon: bool,
    /// Labels of ServiceMonitors and rules: the release Prometheus selects.
    monitor_labels: Labels,
    rules_name: &'static str,
    exporters: Vec<ScrapeJob>,
    lnd_jobs: Vec<ScrapeJob>,
    lndmon_jobs: Vec<ScrapeJob>,
    disks: Vec<DiskWatch>,
    lightning_disks: Vec<DiskWatch>,
    /// Regex of every disk's mount point, for the dashboards.
    disk_regex: String,
    /// Regex of the machines the disks are attached to, for the dashboards.
    machine_regex: String,
    bitcoind_dashboard: DashboardContext,
    lnd_dashboard: DashboardContext,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuerContext {
    name: String,
    server: &'static str,
    account_secret: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrafanaIngressContext {
    name: String,
    host: String,
    namespace: String,
    service: String,
    port: u16,
    tls_secret: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IngressContext {
    enabled: bool,
    class_name: String,
    email: String,
    issuers: Vec<IssuerContext>,
    /// The issuer the Ingresses ask for.
    issuer: String,
    grafana: Option<GrafanaIngressContext>,
}

/// The Service of one node for inbound P2P (`loadBalancer` or `ingress`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InboundServiceContext {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    /// `Local` for a LoadBalancer: peers' real addresses reach the node (ban scores work).
    external_traffic_policy: Option<&'static str>,
    port: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInbound {
    host_port: bool,
    service: Option<InboundServiceContext>,
}

/// An onion service's key material as a Secret's data.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OnionSecretContext {
    name: String,
    address: String,
    secret_key_b64: String,
    public_key_b64: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BitcoinTorContext {
    /// `onion` in hybrid mode (only .onion through Tor), `proxy` in tor-only mode.
    proxy_key: &'static str,
    socks: String,
    address: String,
    /// `-bind=0.0.0.0:<port>=onion`: inbound from Tor, tagged as onion peers.
    onion_port: u16,
    /// Explicit clearnet binds (any `-bind` turns off bitcoind's default ones).
    clearnet_binds: Vec<String>,
    target_service: String,
    secret: OnionSecretContext,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExporterContext {
    user: &'static str,
    name: String,
    secret: String,
    port: u16,
    headers_port: u16,
    /// `RATE_LIMIT`: the least number of seconds between two refreshes.
    rate_limit: String,
    image: String,
    uid: i64,
    memory: String,
    cpu: String,
    headers_memory: String,
    headers_cpu: String,
    rpc_host: String,
    user_b64: String,
    password_b64: String,
    labels: Labels,
    selector: Labels,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeIngressContext {
    api: &'static str,
    name: String,
    host: String,
    port: u16,
    /// nginx `backend-protocol`: LND serves TLS itself.
    backend_protocol: &'static str,
    tls_secret: String,
}

/// Everything the stack adds to a Bitcoin node's context.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BitcoinStack {
    tor: Option<BitcoinTorContext>,
    inbound: NodeInbound,
    external_ips: Vec<String>,
    exporter: Option<ExporterContext>,
    ingress: Option<NodeIngressContext>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LightningTorContext {
    socks: String,
    skip_proxy_for_clearnet: bool,
    stream_isolation: bool,
    p2p: OnionSecretContext,
    rpc: Option<OnionSecretContext>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LndmonContext {
    name: String,
    image: String,
    uid: i64,
    memory: String,
    cpu: String,
    port: u16,
    network: &'static str,
    macaroon_secret: String,
    rpc_host: String,
    labels: Labels,
    selector: Labels,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LightningMonitoring {
    metrics_port: u16,
    metrics_service: String,
    /// The metrics Service's labels and the ServiceMonitor's selector: the node's own Service
    /// must not match, it has no metrics port.
    labels: Labels,
    selector: Labels,
    lndmon: Option<LndmonContext>,
}

/// Everything the stack adds to a Lightning node's context.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LightningStack {
    tor: Option<LightningTorContext>,
    inbound: NodeInbound,
    /// `externalip=` values: onion and public addresses with the P2P port.
    external_ips: Vec<String>,
    monitoring: Option<LightningMonitoring>,
    ingress: Vec<NodeIngressContext>,
}

fn quantity(resources: Resources) -> (String, String) {
    (resources.memory.to_string(), resources.cpu.to_string())
}

fn labels(site: &Site, name: &str, instance: &str, component: &str) -> (Labels, Labels) {
    super::context::node_labels(site, name, instance, component)
}

/// The Tor daemon's own name: one per site.
pub const TOR_NAME: &str = "tor";

/// The onion services and where each forwards to.
fn onion_service_contexts(site: &Site) -> Vec<OnionServiceContext> {
    let mut services = Vec::new();
    let service = |name: String, ports: Vec<PortTarget>| OnionServiceContext {
        secret: format!("{name}-onion"),
        dir: format!("{TOR_STATE_DIR}/{TOR_HS_SUBDIR}/{name}"),
        subdir: format!("{TOR_HS_SUBDIR}/{name}"),
        name,
        ports,
    };
    let network = site.spec.network;
    for node in &site.spec.bitcoin {
        let target = service_host(site, &format!("{}-onion", node.name));
        services.push(service(
            format!("{}-p2p", node.name),
            vec![PortTarget {
                virtual_port: network.p2p_port(),
                target: format!("{target}:{}", network.onion_target_port()),
            }],
        ));
    }
    for node in &site.spec.lightning {
        let target = service_host(site, &node.name);
        services.push(service(
            format!("{}-p2p", node.name),
            vec![PortTarget {
                virtual_port: LND_P2P_PORT,
                target: format!("{target}:{LND_P2P_PORT}"),
            }],
        ));
        if !node.onion.is_empty() {
            let ports = node
                .onion
                .iter()
                .map(|api| {
                    let port = api_port(*api);
                    PortTarget {
                        virtual_port: port,
                        target: format!("{target}:{port}"),
                    }
                })
                .collect();
            services.push(service(format!("{}-rpc", node.name), ports));
        }
    }
    debug_assert_eq!(
        services.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        state::onion_services(site)
    );
    services
}

fn api_port(api: LndApi) -> u16 {
    match api {
        LndApi::Rest => LND_REST_PORT,
        LndApi::Grpc => LND_GRPC_PORT,
    }
}

/// A CIDR range as Tor's policies write it: IPv6 addresses in brackets (`[fc00::]/7`).
fn tor_policy_range(range: &str) -> String {
    match range.split_once('/') {
        Some((ip, bits)) if ip.contains(':') => format!("[{ip}]/{bits}"),
        _ => range.to_owned(),
    }
}

pub fn tor_context(site: &Site) -> TorContext {
    let tor = &site.spec.tor;
    let (memory, cpu) = quantity(tor.resources);
    let (labels, selector) = labels(site, TOR_NAME, TOR_NAME, "tor");
    TorContext {
        enabled: tor.enabled(),
        mode: tor.mode.as_str(),
        hybrid: tor.mode == TorMode::Hybrid,
        tor_only: tor.mode == TorMode::TorOnly,
        image: tor.image.clone(),
        uid: images::TOR_UID,
        memory,
        cpu,
        cpu_limit: site.spec.host.cpus.to_string(),
        name: TOR_NAME,
        config_map: "tor-config",
        socks_port: TOR_SOCKS_PORT,
        socks: format!("{}:{TOR_SOCKS_PORT}", service_host(site, TOR_NAME)),
        socks_allow: crate::profile::DEFAULT_RPC_ALLOW_IP
            .iter()
            .map(|range| tor_policy_range(range))
            .collect(),
        socks_client_labels: super::context::site_labels(site),
        socks_client_components: [BITCOIN_COMPONENT, LIGHTNING_COMPONENT],
        state_dir: TOR_STATE_DIR,
        data_dir: format!("{TOR_STATE_DIR}/{TOR_DATA_SUBDIR}"),
        data_subdir: TOR_DATA_SUBDIR,
        keys_dir: TOR_KEYS_DIR,
        node_name: site.spec.host.node_name.clone(),
        services: if tor.enabled() {
            onion_service_contexts(site)
        } else {
            Vec::new()
        },
        labels,
        selector,
    }
}

pub fn networking_context(site: &Site) -> NetworkingContext {
    let networking = &site.spec.networking;
    NetworkingContext {
        ipv6: networking.ipv6,
        inbound: networking.inbound.as_str(),
        host_port: networking.inbound == Inbound::HostPort,
        ip_family_policy: networking.ipv6.then_some("PreferDualStack"),
        listen_all: if networking.ipv6 { "[::]" } else { "0.0.0.0" },
        external_ips: networking.external_ips.clone(),
    }
}

/// The mount point node-exporter reports for a disk: its path, or `/` for a directory on the
/// root filesystem.
fn mountpoint(site: &Site, disk: &str) -> String {
    match site.spec.disks.get(disk) {
        Some(d) if !d.allow_root_filesystem => d.path.clone(),
        _ => "/".to_owned(),
    }
}

fn disk_watch(site: &Site, disk: &str) -> DiskWatch {
    DiskWatch {
        name: disk.to_owned(),
        mountpoint: mountpoint(site, disk),
        machine: site.machine_of_disk(disk).to_owned(),
    }
}

/// `a|b|c` of the distinct values, each escaped, for a Prometheus `=~` matcher.
fn alternation<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let mut values: Vec<&str> = values.collect();
    values.sort_unstable();
    values.dedup();
    values
        .into_iter()
        .map(regex_escape)
        .collect::<Vec<_>>()
        .join("|")
}

fn regex_escape(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Grafana dashboard uid: at most 40 characters, unique per site namespace.
fn dashboard_uid(site: &Site, kind: &str) -> String {
    let digest = hex::encode(Sha256::digest(site.namespace().as_bytes()));
    format!("openlsp-{}-{kind}", &digest[..12])
}

/// The Prometheus job of each node's `<node>-<suffix>` Service (the job label is the Service).
fn scrape_jobs<'a>(nodes: impl Iterator<Item = &'a String>, suffix: &str) -> Vec<ScrapeJob> {
    nodes
        .map(|node| ScrapeJob {
            node: node.clone(),
            job: format!("{node}-{suffix}"),
        })
        .collect()
}

pub fn monitoring_context(site: &Site) -> MonitoringContext {
    let monitoring = &site.spec.monitoring;
    let mut monitor_labels = Labels::new();
    monitor_labels.insert("app.kubernetes.io/managed-by", "openlsp".to_owned());
    monitor_labels.insert("app.kubernetes.io/part-of", "openlsp".to_owned());
    monitor_labels.insert(SITE_LABEL, site.name().to_owned());
    monitor_labels.insert("release", monitoring.release.clone());
    let disks: Vec<DiskWatch> = site
        .spec
        .disks
        .keys()
        .map(|name| disk_watch(site, name))
        .collect();
    let mut lightning_disks: Vec<DiskWatch> = Vec::new();
    for node in &site.spec.lightning {
        if !lightning_disks.iter().any(|d| d.name == node.disk) {
            lightning_disks.push(disk_watch(site, &node.disk));
        }
    }
    let disk_regex = alternation(disks.iter().map(|d| d.mountpoint.as_str()));
    let machine_regex = alternation(disks.iter().map(|d| d.machine.as_str()));
    let dashboard = |kind: &str| DashboardContext {
        name: format!("openlsp-{}-{kind}-dashboard", site.name()),
        uid: dashboard_uid(site, kind),
        key: format!("openlsp-{}-{kind}.json", site.name()),
    };
    let lndmon = monitoring.lndmon && !site.spec.lightning.is_empty();
    MonitoringContext {
        enabled: monitoring.enabled,
        release: monitoring.release.clone(),
        namespace: monitoring.namespace.clone(),
        lndmon,
        monitor_labels,
        rules_name: "openlsp-alerts",
        exporters: scrape_jobs(site.spec.bitcoin.iter().map(|n| &n.name), "exporter"),
        lnd_jobs: scrape_jobs(site.spec.lightning.iter().map(|n| &n.name), "metrics"),
        lndmon_jobs: if lndmon {
            scrape_jobs(site.spec.lightning.iter().map(|n| &n.name), "lndmon")
        } else {
            Vec::new()
        },
        disks,
        lightning_disks,
        disk_regex,
        machine_regex,
        bitcoind_dashboard: dashboard("bitcoind"),
        lnd_dashboard: dashboard("lnd"),
    }
}

/// The ClusterIssuers' names: cluster-wide, so they carry the site's name.
fn issuer_name(site: &Site, acme: Acme) -> String {
    let which = match acme {
        Acme::Production => "production",
        Acme::Staging => "staging",
    };
    format!("openlsp-{}-letsencrypt-{which}", site.name())
}

pub fn ingress_context(site: &Site) -> IngressContext {
    let ingress = &site.spec.ingress;
    let issuers = [
        (Acme::Production, LETSENCRYPT_PRODUCTION),
        (Acme::Staging, LETSENCRYPT_STAGING),
    ]
    .into_iter()
    .map(|(acme, server)| IssuerContext {
        name: issuer_name(site, acme),
        server,
        account_secret: format!("{}-account-key", issuer_name(site, acme)),
    })
    .collect();
    IngressContext {
        enabled: ingress.enabled,
        class_name: ingress.class_name.clone(),
        email: ingress.email.clone().unwrap_or_default(),
        issuers,
        issuer: issuer_name(site, ingress.acme),
        grafana: ingress.grafana.as_ref().map(|host| GrafanaIngressContext {
            name: format!("openlsp-{}-grafana", site.name()),
            host: host.clone(),
            namespace: site.spec.monitoring.namespace.clone(),
            // kube-prometheus-stack names Grafana's Service `<release>-grafana`, port 80.
            service: format!("{}-grafana", site.spec.monitoring.release),
            port: 80,
            tls_secret: format!("openlsp-{}-grafana-tls", site.name()),
        }),
    }
}

/// `ip` with `port`, brackets around IPv6.
fn with_port(ip: &str, port: u16) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{ip}]:{port}"),
        _ => format!("{ip}:{port}"),
    }
}

fn onion_secret(secrets: &Secrets, service: &str) -> Result<OnionSecretContext, PlanError> {
    let path = state::paths::onion_key(service);
    let key = OnionKey::from_secret_file(secret(secrets, &path)?).map_err(|err| {
        PlanError::State(state::StateError::Damaged {
            path: path.clone().into(),
            reason: err.to_string(),
        })
    })?;
    Ok(OnionSecretContext {
        name: names::onion_secret(service),
        address: key.address(),
        secret_key_b64: b64(&key.secret_file()),
        public_key_b64: b64(&key.public_file()),
    })
}

fn inbound(site: &Site, node: &str, p2p_port: u16) -> NodeInbound {
    let name = format!("{node}-p2p");
    let service = match site.spec.networking.inbound {
        Inbound::LoadBalancer => Some(InboundServiceContext {
            name,
            kind: "LoadBalancer",
            external_traffic_policy: Some("Local"),
            port: p2p_port,
        }),
        Inbound::Ingress => Some(InboundServiceContext {
            name,
            kind: "ClusterIP",
            external_traffic_policy: None,
            port: p2p_port,
        }),
        Inbound::HostPort | Inbound::None => None,
    };
    NodeInbound {
        host_port: site.spec.networking.inbound == Inbound::HostPort,
        service,
    }
}

/// Clearnet addresses a node advertises: none in tor-only mode or without inbound.
fn clearnet_external_ips(site: &Site) -> &[String] {
    let clearnet =
        site.spec.tor.mode != TorMode::TorOnly && site.spec.networking.inbound != Inbound::None;
    if clearnet {
        &site.spec.networking.external_ips
    } else {
        &[]
    }
}

/// The rpcauth lines of a bitcoind's exporter: its own user, restricted to read-only calls.
/// `rpcwhitelistdefault=0` keeps every other user (LND) unrestricted: bitcoind otherwise denies
/// all calls to users without a whitelist once any whitelist is set.
pub fn exporter_rpcauth(
    site: &Site,
    node: &BitcoinNode,
    secrets: &Secrets,
) -> Result<String, PlanError> {
    if !site.spec.monitoring.enabled {
        return Ok(String::new());
    }
    Ok(format!(
        "# The Prometheus exporter: read-only calls only.\n{}rpcwhitelist={EXPORTER_RPC_USER}:{}\n# Users without an rpcwhitelist line keep every call.\nrpcwhitelistdefault=0\n",
        super::context::rpcauth_lines(secrets, &node.name, EXPORTER_RPC_USER)?,
        EXPORTER_RPCS.join(",")
    ))
}

pub fn bitcoin_stack(
    site: &Site,
    node: &BitcoinNode,
    secrets: &Secrets,
) -> Result<BitcoinStack, PlanError> {
    let network = site.spec.network;
    let tor = if site.spec.tor.enabled() {
        let hybrid = site.spec.tor.mode == TorMode::Hybrid;
        let mut clearnet_binds = Vec::new();
        if hybrid {
            clearnet_binds.push(format!("0.0.0.0:{}", network.p2p_port()));
            if site.spec.networking.ipv6 {
                clearnet_binds.push(format!("[::]:{}", network.p2p_port()));
            }
        }
        let secret = onion_secret(secrets, &format!("{}-p2p", node.name))?;
        Some(BitcoinTorContext {
            proxy_key: if hybrid { "onion" } else { "proxy" },
            socks: format!("{}:{TOR_SOCKS_PORT}", service_host(site, TOR_NAME)),
            address: secret.address.clone(),
            onion_port: network.onion_target_port(),
            clearnet_binds,
            target_service: format!("{}-onion", node.name),
            secret,
        })
    } else {
        None
    };
    let exporter = if site.spec.monitoring.enabled {
        let (labels, selector) = labels(
            site,
            "bitcoin-prometheus-exporter",
            &node.name,
            "metrics-exporter",
        );
        Some(ExporterContext {
            user: EXPORTER_RPC_USER,
            name: format!("{}-exporter", node.name),
            secret: names::exporter_credentials_secret(&node.name),
            port: EXPORTER_PORT,
            headers_port: HEADERS_EXPORTER_PORT,
            rate_limit: EXPORTER_RATE_LIMIT_SECONDS.to_string(),
            image: site.spec.monitoring.exporter_image.clone(),
            uid: images::NOBODY_UID,
            memory: crate::profile::EXPORTER_MEMORY.to_string(),
            cpu: crate::profile::EXPORTER_CPU.to_string(),
            headers_memory: crate::profile::HEADERS_EXPORTER_MEMORY.to_string(),
            headers_cpu: crate::profile::HEADERS_EXPORTER_CPU.to_string(),
            rpc_host: service_host(site, &node.name),
            user_b64: b64(EXPORTER_RPC_USER.as_bytes()),
            password_b64: b64(secret(
                secrets,
                &state::paths::rpc_password(&node.name, EXPORTER_RPC_USER),
            )?),
            labels,
            selector,
        })
    } else {
        None
    };
    let ingress = match (&node.ingress.rpc, site.spec.ingress.enabled) {
        (Some(host), true) => Some(NodeIngressContext {
            api: "rpc",
            name: format!("{}-rpc", node.name),
            host: host.clone(),
            port: network.rpc_port(),
            backend_protocol: "HTTP",
            tls_secret: format!("{}-rpc-ingress-tls", node.name),
        }),
        _ => None,
    };
    Ok(BitcoinStack {
        tor,
        inbound: inbound(site, &node.name, network.p2p_port()),
        external_ips: clearnet_external_ips(site).to_vec(),
        exporter,
        ingress,
    })
}

pub fn lightning_stack(
    site: &Site,
    node: &LightningNode,
    secrets: &Secrets,
) -> Result<LightningStack, PlanError> {
    let tor = if site.spec.tor.enabled() {
        let rpc = if node.onion.is_empty() {
            None
        } else {
            Some(onion_secret(secrets, &format!("{}-rpc", node.name))?)
        };
        Some(LightningTorContext {
            socks: format!("{}:{TOR_SOCKS_PORT}", service_host(site, TOR_NAME)),
            skip_proxy_for_clearnet: site.spec.tor.mode == TorMode::Hybrid,
            stream_isolation: site.spec.tor.mode == TorMode::TorOnly,
            p2p: onion_secret(secrets, &format!("{}-p2p", node.name))?,
            rpc,
        })
    } else {
        None
    };
    let mut external_ips: Vec<String> = tor
        .iter()
        .map(|t| format!("{}:{LND_P2P_PORT}", t.p2p.address))
        .collect();
    external_ips.extend(
        clearnet_external_ips(site)
            .iter()
            .map(|ip| with_port(ip, LND_P2P_PORT)),
    );
    let monitoring = site.spec.monitoring.enabled.then(|| {
        let lndmon = (site.spec.monitoring.lndmon).then(|| {
            let (labels, selector) = labels(site, "lndmon", &node.name, "metrics-exporter");
            LndmonContext {
                name: format!("{}-lndmon", node.name),
                image: site.spec.monitoring.lndmon_image.clone(),
                uid: images::NOBODY_UID,
                memory: crate::profile::LNDMON_MEMORY.to_string(),
                cpu: crate::profile::LNDMON_CPU.to_string(),
                port: LNDMON_PORT,
                network: site.spec.network.as_str(),
                macaroon_secret: names::macaroons_secret(&node.name),
                rpc_host: format!("{}:{LND_GRPC_PORT}", service_host(site, &node.name)),
                labels,
                selector,
            }
        });
        let (mut labels, mut selector) = labels(site, "lnd", &node.name, "lightning-node");
        labels.insert("openlsp.io/metrics", "lnd".to_owned());
        selector.insert("openlsp.io/metrics", "lnd".to_owned());
        LightningMonitoring {
            labels,
            selector,
            metrics_port: LND_METRICS_PORT,
            metrics_service: format!("{}-metrics", node.name),
            lndmon,
        }
    });
    let ingress = if site.spec.ingress.enabled {
        node.ingress
            .iter()
            .map(|(api, host)| NodeIngressContext {
                api: api.as_str(),
                name: format!("{}-{}", node.name, api.as_str()),
                host: host.clone(),
                port: api_port(*api),
                backend_protocol: match api {
                    LndApi::Rest => "HTTPS",
                    LndApi::Grpc => "GRPCS",
                },
                tls_secret: format!("{}-{}-ingress-tls", node.name, api.as_str()),
            })
            .collect()
    } else {
        Vec::new()
    };
    Ok(LightningStack {
        tor,
        inbound: inbound(site, &node.name, LND_P2P_PORT),
        external_ips,
        monitoring,
        ingress,
    })
}

/// Warnings the plan carries: what the profile exposes publicly, and addon objects openlsp
/// does not own (the microk8s ingress TCP routes).
pub fn plan_warnings(site: &Site) -> Vec<String> {
    let mut warnings: Vec<String> = crate::profile::public_exposures(site)
        .into_iter()
        .map(|(path, what)| {
            format!("{path}: {what} is exposed publicly; anyone can reach it (it still needs a macaroon or RPC password)")
        })
        .collect();
    let monitoring = &site.spec.monitoring;
    if monitoring.enabled && !monitoring.lndmon && !site.spec.lightning.is_empty() {
        warnings.push(
            "spec.monitoring.lndmon: off, so no alert fires when LND falls behind the chain (LndNotSyncedToChain reads lndmon's lnd_chain_synced; LND's own metrics are gRPC statistics only) and the LND dashboard shows no chain, channel, balance or peer data; set lndmon: true (mainnet, testnet and regtest) or watch LND's sync yourself"
                .to_owned(),
        );
    }
    if site.spec.networking.inbound == Inbound::Ingress {
        let mut routes: Vec<String> = site
            .spec
            .bitcoin
            .iter()
            .map(|n| (n.name.as_str(), site.spec.network.p2p_port()))
            .chain(
                site.spec
                    .lightning
                    .iter()
                    .map(|n| (n.name.as_str(), LND_P2P_PORT)),
            )
            .map(|(name, port)| format!("\"{port}\": \"{}/{name}-p2p:{port}\"", site.namespace()))
            .collect();
        routes.sort();
        warnings.push(format!(
            "spec.networking.inbound: ingress needs TCP routes in the microk8s nginx addon, which openlsp does not own: add {} to ConfigMap ingress/nginx-ingress-tcp-microk8s-conf and the same ports to DaemonSet ingress/nginx-ingress-microk8s-controller (docs/rendering.md shows the commands)",
            routes.join(", ")
        ));
    }
    warnings
}
