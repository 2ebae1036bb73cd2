//! Tor: the site's one Tor daemon (`templates/tor/`, read as `site.tor`) and the onion services
//! it serves with keys openlsp generated; and what a node's own context takes from Tor: its
//! onion key as a Secret, and the SOCKS proxy's address.

use serde::Serialize;

use super::network::{self, Access, PodPolicy, tcp};
use super::shared::{
    BTCPAY_PORT, LND_P2P_PORT, Labels, ResourcesContext, TOR_SOCKS_PORT, UI_PORT, api_port, b64,
    bitcoin_selector, btcpay_selector, component_labels, lightning_selector, resources, secret,
    service_host,
};
use crate::images;
use crate::plan::error::PlanError;
use crate::plan::names;
use crate::profile::{Site, TorMode};
use crate::secrets::OnionKey;
use crate::secrets::{self as state, Secrets};

/// The Tor daemon's own name: one per site.
pub(crate) const TOR_NAME: &str = "tor";
const TOR_CONFIG_MAP: &str = "tor-config";
/// The Tor pod's memory-backed emptyDir: Tor's DataDirectory and every HiddenServiceDir.
pub(crate) const TOR_STATE_DIR: &str = "/var/lib/tor";
/// Tor's DataDirectory, under TOR_STATE_DIR.
const TOR_DATA_SUBDIR: &str = "data";
/// The HiddenServiceDirs' parent, under TOR_STATE_DIR.
const TOR_HS_SUBDIR: &str = "hs";
/// Where the Tor pod mounts the onion key Secrets, one directory per onion service.
pub(crate) const TOR_KEYS_DIR: &str = "/etc/tor/keys";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PortTarget {
    #[serde(rename = "virtual")]
    virtual_port: u16,
    target: String,
}

