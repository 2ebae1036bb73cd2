//! What a site requires in its state dir: every credential and certificate, where each is kept
//! (the relative state paths templates and commands share), and the names derived from the
//! profile that go into them (onion services, LND's certificate names).

use crate::profile::{Implementation, Site};

use super::provided::{self, Use};
use super::tls;

/// One value (or pair of values) the site needs in its state dir.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    /// 32 random bytes, URL-safe base64: RPC and wallet passwords.
    Password { path: String },
    /// 16 random bytes, lowercase hex: rpcauth salts.
    Salt { path: String },
    /// A self-signed TLS certificate and its key.
    Tls {
        cert: String,
        key: String,
        common_name: String,
        alt_names: Vec<String>,
        /// Onion keys (state paths, generated earlier in the same list) whose addresses are
        /// added to the certificate's names when it is generated: LND's API onion service.
        onion_names: Vec<String>,
    },
    /// A Tor v3 onion service key, stored as Tor's own `hs_ed25519_secret_key` file.
    OnionKey { path: String },
    /// 12 BIP39 words (English, one space between them): a Core Lightning node's secret, from
    /// which its pod writes `hsm_secret` once.
    Words { path: String },
    /// The mutual-TLS material of the tunnel from BTCPay to a Core Lightning node's RPC socket:
    /// a CA certificate (its key is never kept), the server pair for the node's Service names
    /// and the client pair, made together.
    Tunnel {
        ca: String,
        server_cert: String,
        server_key: String,
        client_cert: String,
        client_key: String,
        server_names: Vec<String>,
        client_name: String,
    },
    /// A value the operator gives (`openlsp secrets set`), never generated: the rclone config
    /// of backup targets, with the remotes the profile uses from it.
    Provided {
        path: String,
        secret: String,
        uses: Vec<Use>,
    },
}

impl Requirement {
    /// The state files this requirement holds.
    pub fn files(&self) -> Vec<&str> {
        match self {
            Requirement::Password { path }
            | Requirement::Salt { path }
            | Requirement::OnionKey { path }
            | Requirement::Words { path }
            | Requirement::Provided { path, .. } => vec![path],
            Requirement::Tls { cert, key, .. } => vec![cert, key],
            Requirement::Tunnel {
                ca,
                server_cert,
                server_key,
                client_cert,
                client_key,
                ..
            } => vec![ca, server_cert, server_key, client_cert, client_key],
        }
    }

    /// The state files generating this requirement reads: the onion keys whose addresses a
    /// certificate carries.
    pub fn inputs(&self) -> &[String] {
        match self {
            Requirement::Tls { onion_names, .. } => onion_names,
            _ => &[],
        }
    }
}

/// Relative state paths, shared by the plan (reading) and the store (writing).
pub mod paths {
    pub fn rpc_password(bitcoin: &str, client: &str) -> String {
        format!("bitcoin/{bitcoin}/rpc/{client}/password")
    }
    pub fn rpc_salt(bitcoin: &str, client: &str) -> String {
        format!("bitcoin/{bitcoin}/rpc/{client}/salt")
    }
    pub fn tls_cert(lightning: &str) -> String {
        format!("lightning/{lightning}/tls.cert")
    }
    pub fn tls_key(lightning: &str) -> String {
        format!("lightning/{lightning}/tls.key")
    }
    pub fn wallet_password(lightning: &str) -> String {
        format!("lightning/{lightning}/wallet-password")
    }
    /// A Core Lightning node's 12 words, the source of its `hsm_secret`.
    pub fn hsm_words(lightning: &str) -> String {
        format!("lightning/{lightning}/hsm-words")
    }
    /// Where a credential's previous value waits while a rotation is in phase 1.
    pub fn previous(path: &str) -> String {
        match path.rsplit_once('/') {
            Some((dir, file)) => format!("{dir}/previous/{file}"),
            None => format!("previous/{path}"),
        }
    }
    /// The key of onion service `service` (`<node>-p2p`, `<lnd>-rpc`).
    pub fn onion_key(service: &str) -> String {
        format!("tor/{service}/hs_ed25519_secret_key")
    }
    /// Whether the password at `path` may have come from another tool (`openlsp import kiln`):
    /// a btcd node's RPC password or an LND wallet's.
    pub fn is_importable_password(path: &str) -> bool {
        path.ends_with(&format!("/rpc/{}/password", super::BTCD_RPC_USER))
            || (path.starts_with("lightning/") && path.ends_with("/wallet-password"))
    }
    /// A btcd node's RPC certificate and key, when openlsp makes them.
    pub fn btcd_tls_cert(btcd: &str) -> String {
        format!("bitcoin/{btcd}/rpc-tls/tls.cert")
    }
    pub fn btcd_tls_key(btcd: &str) -> String {
        format!("bitcoin/{btcd}/rpc-tls/tls.key")
    }
    /// The UI password of app `app` (`rtl`, `thunderhub`).
    pub fn app_password(app: &str) -> String {
        format!("apps/{app}/password")
    }
    /// A file of the tunnel to CLN node `lightning`'s RPC socket ([`super::TUNNEL_FILES`]).
    pub fn tunnel(lightning: &str, file: &str) -> String {
        format!("lightning/{lightning}/tunnel/{file}")
    }
    /// The password of BTCPay's PostgreSQL role `role` ([`super::DATABASE_ROLES`]).
    pub fn database_password(role: &str) -> String {
        format!("btcpay/postgres/{role}/password")
    }
}

