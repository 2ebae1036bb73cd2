//! A Core Lightning node, once per `spec.lightning` entry with `implementation: cln`: everything
//! `templates/cln/` renders with. `node` is the node with its names, ports, volume, pod size and
//! lightningd settings, and what the rest of the site gives it: its onion services, inbound P2P
//! and API Ingresses. `backend` is its bitcoind; `secrets` its credentials, in base64.
//!
//! Every lightningd option rendered is documented in ElementsProject/lightning's
//! doc/lightningd-config.5.md (v26.06); tests/cln.rs checks each against that list.

use serde::Serialize;

use super::backup::{self, NodeBackupContext, WatchedFile};
use super::ingress::{self, NodeIngressContext};
use super::network::{self, Access, PodPolicy, tcp};
use super::shared::{
    BACKUP_METRICS_PORT, CLN_APP, CLN_EXPORTER_PORT, CLN_GRPC_PORT, CLN_REST_PORT, CLN_TUNNEL_PORT,
    LIGHTNING_COMPONENT, LND_P2P_PORT, Labels, ResourcesContext, StorageContext,
    TUNNEL_HEALTH_PORT, api_port, b64, bitcoin_selector, btcpay_selector, component_labels,
    resources, secret, service_host, storage, ui_selector,
};
use super::site::{self, NodeInbound};
use super::tor::{self, OnionSecretContext};
use crate::images;
use crate::plan::error::PlanError;
use crate::plan::names;
use crate::profile::{
    AppKind, CLN_EXPORTER_CPU, CLN_EXPORTER_MEMORY, CLN_INIT_CPU, CLN_INIT_MEMORY, LND_SIDECAR_CPU,
    LND_SIDECAR_MEMORY, LightningNode, LndApi, Network, Site, TUNNEL_CPU, TUNNEL_MEMORY, TorMode,
};
use crate::secrets::{self as state, Secrets};

/// What `<node>-rpc` holds: an admin and a read-only rune (`createrune`, once), and the gRPC
/// client certificates lightningd writes on first start (lightningd-config(5), `grpc-port`).
const PUBLISHED: [&str; 5] = [
    names::CLN_ADMIN_RUNE,
    names::CLN_READONLY_RUNE,
    CA_KEY,
    "client.pem",
    "client-key.pem",
];

/// lightningd's CA certificate (cln-grpc's, which clnrest serves with too: lightningd-config(5),
/// `clnrest-certs`), as a key of `<node>-rpc`.
const CA_KEY: &str = "ca.pem";

/// Where the pod mounts the node's volume: lightningd's `--lightning-dir`.
const LIGHTNING_DIR: &str = "/data";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClnContext {
    node: ClnNodeContext,
    backend: ClnBackendContext,
    secrets: ClnSecrets,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClnNodeContext {
    name: String,
    image: String,
    uid: i64,
    alias: String,
    /// `rgb=`: the colour without its `#`.
    rgb: String,
    /// lightningd's `network=` (`bitcoin` on mainnet).
    network: &'static str,
    lightning_dir: &'static str,
    /// Where lightningd keeps `hsm_secret` and `emergency.recover`: `<lightning-dir>/<network>`.
    network_dir: String,
    /// Memory and CPU request of the init containers, as the memory check counts them.
    init_memory: String,
    init_cpu: String,
    /// The sidecars that make the runes once and publish them with the gRPC client
    /// certificates: their memory and CPU request, and lndinit's image for the API writes.
    sidecar_memory: String,
    sidecar_cpu: String,
    lndinit_image: &'static str,
    /// Files the `runes` sidecar hands the `publish` sidecar, each a key of `<node>-rpc`.
    published: Vec<&'static str>,
    resources: ResourcesContext,
    ports: ClnPorts,
    /// `bind-addr=` for P2P: empty means every IPv4 and IPv6 interface.
    bind_addr: String,
    /// `announce-addr=` values: the onion and the public addresses, with the P2P port.
    announce_addrs: Vec<String>,
    storage: StorageContext,
    names: ClnNames,
    labels: Labels,
    selector: Labels,
    /// Its onion services and the SOCKS proxy, with Tor on.
    tor: Option<ClnTorContext>,
    inbound: NodeInbound,
    /// The public Ingress of each API the profile names.
    ingress: Vec<NodeIngressContext>,
    /// Who may reach its ports, and where it connects to.
    policy: PodPolicy,
    /// The copies of its emergency.recover: to the targets, and the cluster copy.
    backup: NodeBackupContext,
    /// Its Prometheus exporter (`openlsp exporter cln`), with monitoring on.
    exporter: Option<ClnExporterContext>,
    /// The serve end of BTCPay's tunnel to the RPC socket, when BTCPay uses this node.
    tunnel: Option<TunnelServeContext>,
}

/// One end of the tunnel to a CLN node's RPC socket (`openlsp tunnel`, from openlsp's image):
/// what both pods' containers share.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TunnelEnd {
    image: String,
    memory: String,
    cpu: String,
    health_port: u16,
    /// Its Secret: the CA certificate and this end's pair, in base64.
    secret: String,
    ca_key: &'static str,
    cert_key: &'static str,
    key_key: &'static str,
    ca_b64: String,
    cert_b64: String,
    key_b64: String,
}

