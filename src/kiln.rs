//! Pure: a site profile from the kiln operator's manifests (`BitcoinNode`, `LightningNode`, their
//! `Secret`s and cert-manager `Certificate`s), for `openlsp import kiln`. Credentials found in
//! plain text go to the state dir, never the profile; every field that is not carried over is
//! listed with its place. Shapes: kiln-fired/kiln-operator api/v1alpha1 (6d8aca5), and the
//! flat `user`/`password` the kiln post writes.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::images;
use crate::profile::SourceMap;
use crate::secrets::{BTCD_RPC_USER, paths};

/// kiln's API group and version.
pub const KILN_API_VERSION: &str = "bitcoin.kiln-fired.github.io/v1alpha1";

/// One file given to the import.
pub struct Manifest {
    /// How messages name it.
    pub file: String,
    pub text: String,
}

/// What the machine is, which kiln's manifests do not say.
#[derive(Debug, Clone)]
pub struct HostFacts {
    pub node_name: String,
    pub arch: &'static str,
    pub memory: String,
    pub cpus: u32,
    /// Where the chain and channel disks are: `<dir>/chain`, `<dir>/channels`.
    pub disk_dir: String,
    /// cert-manager issuer to name for btcd's certificate when no `Certificate` is given.
    pub issuer: Option<String>,
}

/// A place in an input file: `file:line:col`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub file: String,
    pub line: usize,
    pub col: usize,
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.col)
    }
}

/// A field of the input that the profile does not carry, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotCarried {
    pub place: Place,
    pub field: String,
    pub why: String,
}

/// A credential moved into the state dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moved {
    /// Its path in the state dir.
    pub path: String,
    pub value: Vec<u8>,
    /// Where it was written in plain text (or base64, in a Secret manifest).
    pub place: Place,
    pub what: String,
}

/// The result of an import.
#[derive(Debug)]
pub struct Conversion {
    pub site: String,
    /// The profile, as YAML with a header of what to review.
    pub profile: String,
    pub moved: Vec<Moved>,
    pub not_carried: Vec<NotCarried>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KilnError {
    #[error("{file}: not YAML: {reason}")]
    Yaml { file: String, reason: String },
    #[error(
        "no kiln BitcoinNode in the files\n  hint: give the BitcoinNode and LightningNode manifests (apiVersion {KILN_API_VERSION})"
    )]
    NoBitcoinNode,
    #[error(
        "{place}: {field}: {value:?} is not a BitcoinNode of these files ({known})\n  hint: give the BitcoinNode manifest it connects to as well"
    )]
    UnknownHost {
        place: Place,
        field: String,
        value: String,
        known: String,
    },
    #[error(
        "{place}: {field}: network {value:?} is not one openlsp knows\n  hint: one of mainnet, testnet, testnet4, signet, regtest, simnet"
    )]
    UnknownNetwork {
        place: Place,
        field: String,
        value: String,
    },
    #[error(
        "{place}: metadata.namespace: {value:?} differs from {first:?} of the other manifests\n  hint: one openlsp site is one namespace: import each namespace's manifests on their own"
    )]
    TwoNamespaces {
        place: Place,
        value: String,
        first: String,
    },
    #[error("{place}: {field}: {what} is missing")]
    Missing {
        place: Place,
        field: String,
        what: &'static str,
    },
}

/// One parsed YAML document with its positions.
struct Document<'a> {
    file: &'a str,
    value: Value,
    map: SourceMap,
}

impl Document<'_> {
    fn place(&self, path: &str) -> Place {
        let location = self
            .map
            .key_location(path)
            .or_else(|| self.map.start())
            .map_or((1, 1), |l| (l.line, l.col));
        Place {
            file: self.file.to_owned(),
            line: location.0,
            col: location.1,
        }
    }

    fn text(&self, path: &str) -> Option<String> {
        let mut value = &self.value;
        for part in path.split('.') {
            value = value.get(part)?;
        }
        match value {
            Value::String(text) => Some(text.clone()),
            Value::Number(number) => Some(number.to_string()),
            _ => None,
        }
    }

    fn kind(&self) -> (String, String) {
        (
            self.text("apiVersion").unwrap_or_default(),
            self.text("kind").unwrap_or_default(),
        )
    }

    fn name(&self) -> String {
        self.text("metadata.name").unwrap_or_default()
    }
}

