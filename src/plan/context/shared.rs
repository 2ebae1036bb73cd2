//! The words every service's context is made of: ports, labels, the data annotation, volumes,
//! pod sizes, and reading a value from the secrets snapshot. A leaf of plan/context: it imports
//! no service file, so that every service file can import it and none has to import another
//! for a port or a label.

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::Serialize;
use serde_json::Value;

use crate::object::DATA_ANNOTATION;
use crate::plan::error::PlanError;
use crate::profile::{Implementation, LightningNode, LndApi, Resources, Site};
use crate::secrets::{Secrets, StateError};

/// How often BTCPay's PostgreSQL is dumped for its backup (docs/btcpay.md, "Backups").
pub(crate) const DATABASE_DUMP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(3600);
/// bitcoind's ZMQ publishers, which LND subscribes to.
pub(crate) const ZMQ_RAWBLOCK_PORT: u16 = 28332;
pub(crate) const ZMQ_RAWTX_PORT: u16 = 28333;
pub(crate) const LND_P2P_PORT: u16 = 9735;
pub(crate) const LND_GRPC_PORT: u16 = 10009;
pub(crate) const LND_REST_PORT: u16 = 8080;
pub(crate) const TOR_SOCKS_PORT: u16 = 9050;
/// The bitcoind exporter's `/metrics`.
pub(crate) const EXPORTER_PORT: u16 = 9332;
/// The exporter pod's `headers` container (templates/bitcoind/headers-exporter.py.j2).
pub(crate) const HEADERS_EXPORTER_PORT: u16 = 9333;
/// LND's `prometheus.listen` port (sample-lnd.conf: `prometheus.listen=0.0.0.0:8989`).
pub(crate) const LND_METRICS_PORT: u16 = 8989;
/// lndmon's default `prometheus.listenaddr` port.
pub(crate) const LNDMON_PORT: u16 = 9092;
/// The backup container's metrics (`rclone serve http` of its metrics file).
pub(crate) const BACKUP_METRICS_PORT: u16 = 9741;
/// kube-prometheus-stack's Grafana Service port.
pub(crate) const GRAFANA_PORT: u16 = 80;

/// The port LND serves `api` on.
pub(crate) fn lnd_api_port(api: LndApi) -> u16 {
    match api {
        LndApi::Rest => LND_REST_PORT,
        LndApi::Grpc => LND_GRPC_PORT,
    }
}

/// Core Lightning's cln-grpc port (lightningd-config(5): `grpc-port`, default 9736).
pub(crate) const CLN_GRPC_PORT: u16 = 9736;
/// Core Lightning's clnrest port (off unless set; lightningd-config(5): "3010 is common").
pub(crate) const CLN_REST_PORT: u16 = 3010;
/// `openlsp exporter cln`'s metrics port.
pub(crate) const CLN_EXPORTER_PORT: u16 = 9750;
/// `openlsp tunnel serve`'s TLS port in a CLN pod, which only BTCPay's pod may reach.
pub(crate) const CLN_TUNNEL_PORT: u16 = 9737;
/// The port each end of the tunnel opens for the kubelet's TCP probes (accept and close).
pub(crate) const TUNNEL_HEALTH_PORT: u16 = 9738;

/// The port Lightning node `node` serves `api` on.
pub(crate) fn api_port(node: &LightningNode, api: LndApi) -> u16 {
    match (node.implementation, api) {
        (Implementation::Lnd, api) => lnd_api_port(api),
        (Implementation::Cln, LndApi::Rest) => CLN_REST_PORT,
        (Implementation::Cln, LndApi::Grpc) => CLN_GRPC_PORT,
    }
}

/// storageClassName of every openlsp volume: no provisioner may claim them.
pub(crate) const STORAGE_CLASS: &str = "openlsp-local";
pub(crate) const SITE_LABEL: &str = "openlsp.io/site";
/// `app.kubernetes.io/component` of bitcoind's and LND's pods.
pub(crate) const BITCOIN_COMPONENT: &str = "bitcoin-node";
pub(crate) const LIGHTNING_COMPONENT: &str = "lightning-node";
/// `app.kubernetes.io/name` of bitcoind's and LND's pods.
pub(crate) const BITCOIND_APP: &str = "bitcoind";
pub(crate) const BTCD_APP: &str = "btcd";
pub(crate) const LND_APP: &str = "lnd";
pub(crate) const CLN_APP: &str = "cln";
pub(crate) const BTCPAY_APP: &str = "btcpayserver";
pub(crate) const POSTGRES_APP: &str = "postgresql";
/// `app.kubernetes.io/component` of BTCPay's pods.
pub(crate) const PAYMENTS_COMPONENT: &str = "payments";
/// BTCPay Server's HTTP port (btcpayserver-docker: `BTCPAY_BIND=0.0.0.0:49392`).
pub(crate) const BTCPAY_PORT: u16 = 49392;
/// NBXplorer's HTTP port (its default, 32838), which only BTCPay in the same pod uses.
pub(crate) const NBXPLORER_PORT: u16 = 32838;
pub(crate) const POSTGRES_PORT: u16 = 5432;
/// bitcoind's extra P2P listener for NBXplorer alone: a `whitebind` with `noban`, so
/// bitcoind never disconnects it; the NetworkPolicy admits only BTCPay's pod.
pub(crate) const NBXPLORER_WHITEBIND_PORT: u16 = 8339;

