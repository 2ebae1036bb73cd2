//! What templates see: names, ports, labels, storage and base64 secret values, computed here
//! once so templates never build names or paths themselves.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;

use crate::images;
use crate::profile::{
    BitcoinNode, LND_SIDECAR_CPU, LND_SIDECAR_MEMORY, LND_WALLET_INIT_MEMORY, LightningNode,
    Resources, Site,
};

use super::{PlanError, names, stack};
use crate::secrets::{self as state, Secrets, StateError, rpcauth};

pub const ZMQ_RAWBLOCK_PORT: u16 = 28332;
pub const ZMQ_RAWTX_PORT: u16 = 28333;
pub const LND_P2P_PORT: u16 = 9735;
pub const LND_GRPC_PORT: u16 = 10009;
pub const LND_REST_PORT: u16 = 8080;
/// storageClassName of every openlsp volume: no provisioner may claim them.
pub const STORAGE_CLASS: &str = "openlsp-local";
pub const SITE_LABEL: &str = "openlsp.io/site";

type Labels = BTreeMap<&'static str, String>;

#[derive(Serialize)]
pub struct SiteContext {
    pub name: String,
    pub namespace: String,
    pub network: &'static str,
    pub chain: &'static str,
    pub labels: Labels,
    #[serde(rename = "dataAnnotation")]
    pub data_annotation: BTreeMap<&'static str, &'static str>,
    /// The namespace's Pod Security level: `restricted`, or `privileged` when inbound P2P
    /// uses host ports (baseline forbids them too); `warn` and `audit` stay `restricted`.
    #[serde(rename = "podSecurity")]
    pub pod_security: &'static str,
    pub tor: stack::TorContext,
    pub networking: stack::NetworkingContext,
    pub monitoring: stack::MonitoringContext,
    pub ingress: stack::IngressContext,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourcesContext {
    memory: String,
    cpu: String,
    cpu_limit: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageContext {
    pv: String,
    pvc: String,
    class: &'static str,
    path: String,
    size: String,
    node_name: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BitcoinNames {
    service: String,
    stateful_set: String,
    config_map: String,
    rpcauth_secret: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BitcoinPorts {
    rpc: u16,
    p2p: u16,
    zmq_block: u16,
    zmq_tx: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BitcoinNodeContext {
    name: String,
    image: String,
    uid: i64,
    txindex: bool,
    prune: Option<u64>,
    dbcache: u64,
    maxmempool: u64,
    resources: ResourcesContext,
    ports: BitcoinPorts,
    rpc_allow_ip: Vec<String>,
    storage: StorageContext,
    names: BitcoinNames,
    labels: Labels,
    selector: Labels,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcClientContext {
    name: String,
    user: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BitcoinContext {
    node: BitcoinNodeContext,
    clients: Vec<RpcClientContext>,
    /// base64 of rpcauth.conf: one salted `rpcauth=` line per client.
    rpcauth_conf_b64: String,
    /// Tor, inbound P2P, the exporter and the Ingress of this node.
    stack: stack::BitcoinStack,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LightningNames {
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
pub struct LightningPorts {
    p2p: u16,
    grpc: u16,
    rest: u16,
}

/// How the wallet is created: lndinit writes it directly (`file`), or, for networks lndinit's
/// file mode does not know (signet, testnet4), through LND's unlocker RPC (`rpc`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WalletInitContext {
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
pub struct LightningNodeContext {
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
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendContext {
    name: String,
    host: String,
    rpc_port: u16,
    zmq_block: String,
    zmq_tx: String,
    rpc_user: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LightningSecrets {
    tls_cert_b64: String,
    tls_key_b64: String,
    wallet_password_b64: String,
    rpc_user_b64: String,
    rpc_password_b64: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LightningContext {
    node: LightningNodeContext,
    backend: BackendContext,
    secrets: LightningSecrets,
    /// Tor, inbound P2P, metrics, lndmon and the Ingresses of this node.
    stack: stack::LightningStack,
}

pub(super) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub(super) fn secret<'a>(secrets: &'a Secrets, path: &str) -> Result<&'a [u8], PlanError> {
    secrets
        .get(path)
        .ok_or_else(|| PlanError::State(StateError::Missing { path: path.into() }))
}

pub(super) fn secret_text<'a>(secrets: &'a Secrets, path: &str) -> Result<&'a str, PlanError> {
    std::str::from_utf8(secret(secrets, path)?).map_err(|_| {
        PlanError::State(StateError::Damaged {
            path: path.into(),
            reason: "it is not UTF-8 text".to_owned(),
        })
    })
}

/// `app.kubernetes.io/component` of bitcoind's and LND's pods.
pub const BITCOIN_COMPONENT: &str = "bitcoin-node";
pub const LIGHTNING_COMPONENT: &str = "lightning-node";

/// Labels every object of the site carries.
pub(super) fn site_labels(site: &Site) -> Labels {
    let mut labels = Labels::new();
    labels.insert("app.kubernetes.io/managed-by", "openlsp".to_owned());
    labels.insert("app.kubernetes.io/part-of", "openlsp".to_owned());
    labels.insert(SITE_LABEL, site.name().to_owned());
    labels
}

pub fn site_context(site: &Site) -> SiteContext {
    let labels = site_labels(site);
    SiteContext {
        name: site.name().to_owned(),
        namespace: site.namespace().to_owned(),
        network: site.spec.network.as_str(),
        chain: site.spec.network.bitcoind_chain(),
        labels,
        data_annotation: BTreeMap::from([(crate::object::DATA_ANNOTATION, "true")]),
        pod_security: if site.spec.networking.inbound == crate::profile::Inbound::HostPort {
            "privileged"
        } else {
            "restricted"
        },
        tor: stack::tor_context(site),
        networking: stack::networking_context(site),
        monitoring: stack::monitoring_context(site),
        ingress: stack::ingress_context(site),
    }
}

/// Standard labels of one component's objects and the subset its selectors use.
pub(super) fn node_labels(
    site: &Site,
    software: &str,
    instance: &str,
    component: &str,
) -> (Labels, Labels) {
    let mut selector = Labels::new();
    selector.insert("app.kubernetes.io/name", software.to_owned());
    selector.insert("app.kubernetes.io/instance", instance.to_owned());
    let mut labels = site_labels(site);
    labels.extend(selector.clone());
    labels.insert("app.kubernetes.io/component", component.to_owned());
    (labels, selector)
}

fn resources(site: &Site, resources: Resources) -> ResourcesContext {
    ResourcesContext {
        memory: resources.memory.to_string(),
        cpu: resources.cpu.to_string(),
        cpu_limit: site.spec.host.cpus.to_string(),
    }
}

fn storage(site: &Site, node: &str, disk_name: &str) -> StorageContext {
    let disk = &site.spec.disks[disk_name];
    StorageContext {
        pv: format!("{}-{node}", site.namespace()),
        pvc: format!("{node}-data"),
        class: STORAGE_CLASS,
        path: format!("{}/{node}", disk.path),
        size: disk.size.to_string(),
        node_name: disk.node_name.clone(),
    }
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

/// `user`'s rpcauth line for bitcoind `bitcoin`; during a rotation also the previous one, so
/// bitcoind accepts both passwords until the client has rolled.
pub(super) fn rpcauth_lines(
    secrets: &Secrets,
    bitcoin: &str,
    user: &str,
) -> Result<String, PlanError> {
    let password = state::paths::rpc_password(bitcoin, user);
    let salt = state::paths::rpc_salt(bitcoin, user);
    let mut lines = rpcauth::rpcauth_line(
        user,
        secret_text(secrets, &salt)?,
        secret_text(secrets, &password)?,
    );
    lines.push('\n');
    let (previous_password, previous_salt) = (
        state::paths::previous(&password),
        state::paths::previous(&salt),
    );
    if secrets.get(&previous_password).is_some() {
        lines.push_str("# previous credential, until `openlsp secrets rotate --finish`\n");
        lines.push_str(&rpcauth::rpcauth_line(
            user,
            secret_text(secrets, &previous_salt)?,
            secret_text(secrets, &previous_password)?,
        ));
        lines.push('\n');
    }
    Ok(lines)
}

/// The in-cluster DNS name of a Service, independent of the cluster domain.
pub fn service_host(site: &Site, service: &str) -> String {
    format!("{service}.{}.svc", site.namespace())
}

pub fn bitcoin_context(
    site: &Site,
    node: &BitcoinNode,
    secrets: &Secrets,
) -> Result<BitcoinContext, PlanError> {
    let (labels, selector) = node_labels(site, "bitcoind", &node.name, BITCOIN_COMPONENT);
    let mut clients = Vec::new();
    let mut conf = String::from("# RPC users of this bitcoind, one salted rpcauth line each.\n");
    for client in site.clients_of(&node.name) {
        conf.push_str(&rpcauth_lines(secrets, &node.name, &client.name)?);
        clients.push(RpcClientContext {
            name: client.name.clone(),
            user: client.name.clone(),
        });
    }
    conf.push_str(&stack::exporter_rpcauth(site, node, secrets)?);
    let network = site.spec.network;
    Ok(BitcoinContext {
        node: BitcoinNodeContext {
            name: node.name.clone(),
            image: node.image.clone(),
            uid: images::BITCOIND_UID,
            txindex: node.txindex,
            prune: node.prune,
            dbcache: node.dbcache,
            maxmempool: node.maxmempool,
            resources: resources(site, node.resources),
            ports: BitcoinPorts {
                rpc: network.rpc_port(),
                p2p: network.p2p_port(),
                zmq_block: ZMQ_RAWBLOCK_PORT,
                zmq_tx: ZMQ_RAWTX_PORT,
            },
            rpc_allow_ip: node.rpc_allow_ip.clone(),
            storage: storage(site, &node.name, &node.disk),
            names: BitcoinNames {
                service: node.name.clone(),
                stateful_set: node.name.clone(),
                config_map: names::config_map(&node.name),
                rpcauth_secret: names::rpcauth_secret(&node.name),
            },
            labels,
            selector,
        },
        clients,
        rpcauth_conf_b64: b64(conf.as_bytes()),
        stack: stack::bitcoin_stack(site, node, secrets)?,
    })
}

pub fn lightning_context(
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
    let (labels, selector) = node_labels(site, "lnd", &node.name, LIGHTNING_COMPONENT);
    let backend_host = service_host(site, &backend.name);
    let mut tls_domains =
        state::lnd_dns_names(&node.name, site.namespace(), &node.tls_extra_domains);
    tls_domains.retain(|name| name != "localhost");
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
        },
        backend: BackendContext {
            name: backend.name.clone(),
            host: backend_host.clone(),
            rpc_port: site.spec.network.rpc_port(),
            zmq_block: format!("tcp://{backend_host}:{ZMQ_RAWBLOCK_PORT}"),
            zmq_tx: format!("tcp://{backend_host}:{ZMQ_RAWTX_PORT}"),
            rpc_user: node.name.clone(),
        },
        secrets: LightningSecrets {
            tls_cert_b64: b64(secret(secrets, &state::paths::tls_cert(&node.name))?),
            tls_key_b64: b64(secret(secrets, &state::paths::tls_key(&node.name))?),
            wallet_password_b64: b64(secret(secrets, &state::paths::wallet_password(&node.name))?),
            rpc_user_b64: b64(node.name.as_bytes()),
            rpc_password_b64: b64(secret(
                secrets,
                &state::paths::rpc_password(&backend.name, &node.name),
            )?),
        },
        stack: stack::lightning_stack(site, node, secrets)?,
    })
}