/// The fields every kiln manifest has that the import reads.
const MANIFEST_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "metadata.name",
    "metadata.namespace",
    "spec",
    "status",
];
/// The fields of each kind that the import reads beside those, by path; anything else is
/// listed.
const BITCOIN_NODE_FIELDS: &[&str] = &[
    "spec.rpcServer",
    "spec.rpcServer.certSecret",
    "spec.rpcServer.apiAuthSecretName",
    "spec.rpcServer.apiUserSecretKey",
    "spec.rpcServer.apiPasswordSecretKey",
    "spec.rpcServer.user",
    "spec.rpcServer.password",
];
const LIGHTNING_NODE_FIELDS: &[&str] = &[
    "spec.bitcoinConnection",
    "spec.bitcoinConnection.host",
    "spec.bitcoinConnection.network",
    "spec.bitcoinConnection.certSecret",
    "spec.bitcoinConnection.apiAuthSecretName",
    "spec.bitcoinConnection.apiUserSecretKey",
    "spec.bitcoinConnection.apiPasswordSecretKey",
    "spec.bitcoinConnection.user",
    "spec.bitcoinConnection.password",
    "spec.wallet",
    "spec.wallet.password",
    "spec.wallet.password.secretName",
    "spec.wallet.password.secretKey",
];

/// Fields kiln has that openlsp does its own way, with what to do instead.
const KNOWN_NOT_CARRIED: &[(&str, &str)] = &[
    (
        "spec.image",
        "kiln's images run its own start scripts; openlsp runs the pinned btcd and LND images (spec.bitcoin[].image and spec.lightning[].image override them)",
    ),
    (
        "spec.mining",
        "openlsp does not mine and sets no miningaddr: blocks on simnet come from a miner you run (docs/kiln.md)",
    ),
    (
        "spec.peer",
        "openlsp's btcd finds its peers itself; a fixed peer is not part of the profile",
    ),
    (
        "spec.resources",
        "openlsp sizes each pod for the host; set spec.bitcoin[].resources or spec.lightning[].resources to override",
    ),
    (
        "spec.wallet.seed",
        "a seed is never copied into a profile: openlsp's LND makes a new wallet; move funds to it, or restore the seed as docs/kiln.md shows",
    ),
    ("metadata.labels", "openlsp sets its own labels"),
    ("metadata.annotations", "openlsp sets its own annotations"),
];

