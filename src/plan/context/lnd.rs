//! A Lightning node (LND), once per `spec.lightning` entry: everything `templates/lnd/` renders
//! with. `node` is the node with its names, ports, volume, pod size and wallet setup, and what
//! the rest of the site gives it: its onion services, inbound P2P, metrics and lndmon, and its
//! API Ingresses. `backend` is its bitcoind; `secrets` its credentials, in base64.

use std::net::IpAddr;

use serde::Serialize;

use super::ingress::{self, NodeIngressContext};
use super::shared::{
    LIGHTNING_COMPONENT, LND_GRPC_PORT, LND_METRICS_PORT, LND_P2P_PORT, LND_REST_PORT, LNDMON_PORT,
    Labels, ResourcesContext, StorageContext, ZMQ_RAWBLOCK_PORT, ZMQ_RAWTX_PORT, b64,
    component_labels, lnd_api_port, resources, secret, service_host, storage,
};
use super::site::{self, NodeInbound};
use super::tor::{self, OnionSecretContext};
use crate::images;
use crate::plan::error::PlanError;
use crate::plan::names;
use crate::profile::{
    LND_SIDECAR_CPU, LND_SIDECAR_MEMORY, LND_WALLET_INIT_MEMORY, LightningNode, LndApi, Site,
    TorMode,
};
use crate::secrets::{self as state, Secrets};

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
    host: String,
    rpc_port: u16,
    zmq_block: String,
    zmq_tx: String,
    rpc_user: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LightningSecrets {
    tls_cert_b64: String,
    tls_key_b64: String,
    wallet_password_b64: String,
    rpc_user_b64: String,
    rpc_password_b64: String,
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
    let (labels, selector) = component_labels(site, "lnd", &node.name, LIGHTNING_COMPONENT);
    let backend_host = service_host(site, &backend.name);
    let mut tls_domains =
        state::lnd_dns_names(&node.name, site.namespace(), &node.tls_extra_domains);
    tls_domains.retain(|name| name != "localhost");
    let secrets_context = LightningSecrets {
        tls_cert_b64: b64(secret(secrets, &state::paths::tls_cert(&node.name))?),
        tls_key_b64: b64(secret(secrets, &state::paths::tls_key(&node.name))?),
        wallet_password_b64: b64(secret(secrets, &state::paths::wallet_password(&node.name))?),
        rpc_user_b64: b64(node.name.as_bytes()),
        rpc_password_b64: b64(secret(
            secrets,
            &state::paths::rpc_password(&backend.name, &node.name),
        )?),
    };
    let tor = tor_context(site, node, secrets)?;
    let mut external_ips: Vec<String> = tor
        .iter()
        .map(|t| format!("{}:{LND_P2P_PORT}", t.p2p.address))
        .collect();
    external_ips.extend(
        site::clearnet_external_ips(site)
            .iter()
            .map(|ip| with_port(ip, LND_P2P_PORT)),
    );
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
                service_account: names::lnd_service_account(&node.name),
            },
            labels,
            selector,
            tor,
            inbound: site::node_inbound(site, &node.name, LND_P2P_PORT),
            external_ips,
            monitoring: monitoring(site, node),
            ingress: node
                .ingress
                .iter()
                .filter_map(|(api, host)| {
                    let protocol = match api {
                        LndApi::Rest => "HTTPS",
                        LndApi::Grpc => "GRPCS",
                    };
                    ingress::node_ingress(
                        site,
                        &node.name,
                        api.as_str(),
                        host,
                        lnd_api_port(*api),
                        protocol,
                    )
                })
                .collect(),
        },
        backend: BackendContext {
            name: backend.name.clone(),
            host: backend_host.clone(),
            rpc_port: site.spec.network.rpc_port(),
            zmq_block: format!("tcp://{backend_host}:{ZMQ_RAWBLOCK_PORT}"),
            zmq_tx: format!("tcp://{backend_host}:{ZMQ_RAWTX_PORT}"),
            rpc_user: node.name.clone(),
        },
        secrets: secrets_context,
    })
}

fn wallet_init(site: &Site) -> WalletInitContext {
    use crate::profile::Network;
    let network = site.spec.network;
    let (mode, lndinit_network) = match network {
        Network::Mainnet => ("file", "mainnet"),
        Network::Testnet => ("file", "testnet"),
        Network::Regtest => ("file", "regtest"),
        Network::Signet | Network::Testnet4 => ("rpc", ""),
    };
    WalletInitContext {
        mode,
        network: lndinit_network,
        dir: format!("/data/data/chain/bitcoin/{}", network.as_str()),
        lndinit_image: images::LNDINIT,
        memory: LND_WALLET_INIT_MEMORY.to_string(),
        go_mem_limit: format!("{}MiB", LND_WALLET_INIT_MEMORY.0 / 1024 / 1024 * 9 / 10),
        sidecar_memory: LND_SIDECAR_MEMORY.to_string(),
        sidecar_cpu: LND_SIDECAR_CPU.to_string(),
    }
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
        let (labels, selector) = component_labels(site, "lndmon", &node.name, "metrics-exporter");
        LndmonContext {
            name: format!("{}-lndmon", node.name),
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
        }
    });
    let (mut labels, mut selector) = component_labels(site, "lnd", &node.name, LIGHTNING_COMPONENT);
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

/// `ip` with `port`, brackets around IPv6.
fn with_port(ip: &str, port: u16) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(_)) => format!("[{ip}]:{port}"),
        _ => format!("{ip}:{port}"),
    }
}