/// The port every channel management UI (RTL, ThunderHub) serves its web UI on.
pub(crate) const UI_PORT: u16 = 3000;
/// The `app.kubernetes.io/component` of the channel management UIs.
pub(crate) const UI_COMPONENT: &str = "channel-management";

/// The selector of UI `app`'s pod (`rtl`, `thunderhub`), which the nodes' policies name.
pub(crate) fn ui_selector(site: &Site, app: &str) -> Labels {
    component_labels(site, app, app, UI_COMPONENT).1
}

/// The selector of BTCPay's pod (BTCPay Server and NBXplorer), which its servers' policies name.
pub(crate) fn btcpay_selector(site: &Site) -> Labels {
    component_labels(
        site,
        BTCPAY_APP,
        crate::plan::names::BTCPAY,
        PAYMENTS_COMPONENT,
    )
    .1
}

/// Labels as templates print them: sorted by key.
pub(crate) type Labels = BTreeMap<&'static str, String>;

/// Labels every object of the site carries.
pub(crate) fn site_labels(site: &Site) -> Labels {
    let mut labels = Labels::new();
    labels.insert("app.kubernetes.io/managed-by", "openlsp".to_owned());
    labels.insert("app.kubernetes.io/part-of", "openlsp".to_owned());
    labels.insert(SITE_LABEL, site.name().to_owned());
    labels
}

/// Standard labels of one component's objects, and the subset its selectors use.
pub(crate) fn component_labels(
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

/// The selector of Bitcoin node `node`'s pod (bitcoind or btcd), which its clients' policies
/// name.
pub(crate) fn bitcoin_selector(site: &Site, node: &str) -> Labels {
    let app = if site.is_btcd(node) {
        BTCD_APP
    } else {
        BITCOIND_APP
    };
    component_labels(site, app, node, BITCOIN_COMPONENT).1
}

/// The selector of LND `node`'s pod, which its clients' policies name.
pub(crate) fn lnd_selector(site: &Site, node: &str) -> Labels {
    component_labels(site, LND_APP, node, LIGHTNING_COMPONENT).1
}

/// `app.kubernetes.io/name` of Lightning node `node`'s pod.
pub(crate) fn lightning_app(node: &LightningNode) -> &'static str {
    match node.implementation {
        Implementation::Lnd => LND_APP,
        Implementation::Cln => CLN_APP,
    }
}

/// The selector of Lightning node `node`'s pod, LND or CLN, which its clients' policies name.
pub(crate) fn lightning_selector(site: &Site, node: &LightningNode) -> Labels {
    component_labels(site, lightning_app(node), &node.name, LIGHTNING_COMPONENT).1
}

/// The annotations of an object that holds data, which prune keeps.
pub(crate) fn data_annotation() -> BTreeMap<&'static str, &'static str> {
    BTreeMap::from([(DATA_ANNOTATION, "true")])
}

/// The in-cluster DNS name of a Service, independent of the cluster domain.
pub(crate) fn service_host(site: &Site, service: &str) -> String {
    format!("{service}.{}.svc", site.namespace())
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ResourcesContext {
    memory: String,
    cpu: String,
    cpu_limit: String,
}

/// Memory request = limit and the CPU request from the profile; the CPU limit is the host's
/// cores.
pub(crate) fn resources(site: &Site, resources: Resources) -> ResourcesContext {
    ResourcesContext {
        memory: resources.memory.to_string(),
        cpu: resources.cpu.to_string(),
        cpu_limit: site.spec.host.cpus.to_string(),
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StorageContext {
    pv: String,
    pvc: String,
    class: &'static str,
    path: String,
    size: String,
    node_name: String,
}

impl StorageContext {
    /// The node's PersistentVolumeClaim.
    pub(crate) fn pvc(&self) -> &str {
        &self.pvc
    }

    /// The Kubernetes node the volume is on.
    pub(crate) fn node_name(&self) -> &str {
        &self.node_name
    }

    /// The volume's directory on that node.
    pub(crate) fn path(&self) -> &str {
        &self.path
    }
}

/// The local volume of node `node` on disk `disk_name`: `<disk path>/<node>`.
pub(crate) fn storage(site: &Site, node: &str, disk_name: &str) -> StorageContext {
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

/// `ip` with `port`, brackets around IPv6.
pub(crate) fn with_port(ip: &str, port: u16) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(_)) => format!("[{ip}]:{port}"),
        _ => format!("{ip}:{port}"),
    }
}

/// Base64, as a Secret's `data` holds it.
pub(crate) fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The value at `path` in the secrets snapshot.
pub(crate) fn secret<'a>(secrets: &'a Secrets, path: &str) -> Result<&'a [u8], PlanError> {
    secrets
        .get(path)
        .ok_or_else(|| PlanError::State(StateError::Missing { path: path.into() }))
}

/// The value at `path` in the secrets snapshot, as text.
pub(crate) fn secret_text<'a>(secrets: &'a Secrets, path: &str) -> Result<&'a str, PlanError> {
    std::str::from_utf8(secret(secrets, path)?).map_err(|_| {
        PlanError::State(StateError::Damaged {
            path: path.into(),
            reason: "it is not UTF-8 text".to_owned(),
        })
    })
}

/// A context as the JSON value templates read.
pub(crate) fn to_value(context: impl Serialize) -> Result<Value, PlanError> {
    serde_json::to_value(context).map_err(|err| PlanError::Bug(err.to_string()))
}
