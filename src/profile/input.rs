//! The profile exactly as the operator writes it: optional fields stay optional here and get
//! their defaults in [`super::defaults`]. Unknown fields are errors, and so is a text field
//! given null, a boolean or a number: `name: null` is not a site called "null". These types
//! are also the schema of the profile (`openlsp schema`) and of the `Site` custom resource: a
//! field added here is in both, with its doc comment as its description.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::quantity::{Bytes, Millicores};
use super::site::{
    Acme, Arch, BitcoinImplementation, BtcdTls, Implementation, Inbound, LndApi, Network, TorMode,
};

/// One site: the machine, its disks and the Bitcoin and Lightning nodes (docs/profile.md).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "openlsp site profile")]
pub struct SiteInput {
    /// `openlsp.io/v1alpha1`.
    #[schemars(extend("enum" = ["openlsp.io/v1alpha1"]))]
    #[serde(deserialize_with = "text")]
    pub api_version: String,
    /// `Site`.
    #[schemars(extend("enum" = ["Site"]))]
    #[serde(deserialize_with = "text")]
    pub kind: String,
    pub metadata: MetadataInput,
    pub spec: SpecInput,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetadataInput {
    /// The site's name (a DNS label): labels every object and names the default state dir.
    #[serde(deserialize_with = "text")]
    pub name: String,
}

/// The desired state of the site.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpecInput {
    /// The chain every node runs on.
    pub network: Network,
    /// The namespace of every object [default: metadata.name].
    #[serde(default, deserialize_with = "optional_text")]
    pub namespace: Option<String>,
    /// The machine.
    pub host: HostInput,
    /// Mounted disks by name; each node keeps its data in `<path>/<node name>`.
    pub disks: BTreeMap<String, DiskInput>,
    /// Bitcoin nodes (bitcoind).
    #[serde(default)]
    pub bitcoin: Vec<BitcoinInput>,
    /// Lightning nodes (LND or Core Lightning).
    #[serde(default)]
    pub lightning: Vec<LightningInput>,
    /// Onion services and the Tor proxy [default: hybrid].
    pub tor: Option<TorInput>,
    /// IPv6 and how inbound P2P reaches the nodes.
    pub networking: Option<NetworkingInput>,
    /// Exporters, alerts and dashboards for the Prometheus operator (off without this section).
    pub monitoring: Option<MonitoringInput>,
    /// Let's Encrypt and public Ingresses (off without this section).
    pub ingress: Option<IngressInput>,
    /// Where LND's channel backup (SCB) is copied on every change (docs/backup.md).
    pub backup: Option<BackupInput>,
    /// BTCPay Server with NBXplorer and PostgreSQL (docs/btcpay.md); off without this section.
    pub btcpay: Option<BtcpayInput>,
    /// Channel management UIs wired to the site's Lightning nodes (docs/apps.md); private
    /// unless given a host.
    pub apps: Option<AppsInput>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppsInput {
    /// Ride The Lightning: manages LND and Core Lightning nodes.
    pub rtl: Option<AppInput>,
    /// ThunderHub: manages LND nodes.
    pub thunderhub: Option<AppInput>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AppInput {
    /// The Lightning nodes of this site it manages, by name.
    pub nodes: Vec<String>,
    /// A public host name: an Ingress with a Let's Encrypt certificate (needs spec.ingress).
    /// Without it the UI is private: kubectl port-forward, or its onion address.
    #[serde(default, deserialize_with = "optional_text")]
    pub host: Option<String>,
    /// An onion address for the UI [default: false].
    pub onion: Option<bool>,
    /// Memory and CPU [default: 256Mi, 100m].
    pub resources: Option<ResourcesInput>,
    #[serde(default, deserialize_with = "optional_text")]
    pub image: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BtcpayInput {
    /// The Bitcoin node NBXplorer follows, by name.
    #[serde(deserialize_with = "text")]
    pub bitcoin: String,
    /// An LND or Core Lightning node of this site, by name; omit it to take on-chain payments
    /// only.
    #[serde(default, deserialize_with = "optional_text")]
    pub lightning: Option<String>,
    /// The named disk PostgreSQL's and BTCPay's data live on.
    #[serde(deserialize_with = "text")]
    pub disk: String,
    /// The store's public host name: an Ingress with a Let's Encrypt certificate (needs
    /// spec.ingress).
    #[serde(default, deserialize_with = "optional_text")]
    pub host: Option<String>,
    /// An onion address for the store too [default: false].
    pub onion: Option<bool>,
    /// BTCPay Server's memory and CPU [default: 512Mi, 250m].
    pub resources: Option<ResourcesInput>,
    #[serde(default, deserialize_with = "optional_text")]
    pub image: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub nbxplorer_image: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub postgres_image: Option<String>,
    /// The spec.backup targets PostgreSQL's hourly dump goes to, by name; an rclone target must
    /// be an rclone crypt remote, as the dump is not encrypted [default: every target].
    pub backup_targets: Option<Vec<String>>,
    /// openlsp's own image, which runs the mutual-TLS tunnel to a Core Lightning node's RPC
    /// socket (`openlsp tunnel`) in both pods [default: a placeholder: set it with a CLN node].
    #[serde(default, deserialize_with = "optional_text")]
    pub tunnel_image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackupInput {
    /// Operator-owned places each SCB is copied to and verified on.
    #[serde(default)]
    pub targets: Vec<BackupTargetInput>,
    /// Timestamped copies kept per target (1..10000) [default: 30].
    pub keep: Option<u32>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackupTargetInput {
    /// Names the target in `backup status` and the alerts.
    pub name: String,
    /// A directory on the machine (absolute); give this or `rclone`.
    pub path: Option<String>,
    /// An rclone remote; give this or `path`.
    pub rclone: Option<RcloneInput>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RcloneInput {
    /// `<remote>:<path>`, the remote defined in the rclone config.
    pub remote: String,
    /// The rclone config's name, given with `openlsp secrets set <name>`.
    pub config: String,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TorInput {
    /// off, hybrid (clearnet and onion) or tor-only [default: hybrid].
    pub mode: Option<TorMode>,
    /// Override the pinned Tor image.
    #[serde(default, deserialize_with = "optional_text")]
    pub image: Option<String>,
    pub resources: Option<ResourcesInput>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkingInput {
    /// Dual-stack inbound Services [default: false].
    pub ipv6: Option<bool>,
    /// How inbound P2P (8333, 9735) reaches the nodes from clearnet.
    pub inbound: Option<Inbound>,
    /// Public addresses the nodes advertise to peers.
    #[serde(rename = "externalIPs")]
    #[serde(default, deserialize_with = "optional_texts")]
    pub external_ips: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MonitoringInput {
    /// false keeps the settings but renders nothing [default: true].
    pub enabled: Option<bool>,
    /// The `release` label Prometheus selects by [default: kube-prom-stack].
    #[serde(default, deserialize_with = "optional_text")]
    pub release: Option<String>,
    /// Where Grafana runs [default: observability].
    #[serde(default, deserialize_with = "optional_text")]
    pub namespace: Option<String>,
    /// Run lndmon per LND [default: true].
    pub lndmon: Option<bool>,
    #[serde(default, deserialize_with = "optional_text")]
    pub exporter_image: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub lndmon_image: Option<String>,
    /// openlsp's own image, which runs each CLN node's exporter (`openlsp exporter cln`):
    /// your build of the Containerfile, as for `controller install --image`.
    #[serde(default, deserialize_with = "optional_text")]
    pub cln_exporter_image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressInput {
    /// [default: true when the section is present].
    pub enabled: Option<bool>,
    /// The ingress class [default: public].
    #[serde(default, deserialize_with = "optional_text")]
    pub class_name: Option<String>,
    /// Where the ingress controller runs: the only namespace the NetworkPolicies let reach a
    /// published API [default: ingress].
    #[serde(default, deserialize_with = "optional_text")]
    pub controller_namespace: Option<String>,
    /// Let's Encrypt's account email.
    #[serde(default, deserialize_with = "optional_text")]
    pub email: Option<String>,
    /// Which Let's Encrypt server issues certificates [default: production].
    pub acme: Option<Acme>,
    /// Publish Grafana at this host name.
    #[serde(default, deserialize_with = "optional_text")]
    pub grafana: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BitcoinIngressInput {
    /// Publish bitcoind's RPC at this host name.
    #[serde(default, deserialize_with = "optional_text")]
    pub rpc: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LightningIngressInput {
    /// Publish LND's REST API at this host name.
    #[serde(default, deserialize_with = "optional_text")]
    pub rest: Option<String>,
    /// Publish LND's gRPC API at this host name.
    #[serde(default, deserialize_with = "optional_text")]
    pub grpc: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostInput {
    /// The Kubernetes node, as `kubectl get nodes` shows it.
    #[serde(deserialize_with = "text")]
    pub node_name: String,
    pub arch: Arch,
    /// The machine's memory (8Gi).
    pub memory: Bytes,
    /// The machine's CPU cores.
    pub cpus: u32,
    /// Memory kept for the OS, microk8s and its addons [default: a quarter, at least 1536Mi].
    pub reserved_memory: Option<Bytes>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiskInput {
    /// The mount point (absolute, normal form, not /).
    #[serde(deserialize_with = "text")]
    pub path: String,
    /// The disk's size (1Ti).
    pub size: Bytes,
    /// The machine the disk is attached to [default: host.nodeName].
    #[serde(default, deserialize_with = "optional_text")]
    pub node_name: Option<String>,
    /// Opt in to Bitcoin and Lightning nodes sharing this disk.
    pub allow_bitcoin_and_lightning: Option<bool>,
    /// Opt in to a directory on the root filesystem.
    pub allow_root_filesystem: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourcesInput {
    /// Pod memory (request = limit).
    pub memory: Option<Bytes>,
    /// CPU request (500m, 2); the limit is host.cpus.
    pub cpu: Option<Millicores>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BitcoinInput {
    /// Names the StatefulSet, Service and derived objects.
    #[serde(deserialize_with = "text")]
    pub name: String,
    /// bitcoind or btcd [default: bitcoind].
    pub implementation: Option<BitcoinImplementation>,
    /// The disk (by name) the chain lives on.
    #[serde(deserialize_with = "text")]
    pub disk: String,
    /// Build the transaction index.
    pub txindex: Option<bool>,
    /// Keep only this many MiB of recent blocks (at least 550).
    pub prune: Option<u64>,
    /// bitcoind's UTXO cache in MiB.
    pub dbcache: Option<u64>,
    /// bitcoind's mempool limit in MiB.
    pub maxmempool: Option<u64>,
    #[serde(default, deserialize_with = "optional_text")]
    pub image: Option<String>,
    pub resources: Option<ResourcesInput>,
    /// Who may reach RPC (IPs or CIDRs).
    #[serde(default, deserialize_with = "optional_texts")]
    pub rpc_allow_ip: Option<Vec<String>>,
    pub ingress: Option<BitcoinIngressInput>,
    /// Where a btcd node's RPC certificate comes from: a cert-manager issuer; without it
    /// openlsp makes one (btcd only).
    pub tls: Option<BtcdTls>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LightningInput {
    /// Names the StatefulSet, Service and derived objects.
    #[serde(deserialize_with = "text")]
    pub name: String,
    /// lnd or cln (Core Lightning) [default: lnd].
    pub implementation: Option<Implementation>,
    /// The Bitcoin node (by name) it uses.
    #[serde(deserialize_with = "text")]
    pub bitcoin: String,
    /// The disk (by name) channel state lives on.
    #[serde(deserialize_with = "text")]
    pub disk: String,
    /// The node's alias [default: the node name].
    #[serde(default, deserialize_with = "optional_text")]
    pub alias: Option<String>,
    /// The node's colour, "#rrggbb".
    #[serde(default, deserialize_with = "optional_text")]
    pub color: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub image: Option<String>,
    pub resources: Option<ResourcesInput>,
    /// Extra DNS names in LND's certificate (LND only).
    #[serde(default, deserialize_with = "texts")]
    pub tls_extra_domains: Vec<String>,
    /// Extra IP addresses in LND's certificate (LND only).
    #[serde(default, deserialize_with = "texts")]
    pub tls_extra_ips: Vec<String>,
    /// APIs (rest, grpc) reachable through a private onion service.
    #[serde(default)]
    pub onion: Vec<LndApi>,
    pub ingress: Option<LightningIngressInput>,
}

/// A text field's value: a YAML string, never null, a boolean or a number that YAML would
/// otherwise hand over as their spelling.
struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("text")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Err(E::custom("expected text, found null"))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Err(E::custom(format!("expected text, found the boolean {v}")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Err(E::custom(format!("expected text, found the number {v}")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Err(E::custom(format!("expected text, found the number {v}")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Err(E::custom(format!("expected text, found the number {v}")))
    }
}

/// One text value, for a list of them.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(TextVisitor).map(Text)
    }
}

fn text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    deserializer.deserialize_any(TextVisitor)
}

/// Absent or null is None; anything else must be text.
fn optional_text<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<Text>::deserialize(deserializer)?.map(|text| text.0))
}

fn texts<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(Vec::<Text>::deserialize(deserializer)?
        .into_iter()
        .map(|text| text.0)
        .collect())
}

fn optional_texts<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    Ok(Option::<Vec<Text>>::deserialize(deserializer)?
        .map(|list| list.into_iter().map(|text| text.0).collect()))
}