/// The serve end, beside lightningd.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TunnelServeContext {
    end: TunnelEnd,
    port: u16,
    /// lightningd's RPC socket, on the node's volume.
    socket: String,
}

/// One end of the tunnel: the serve end in the CLN pod (`server`), else the connect end in
/// BTCPay's pod, with its pair from the state dir.
pub(crate) fn tunnel_end(
    site: &Site,
    node: &LightningNode,
    secrets: &Secrets,
    server: bool,
) -> Result<TunnelEnd, PlanError> {
    let [ca, server_cert, server_key, client_cert, client_key] = state::TUNNEL_FILES;
    let (secret_name, cert, key) = if server {
        (
            names::cln_tunnel_secret(&node.name),
            server_cert,
            server_key,
        )
    } else {
        (
            names::BTCPAY_TUNNEL_SECRET.to_owned(),
            client_cert,
            client_key,
        )
    };
    let file = |name: &str| -> Result<String, PlanError> {
        Ok(b64(secret(
            secrets,
            &state::paths::tunnel(&node.name, name),
        )?))
    };
    Ok(TunnelEnd {
        image: site
            .spec
            .btcpay
            .as_ref()
            .map(|btcpay| btcpay.tunnel_image.clone())
            .unwrap_or_default(),
        memory: TUNNEL_MEMORY.to_string(),
        cpu: TUNNEL_CPU.to_string(),
        health_port: TUNNEL_HEALTH_PORT,
        secret: secret_name,
        ca_key: names::TUNNEL_CA_KEY,
        cert_key: names::TUNNEL_CERT_KEY,
        key_key: names::TUNNEL_KEY_KEY,
        ca_b64: file(ca)?,
        cert_b64: file(cert)?,
        key_b64: file(key)?,
    })
}

/// Where the connect end dials the serve end: the node's Service, whose name the server
/// certificate carries.
pub(crate) fn tunnel_server(site: &Site, node: &LightningNode) -> String {
    format!("{}:{CLN_TUNNEL_PORT}", service_host(site, &node.name))
}

