//! Every secret of a site: what it is, where openlsp keeps it and which Kubernetes Secret
//! carries it. `secrets list`, `rotate` and `pull` start here, so they agree with the templates.

use std::fmt;

use serde::Serialize;

use super::provided::{self, RCLONE_CONFIG_KEY};
use super::requirements::{
    self, BTCD_RPC_USER, DATABASE_ROLES, EXPORTER_RPC_USER, NBXPLORER_RPC_USER, TUNNEL_FILES, paths,
};
use crate::plan::names;
use crate::profile::{Implementation, Site};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretKind {
    RpcCredential,
    /// A PostgreSQL role's password (BTCPay's database).
    DatabasePassword,
    Tls,
    WalletPassword,
    Seed,
    Macaroons,
    /// A Core Lightning node's runes and gRPC client certificates, published by its sidecar.
    Runes,
    OnionKey,
    /// The rclone config of backup targets, which the operator gives.
    RcloneConfig,
    /// A channel management UI's login password (RTL, ThunderHub).
    UiPassword,
    /// The mutual-TLS material of the tunnel from BTCPay to a CLN node's RPC socket.
    Tunnel,
    /// A btcd node's one RPC password, which its LND nodes share.
    BtcdRpcCredential,
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecretKind::RpcCredential => "rpc credential",
            SecretKind::DatabasePassword => "database password",
            SecretKind::Tls => "TLS",
            SecretKind::WalletPassword => "wallet password",
            SecretKind::Seed => "seed",
            SecretKind::Macaroons => "macaroons",
            SecretKind::Runes => "runes",
            SecretKind::OnionKey => "onion key",
            SecretKind::RcloneConfig => "rclone config",
            SecretKind::UiPassword => "UI password",
            SecretKind::Tunnel => "tunnel TLS",
            SecretKind::BtcdRpcCredential => "btcd rpc credential",
        })
    }
}

/// Where a state value can be found in the cluster (for `secrets pull`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A key of a Secret, as is.
    Key { secret: String, key: &'static str },
    /// The salt of `user`'s rpcauth line whose HMAC matches the password at `password`.
    RpcauthSalt {
        secret: String,
        user: String,
        password: String,
    },
}

impl Source {
    /// The Secret the value is read from.
    pub fn secret(&self) -> &str {
        match self {
            Source::Key { secret, .. } | Source::RpcauthSalt { secret, .. } => secret,
        }
    }
}

/// One secret of the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The Kubernetes Secret that carries it.
    pub secret: String,
    pub kind: SecretKind,
    /// The node it belongs to.
    pub node: String,
    /// State-dir values and where each is in the cluster; empty for secrets that exist only in
    /// the cluster (LND's seed, which lndinit generates, and the macaroons LND makes). A CLN
    /// node's seed is its words, which openlsp makes and keeps.
    pub values: Vec<(String, Source)>,
    /// Other Secrets derived from it (bitcoind's rpcauth lines).
    pub derived: Vec<String>,
}

impl Entry {
    /// RPC credentials and certificates can be replaced; a wallet password, seed or macaroon
    /// cannot be swapped underneath LND.
    pub fn is_rotatable(&self) -> bool {
        matches!(
            self.kind,
            SecretKind::RpcCredential
                | SecretKind::Tls
                | SecretKind::UiPassword
                | SecretKind::Tunnel
        )
    }

    pub fn state_paths(&self) -> Vec<String> {
        self.values.iter().map(|(path, _)| path.clone()).collect()
    }
}

/// An RPC client's credential: password from its Secret, salt from bitcoind's rpcauth line.
fn rpc_credential(secret: String, node: &str, bitcoin: &str, user: &str) -> Entry {
    let password = paths::rpc_password(bitcoin, user);
    Entry {
        secret: secret.clone(),
        kind: SecretKind::RpcCredential,
        node: node.to_owned(),
        values: vec![
            (
                password.clone(),
                Source::Key {
                    secret,
                    key: "password",
                },
            ),
            (
                paths::rpc_salt(bitcoin, user),
                Source::RpcauthSalt {
                    secret: names::rpcauth_secret(bitcoin),
                    user: user.to_owned(),
                    password,
                },
            ),
        ],
        derived: vec![names::rpcauth_secret(bitcoin)],
    }
}

