//! Every secret of a site: what it is, where openlsp keeps it and which Kubernetes Secret
//! carries it. `secrets list`, `rotate` and `pull` start here, so they agree with the templates.

use std::fmt;

use serde::Serialize;

use super::names;
use super::state::paths;
use crate::profile::Site;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SecretKind {
    RpcCredential,
    Tls,
    WalletPassword,
    Seed,
    Macaroons,
}

impl fmt::Display for SecretKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SecretKind::RpcCredential => "rpc credential",
            SecretKind::Tls => "TLS",
            SecretKind::WalletPassword => "wallet password",
            SecretKind::Seed => "seed",
            SecretKind::Macaroons => "macaroons",
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

/// One secret of the site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The Kubernetes Secret that carries it.
    pub secret: String,
    pub kind: SecretKind,
    /// The node it belongs to.
    pub node: String,
    /// State-dir values and where each is in the cluster; empty for secrets that exist only in
    /// the cluster (the seed, which lndinit generates, and the macaroons LND makes).
    pub values: Vec<(String, Source)>,
    /// Other Secrets derived from it (bitcoind's rpcauth lines).
    pub derived: Vec<String>,
}

impl Entry {
    /// RPC credentials and certificates can be replaced; a wallet password, seed or macaroon
    /// cannot be swapped underneath LND.
    pub fn is_rotatable(&self) -> bool {
        matches!(self.kind, SecretKind::RpcCredential | SecretKind::Tls)
    }

    pub fn state_paths(&self) -> Vec<String> {
        self.values.iter().map(|(path, _)| path.clone()).collect()
    }
}

/// Every secret of `site`, in a stable order.
pub fn catalog(site: &Site) -> Vec<Entry> {
    let mut entries = Vec::new();
    for node in &site.spec.lightning {
        let credentials = names::rpc_credentials_secret(&node.name, &node.bitcoin);
        let password = paths::rpc_password(&node.bitcoin, &node.name);
        entries.push(Entry {
            secret: credentials.clone(),
            kind: SecretKind::RpcCredential,
            node: node.name.clone(),
            values: vec![
                (
                    password.clone(),
                    Source::Key {
                        secret: credentials,
                        key: "password",
                    },
                ),
                (
                    paths::rpc_salt(&node.bitcoin, &node.name),
                    Source::RpcauthSalt {
                        secret: names::rpcauth_secret(&node.bitcoin),
                        user: node.name.clone(),
                        password,
                    },
                ),
            ],
            derived: vec![names::rpcauth_secret(&node.bitcoin)],
        });
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
    entries
}