/// The exporter's pod: openlsp's image running `openlsp exporter cln` against the node's
/// clnrest, with the read-only rune and the node's CA from `<node>-rpc` as files.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClnExporterContext {
    name: String,
    image: String,
    uid: i64,
    memory: String,
    cpu: String,
    port: u16,
    /// clnrest's address: the node's Service; the certificate is checked as `cln`.
    rest_url: String,
    /// The Secret the node's publish sidecar fills, and the keys the exporter reads from it.
    rpc_secret: String,
    rune_key: &'static str,
    ca_key: &'static str,
    /// Scrapes within this long of the last refresh share its answers.
    refresh: &'static str,
    labels: Labels,
    selector: Labels,
    /// Only the monitoring namespace scrapes it; it reaches only its node's clnrest and DNS.
    policy: PodPolicy,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClnNames {
    service: String,
    stateful_set: String,
    config_map: String,
    rpc_credentials_secret: String,
    hsm_secret: String,
    hsm_words_key: &'static str,
    /// The runes and gRPC client certificates, published by the pod's sidecar.
    rpc_secret: String,
    scb_secret: String,
    service_account: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClnPorts {
    p2p: u16,
    grpc: u16,
    rest: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClnBackendContext {
    name: String,
    host: String,
    rpc_port: u16,
    rpc_user: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClnSecrets {
    rpc_user_b64: String,
    rpc_password_b64: String,
    hsm_words_b64: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ClnTorContext {
    /// `proxy=`: openlsp's Tor daemon, which serves the onion services itself, so lightningd
    /// needs no Tor control port.
    proxy: String,
    /// `always-use-proxy=true` in tor-only mode.
    always_use_proxy: bool,
    p2p: OnionSecretContext,
    rpc: Option<OnionSecretContext>,
}

pub(crate) fn context(
    site: &Site,
    node: &LightningNode,
    secrets: &Secrets,
) -> Result<ClnContext, PlanError> {
    let backend = site.bitcoin_node(&node.bitcoin).ok_or_else(|| {
        PlanError::Bug(format!(
            "lightning node {} refers to unknown bitcoin node {}",
            node.name, node.bitcoin
        ))
    })?;
    let (labels, selector) = component_labels(site, CLN_APP, &node.name, LIGHTNING_COMPONENT);
    let secrets_context = ClnSecrets {
        rpc_user_b64: b64(node.name.as_bytes()),
        rpc_password_b64: b64(secret(
            secrets,
            &state::paths::rpc_password(&backend.name, &node.name),
        )?),
        hsm_words_b64: b64(secret(secrets, &state::paths::hsm_words(&node.name))?),
    };
    let tor = tor_context(site, node, secrets)?;
    let announce_addrs = site::p2p_addresses(site, tor.as_ref().map(|t| t.p2p.address.as_str()));
    let ingress = ingress::api_ingresses(site, node);
    let published: Vec<LndApi> = if site.spec.ingress.enabled {
        node.ingress.keys().copied().collect()
    } else {
        Vec::new()
    };
    let exporter = exporter(site, node, &selector);
    let network = cln_network(site.spec.network);
    let tunnel = if site.btcpay_cln().is_some_and(|cln| cln.name == node.name) {
        Some(TunnelServeContext {
            end: tunnel_end(site, node, secrets, true)?,
            port: CLN_TUNNEL_PORT,
            socket: format!("{LIGHTNING_DIR}/{network}/lightning-rpc"),
        })
    } else {
        None
    };
    let policy = policy(
        site,
        node,
        &backend.name,
        &labels,
        &selector,
        &published,
        exporter.as_ref().map(|e| &e.selector),
    );
    Ok(ClnContext {
        node: ClnNodeContext {
            name: node.name.clone(),
            image: node.image.clone(),
            uid: images::CLN_UID,
            alias: node.alias.clone(),
            rgb: node.color.trim_start_matches('#').to_owned(),
            network,
            lightning_dir: LIGHTNING_DIR,
            network_dir: format!("{LIGHTNING_DIR}/{network}"),
            init_memory: CLN_INIT_MEMORY.to_string(),
            init_cpu: CLN_INIT_CPU.to_string(),
            sidecar_memory: LND_SIDECAR_MEMORY.to_string(),
            sidecar_cpu: LND_SIDECAR_CPU.to_string(),
            lndinit_image: images::LNDINIT,
            published: PUBLISHED.to_vec(),
            resources: resources(site, node.resources),
            ports: ClnPorts {
                p2p: LND_P2P_PORT,
                grpc: CLN_GRPC_PORT,
                rest: CLN_REST_PORT,
            },
            bind_addr: format!(":{LND_P2P_PORT}"),
            announce_addrs,
            storage: storage(site, &node.name, &node.disk),
            names: ClnNames {
                service: node.name.clone(),
                stateful_set: node.name.clone(),
                config_map: names::config_map(&node.name),
                rpc_credentials_secret: names::rpc_credentials_secret(&node.name, &backend.name),
                hsm_secret: names::hsm_secret(&node.name),
                hsm_words_key: names::HSM_WORDS_KEY,
                rpc_secret: names::macaroons_secret(&node.name),
                scb_secret: names::scb_secret(&node.name),
                service_account: names::cln_service_account(&node.name),
            },
            labels,
            selector,
            tor,
            inbound: site::node_inbound(site, &node.name, LND_P2P_PORT),
            ingress,
            policy,
            backup: backup::node_backup(
                site,
                &node.name,
                WatchedFile {
                    dir: format!("{LIGHTNING_DIR}/{network}"),
                    // Beside hsm_secret; lightningd rewrites it on every channel change.
                    file: names::CLN_BACKUP_FILE,
                    volume: "data",
                    mount_path: LIGHTNING_DIR,
                    token_volume: "publish-token",
                },
            ),
            exporter,
            tunnel,
        },
        backend: ClnBackendContext {
            name: backend.name.clone(),
            host: service_host(site, &backend.name),
            rpc_port: site.spec.network.rpc_port(),
            rpc_user: node.name.clone(),
        },
        secrets: secrets_context,
    })
}

/// lightningd's name for the chain (`network=`): mainnet is `bitcoin`.
pub(crate) fn cln_network(network: Network) -> &'static str {
    match network {
        Network::Mainnet => "bitcoin",
        Network::Testnet => "testnet",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
        // Refused by validation: simnet runs only btcd, and CLN's bcli needs bitcoind.
        Network::Simnet => "simnet",
    }
}

/// CLN's NetworkPolicy. P2P: anyone, or only Tor in tor-only mode; clnrest and cln-grpc: Tor
/// when the profile lists them under `onion`, the ingress controller when published; the backup
/// container's metrics: the monitoring namespace; clnrest also its exporter; the tunnel's port
/// BTCPay's pod alone, when BTCPay uses the node. In
/// tor-only mode the pod connects only to Tor, its bitcoind's RPC (the bcli plugin), the
/// cluster DNS and the API server (the publish sidecar writes `<node>-rpc`); otherwise anywhere.
fn policy(
    site: &Site,
    node: &LightningNode,
    backend: &str,
    labels: &Labels,
    selector: &Labels,
    published: &[LndApi],
    exporter: Option<&Labels>,
) -> PodPolicy {
    let tor_only = site.spec.tor.mode == TorMode::TorOnly;
    let mut ingress = vec![if tor_only {
        Access::from(vec![tor::peer(site)], vec![tcp(LND_P2P_PORT)])
    } else {
        Access::anywhere(vec![tcp(LND_P2P_PORT)])
    }];
    for api in [LndApi::Grpc, LndApi::Rest] {
        let mut clients = Vec::new();
        if site.spec.tor.enabled() && node.onion.contains(&api) {
            clients.push(tor::peer(site));
        }
        if published.contains(&api) {
            clients.push(network::namespace(&site.spec.ingress.controller_namespace));
        }
        if let (LndApi::Rest, Some(exporter)) = (api, exporter) {
            clients.push(network::pods(site, exporter));
        }
        // RTL manages a CLN node over clnrest.
        let rtl = site.spec.apps.rtl.as_ref();
        if api == LndApi::Rest && rtl.is_some_and(|app| app.nodes.contains(&node.name)) {
            clients.push(network::pods(site, &ui_selector(site, AppKind::Rtl.name())));
        }
        ingress.push(Access::from(clients, vec![tcp(api_port(node, api))]));
    }
    if site.btcpay_cln().is_some_and(|cln| cln.name == node.name) {
        ingress.push(Access::from(
            vec![network::pods(site, &btcpay_selector(site))],
            vec![tcp(CLN_TUNNEL_PORT)],
        ));
    }
    if site.spec.monitoring.enabled && !site.spec.backup.targets.is_empty() {
        ingress.push(Access::from(
            vec![network::namespace(&site.spec.monitoring.namespace)],
            vec![tcp(BACKUP_METRICS_PORT)],
        ));
    }
    let egress = if tor_only {
        vec![
            tor::socks_access(site),
            Access::from(
                vec![network::pods(site, &bitcoin_selector(site, backend))],
                vec![tcp(site.spec.network.rpc_port())],
            ),
            Access::dns(),
            Access::api_server(),
        ]
    } else {
        vec![Access::anywhere(Vec::new())]
    };
    PodPolicy::new(node.name.clone(), labels, selector, ingress, egress)
}

/// The node's exporter, with monitoring on.
fn exporter(
    site: &Site,
    node: &LightningNode,
    node_selector: &Labels,
) -> Option<ClnExporterContext> {
    let monitoring = &site.spec.monitoring;
    if !monitoring.enabled {
        return None;
    }
    let (labels, selector) =
        component_labels(site, "openlsp-cln-exporter", &node.name, "metrics-exporter");
    let name = names::cln_exporter(&node.name);
    let policy = PodPolicy::exporter(
        site,
        name.clone(),
        (&labels, &selector),
        vec![tcp(CLN_EXPORTER_PORT)],
        node_selector,
        CLN_REST_PORT,
    );
    Some(ClnExporterContext {
        name,
        image: monitoring.cln_exporter_image.clone(),
        uid: images::OPENLSP_UID,
        memory: CLN_EXPORTER_MEMORY.to_string(),
        cpu: CLN_EXPORTER_CPU.to_string(),
        port: CLN_EXPORTER_PORT,
        rest_url: format!("https://{}:{CLN_REST_PORT}", service_host(site, &node.name)),
        rpc_secret: names::macaroons_secret(&node.name),
        rune_key: names::CLN_READONLY_RUNE,
        ca_key: CA_KEY,
        refresh: "10s",
        labels,
        selector,
        policy,
    })
}

/// The node's onion services: P2P, and clnrest/cln-grpc when the profile lists them.
fn tor_context(
    site: &Site,
    node: &LightningNode,
    secrets: &Secrets,
) -> Result<Option<ClnTorContext>, PlanError> {
    if !site.spec.tor.enabled() {
        return Ok(None);
    }
    let rpc = if node.onion.is_empty() {
        None
    } else {
        Some(tor::onion_secret(secrets, &format!("{}-rpc", node.name))?)
    };
    Ok(Some(ClnTorContext {
        proxy: tor::socks(site),
        always_use_proxy: site.spec.tor.mode == TorMode::TorOnly,
        p2p: tor::onion_secret(secrets, &format!("{}-p2p", node.name))?,
        rpc,
    }))
}