/// The site profile for the kiln manifests in `manifests`.
pub fn convert(manifests: &[Manifest], host: &HostFacts) -> Result<Conversion, KilnError> {
    let mut documents = Vec::new();
    for manifest in manifests {
        documents.extend(parse(manifest)?);
    }
    let mut not_carried = Vec::new();
    let mut bitcoin = Vec::new();
    let mut lightning = Vec::new();
    let mut secrets: BTreeMap<String, &Document> = BTreeMap::new();
    let mut certificates: BTreeMap<String, &Document> = BTreeMap::new();
    for document in &documents {
        match document.kind() {
            (version, kind) if version == KILN_API_VERSION && kind == "BitcoinNode" => {
                list_fields(document, BITCOIN_NODE_FIELDS, &mut not_carried);
                bitcoin.push(document);
            }
            (version, kind) if version == KILN_API_VERSION && kind == "LightningNode" => {
                list_fields(document, LIGHTNING_NODE_FIELDS, &mut not_carried);
                lightning.push(document);
            }
            (version, kind) if version == KILN_API_VERSION && kind == "Seed" => {
                not_carried.push(NotCarried {
                    place: document.place("kind"),
                    field: format!("Seed {}", document.name()),
                    why: "a seed is never copied into a profile: openlsp's LND makes a new wallet; move funds to it, or restore the seed as docs/kiln.md shows".to_owned(),
                });
            }
            (version, kind) if version == "v1" && kind == "Secret" => {
                secrets.insert(document.name(), document);
            }
            (version, kind) if version == "cert-manager.io/v1" && kind == "Certificate" => {
                if let Some(secret) = document.text("spec.secretName") {
                    certificates.insert(secret, document);
                }
            }
            (version, kind) => not_carried.push(NotCarried {
                place: document.place("kind"),
                field: format!("{kind} {}", document.name()),
                why: format!("not a kiln manifest ({version} {kind}): left out"),
            }),
        }
    }
    if bitcoin.is_empty() {
        return Err(KilnError::NoBitcoinNode);
    }
    let namespace = namespace(bitcoin.iter().chain(&lightning).copied())?;
    let network = network(&lightning)?;
    let mut moved = Vec::new();
    let mut bitcoin_profile = Vec::new();
    for node in &bitcoin {
        let name = node.name();
        let mut entry = json!({ "name": name, "implementation": "btcd", "disk": "chain" });
        if let Some(cert) = node.text("spec.rpcServer.certSecret") {
            let issuer = certificates
                .get(&cert)
                .and_then(|c| {
                    Some((
                        c.text("spec.issuerRef.name")?,
                        c.text("spec.issuerRef.kind")
                            .unwrap_or_else(|| "Issuer".to_owned()),
                    ))
                })
                .or_else(|| host.issuer.clone().map(|i| (i, "Issuer".to_owned())));
            match issuer {
                Some((issuer, kind)) => {
                    entry["tls"] = json!({ "issuer": issuer, "kind": kind });
                }
                None => not_carried.push(NotCarried {
                    place: node.place("spec.rpcServer.certSecret"),
                    field: "spec.rpcServer.certSecret".to_owned(),
                    why: format!(
                        "the cert-manager issuer behind Secret {cert} is not in these files: openlsp makes btcd's certificate; to keep cert-manager, pass --issuer NAME or give its Certificate"
                    ),
                }),
            }
        }
        rpc_password(
            node,
            "spec.rpcServer",
            &name,
            &secrets,
            &mut moved,
            &mut not_carried,
        );
        bitcoin_profile.push(entry);
    }
    let known: Vec<String> = bitcoin.iter().map(|n| n.name()).collect();
    let mut lightning_profile = Vec::new();
    for node in &lightning {
        let name = node.name();
        let field = "spec.bitcoinConnection.host";
        let host_value = node.text(field).ok_or_else(|| KilnError::Missing {
            place: node.place("spec.bitcoinConnection"),
            field: field.to_owned(),
            what: "the BitcoinNode it connects to",
        })?;
        // `btcd`, `btcd.<ns>.svc`, `btcd:18556`: the Service's name comes first.
        let backend = host_value
            .split([':', '.'])
            .next()
            .unwrap_or_default()
            .to_owned();
        if !known.contains(&backend) {
            return Err(KilnError::UnknownHost {
                place: node.place(field),
                field: field.to_owned(),
                value: host_value,
                known: known.join(", "),
            });
        }
        rpc_password(
            node,
            "spec.bitcoinConnection",
            &backend,
            &secrets,
            &mut moved,
            &mut not_carried,
        );
        wallet_password(node, &name, &secrets, &mut moved, &mut not_carried);
        lightning_profile.push(json!({
            "name": name,
            "bitcoin": backend,
            "disk": "channels",
        }));
    }
    dedup_moved(&mut moved);
    let site = namespace.clone().unwrap_or_else(|| "kiln".to_owned());
    let local = matches!(network.as_str(), "simnet" | "regtest");
    let mut spec = json!({
        "network": network,
        "namespace": site,
        "host": {
            "nodeName": host.node_name,
            "arch": host.arch,
            "memory": host.memory,
            "cpus": host.cpus,
        },
        "disks": {
            "chain": { "path": format!("{}/chain", host.disk_dir), "size": if network == "mainnet" { "1Ti" } else { "50Gi" } },
            "channels": { "path": format!("{}/channels", host.disk_dir), "size": "10Gi" },
        },
        "bitcoin": bitcoin_profile,
        "lightning": lightning_profile,
        // btcd has no Prometheus exporter.
        "monitoring": { "enabled": false },
        "ingress": { "enabled": false },
    });
    if local {
        spec["tor"] = json!({ "mode": "off" });
        spec["networking"] = json!({ "inbound": "none" });
    }
    let profile = json!({
        "apiVersion": "openlsp.io/v1alpha1",
        "kind": "Site",
        "metadata": { "name": site },
        "spec": spec,
    });
    let yaml = serde_yaml::to_string(&profile).map_err(|err| KilnError::Yaml {
        file: "the profile".to_owned(),
        reason: err.to_string(),
    })?;
    let header = format!(
        "# Written by `openlsp import kiln` from {files}.\n\
         # Review before `openlsp apply`: spec.host (this machine) and spec.disks (where the chain\n\
         # and channel state live) are not in kiln's manifests. btcd runs {btcd}.\n\
         # No credential is in this file: they are in the state dir (openlsp secrets list).\n",
        files = manifests
            .iter()
            .map(|m| m.file.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        btcd = images::BTCD,
    );
    Ok(Conversion {
        site,
        profile: format!("{header}{yaml}"),
        moved,
        not_carried,
    })
}

fn parse(manifest: &Manifest) -> Result<Vec<Document<'_>>, KilnError> {
    let maps = SourceMap::index_documents(&manifest.text);
    let mut documents = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(&manifest.text).enumerate() {
        let value: Value =
            serde::Deserialize::deserialize(document).map_err(|err| KilnError::Yaml {
                file: manifest.file.clone(),
                reason: err.to_string(),
            })?;
        if value.is_null() {
            continue;
        }
        documents.push(Document {
            file: &manifest.file,
            value,
            map: maps.get(index).cloned().unwrap_or_default(),
        });
    }
    Ok(documents)
}