/// A btcd node's RPC password (in its own Secret, and copied to each LND on it) and, when
/// openlsp makes it, its RPC certificate.
fn btcd(site: &Site, node: &str, own_tls: bool) -> Vec<Entry> {
    let rpc = names::btcd_rpc_secret(node);
    // Each LND on it gets the password and openlsp's certificate (`btcd.rawrpccert`) in its
    // RPC Secret.
    let clients: Vec<String> = site
        .clients_of(node)
        .map(|client| names::rpc_credentials_secret(&client.name, node))
        .collect();
    let mut entries = vec![Entry {
        secret: rpc.clone(),
        kind: SecretKind::BtcdRpcCredential,
        node: node.to_owned(),
        values: vec![(
            paths::rpc_password(node, BTCD_RPC_USER),
            Source::Key {
                secret: rpc,
                key: names::BTCD_PASSWORD_KEY,
            },
        )],
        derived: clients.clone(),
    }];
    if own_tls {
        let tls = names::btcd_tls_secret(node);
        entries.push(Entry {
            secret: tls.clone(),
            kind: SecretKind::Tls,
            node: node.to_owned(),
            values: vec![
                (
                    paths::btcd_tls_cert(node),
                    Source::Key {
                        secret: tls.clone(),
                        key: "tls.crt",
                    },
                ),
                (
                    paths::btcd_tls_key(node),
                    Source::Key {
                        secret: tls,
                        key: "tls.key",
                    },
                ),
            ],
            derived: clients,
        });
    }
    entries
}

/// The tunnel to CLN node `node`'s RPC socket: the CA and server pair in the node's Secret, the
/// client pair in BTCPay's.
fn tunnel(node: &str) -> Entry {
    let server = names::cln_tunnel_secret(node);
    let client = names::BTCPAY_TUNNEL_SECRET.to_owned();
    let [ca, server_cert, server_key, client_cert, client_key] = TUNNEL_FILES;
    let values = [
        (ca, &server, names::TUNNEL_CA_KEY),
        (server_cert, &server, names::TUNNEL_CERT_KEY),
        (server_key, &server, names::TUNNEL_KEY_KEY),
        (client_cert, &client, names::TUNNEL_CERT_KEY),
        (client_key, &client, names::TUNNEL_KEY_KEY),
    ];
    Entry {
        secret: server.clone(),
        kind: SecretKind::Tunnel,
        node: node.to_owned(),
        values: values
            .into_iter()
            .map(|(file, secret, key)| {
                (
                    paths::tunnel(node, file),
                    Source::Key {
                        secret: secret.clone(),
                        key,
                    },
                )
            })
            .collect(),
        derived: vec![client],
    }
}