/// One HiddenServiceDir of the Tor daemon.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OnionServiceContext {
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
pub(crate) struct TorContext {
    enabled: bool,
    mode: &'static str,
    hybrid: bool,
    tor_only: bool,
    image: String,
    uid: i64,
    /// `memory`, `cpu` and `cpuLimit`.
    #[serde(flatten)]
    resources: ResourcesContext,
    name: &'static str,
    config_map: &'static str,
    socks_port: u16,
    /// `host:port` of the SOCKS proxy, for bitcoind and LND.
    socks: String,
    /// Source ranges allowed to use the SOCKS port (`SocksPolicy accept`).
    socks_allow: Vec<String>,
    /// Only this site's bitcoind and LND pods may use the SOCKS port; Tor connects anywhere.
    policy: PodPolicy,
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

pub(crate) fn context(site: &Site) -> TorContext {
    let tor = &site.spec.tor;
    let (labels, selector) = component_labels(site, TOR_NAME, TOR_NAME, "tor");
    TorContext {
        enabled: tor.enabled(),
        mode: tor.mode.as_str(),
        hybrid: tor.mode == TorMode::Hybrid,
        tor_only: tor.mode == TorMode::TorOnly,
        image: tor.image.clone(),
        uid: images::TOR_UID,
        resources: resources(site, tor.resources),
        name: TOR_NAME,
        config_map: TOR_CONFIG_MAP,
        socks_port: TOR_SOCKS_PORT,
        socks: socks(site),
        socks_allow: crate::profile::DEFAULT_RPC_ALLOW_IP
            .iter()
            .map(|range| tor_policy_range(range))
            .collect(),
        policy: PodPolicy::new(
            TOR_NAME,
            &labels,
            &selector,
            vec![Access::from(socks_clients(site), vec![tcp(TOR_SOCKS_PORT)])],
            vec![Access::anywhere(Vec::new())],
        ),
        state_dir: TOR_STATE_DIR,
        data_dir: format!("{TOR_STATE_DIR}/{TOR_DATA_SUBDIR}"),
        data_subdir: TOR_DATA_SUBDIR,
        keys_dir: TOR_KEYS_DIR,
        node_name: site.spec.host.node_name.clone(),
        services: if tor.enabled() {
            onion_services(site)
        } else {
            Vec::new()
        },
        labels,
        selector,
    }
}

/// The pods that use the SOCKS proxy: every bitcoind and Lightning node of the site, and BTCPay.
fn socks_clients(site: &Site) -> Vec<network::Peer> {
    let bitcoind = site
        .spec
        .bitcoin
        .iter()
        .map(|n| bitcoin_selector(site, &n.name));
    let lnd = site
        .spec
        .lightning
        .iter()
        .map(|n| lightning_selector(site, n));
    let btcpay = site.spec.btcpay.iter().map(|_| btcpay_selector(site));
    bitcoind
        .chain(lnd)
        .chain(btcpay)
        .map(|selector| network::pods(site, &selector))
        .collect()
}

/// The Tor daemon's pods, as a peer of the nodes' policies.
pub(crate) fn peer(site: &Site) -> network::Peer {
    network::pods(site, &component_labels(site, TOR_NAME, TOR_NAME, "tor").1)
}

/// Access to the SOCKS port: in tor-only mode all a node may reach outside the cluster.
pub(crate) fn socks_access(site: &Site) -> Access {
    Access::from(vec![peer(site)], vec![tcp(TOR_SOCKS_PORT)])
}

/// `host:port` of the site's SOCKS proxy.
pub(crate) fn socks(site: &Site) -> String {
    format!("{}:{TOR_SOCKS_PORT}", service_host(site, TOR_NAME))
}

/// The ClusterIP Service the Tor daemon forwards bitcoind `bitcoind`'s onion peers to.
pub(crate) fn onion_target_service(bitcoind: &str) -> String {
    format!("{bitcoind}-onion")
}

/// The onion services and where each forwards to.
fn onion_services(site: &Site) -> Vec<OnionServiceContext> {
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
        let target = service_host(site, &onion_target_service(&node.name));
        services.push(service(
            format!("{}-p2p", node.name),
            vec![PortTarget {
                virtual_port: network.p2p_port(),
                target: format!("{target}:{}", node.onion_target_port(network)),
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
                    let port = api_port(node, *api);
                    PortTarget {
                        virtual_port: port,
                        target: format!("{target}:{port}"),
                    }
                })
                .collect();
            services.push(service(format!("{}-rpc", node.name), ports));
        }
    }
    if site.spec.btcpay.as_ref().is_some_and(|btcpay| btcpay.onion) {
        // The store over plain HTTP on port 80: the onion address authenticates the server.
        services.push(service(
            state::BTCPAY_ONION.to_owned(),
            vec![PortTarget {
                virtual_port: 80,
                target: format!("{}:{BTCPAY_PORT}", service_host(site, names::BTCPAY)),
            }],
        ));
    }
    for (kind, app) in site.spec.apps.enabled() {
        if app.onion {
            // The UI over plain HTTP on port 80, as the store's.
            services.push(service(
                kind.name().to_owned(),
                vec![PortTarget {
                    virtual_port: 80,
                    target: format!("{}:{UI_PORT}", service_host(site, kind.name())),
                }],
            ));
        }
    }
    debug_assert_eq!(
        services.iter().map(|s| s.name.clone()).collect::<Vec<_>>(),
        state::onion_services(site)
    );
    services
}

/// A CIDR range as Tor's policies write it: IPv6 addresses in brackets (`[fc00::]/7`).
fn tor_policy_range(range: &str) -> String {
    match range.split_once('/') {
        Some((ip, bits)) if ip.contains(':') => format!("[{ip}]/{bits}"),
        _ => range.to_owned(),
    }
}

/// An onion service's key material as a Secret's data (`templates/_shared/onion-secret.yaml.j2`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OnionSecretContext {
    name: String,
    pub(crate) address: String,
    secret_key_b64: String,
    public_key_b64: String,
}

/// The key of onion service `service`, from the secrets snapshot.
pub(crate) fn onion_secret(
    secrets: &Secrets,
    service: &str,
) -> Result<OnionSecretContext, PlanError> {
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