/// NBXplorer's RPC user on its bitcoind. Not a DNS label, so no Lightning node (whose RPC user is
/// its name) can ever have it.
pub const NBXPLORER_RPC_USER: &str = "btcpay_nbxplorer";

/// BTCPay's PostgreSQL roles, each with its own generated password: the superuser that makes
/// the others at the first start, and one per database.
pub const DATABASE_ROLES: [&str; 3] = ["postgres", "btcpayserver", "nbxplorer"];

/// The tunnel's files in the state dir: the CA certificate, the server pair, the client pair.
pub const TUNNEL_FILES: [&str; 5] = [
    "ca.crt",
    "server.crt",
    "server.key",
    "client.crt",
    "client.key",
];

/// The tunnel's client: the name its certificate carries.
pub const TUNNEL_CLIENT: &str = "btcpay";

/// The onion service of the store (`spec.btcpay.onion`).
pub const BTCPAY_ONION: &str = "btcpay";

/// A btcd node's one admin RPC user (`rpcuser`), which each LND on it uses: btcd has no rpcauth
/// lines, and its limited user may not call `getblockchaininfo`, which LND's taproot check
/// needs (btcd rpcserver.go `rpcLimited`, lnd chainreg/taproot_check.go). Not a DNS label.
pub const BTCD_RPC_USER: &str = "openlsp_btcd";

/// The RPC user of a bitcoind's Prometheus exporter. Not a DNS label, so no Lightning node
/// (whose RPC user is its name) can ever have it.
pub const EXPORTER_RPC_USER: &str = "openlsp_exporter";

/// The onion services of a site, by name: each Bitcoin and Lightning node's P2P port, and the
/// REST/gRPC APIs of Lightning nodes that ask for one. Empty when Tor is off.
pub fn onion_services(site: &Site) -> Vec<String> {
    if !site.spec.tor.enabled() {
        return Vec::new();
    }
    let mut services: Vec<String> = site
        .spec
        .bitcoin
        .iter()
        .map(|node| format!("{}-p2p", node.name))
        .collect();
    for node in &site.spec.lightning {
        services.push(format!("{}-p2p", node.name));
        if !node.onion.is_empty() {
            services.push(format!("{}-rpc", node.name));
        }
    }
    if site.spec.btcpay.as_ref().is_some_and(|btcpay| btcpay.onion) {
        services.push(BTCPAY_ONION.to_owned());
    }
    for (kind, app) in site.spec.apps.enabled() {
        if app.onion {
            services.push(kind.name().to_owned());
        }
    }
    services
}

/// The DNS names LND's certificate carries: localhost, then every name of its Service.
pub fn lnd_dns_names(service: &str, namespace: &str, extra: &[String]) -> Vec<String> {
    let mut names = vec![
        "localhost".to_owned(),
        service.to_owned(),
        format!("{service}.{namespace}"),
        format!("{service}.{namespace}.svc"),
        format!("{service}.{namespace}.svc.cluster.local"),
    ];
    names.extend(extra.iter().cloned());
    names
}

/// Loopback addresses, so `kubectl port-forward` plus lncli works without extra options.
pub const LND_LOOPBACK_IPS: [&str; 2] = ["127.0.0.1", "::1"];