/// Lists every field of `document` outside `read`: a known kiln field with what openlsp does
/// instead, anything else as unknown.
fn list_fields(document: &Document, read: &[&str], found: &mut Vec<NotCarried>) {
    let mut stack: Vec<(String, &Value)> = vec![(String::new(), &document.value)];
    while let Some((path, value)) = stack.pop() {
        let Value::Object(fields) = value else {
            continue;
        };
        for (key, child) in fields {
            let child_path = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if MANIFEST_FIELDS.contains(&child_path.as_str()) || read.contains(&child_path.as_str())
            {
                stack.push((child_path, child));
                continue;
            }
            let why = KNOWN_NOT_CARRIED
                .iter()
                .find(|(field, _)| *field == child_path)
                .map_or_else(
                    || "unknown field: not carried into the profile".to_owned(),
                    |(_, why)| (*why).to_owned(),
                );
            found.push(NotCarried {
                place: document.place(&child_path),
                field: child_path,
                why,
            });
        }
    }
    found.sort_by(|a, b| (&a.place.file, a.place.line).cmp(&(&b.place.file, b.place.line)));
}

fn namespace<'a>(
    documents: impl Iterator<Item = &'a Document<'a>>,
) -> Result<Option<String>, KilnError> {
    let mut first: Option<String> = None;
    for document in documents {
        let Some(namespace) = document.text("metadata.namespace") else {
            continue;
        };
        match &first {
            None => first = Some(namespace),
            Some(first) if *first != namespace => {
                return Err(KilnError::TwoNamespaces {
                    place: document.place("metadata.namespace"),
                    value: namespace,
                    first: first.clone(),
                });
            }
            Some(_) => {}
        }
    }
    Ok(first)
}

/// The LightningNodes' network (kiln's samples are simnet, its default).
fn network(lightning: &[&Document]) -> Result<String, KilnError> {
    let field = "spec.bitcoinConnection.network";
    for node in lightning {
        if let Some(network) = node.text(field) {
            let known = [
                "mainnet", "testnet", "testnet4", "signet", "regtest", "simnet",
            ];
            if !known.contains(&network.as_str()) {
                return Err(KilnError::UnknownNetwork {
                    place: node.place(field),
                    field: field.to_owned(),
                    value: network,
                });
            }
            return Ok(network);
        }
    }
    Ok("simnet".to_owned())
}

/// A Secret manifest's `key`, from `stringData` or base64 `data`, with its place.
fn secret_key(secret: &Document, key: &str) -> Option<(Vec<u8>, Place)> {
    if let Some(text) = secret.value["stringData"][key].as_str() {
        return Some((
            text.as_bytes().to_vec(),
            secret.place(&format!("stringData.{key}")),
        ));
    }
    let encoded = secret.value["data"][key].as_str()?;
    let value = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    Some((value, secret.place(&format!("data.{key}"))))
}

/// btcd's RPC password from `<section>.password` (plain text) or the Secret that
/// `<section>.apiAuthSecretName` names, into the state dir of btcd node `btcd`.
fn rpc_password(
    node: &Document,
    section: &str,
    btcd: &str,
    secrets: &BTreeMap<String, &Document>,
    moved: &mut Vec<Moved>,
    not_carried: &mut Vec<NotCarried>,
) {
    let path = paths::rpc_password(btcd, BTCD_RPC_USER);
    let what = format!("btcd {btcd}'s RPC password");
    if let Some(password) = node.text(&format!("{section}.password")) {
        moved.push(Moved {
            path,
            value: password.into_bytes(),
            place: node.place(&format!("{section}.password")),
            what,
        });
    } else if let Some(secret_name) = node.text(&format!("{section}.apiAuthSecretName")) {
        let key = node
            .text(&format!("{section}.apiPasswordSecretKey"))
            .unwrap_or_else(|| "password".to_owned());
        match secrets
            .get(&secret_name)
            .and_then(|secret| secret_key(secret, &key))
        {
            Some((value, place)) => moved.push(Moved {
                path,
                value,
                place,
                what,
            }),
            None => not_carried.push(NotCarried {
                place: node.place(&format!("{section}.apiAuthSecretName")),
                field: format!("{section}.apiAuthSecretName"),
                why: format!(
                    "Secret {secret_name} is not in these files: openlsp generates a new password for btcd and its LND nodes"
                ),
            }),
        }
    }
    let user = [
        format!("{section}.user"),
        format!("{section}.apiUserSecretKey"),
    ]
    .into_iter()
    .find(|field| node.text(field).is_some());
    if let Some(field) = user {
        not_carried.push(NotCarried {
            place: node.place(&field),
            field,
            why: format!("openlsp's btcd user is {BTCD_RPC_USER}, which its LND nodes are given"),
        });
    }
}

