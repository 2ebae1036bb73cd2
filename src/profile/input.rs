//! The profile exactly as the operator writes it: optional fields stay optional here and get
//! their defaults in [`super::defaults`]. Unknown fields are errors.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::quantity::{Bytes, Millicores};
use super::site::{Acme, Arch, Inbound, LndApi, Network, TorMode};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SiteInput {
    pub api_version: String,
    pub kind: String,
    pub metadata: MetadataInput,
    pub spec: SpecInput,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetadataInput {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpecInput {
    pub network: Network,
    pub namespace: Option<String>,
    pub host: HostInput,
    pub disks: BTreeMap<String, DiskInput>,
    #[serde(default)]
    pub bitcoin: Vec<BitcoinInput>,
    #[serde(default)]
    pub lightning: Vec<LightningInput>,
    pub tor: Option<TorInput>,
    pub networking: Option<NetworkingInput>,
    pub monitoring: Option<MonitoringInput>,
    pub ingress: Option<IngressInput>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TorInput {
    pub mode: Option<TorMode>,
    pub image: Option<String>,
    pub resources: Option<ResourcesInput>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkingInput {
    pub ipv6: Option<bool>,
    pub inbound: Option<Inbound>,
    #[serde(rename = "externalIPs")]
    pub external_ips: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MonitoringInput {
    pub enabled: Option<bool>,
    pub release: Option<String>,
    pub namespace: Option<String>,
    pub lndmon: Option<bool>,
    pub exporter_image: Option<String>,
    pub lndmon_image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressInput {
    pub enabled: Option<bool>,
    pub class_name: Option<String>,
    pub controller_namespace: Option<String>,
    pub email: Option<String>,
    pub acme: Option<Acme>,
    pub grafana: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BitcoinIngressInput {
    pub rpc: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LightningIngressInput {
    pub rest: Option<String>,
    pub grpc: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostInput {
    pub node_name: String,
    pub arch: Arch,
    pub memory: Bytes,
    pub cpus: u32,
    pub reserved_memory: Option<Bytes>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiskInput {
    pub path: String,
    pub size: Bytes,
    pub node_name: Option<String>,
    pub allow_bitcoin_and_lightning: Option<bool>,
    pub allow_root_filesystem: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ResourcesInput {
    pub memory: Option<Bytes>,
    pub cpu: Option<Millicores>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BitcoinInput {
    pub name: String,
    pub disk: String,
    pub txindex: Option<bool>,
    pub prune: Option<u64>,
    pub dbcache: Option<u64>,
    pub maxmempool: Option<u64>,
    pub image: Option<String>,
    pub resources: Option<ResourcesInput>,
    pub rpc_allow_ip: Option<Vec<String>>,
    pub ingress: Option<BitcoinIngressInput>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LightningInput {
    pub name: String,
    pub bitcoin: String,
    pub disk: String,
    pub alias: Option<String>,
    pub color: Option<String>,
    pub image: Option<String>,
    pub resources: Option<ResourcesInput>,
    #[serde(default)]
    pub tls_extra_domains: Vec<String>,
    #[serde(default)]
    pub tls_extra_ips: Vec<String>,
    #[serde(default)]
    pub onion: Vec<LndApi>,
    pub ingress: Option<LightningIngressInput>,
}
