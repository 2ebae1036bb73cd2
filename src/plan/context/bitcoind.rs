//! A Bitcoin node, once per `spec.bitcoin` entry: everything `templates/bitcoind/` renders with.
//! `node` is the node with its names, ports, volume and pod size, and what the rest of the site
//! gives it: its onion service, inbound P2P, its Prometheus exporter and its RPC Ingress.
//! `clients` and `rpcauthConfB64` are its RPC users.

use serde::Serialize;

use super::ingress::{self, NodeIngressContext};
use super::network::{self, Access, PodPolicy, tcp};
use super::shared::{
    BITCOIN_COMPONENT, BITCOIND_APP, EXPORTER_PORT, HEADERS_EXPORTER_PORT, Labels,
    NBXPLORER_WHITEBIND_PORT, ResourcesContext, StorageContext, ZMQ_RAWBLOCK_PORT, ZMQ_RAWTX_PORT,
    b64, bitcoin_selector, btcpay_selector, component_labels, lightning_selector, resources,
    secret_text, service_host, storage,
};
use super::site::{self, NodeInbound};
use super::tor::{self, OnionSecretContext};
use crate::images;
use crate::plan::error::PlanError;
use crate::plan::names;
use crate::profile::{BitcoinNode, Implementation, Site, TorMode};
use crate::secrets::rpcauth;
use crate::secrets::{self as state, EXPORTER_RPC_USER, NBXPLORER_RPC_USER, Secrets};

