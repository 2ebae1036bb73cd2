//! A Lightning node (LND), once per `spec.lightning` entry: everything `templates/lnd/` renders
//! with. `node` is the node with its names, ports, volume, pod size and wallet setup, and what
//! the rest of the site gives it: its onion services, inbound P2P, metrics and lndmon, its API
//! Ingresses, and the backup of its channel.backup. `backend` is its bitcoind; `secrets` its
//! credentials, in base64.

use serde::Serialize;

use super::backup::{self, NodeBackupContext, WatchedFile};
use super::ingress::{self, NodeIngressContext};
use super::network::{self, Access, PodPolicy, tcp};
use super::shared::{
    BACKUP_METRICS_PORT, LIGHTNING_COMPONENT, LND_APP, LND_GRPC_PORT, LND_METRICS_PORT,
    LND_P2P_PORT, LND_REST_PORT, LNDMON_PORT, Labels, ResourcesContext, StorageContext,
    ZMQ_RAWBLOCK_PORT, ZMQ_RAWTX_PORT, b64, bitcoin_selector, btcpay_selector, component_labels,
    lnd_api_port, lnd_selector, resources, secret, service_host, storage, ui_selector,
};
use super::site::{self, NodeInbound};
use super::tor::{self, OnionSecretContext};
use crate::images;
use crate::plan::error::PlanError;
use crate::plan::names;
use crate::profile::{
    AppKind, BitcoinImplementation, BitcoinNode, LND_SIDECAR_CPU, LND_SIDECAR_MEMORY,
    LND_WALLET_INIT_MEMORY, LightningNode, LndApi, Site, TorMode,
};
use crate::secrets::{self as state, BTCD_RPC_USER, Secrets};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LightningContext {
    node: LightningNodeContext,
    backend: BackendContext,
    secrets: LightningSecrets,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LightningNodeContext {
    name: String,
    image: String,
    wallet: WalletInitContext,
    macaroons: Vec<String>,
    uid: i64,
    alias: String,
    color: String,
    network: &'static str,
    resources: ResourcesContext,
    ports: LightningPorts,
    tls_domains: Vec<String>,
    storage: StorageContext,
    names: LightningNames,
    labels: Labels,
    selector: Labels,
    /// Its onion services, with Tor on.
    tor: Option<LightningTorContext>,
    inbound: NodeInbound,
    /// `externalip=` values: onion and public addresses with the P2P port.
    external_ips: Vec<String>,
    /// Its metrics Service and lndmon, with monitoring on.
    monitoring: Option<LightningMonitoring>,
    /// The public Ingress of each API the profile names.
    ingress: Vec<NodeIngressContext>,
    /// Who may reach its ports, and where it connects to.
    policy: PodPolicy,
    /// The copies of its channel.backup: to the targets, and the cluster copy.
    backup: NodeBackupContext,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LightningNames {
    service: String,
    stateful_set: String,
    config_map: String,
    tls_secret: String,
    wallet_secret: String,
    rpc_credentials_secret: String,
    macaroons_secret: String,
    scb_secret: String,
    service_account: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LightningPorts {
    p2p: u16,
    grpc: u16,
    rest: u16,
}

/// How the wallet is created: lndinit writes it directly (`file`), or, for networks lndinit's
/// file mode does not know (signet, testnet4), through LND's unlocker RPC (`rpc`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WalletInitContext {
    mode: &'static str,
    /// lndinit's --network (file mode).
    network: &'static str,
    /// LND's wallet directory for the network.
    dir: String,
    lndinit_image: &'static str,
    /// Memory of the `wallet` init container: scrypt needs far more than the other lndinit steps.
    memory: String,
    /// GOMEMLIMIT for it, a tenth below the limit so Go collects before the kernel kills.
    go_mem_limit: String,
    /// Memory and CPU request of the other lndinit containers, as the memory check counts them.
    sidecar_memory: String,
    sidecar_cpu: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BackendContext {
    name: String,
    /// `bitcoind` or `btcd`: lnd.conf's `bitcoin.node` and the name of its section's keys.
    implementation: &'static str,
    host: String,
    rpc_port: u16,
    zmq_block: String,
    zmq_tx: String,
    rpc_user: String,
    /// A btcd backend's certificate from cert-manager, mounted for `btcd.rpccert`; openlsp's
    /// own goes in the RPC Secret as `btcd.rawrpccert`.
    cert_manager_secret: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LightningSecrets {
    tls_cert_b64: String,
    tls_key_b64: String,
    wallet_password_b64: String,
    rpc_user_b64: String,
    rpc_password_b64: String,
    /// A btcd backend's certificate made by openlsp, hex of its PEM (`btcd.rawrpccert`).
    raw_rpc_cert_b64: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LightningTorContext {
    socks: String,
    skip_proxy_for_clearnet: bool,
    stream_isolation: bool,
    p2p: OnionSecretContext,
    rpc: Option<OnionSecretContext>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LndmonContext {
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
    /// Only the monitoring namespace scrapes it; it reaches its LND's gRPC.
    policy: PodPolicy,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LightningMonitoring {
    metrics_port: u16,
    metrics_service: String,
    /// The metrics Service's labels and the ServiceMonitor's selector: the node's own Service
    /// must not match, it has no metrics port.
    labels: Labels,
    selector: Labels,
    lndmon: Option<LndmonContext>,
}

pub(crate) fn context(
    site: &Site,
    node: &LightningNode,
    secrets: &Secrets,
) -> Result<LightningContext, PlanError> {
    let backend = site.bitcoin_node(&node.bitcoin).ok_or_else(|| {
        PlanError::Bug(format!(
            "lightning node {} refers to unknown bitcoin node {}",
            node.name, node.bitcoin
        ))
    })?;
    let (labels, selector) = component_labels(site, LND_APP, &node.name, LIGHTNING_COMPONENT);
    let backend_host = service_host(site, &backend.name);
    let mut tls_domains =
        state::lnd_dns_names(&node.name, site.namespace(), &node.tls_extra_domains);
    tls_domains.retain(|name| name != "localhost");
    let on_btcd = backend.implementation == BitcoinImplementation::Btcd;
    let rpc_user = if on_btcd {
        BTCD_RPC_USER.to_owned()
    } else {
        node.name.clone()
    };
    let raw_rpc_cert_b64 = if on_btcd && backend.tls.is_none() {
        let pem = secret(secrets, &state::paths::btcd_tls_cert(&backend.name))?;
        Some(b64(hex::encode(pem).as_bytes()))
    } else {
        None
    };
    let secrets_context = LightningSecrets {
        tls_cert_b64: b64(secret(secrets, &state::paths::tls_cert(&node.name))?),
        tls_key_b64: b64(secret(secrets, &state::paths::tls_key(&node.name))?),
        wallet_password_b64: b64(secret(secrets, &state::paths::wallet_password(&node.name))?),
        rpc_user_b64: b64(rpc_user.as_bytes()),
        rpc_password_b64: b64(secret(
            secrets,
            &state::paths::rpc_password(&backend.name, &rpc_user),
        )?),
        raw_rpc_cert_b64,
    };
    let tor = tor_context(site, node, secrets)?;
    let external_ips = site::p2p_addresses(site, tor.as_ref().map(|t| t.p2p.address.as_str()));
    let ingress = ingress::api_ingresses(site, node);
    // An API named under `ingress` is published once the site has `spec.ingress`.
    let published: Vec<LndApi> = if site.spec.ingress.enabled {
        node.ingress.keys().copied().collect()
    } else {
        Vec::new()
    };
    let policy = policy(site, node, backend, &labels, &selector, &published);
    Ok(LightningContext {
        node: LightningNodeContext {
            name: node.name.clone(),
            image: node.image.clone(),
            wallet: wallet_init(site),
            macaroons: names::MACAROONS
                .iter()
                .map(|m| format!("{m}.macaroon"))
                .collect(),
            uid: images::LND_UID,
            alias: node.alias.clone(),
            color: node.color.clone(),
            network: site.spec.network.as_str(),
            resources: resources(site, node.resources),
            ports: LightningPorts {
                p2p: LND_P2P_PORT,
                grpc: LND_GRPC_PORT,
                rest: LND_REST_PORT,
            },
            tls_domains,
            storage: storage(site, &node.name, &node.disk),
            names: LightningNames {
                service: node.name.clone(),
                stateful_set: node.name.clone(),
                config_map: names::config_map(&node.name),
                tls_secret: names::tls_secret(&node.name),
                wallet_secret: names::wallet_secret(&node.name),
                rpc_credentials_secret: names::rpc_credentials_secret(&node.name, &backend.name),
                macaroons_secret: names::macaroons_secret(&node.name),
                scb_secret: names::scb_secret(&node.name),
                service_account: names::lnd_service_account(&node.name),
            },
            labels,
            selector,
            tor,
            inbound: site::node_inbound(site, &node.name, LND_P2P_PORT),
            external_ips,
            monitoring: monitoring(site, node),
            ingress,
            policy,
            backup: backup::node_backup(
                site,
                &node.name,
                WatchedFile {
                    dir: lnd_network_dir(site),
                    // In LND's network directory: lnd's config.go, backupfilepath's default.
                    file: names::LND_BACKUP_FILE,
                    volume: "data",
                    mount_path: "/data",
                    token_volume: "lndinit-token",
                },
            ),
        },
        backend: BackendContext {
            name: backend.name.clone(),
            implementation: backend.implementation.as_str(),
            host: backend_host.clone(),
            rpc_port: backend.rpc_port(site.spec.network),
            zmq_block: format!("tcp://{backend_host}:{ZMQ_RAWBLOCK_PORT}"),
            zmq_tx: format!("tcp://{backend_host}:{ZMQ_RAWTX_PORT}"),
            rpc_user,
            cert_manager_secret: (on_btcd && backend.tls.is_some())
                .then(|| names::btcd_tls_secret(&backend.name)),
        },
        secrets: secrets_context,
    })
}

/// LND's NetworkPolicy. P2P: anyone, or only Tor in tor-only mode; each API: lndmon (gRPC),
/// Tor when the profile lists it under `onion`, the ingress controller when it is published;
/// metrics (LND's and its backup container's): the monitoring namespace. In tor-only mode LND connects only to Tor, its bitcoind
/// (RPC and ZMQ), the cluster DNS and the API server (lndinit's containers in the same pod
/// write the wallet and macaroons Secrets); otherwise anywhere.
fn policy(
    site: &Site,
    node: &LightningNode,
    backend: &BitcoinNode,
    labels: &Labels,
    selector: &Labels,
    published: &[LndApi],
) -> PodPolicy {
    let tor_only = site.spec.tor.mode == TorMode::TorOnly;
    let mut ingress = vec![if tor_only {
        Access::from(vec![tor::peer(site)], vec![tcp(LND_P2P_PORT)])
    } else {
        Access::anywhere(vec![tcp(LND_P2P_PORT)])
    }];
    for api in [LndApi::Grpc, LndApi::Rest] {
        let mut clients = Vec::new();
        if api == LndApi::Grpc && site.spec.monitoring.enabled && site.spec.monitoring.lndmon {
            clients.push(network::pods(site, &lndmon_labels(site, node).1));
        }
        if site.spec.tor.enabled() && node.onion.contains(&api) {
            clients.push(tor::peer(site));
        }
        if published.contains(&api) {
            clients.push(network::namespace(&site.spec.ingress.controller_namespace));
        }
        // BTCPay takes the store's Lightning payments through LND's REST API.
        let btcpay = site.spec.btcpay.as_ref();
        if api == LndApi::Rest && btcpay.and_then(|b| b.lightning.as_ref()) == Some(&node.name) {
            clients.push(network::pods(site, &btcpay_selector(site)));
        }
        // The channel management UIs it is listed in: RTL over REST, ThunderHub over gRPC.
        for (kind, app) in site.spec.apps.enabled() {
            let wanted = match kind {
                AppKind::Rtl => LndApi::Rest,
                AppKind::Thunderhub => LndApi::Grpc,
            };
            if api == wanted && app.nodes.contains(&node.name) {
                clients.push(network::pods(site, &ui_selector(site, kind.name())));
            }
        }
        ingress.push(Access::from(clients, vec![tcp(lnd_api_port(api))]));
    }
    if site.spec.monitoring.enabled {
        let mut metrics = vec![tcp(LND_METRICS_PORT)];
        if !site.spec.backup.targets.is_empty() {
            metrics.push(tcp(BACKUP_METRICS_PORT));
        }
        ingress.push(Access::from(
            vec![network::namespace(&site.spec.monitoring.namespace)],
            metrics,
        ));
    }
    let egress = if tor_only {
        vec![
            tor::socks_access(site),
            Access::from(
                vec![network::pods(site, &bitcoin_selector(site, &backend.name))],
                // btcd has no ZMQ: LND takes its notifications over the RPC websocket.
                if backend.implementation == BitcoinImplementation::Btcd {
                    vec![tcp(backend.rpc_port(site.spec.network))]
                } else {
                    vec![
                        tcp(backend.rpc_port(site.spec.network)),
                        tcp(ZMQ_RAWBLOCK_PORT),
                        tcp(ZMQ_RAWTX_PORT),
                    ]
                },
            ),
            Access::dns(),
            Access::api_server(),
        ]
    } else {
        vec![Access::anywhere(Vec::new())]
    };
    PodPolicy::new(node.name.clone(), labels, selector, ingress, egress)
}

/// The labels and selector of LND `node`'s lndmon pod.
fn lndmon_labels(site: &Site, node: &LightningNode) -> (Labels, Labels) {
    component_labels(site, "lndmon", &node.name, "metrics-exporter")
}

fn wallet_init(site: &Site) -> WalletInitContext {
    use crate::profile::Network;
    let network = site.spec.network;
    let (mode, lndinit_network) = match network {
        Network::Mainnet => ("file", "mainnet"),
        Network::Testnet => ("file", "testnet"),
        Network::Regtest => ("file", "regtest"),
        // lndinit's file mode names no other network: LND's own RPC makes the wallet.
        Network::Signet | Network::Testnet4 | Network::Simnet => ("rpc", ""),
    };
    WalletInitContext {
        mode,
        network: lndinit_network,
        dir: lnd_network_dir(site),
        lndinit_image: images::LNDINIT,
        memory: LND_WALLET_INIT_MEMORY.to_string(),
        go_mem_limit: format!("{}MiB", LND_WALLET_INIT_MEMORY.0 / 1024 / 1024 * 9 / 10),
        sidecar_memory: LND_SIDECAR_MEMORY.to_string(),
        sidecar_cpu: LND_SIDECAR_CPU.to_string(),
    }
}

/// LND's network directory (`--lnddir=/data`): its wallet and its channel.backup.
fn lnd_network_dir(site: &Site) -> String {
    format!("/data/data/chain/bitcoin/{}", site.spec.network.as_str())
}

/// The node's onion services: P2P, and REST/gRPC when the profile lists them under `onion`.
fn tor_context(
    site: &Site,
    node: &LightningNode,
    secrets: &Secrets,
) -> Result<Option<LightningTorContext>, PlanError> {
    if !site.spec.tor.enabled() {
        return Ok(None);
    }
    let rpc = if node.onion.is_empty() {
        None
    } else {
        Some(tor::onion_secret(secrets, &format!("{}-rpc", node.name))?)
    };
    Ok(Some(LightningTorContext {
        socks: tor::socks(site),
        skip_proxy_for_clearnet: site.spec.tor.mode == TorMode::Hybrid,
        stream_isolation: site.spec.tor.mode == TorMode::TorOnly,
        p2p: tor::onion_secret(secrets, &format!("{}-p2p", node.name))?,
        rpc,
    }))
}

/// LND's own metrics Service, and lndmon beside it.
fn monitoring(site: &Site, node: &LightningNode) -> Option<LightningMonitoring> {
    let monitoring = &site.spec.monitoring;
    if !monitoring.enabled {
        return None;
    }
    let lndmon = monitoring.lndmon.then(|| {
        let (labels, selector) = lndmon_labels(site, node);
        let name = format!("{}-lndmon", node.name);
        let policy = PodPolicy::exporter(
            site,
            name.clone(),
            (&labels, &selector),
            vec![tcp(LNDMON_PORT)],
            &lnd_selector(site, &node.name),
            LND_GRPC_PORT,
        );
        LndmonContext {
            name,
            image: monitoring.lndmon_image.clone(),
            uid: images::NOBODY_UID,
            memory: crate::profile::LNDMON_MEMORY.to_string(),
            cpu: crate::profile::LNDMON_CPU.to_string(),
            port: LNDMON_PORT,
            network: site.spec.network.as_str(),
            macaroon_secret: names::macaroons_secret(&node.name),
            rpc_host: format!("{}:{LND_GRPC_PORT}", service_host(site, &node.name)),
            labels,
            selector,
            policy,
        }
    });
    let (mut labels, mut selector) =
        component_labels(site, LND_APP, &node.name, LIGHTNING_COMPONENT);
    labels.insert("openlsp.io/metrics", "lnd".to_owned());
    selector.insert("openlsp.io/metrics", "lnd".to_owned());
    Some(LightningMonitoring {
        labels,
        selector,
        metrics_port: LND_METRICS_PORT,
        metrics_service: format!("{}-metrics", node.name),
        lndmon,
    })
}
