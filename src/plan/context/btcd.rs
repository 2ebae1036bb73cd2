//! A btcd node, once per `spec.bitcoin` entry with `implementation: btcd`: everything
//! `templates/btcd/` renders with. btcd serves LND alone; its RPC is TLS only, with one admin
//! user, and its certificate is openlsp's (P-256, the Service's names) or cert-manager's.
//! Option names: btcsuite/btcd v0.26.0 config.go and sample-btcd.conf.

use serde::Serialize;

use super::network::{self, Access, PodPolicy, tcp};
use super::shared::{
    BITCOIN_COMPONENT, BTCD_APP, Labels, ResourcesContext, StorageContext, b64, component_labels,
    lightning_selector, resources, secret, storage,
};
use super::site::{self, NodeInbound};
use super::tor::{self, OnionSecretContext};
use crate::images;
use crate::plan::error::PlanError;
use crate::plan::names;
use crate::profile::{BitcoinNode, IssuerKind, Network, Site, TorMode};
use crate::secrets::{self as state, BTCD_RPC_USER, Secrets};

/// A cert-manager certificate for a Service name lives a year and is renewed a month before it
/// ends; btcd reads it only when it starts (docs/btcd.md).
const CERTIFICATE_DURATION: &str = "8760h";
const CERTIFICATE_RENEW_BEFORE: &str = "720h";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BtcdContext {
    node: BtcdNodeContext,
    secrets: BtcdSecrets,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BtcdNodeContext {
    name: String,
    image: String,
    uid: i64,
    /// btcd's network option (`simnet`, `testnet`, …); none on mainnet.
    network_flag: Option<&'static str>,
    txindex: bool,
    prune: Option<u64>,
    resources: ResourcesContext,
    ports: BtcdPorts,
    rpc_user: &'static str,
    /// P2P listeners (`listen=`): every address in the pod, v4 and with IPv6 v6.
    listen: Vec<String>,
    /// Clearnet and onion addresses it advertises (`externalip=`).
    external_ips: Vec<String>,
    storage: StorageContext,
    names: BtcdNames,
    labels: Labels,
    selector: Labels,
    /// The cert-manager Certificate, when `tls.issuer` names one.
    certificate: Option<CertificateContext>,
    tor: Option<BtcdTorContext>,
    inbound: NodeInbound,
    policy: PodPolicy,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BtcdPorts {
    rpc: u16,
    p2p: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BtcdNames {
    service: String,
    stateful_set: String,
    config_map: String,
    rpc_secret: String,
    tls_secret: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CertificateContext {
    issuer: String,
    kind: &'static str,
    dns_names: Vec<String>,
    duration: &'static str,
    renew_before: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BtcdTorContext {
    /// `onion` in hybrid mode (only .onion peers through Tor), `proxy` in tor-only mode.
    proxy_key: &'static str,
    socks: String,
    address: String,
    target_service: String,
    secret: OnionSecretContext,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BtcdSecrets {
    rpc_password_b64: String,
    /// openlsp's certificate and key; none with cert-manager.
    tls_cert_b64: Option<String>,
    tls_key_b64: Option<String>,
}

pub(crate) fn context(
    site: &Site,
    node: &BitcoinNode,
    secrets: &Secrets,
) -> Result<BtcdContext, PlanError> {
    let (labels, selector) = component_labels(site, BTCD_APP, &node.name, BITCOIN_COMPONENT);
    let network = site.spec.network;
    let p2p = network.p2p_port();
    let tor = tor_context(site, node, secrets)?;
    let mut listen = vec![format!("0.0.0.0:{p2p}")];
    if site.spec.networking.ipv6 {
        listen.push(format!("[::]:{p2p}"));
    }
    let external_ips = tor
        .as_ref()
        .map(|t| format!("{}:{p2p}", t.address))
        .into_iter()
        .chain(
            site::clearnet_external_ips(site)
                .iter()
                .map(|ip| super::shared::with_port(ip, p2p)),
        )
        .collect();
    let certificate = node.tls.as_ref().map(|tls| {
        let mut dns_names = state::lnd_dns_names(&node.name, site.namespace(), &[]);
        dns_names.retain(|name| name != "localhost");
        CertificateContext {
            issuer: tls.issuer.clone(),
            kind: match tls.kind {
                IssuerKind::Issuer => "Issuer",
                IssuerKind::ClusterIssuer => "ClusterIssuer",
            },
            dns_names,
            duration: CERTIFICATE_DURATION,
            renew_before: CERTIFICATE_RENEW_BEFORE,
        }
    });
    let own_tls = |path: String| -> Result<Option<String>, PlanError> {
        match certificate {
            Some(_) => Ok(None),
            None => Ok(Some(b64(secret(secrets, &path)?))),
        }
    };
    let secrets_context = BtcdSecrets {
        rpc_password_b64: b64(secret(
            secrets,
            &state::paths::rpc_password(&node.name, BTCD_RPC_USER),
        )?),
        tls_cert_b64: own_tls(state::paths::btcd_tls_cert(&node.name))?,
        tls_key_b64: own_tls(state::paths::btcd_tls_key(&node.name))?,
    };
    let policy = policy(site, node, &labels, &selector);
    Ok(BtcdContext {
        node: BtcdNodeContext {
            name: node.name.clone(),
            image: node.image.clone(),
            uid: images::BTCD_UID,
            network_flag: network_flag(network),
            txindex: node.txindex,
            prune: node.prune,
            resources: resources(site, node.resources),
            ports: BtcdPorts {
                rpc: node.rpc_port(network),
                p2p,
            },
            rpc_user: BTCD_RPC_USER,
            listen,
            external_ips,
            storage: storage(site, &node.name, &node.disk),
            names: BtcdNames {
                service: node.name.clone(),
                stateful_set: node.name.clone(),
                config_map: names::config_map(&node.name),
                rpc_secret: names::btcd_rpc_secret(&node.name),
                tls_secret: names::btcd_tls_secret(&node.name),
            },
            labels,
            selector,
            certificate,
            tor,
            inbound: site::node_inbound(site, &node.name, p2p),
            policy,
        },
        secrets: secrets_context,
    })
}

/// btcd's boolean network option; mainnet has none (config.go: `testnet` is testnet3).
fn network_flag(network: Network) -> Option<&'static str> {
    match network {
        Network::Mainnet => None,
        Network::Testnet => Some("testnet"),
        Network::Testnet4 => Some("testnet4"),
        Network::Signet => Some("signet"),
        Network::Regtest => Some("regtest"),
        Network::Simnet => Some("simnet"),
    }
}

/// The node's onion service: btcd takes onion peers on its P2P port.
fn tor_context(
    site: &Site,
    node: &BitcoinNode,
    secrets: &Secrets,
) -> Result<Option<BtcdTorContext>, PlanError> {
    if !site.spec.tor.enabled() {
        return Ok(None);
    }
    let hybrid = site.spec.tor.mode == TorMode::Hybrid;
    let secret = tor::onion_secret(secrets, &format!("{}-p2p", node.name))?;
    Ok(Some(BtcdTorContext {
        proxy_key: if hybrid { "onion" } else { "proxy" },
        socks: tor::socks(site),
        address: secret.address.clone(),
        target_service: tor::onion_target_service(&node.name),
        secret,
    }))
}

/// btcd's NetworkPolicy. RPC: its LND nodes only; P2P: anyone, except in tor-only mode, where
/// only Tor brings onion peers. In tor-only mode it connects only to Tor and the DNS; otherwise
/// anywhere (clearnet peers).
fn policy(site: &Site, node: &BitcoinNode, labels: &Labels, selector: &Labels) -> PodPolicy {
    let network = site.spec.network;
    let lightning: Vec<network::Peer> = site
        .clients_of(&node.name)
        .map(|client| network::pods(site, &lightning_selector(site, client)))
        .collect();
    let tor_only = site.spec.tor.mode == TorMode::TorOnly;
    let mut ingress = vec![Access::from(lightning, vec![tcp(node.rpc_port(network))])];
    if !tor_only {
        ingress.push(Access::anywhere(vec![tcp(network.p2p_port())]));
    }
    if site.spec.tor.enabled() {
        ingress.push(Access::from(
            vec![tor::peer(site)],
            vec![tcp(node.onion_target_port(network))],
        ));
    }
    let egress = if tor_only {
        vec![tor::socks_access(site), Access::dns()]
    } else {
        vec![Access::anywhere(Vec::new())]
    };
    PodPolicy::new(node.name.clone(), labels, selector, ingress, egress)
}