/// The RPCs jvstein/bitcoin-prometheus-exporter calls (bitcoind-monitor.py's `refresh_metrics`):
/// the union over its versions, since the pinned image's script cannot be read here and bitcoind
/// answers a call outside the whitelist with 403, after which the exporter sets no gauge at all.
/// Every one only reads; the exporter's user may call nothing else. The pod's `headers`
/// container calls only `getblockchaininfo`, as the same user.
pub(crate) const EXPORTER_RPCS: [&str; 14] = [
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
pub(crate) const EXPORTER_RATE_LIMIT_SECONDS: u32 = 55;

/// The exporter's connection file: a key of its credentials Secret, mounted at
/// `EXPORTER_CONF_DIR`.
const EXPORTER_CONF_KEY: &str = "bitcoin.conf";
const EXPORTER_CONF_DIR: &str = "/etc/exporter";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BitcoinContext {
    node: BitcoinNodeContext,
    clients: Vec<RpcClientContext>,
    /// base64 of rpcauth.conf: one salted `rpcauth=` line per client.
    rpcauth_conf_b64: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BitcoinNodeContext {
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
    /// Its onion service, with Tor on.
    tor: Option<BitcoinTorContext>,
    inbound: NodeInbound,
    /// Clearnet addresses it advertises (`externalip=`).
    external_ips: Vec<String>,
    /// Its Prometheus exporter, with monitoring on.
    exporter: Option<ExporterContext>,
    /// Its RPC's public Ingress, if the profile names one.
    ingress: Option<NodeIngressContext>,
    /// NBXplorer's P2P listener when BTCPay follows this node: `whitebind=noban@…`, and the
    /// clearnet binds that keep the default P2P port open beside it (any `-whitebind` turns
    /// off bitcoind's default binds, as `-bind` does).
    nbxplorer: Option<NbxplorerListener>,
    /// Who may reach its ports, and where it connects to.
    policy: PodPolicy,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NbxplorerListener {
    port: u16,
    whitebind: String,
    /// Binds for the P2P port when Tor (whose context has its own) is off.
    binds: Vec<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BitcoinNames {
    service: String,
    stateful_set: String,
    config_map: String,
    rpcauth_secret: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BitcoinPorts {
    rpc: u16,
    p2p: u16,
    zmq_block: u16,
    zmq_tx: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RpcClientContext {
    name: String,
    user: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BitcoinTorContext {
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
pub(crate) struct ExporterContext {
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
    user_b64: String,
    password_b64: String,
    /// The exporter's `BITCOIN_CONF_PATH` file: bitcoind's address and the exporter's
    /// credentials, as a Secret key mounted in both containers.
    conf_key: &'static str,
    conf_dir: &'static str,
    conf_b64: String,
    labels: Labels,
    selector: Labels,
    /// Only the monitoring namespace scrapes it; it reaches its bitcoind's RPC.
    policy: PodPolicy,
}

pub(crate) fn context(
    site: &Site,
    node: &BitcoinNode,
    secrets: &Secrets,
) -> Result<BitcoinContext, PlanError> {
    let (labels, selector) = component_labels(site, BITCOIND_APP, &node.name, BITCOIN_COMPONENT);
    let mut clients = Vec::new();
    let mut conf = String::from("# RPC users of this bitcoind, one salted rpcauth line each.\n");
    for client in site.clients_of(&node.name) {
        conf.push_str(&rpcauth_lines(secrets, &node.name, &client.name)?);
        clients.push(RpcClientContext {
            name: client.name.clone(),
            user: client.name.clone(),
        });
    }
    conf.push_str(&exporter_rpcauth(site, node, secrets)?);
    let nbxplorer = followed_by_btcpay(site, node);
    if nbxplorer {
        conf.push_str("# BTCPay's NBXplorer.\n");
        conf.push_str(&rpcauth_lines(secrets, &node.name, NBXPLORER_RPC_USER)?);
    }
    let network = site.spec.network;
    let rpc_ingress = node.ingress.rpc.as_ref().and_then(|host| {
        ingress::node_ingress(site, &node.name, "rpc", host, network.rpc_port(), "HTTP")
    });
    let policy = policy(site, node, &labels, &selector, rpc_ingress.is_some());
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
            tor: tor_context(site, node, secrets)?,
            inbound: site::node_inbound(site, &node.name, network.p2p_port()),
            external_ips: site::clearnet_external_ips(site).to_vec(),
            exporter: exporter(site, node, secrets)?,
            ingress: rpc_ingress,
            nbxplorer: nbxplorer.then(|| nbxplorer_listener(site)),
            policy,
        },
        clients,
        rpcauth_conf_b64: b64(conf.as_bytes()),
    })
}

/// `user`'s rpcauth line for bitcoind `bitcoin`; during a rotation also the previous one, so
/// bitcoind accepts both passwords until the client has rolled.
fn rpcauth_lines(secrets: &Secrets, bitcoin: &str, user: &str) -> Result<String, PlanError> {
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

/// The rpcauth lines of a bitcoind's exporter: its own user, restricted to read-only calls.
/// `rpcwhitelistdefault=0` keeps every other user (LND) unrestricted: bitcoind otherwise denies
/// all calls to users without a whitelist once any whitelist is set.
fn exporter_rpcauth(
    site: &Site,
    node: &BitcoinNode,
    secrets: &Secrets,
) -> Result<String, PlanError> {
    if !site.spec.monitoring.enabled {
        return Ok(String::new());
    }
    Ok(format!(
        "# The Prometheus exporter: read-only calls only.\n{}rpcwhitelist={EXPORTER_RPC_USER}:{}\n# Users without an rpcwhitelist line keep every call.\nrpcwhitelistdefault=0\n",
        rpcauth_lines(secrets, &node.name, EXPORTER_RPC_USER)?,
        EXPORTER_RPCS.join(",")
    ))
}

/// bitcoind's NetworkPolicy. RPC: its Lightning nodes, its exporter and, when the RPC is
/// published, the ingress controller; ZMQ: its Lightning nodes; P2P: anyone, except in tor-only
/// mode, where bitcoind listens only for Tor's onion peers. In tor-only mode it connects only to
/// Tor and the cluster DNS; otherwise anywhere (clearnet peers).
fn policy(
    site: &Site,
    node: &BitcoinNode,
    labels: &Labels,
    selector: &Labels,
    rpc_published: bool,
) -> PodPolicy {
    let network = site.spec.network;
    let clients: Vec<_> = site.clients_of(&node.name).collect();
    let lightning: Vec<network::Peer> = clients
        .iter()
        .map(|client| network::pods(site, &lightning_selector(site, client)))
        .collect();
    // Only LND subscribes to ZMQ; CLN's bcli plugin polls RPC.
    let zmq_clients: Vec<network::Peer> = clients
        .iter()
        .filter(|client| client.implementation == Implementation::Lnd)
        .map(|client| network::pods(site, &lightning_selector(site, client)))
        .collect();
    let mut rpc_clients = lightning;
    if site.spec.monitoring.enabled {
        rpc_clients.push(network::pods(site, &exporter_labels(site, node).1));
    }
    if rpc_published {
        rpc_clients.push(network::namespace(&site.spec.ingress.controller_namespace));
    }
    let btcpay =
        followed_by_btcpay(site, node).then(|| network::pods(site, &btcpay_selector(site)));
    rpc_clients.extend(btcpay.clone());
    let tor_only = site.spec.tor.mode == TorMode::TorOnly;
    let mut ingress = vec![
        Access::from(rpc_clients, vec![tcp(network.rpc_port())]),
        Access::from(
            zmq_clients,
            vec![tcp(ZMQ_RAWBLOCK_PORT), tcp(ZMQ_RAWTX_PORT)],
        ),
    ];
    if !tor_only {
        ingress.push(Access::anywhere(vec![tcp(network.p2p_port())]));
    }
    if site.spec.tor.enabled() {
        ingress.push(Access::from(
            vec![tor::peer(site)],
            vec![tcp(network.onion_target_port())],
        ));
    }
    if let Some(btcpay) = btcpay {
        ingress.push(Access::from(
            vec![btcpay],
            vec![tcp(NBXPLORER_WHITEBIND_PORT)],
        ));
    }
    let egress = if tor_only {
        vec![tor::socks_access(site), Access::dns()]
    } else {
        vec![Access::anywhere(Vec::new())]
    };
    PodPolicy::new(node.name.clone(), labels, selector, ingress, egress)
}

/// Whether BTCPay's NBXplorer follows bitcoind `node`.
fn followed_by_btcpay(site: &Site, node: &BitcoinNode) -> bool {
    site.spec
        .btcpay
        .as_ref()
        .is_some_and(|btcpay| btcpay.bitcoin == node.name)
}

/// NBXplorer's P2P listener: `noban`, the one permission NBXplorer checks for (its Indexer
/// warns without it), on a port of its own that only BTCPay's pod may reach.
fn nbxplorer_listener(site: &Site) -> NbxplorerListener {
    let p2p = site.spec.network.p2p_port();
    let binds = if site.spec.tor.enabled() {
        Vec::new()
    } else {
        let mut binds = vec![format!("0.0.0.0:{p2p}")];
        if site.spec.networking.ipv6 {
            binds.push(format!("[::]:{p2p}"));
        }
        binds
    };
    NbxplorerListener {
        port: NBXPLORER_WHITEBIND_PORT,
        whitebind: format!("noban@0.0.0.0:{NBXPLORER_WHITEBIND_PORT}"),
        binds,
    }
}

/// The labels and selector of bitcoind `node`'s exporter pod.
fn exporter_labels(site: &Site, node: &BitcoinNode) -> (Labels, Labels) {
    component_labels(
        site,
        "bitcoin-prometheus-exporter",
        &node.name,
        "metrics-exporter",
    )
}

/// The node's onion service: peers through Tor, and in hybrid mode clearnet beside it.
fn tor_context(
    site: &Site,
    node: &BitcoinNode,
    secrets: &Secrets,
) -> Result<Option<BitcoinTorContext>, PlanError> {
    if !site.spec.tor.enabled() {
        return Ok(None);
    }
    let network = site.spec.network;
    let hybrid = site.spec.tor.mode == TorMode::Hybrid;
    let mut clearnet_binds = Vec::new();
    if hybrid {
        clearnet_binds.push(format!("0.0.0.0:{}", network.p2p_port()));
        if site.spec.networking.ipv6 {
            clearnet_binds.push(format!("[::]:{}", network.p2p_port()));
        }
    }
    let secret = tor::onion_secret(secrets, &format!("{}-p2p", node.name))?;
    Ok(Some(BitcoinTorContext {
        proxy_key: if hybrid { "onion" } else { "proxy" },
        socks: tor::socks(site),
        address: secret.address.clone(),
        onion_port: network.onion_target_port(),
        clearnet_binds,
        target_service: tor::onion_target_service(&node.name),
        secret,
    }))
}

/// The node's Prometheus exporter, with its own read-only RPC user.
fn exporter(
    site: &Site,
    node: &BitcoinNode,
    secrets: &Secrets,
) -> Result<Option<ExporterContext>, PlanError> {
    if !site.spec.monitoring.enabled {
        return Ok(None);
    }
    let (labels, selector) = exporter_labels(site, node);
    let password = secret_text(
        secrets,
        &state::paths::rpc_password(&node.name, EXPORTER_RPC_USER),
    )?;
    // python-bitcoinlib's `Proxy(btc_conf_file=...)` (which jvstein's bitcoind-monitor.py uses
    // when BITCOIN_CONF_PATH is set) reads rpcconnect, rpcport, rpcuser and rpcpassword.
    let conf = format!(
        "rpcconnect={}\nrpcport={}\nrpcuser={EXPORTER_RPC_USER}\nrpcpassword={password}\n",
        service_host(site, &node.name),
        site.spec.network.rpc_port()
    );
    let policy = PodPolicy::exporter(
        site,
        names::bitcoind_exporter(&node.name),
        (&labels, &selector),
        vec![tcp(EXPORTER_PORT), tcp(HEADERS_EXPORTER_PORT)],
        &bitcoin_selector(site, &node.name),
        site.spec.network.rpc_port(),
    );
    Ok(Some(ExporterContext {
        user: EXPORTER_RPC_USER,
        name: names::bitcoind_exporter(&node.name),
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
        user_b64: b64(EXPORTER_RPC_USER.as_bytes()),
        password_b64: b64(password.as_bytes()),
        conf_key: EXPORTER_CONF_KEY,
        conf_dir: EXPORTER_CONF_DIR,
        conf_b64: b64(conf.as_bytes()),
        labels,
        selector,
        policy,
    }))
}
