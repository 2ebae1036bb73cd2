//! ThunderHub (`spec.apps.thunderhub`, docs/apps.md): what `templates/thunderhub/` renders with.
//! Its accounts file lists each LND node it manages by its gRPC address, with the node's admin
//! macaroon and certificate read from the node's Secrets at run time; the master password is
//! in the file only as ThunderHub's own bcrypt hash (`thunderhub-$2b$04$…`), so ThunderHub never
//! rewrites the file and it stays a read-only Secret.
//!
//! Keys: apotdevin/thunderhub v0.18.4, src/server/modules/files/files.types.ts
//! (AccountConfigType, AccountType) and src/server/config/configuration.ts (the environment).

use serde::Serialize;
use sha2::{Digest as _, Sha256};

use super::shared::{LND_GRPC_PORT, b64, service_host};
use super::ui::{self, NODES_DIR, UiContext};
use crate::plan::error::PlanError;
use crate::plan::names;
use crate::profile::{AppKind, Network, Site};
use crate::secrets::Secrets;

/// The accounts file's name in the config Secret.
pub(crate) const ACCOUNTS_KEY: &str = "accounts.yaml";
/// bcrypt's lowest cost (ThunderHub's login reads the cost from the hash). The password is 32
/// random bytes, which no stretching makes harder to guess, and a render runs on every apply,
/// diff and reconcile: ThunderHub's own cost, 12, would add a quarter second to each.
const BCRYPT_COST: u32 = 4;
/// ThunderHub's prefix of a hashed password, which it never hashes again.
const HASH_PREFIX: &str = "thunderhub-";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ThunderhubContext {
    /// None without `spec.apps.thunderhub`.
    thunderhub: Option<ThunderhubApp>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ThunderhubApp {
    #[serde(flatten)]
    ui: UiContext,
    accounts_key: &'static str,
    accounts_b64: String,
    nodes: Vec<NodeMount>,
}

/// An LND node's admin macaroon (published by its sidecar once LND runs) and certificate, as
/// the pod mounts them at `dir`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeMount {
    name: String,
    dir: String,
    macaroon_secret: String,
    tls_secret: String,
}

/// ThunderHub's accounts file (AccountConfigType).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AccountsFile {
    master_password: String,
    default_network: &'static str,
    accounts: Vec<Account>,
}

/// One account (AccountType): an LND node over gRPC.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Account {
    name: String,
    #[serde(rename = "type")]
    kind: &'static str,
    server_url: String,
    network: &'static str,
    macaroon_path: String,
    certificate_path: String,
}

pub(crate) fn context(site: &Site, secrets: &Secrets) -> Result<ThunderhubContext, PlanError> {
    let Some(app) = &site.spec.apps.thunderhub else {
        return Ok(ThunderhubContext { thunderhub: None });
    };
    let nodes: Vec<_> = app
        .nodes
        .iter()
        .filter_map(|name| site.lightning_node(name))
        .collect();
    let connects = nodes
        .iter()
        .map(|node| ui::to_node(site, node, LND_GRPC_PORT))
        .collect();
    let ui = ui::context(site, secrets, AppKind::Thunderhub, app, connects)?;
    let password = ui::password(secrets, AppKind::Thunderhub)?;
    let mounts: Vec<NodeMount> = nodes
        .iter()
        .map(|node| NodeMount {
            name: node.name.clone(),
            dir: format!("{NODES_DIR}/{}", node.name),
            macaroon_secret: names::macaroons_secret(&node.name),
            tls_secret: names::tls_secret(&node.name),
        })
        .collect();
    let file = AccountsFile {
        master_password: format!("{HASH_PREFIX}{}", bcrypt_hash(password)),
        default_network: network_name(site.spec.network),
        accounts: mounts
            .iter()
            .map(|mount| Account {
                name: mount.name.clone(),
                kind: "lnd",
                server_url: format!("{}:{LND_GRPC_PORT}", service_host(site, &mount.name)),
                network: network_name(site.spec.network),
                macaroon_path: format!("{}/admin.macaroon", mount.dir),
                certificate_path: format!("{}/tls.cert", mount.dir),
            })
            .collect(),
    };
    let accounts = format!(
        "# ThunderHub's accounts, from openlsp's profile of site {}: do not edit.\n{}",
        site.name(),
        serde_yaml::to_string(&file)
            .map_err(|err| PlanError::Bug(format!("ThunderHub's accounts file: {err}")))?
    );
    Ok(ThunderhubContext {
        thunderhub: Some(ThunderhubApp {
            ui,
            accounts_key: ACCOUNTS_KEY,
            accounts_b64: b64(accounts.as_bytes()),
            nodes: mounts,
        }),
    })
}

/// ThunderHub's bcrypt of `password`, salted by a digest of the password itself, so a render
/// is a function of the state dir: a generated password of 256 bits needs no random salt.
fn bcrypt_hash(password: &str) -> String {
    let digest = Sha256::digest(format!("openlsp thunderhub salt\0{password}"));
    let mut salt = [0u8; 16];
    salt.copy_from_slice(&digest[..16]);
    bcrypt::hash_with_salt(password, BCRYPT_COST, salt)
        .expect("a cost between 4 and 31 and a password under 72 bytes")
        .format_for_version(bcrypt::Version::TwoB)
}

/// ThunderHub's names of the networks (BitcoinNetwork).
fn network_name(network: Network) -> &'static str {
    match network {
        Network::Mainnet => "mainnet",
        Network::Testnet => "testnet",
        Network::Testnet4 => "testnet4",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
        // Refused by validation: ThunderHub's BitcoinNetwork has no simnet.
        Network::Simnet => "simnet",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_thunderhubs_bcrypt_and_the_same_for_the_same_password() {
        let hash = bcrypt_hash("a-generated-password");
        assert!(hash.starts_with("$2b$04$"), "{hash}");
        assert_eq!(hash, bcrypt_hash("a-generated-password"));
        assert!(bcrypt::verify("a-generated-password", &hash).unwrap());
        assert!(!bcrypt::verify("another", &hash).unwrap());
        assert_ne!(hash, bcrypt_hash("another-password"));
    }
}
