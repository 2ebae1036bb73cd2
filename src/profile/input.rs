//! The profile exactly as the operator writes it: optional fields stay optional here and get
//! their defaults in [`super::defaults`]. Unknown fields are errors. These types are also the
//! schema of the profile (`openlsp schema`) and of the `Site` custom resource: a field added
//! here is in both, with its doc comment as its description.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::quantity::{Bytes, Millicores};
use super::site::{Acme, Arch, Inbound, LndApi, Network, TorMode};

/// One site: the machine, its disks and the Bitcoin and Lightning nodes (docs/profile.md).
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schemars(title = "openlsp site profile")]
pub struct SiteInput {
    /// `openlsp.io/v1alpha1`.
    #[schemars(extend("enum" = ["openlsp.io/v1alpha1"]))]
    pub api_version: String,
    /// `Site`.
    #[schemars(extend("enum" = ["Site"]))]
    pub kind: String,
    pub metadata: MetadataInput,
    pub spec: SpecInput,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetadataInput {
    /// The site's name (a DNS label): labels every object and names the default state dir.
    pub name: String,
}

/// The desired state of the site.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpecInput {
    /// The chain every node runs on.
    pub network: Network,
    /// The namespace of every object [default: metadata.name].
    pub namespace: Option<String>,
    /// The machine.
    pub host: HostInput,
    /// Mounted disks by name; each node keeps its data in `<path>/<node name>`.
    pub disks: BTreeMap<String, DiskInput>,
    /// Bitcoin nodes (bitcoind).
    #[serde(default)]
    pub bitcoin: Vec<BitcoinInput>,
    /// Lightning nodes (LND).
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
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TorInput {
    /// off, hybrid (clearnet and onion) or tor-only [default: hybrid].
    pub mode: Option<TorMode>,
    /// Override the pinned Tor image.
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
    pub external_ips: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MonitoringInput {
    /// false keeps the settings but renders nothing [default: true].
    pub enabled: Option<bool>,
    /// The `release` label Prometheus selects by [default: kube-prom-stack].
    pub release: Option<String>,
    /// Where Grafana runs [default: observability].
    pub namespace: Option<String>,
    /// Run lndmon per LND [default: true].
    pub lndmon: Option<bool>,
    pub exporter_image: Option<String>,
    pub lndmon_image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressInput {
    /// [default: true when the section is present].
    pub enabled: Option<bool>,
    /// The ingress class [default: public].
    pub class_name: Option<String>,
    /// Let's Encrypt's account email.
    pub email: Option<String>,
    /// Which Let's Encrypt server issues certificates [default: production].
    pub acme: Option<Acme>,
    /// Publish Grafana at this host name.
    pub grafana: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BitcoinIngressInput {
    /// Publish bitcoind's RPC at this host name.
    pub rpc: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LightningIngressInput {
    /// Publish LND's REST API at this host name.
    pub rest: Option<String>,
    /// Publish LND's gRPC API at this host name.
    pub grpc: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostInput {
    /// The Kubernetes node, as `kubectl get nodes` shows it.
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
    pub path: String,
    /// The disk's size (1Ti).
    pub size: Bytes,
    /// The machine the disk is attached to [default: host.nodeName].
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
    pub name: String,
    /// The disk (by name) the chain lives on.
    pub disk: String,
    /// Build the transaction index.
    pub txindex: Option<bool>,
    /// Keep only this many MiB of recent blocks (at least 550).
    pub prune: Option<u64>,
    /// bitcoind's UTXO cache in MiB.
    pub dbcache: Option<u64>,
    /// bitcoind's mempool limit in MiB.
    pub maxmempool: Option<u64>,
    pub image: Option<String>,
    pub resources: Option<ResourcesInput>,
    /// Who may reach RPC (IPs or CIDRs).
    pub rpc_allow_ip: Option<Vec<String>>,
    pub ingress: Option<BitcoinIngressInput>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LightningInput {
    /// Names the StatefulSet, Service and derived objects.
    pub name: String,
    /// The Bitcoin node (by name) it uses.
    pub bitcoin: String,
    /// The disk (by name) channel state lives on.
    pub disk: String,
    /// LND's alias [default: the node name].
    pub alias: Option<String>,
    /// LND's colour, "#rrggbb".
    pub color: Option<String>,
    pub image: Option<String>,
    pub resources: Option<ResourcesInput>,
    /// Extra DNS names in LND's certificate.
    #[serde(default)]
    pub tls_extra_domains: Vec<String>,
    /// Extra IP addresses in LND's certificate.
    #[serde(default)]
    pub tls_extra_ips: Vec<String>,
    /// APIs (rest, grpc) reachable through a private onion service.
    #[serde(default)]
    pub onion: Vec<LndApi>,
    pub ingress: Option<LightningIngressInput>,
}