/// The LND wallet password from the Secret `spec.wallet.password` names.
fn wallet_password(
    node: &Document,
    lnd: &str,
    secrets: &BTreeMap<String, &Document>,
    moved: &mut Vec<Moved>,
    not_carried: &mut Vec<NotCarried>,
) {
    let Some(secret_name) = node.text("spec.wallet.password.secretName") else {
        return;
    };
    let key = node
        .text("spec.wallet.password.secretKey")
        .unwrap_or_else(|| "password".to_owned());
    match secrets
        .get(&secret_name)
        .and_then(|secret| secret_key(secret, &key))
    {
        Some((value, place)) => moved.push(Moved {
            path: paths::wallet_password(lnd),
            value,
            place,
            what: format!("LND {lnd}'s wallet password"),
        }),
        None => not_carried.push(NotCarried {
            place: node.place("spec.wallet.password.secretName"),
            field: "spec.wallet.password.secretName".to_owned(),
            why: format!(
                "Secret {secret_name} is not in these files: openlsp generates the new wallet's password"
            ),
        }),
    }
}

/// The same credential named by two manifests (btcd's password on both sides) is moved once.
fn dedup_moved(moved: &mut Vec<Moved>) {
    let mut seen: Vec<String> = Vec::new();
    moved.retain(|m| {
        if seen.contains(&m.path) {
            false
        } else {
            seen.push(m.path.clone());
            true
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostFacts {
        HostFacts {
            node_name: "node-1".into(),
            arch: "amd64",
            memory: "8Gi".into(),
            cpus: 4,
            disk_dir: "/var/lib/openlsp".into(),
            issuer: None,
        }
    }

    fn manifest(file: &str, text: &str) -> Manifest {
        Manifest {
            file: file.into(),
            text: text.into(),
        }
    }

    const BITCOIN: &str = "apiVersion: bitcoin.kiln-fired.github.io/v1alpha1\nkind: BitcoinNode\nmetadata:\n  name: btcd\n  namespace: kiln\nspec:\n  rpcServer:\n    certSecret: btcd-rpc-tls\n    user: kiln\n    password: hunter2-plain\n  mining:\n    minBlocks: 400\n  colour: blue\n";
    const LIGHTNING: &str = "apiVersion: bitcoin.kiln-fired.github.io/v1alpha1\nkind: LightningNode\nmetadata:\n  name: lnd\n  namespace: kiln\nspec:\n  bitcoinConnection:\n    host: btcd\n    network: simnet\n    certSecret: btcd-rpc-tls\n    user: kiln\n    password: hunter2-plain\n";

    #[test]
    fn the_post_shape_becomes_btcd_and_lnd_with_the_password_moved_once() {
        let conversion = convert(
            &[
                manifest("btcd.yaml", BITCOIN),
                manifest("lnd.yaml", LIGHTNING),
            ],
            &host(),
        )
        .unwrap();
        assert_eq!(conversion.site, "kiln");
        assert!(
            !conversion.profile.contains("hunter2"),
            "{}",
            conversion.profile
        );
        let profile: Value = serde_yaml::from_str(&conversion.profile).unwrap();
        assert_eq!(profile["spec"]["network"], "simnet");
        assert_eq!(profile["spec"]["bitcoin"][0]["implementation"], "btcd");
        assert_eq!(profile["spec"]["lightning"][0]["bitcoin"], "btcd");
        assert_eq!(conversion.moved.len(), 1);
        let moved = &conversion.moved[0];
        assert_eq!(moved.path, "bitcoin/btcd/rpc/openlsp_btcd/password");
        assert_eq!(moved.value, b"hunter2-plain");
        assert_eq!(moved.place.to_string(), "btcd.yaml:10:5");
        let unknown = conversion
            .not_carried
            .iter()
            .find(|n| n.field == "spec.colour")
            .expect("unknown fields are listed");
        assert_eq!(unknown.place.to_string(), "btcd.yaml:13:3");
        assert!(unknown.why.starts_with("unknown field"));
        assert!(
            conversion
                .not_carried
                .iter()
                .any(|n| n.field == "spec.mining")
        );
        assert!(
            conversion
                .not_carried
                .iter()
                .any(|n| n.field == "spec.rpcServer.certSecret" && n.why.contains("--issuer")),
            "no issuer known: openlsp's own certificate, said so"
        );
    }

    #[test]
    fn the_operators_shape_takes_secrets_and_the_certificates_issuer() {
        let bitcoin = "apiVersion: bitcoin.kiln-fired.github.io/v1alpha1\nkind: BitcoinNode\nmetadata: { name: btcd }\nspec:\n  rpcServer:\n    certSecret: btcd-rpc-tls\n    apiAuthSecretName: btcd-rpc-creds\n    apiUserSecretKey: username\n    apiPasswordSecretKey: password\n---\napiVersion: v1\nkind: Secret\nmetadata: { name: btcd-rpc-creds }\ndata:\n  username: a2lsbg==\n  password: c2VjcmV0LWZyb20tZGF0YQ==\n---\napiVersion: cert-manager.io/v1\nkind: Certificate\nmetadata: { name: btcd }\nspec:\n  secretName: btcd-rpc-tls\n  issuerRef: { name: selfsigned, kind: ClusterIssuer }\n";
        let lightning = "apiVersion: bitcoin.kiln-fired.github.io/v1alpha1\nkind: LightningNode\nmetadata: { name: alice }\nspec:\n  bitcoinConnection: { host: btcd.default.svc, network: simnet, apiAuthSecretName: btcd-rpc-creds }\n  wallet:\n    password: { secretName: alice-wallet, secretKey: password }\n    seed: { secretName: seed, mnemonicKey: mnemonic }\n---\napiVersion: v1\nkind: Secret\nmetadata: { name: alice-wallet }\nstringData: { password: wallet-pass-123 }\n";
        let conversion = convert(
            &[manifest("b.yaml", bitcoin), manifest("l.yaml", lightning)],
            &host(),
        )
        .unwrap();
        let profile: Value = serde_yaml::from_str(&conversion.profile).unwrap();
        assert_eq!(
            profile["spec"]["bitcoin"][0]["tls"],
            json!({ "issuer": "selfsigned", "kind": "ClusterIssuer" })
        );
        let moved: Vec<(&str, &[u8])> = conversion
            .moved
            .iter()
            .map(|m| (m.path.as_str(), m.value.as_slice()))
            .collect();
        assert_eq!(
            moved,
            [
                (
                    "bitcoin/btcd/rpc/openlsp_btcd/password",
                    &b"secret-from-data"[..]
                ),
                ("lightning/alice/wallet-password", &b"wallet-pass-123"[..]),
            ]
        );
        assert!(
            conversion
                .not_carried
                .iter()
                .any(|n| n.field == "spec.wallet.seed" && n.place.file == "l.yaml")
        );
        assert_eq!(conversion.site, "kiln", "no namespace: the site is kiln");
    }

    #[test]
    fn bad_input_is_refused_at_its_place() {
        let refusal = |lightning: &str| {
            convert(
                &[manifest("b.yaml", BITCOIN), manifest("l.yaml", lightning)],
                &host(),
            )
            .unwrap_err()
            .to_string()
        };
        let err = refusal(&LIGHTNING.replace("host: btcd", "host: bitcoind"));
        assert!(
            err.starts_with(
                "l.yaml:8:5: spec.bitcoinConnection.host: \"bitcoind\" is not a BitcoinNode"
            ),
            "{err}"
        );
        let err = refusal(&LIGHTNING.replace("namespace: kiln", "namespace: other"));
        assert!(err.starts_with("l.yaml:5:3: metadata.namespace"), "{err}");
        let err = refusal(&LIGHTNING.replace("network: simnet", "network: litecoin"));
        assert!(
            err.starts_with("l.yaml:9:5: spec.bitcoinConnection.network: network \"litecoin\""),
            "{err}"
        );
        assert_eq!(
            convert(&[manifest("l.yaml", LIGHTNING)], &host()).unwrap_err(),
            KilnError::NoBitcoinNode
        );
    }
}
