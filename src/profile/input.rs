//! The profile exactly as the operator writes it: optional fields stay optional here and get
//! their defaults in [`super::defaults`]. Unknown fields are errors, and so is a text field
//! given null, a boolean or a number: `name: null` is not a site called "null".

use std::collections::BTreeMap;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::quantity::{Bytes, Millicores};
use super::site::{Acme, Arch, Inbound, LndApi, Network, TorMode};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SiteInput {
    #[serde(deserialize_with = "text")]
    pub api_version: String,
    #[serde(deserialize_with = "text")]
    pub kind: String,
    pub metadata: MetadataInput,
    pub spec: SpecInput,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MetadataInput {
    #[serde(deserialize_with = "text")]
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpecInput {
    pub network: Network,
    #[serde(default, deserialize_with = "optional_text")]
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
    pub backup: Option<BackupInput>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackupInput {
    #[serde(default)]
    pub targets: Vec<BackupTargetInput>,
    pub keep: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BackupTargetInput {
    pub name: String,
    pub path: Option<String>,
    pub rclone: Option<RcloneInput>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RcloneInput {
    pub remote: String,
    pub config: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TorInput {
    pub mode: Option<TorMode>,
    #[serde(default, deserialize_with = "optional_text")]
    pub image: Option<String>,
    pub resources: Option<ResourcesInput>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkingInput {
    pub ipv6: Option<bool>,
    pub inbound: Option<Inbound>,
    #[serde(rename = "externalIPs")]
    #[serde(default, deserialize_with = "optional_texts")]
    pub external_ips: Option<Vec<String>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MonitoringInput {
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "optional_text")]
    pub release: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub namespace: Option<String>,
    pub lndmon: Option<bool>,
    #[serde(default, deserialize_with = "optional_text")]
    pub exporter_image: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub lndmon_image: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct IngressInput {
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "optional_text")]
    pub class_name: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub controller_namespace: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub email: Option<String>,
    pub acme: Option<Acme>,
    #[serde(default, deserialize_with = "optional_text")]
    pub grafana: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BitcoinIngressInput {
    #[serde(default, deserialize_with = "optional_text")]
    pub rpc: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LightningIngressInput {
    #[serde(default, deserialize_with = "optional_text")]
    pub rest: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub grpc: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HostInput {
    #[serde(deserialize_with = "text")]
    pub node_name: String,
    pub arch: Arch,
    pub memory: Bytes,
    pub cpus: u32,
    pub reserved_memory: Option<Bytes>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DiskInput {
    #[serde(deserialize_with = "text")]
    pub path: String,
    pub size: Bytes,
    #[serde(default, deserialize_with = "optional_text")]
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
    #[serde(deserialize_with = "text")]
    pub name: String,
    #[serde(deserialize_with = "text")]
    pub disk: String,
    pub txindex: Option<bool>,
    pub prune: Option<u64>,
    pub dbcache: Option<u64>,
    pub maxmempool: Option<u64>,
    #[serde(default, deserialize_with = "optional_text")]
    pub image: Option<String>,
    pub resources: Option<ResourcesInput>,
    #[serde(default, deserialize_with = "optional_texts")]
    pub rpc_allow_ip: Option<Vec<String>>,
    pub ingress: Option<BitcoinIngressInput>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LightningInput {
    #[serde(deserialize_with = "text")]
    pub name: String,
    #[serde(deserialize_with = "text")]
    pub bitcoin: String,
    #[serde(deserialize_with = "text")]
    pub disk: String,
    #[serde(default, deserialize_with = "optional_text")]
    pub alias: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub color: Option<String>,
    #[serde(default, deserialize_with = "optional_text")]
    pub image: Option<String>,
    pub resources: Option<ResourcesInput>,
    #[serde(default, deserialize_with = "texts")]
    pub tls_extra_domains: Vec<String>,
    #[serde(default, deserialize_with = "texts")]
    pub tls_extra_ips: Vec<String>,
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