/// Every secret of `site`, in a stable order.
pub fn catalog(site: &Site) -> Vec<Entry> {
    let mut entries = Vec::new();
    for node in site.btcd_nodes() {
        entries.extend(btcd(site, &node.name, node.tls.is_none()));
    }
    if site.spec.monitoring.enabled {
        for node in site.bitcoind_nodes() {
            entries.push(rpc_credential(
                names::exporter_credentials_secret(&node.name),
                &node.name,
                &node.name,
                EXPORTER_RPC_USER,
            ));
        }
    }
    for service in requirements::onion_services(site) {
        let secret = names::onion_secret(&service);
        let node = service
            .rsplit_once('-')
            .map_or(service.as_str(), |(node, _)| node);
        entries.push(Entry {
            secret: secret.clone(),
            kind: SecretKind::OnionKey,
            node: node.to_owned(),
            values: vec![(
                paths::onion_key(&service),
                Source::Key {
                    secret,
                    key: names::ONION_KEY,
                },
            )],
            derived: Vec::new(),
        });
    }
    for node in &site.spec.lightning {
        if !site.is_btcd(&node.bitcoin) {
            entries.push(rpc_credential(
                names::rpc_credentials_secret(&node.name, &node.bitcoin),
                &node.name,
                &node.bitcoin,
                &node.name,
            ));
        }
        if node.implementation == Implementation::Cln {
            let hsm = names::hsm_secret(&node.name);
            entries.push(Entry {
                secret: hsm.clone(),
                kind: SecretKind::Seed,
                node: node.name.clone(),
                values: vec![(
                    paths::hsm_words(&node.name),
                    Source::Key {
                        secret: hsm,
                        key: names::HSM_WORDS_KEY,
                    },
                )],
                derived: Vec::new(),
            });
            entries.push(Entry {
                secret: names::macaroons_secret(&node.name),
                kind: SecretKind::Runes,
                node: node.name.clone(),
                values: Vec::new(),
                derived: Vec::new(),
            });
            continue;
        }
        let tls = names::tls_secret(&node.name);
        entries.push(Entry {
            secret: tls.clone(),
            kind: SecretKind::Tls,
            node: node.name.clone(),
            values: vec![
                (
                    paths::tls_cert(&node.name),
                    Source::Key {
                        secret: tls.clone(),
                        key: "tls.crt",
                    },
                ),
                (
                    paths::tls_key(&node.name),
                    Source::Key {
                        secret: tls,
                        key: "tls.key",
                    },
                ),
            ],
            derived: Vec::new(),
        });
        let wallet = names::wallet_secret(&node.name);
        entries.push(Entry {
            secret: wallet.clone(),
            kind: SecretKind::WalletPassword,
            node: node.name.clone(),
            values: vec![(
                paths::wallet_password(&node.name),
                Source::Key {
                    secret: wallet.clone(),
                    key: names::WALLET_PASSWORD_KEY,
                },
            )],
            derived: Vec::new(),
        });
        entries.push(Entry {
            secret: wallet,
            kind: SecretKind::Seed,
            node: node.name.clone(),
            values: Vec::new(),
            derived: Vec::new(),
        });
        entries.push(Entry {
            secret: names::macaroons_secret(&node.name),
            kind: SecretKind::Macaroons,
            node: node.name.clone(),
            values: Vec::new(),
            derived: Vec::new(),
        });
    }
    if let Some(btcpay) = &site.spec.btcpay {
        entries.push(rpc_credential(
            names::rpc_credentials_secret(names::NBXPLORER, &btcpay.bitcoin),
            names::BTCPAY,
            &btcpay.bitcoin,
            NBXPLORER_RPC_USER,
        ));
        for role in DATABASE_ROLES {
            entries.push(Entry {
                secret: names::BTCPAY_POSTGRES_SECRET.to_owned(),
                kind: SecretKind::DatabasePassword,
                node: names::BTCPAY.to_owned(),
                values: vec![(
                    paths::database_password(role),
                    Source::Key {
                        secret: names::BTCPAY_POSTGRES_SECRET.to_owned(),
                        key: role,
                    },
                )],
                derived: vec![names::BTCPAY_SETTINGS_SECRET.to_owned()],
            });
        }
    }
    if let Some(cln) = site.btcpay_cln() {
        entries.push(tunnel(&cln.name));
    }
    for (kind, _) in site.spec.apps.enabled() {
        let secret = names::app_password_secret(kind.name());
        entries.push(Entry {
            secret: secret.clone(),
            kind: SecretKind::UiPassword,
            node: kind.name().to_owned(),
            values: vec![(
                paths::app_password(kind.name()),
                Source::Key {
                    secret,
                    key: names::APP_PASSWORD_KEY,
                },
            )],
            derived: vec![names::app_config_secret(kind.name())],
        });
    }
    if !site.spec.lightning.is_empty() {
        for (_, secret) in site.spec.backup.rclone_configs() {
            entries.push(Entry {
                secret: secret.to_owned(),
                kind: SecretKind::RcloneConfig,
                node: "the backup targets".to_owned(),
                values: vec![(
                    provided::path(secret),
                    Source::Key {
                        secret: secret.to_owned(),
                        key: RCLONE_CONFIG_KEY,
                    },
                )],
                derived: Vec::new(),
            });
        }
    }
    entries
}