/// Everything `site` needs, in a stable order.
pub fn requirements(site: &Site) -> Vec<Requirement> {
    // Onion keys first: a TLS certificate may name an onion address.
    let mut needed: Vec<Requirement> = onion_services(site)
        .iter()
        .map(|service| Requirement::OnionKey {
            path: paths::onion_key(service),
        })
        .collect();
    for node in site.btcd_nodes() {
        needed.push(Requirement::Password {
            path: paths::rpc_password(&node.name, BTCD_RPC_USER),
        });
        if node.tls.is_none() {
            // btcd's own certificate names only its pod: this one names its Service.
            needed.push(Requirement::Tls {
                cert: paths::btcd_tls_cert(&node.name),
                key: paths::btcd_tls_key(&node.name),
                common_name: node.name.clone(),
                alt_names: tls::subject_alt_names(
                    &lnd_dns_names(&node.name, site.namespace(), &[]),
                    &LND_LOOPBACK_IPS.map(str::to_owned),
                ),
                onion_names: Vec::new(),
            });
        }
    }
    if site.spec.monitoring.enabled {
        for node in site.bitcoind_nodes() {
            needed.push(Requirement::Password {
                path: paths::rpc_password(&node.name, EXPORTER_RPC_USER),
            });
            needed.push(Requirement::Salt {
                path: paths::rpc_salt(&node.name, EXPORTER_RPC_USER),
            });
        }
    }
    for node in &site.spec.lightning {
        // On a btcd node LND uses btcd's one user, required with btcd.
        if !site.is_btcd(&node.bitcoin) {
            needed.push(Requirement::Password {
                path: paths::rpc_password(&node.bitcoin, &node.name),
            });
            needed.push(Requirement::Salt {
                path: paths::rpc_salt(&node.bitcoin, &node.name),
            });
        }
        if node.implementation == Implementation::Cln {
            needed.push(Requirement::Words {
                path: paths::hsm_words(&node.name),
            });
            continue;
        }
        let ips: Vec<String> = LND_LOOPBACK_IPS
            .iter()
            .map(|ip| (*ip).to_owned())
            .chain(node.tls_extra_ips.iter().cloned())
            .collect();
        needed.push(Requirement::Tls {
            cert: paths::tls_cert(&node.name),
            key: paths::tls_key(&node.name),
            common_name: node.name.clone(),
            alt_names: tls::subject_alt_names(
                &lnd_dns_names(&node.name, site.namespace(), &node.tls_extra_domains),
                &ips,
            ),
            onion_names: if site.spec.tor.enabled() && !node.onion.is_empty() {
                vec![paths::onion_key(&format!("{}-rpc", node.name))]
            } else {
                Vec::new()
            },
        });
        needed.push(Requirement::Password {
            path: paths::wallet_password(&node.name),
        });
    }
    if !site.spec.lightning.is_empty() || site.dumps_database() {
        needed.extend(provided_secrets(site));
    }
    if let Some(btcpay) = &site.spec.btcpay {
        needed.push(Requirement::Password {
            path: paths::rpc_password(&btcpay.bitcoin, NBXPLORER_RPC_USER),
        });
        needed.push(Requirement::Salt {
            path: paths::rpc_salt(&btcpay.bitcoin, NBXPLORER_RPC_USER),
        });
        for role in DATABASE_ROLES {
            needed.push(Requirement::Password {
                path: paths::database_password(role),
            });
        }
    }
    if let Some(cln) = site.btcpay_cln() {
        let [ca, server_cert, server_key, client_cert, client_key] =
            TUNNEL_FILES.map(|file| paths::tunnel(&cln.name, file));
        // The names of the node's Service; the connect side checks the one it dials.
        let mut server_names = lnd_dns_names(&cln.name, site.namespace(), &[]);
        server_names.retain(|name| name != "localhost");
        needed.push(Requirement::Tunnel {
            ca,
            server_cert,
            server_key,
            client_cert,
            client_key,
            server_names,
            client_name: TUNNEL_CLIENT.to_owned(),
        });
    }
    for (kind, _) in site.spec.apps.enabled() {
        needed.push(Requirement::Password {
            path: paths::app_password(kind.name()),
        });
    }
    needed
}

/// The rclone configs the backup targets name, each with the remotes the profile uses from it;
/// a target that gets BTCPay's database dump must be a crypt remote.
fn provided_secrets(site: &Site) -> Vec<Requirement> {
    let backup = &site.spec.backup;
    let dumps = site
        .spec
        .btcpay
        .as_ref()
        .map(|b| b.backup_targets.as_slice());
    backup
        .rclone_configs()
        .into_iter()
        .map(|(_, secret)| Requirement::Provided {
            path: provided::path(secret),
            secret: secret.to_owned(),
            uses: backup
                .targets
                .iter()
                .enumerate()
                .filter_map(|(i, target)| {
                    let rclone = target.rclone.as_ref().filter(|r| r.config == secret)?;
                    Some(Use {
                        field: format!("spec.backup.targets[{i}].rclone"),
                        remote: rclone.remote_name().to_owned(),
                        must_encrypt: dumps.is_some_and(|d| d.contains(&target.name)),
                    })
                })
                .collect(),
        })
        .collect()
}
