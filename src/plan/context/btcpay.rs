//! BTCPay Server, once per site with `spec.btcpay`: what `templates/btcpay/` renders with. Two
//! workloads: BTCPay Server with NBXplorer beside it in one pod, and their PostgreSQL.
//!
//! NBXplorer shares BTCPay's pod because its API is authenticated by a cookie file it rewrites
//! on every start, which BTCPay must read: two pods could share it only through a data
//! directory, and without the cookie (`noauth`) any pod that reaches the port could read a hot
//! wallet's words. Every credential is generated: NBXplorer's own rpcauth user on bitcoind, one
//! PostgreSQL role and password per database. Each app reads its settings, connection strings
//! included, from a file in a Secret (`--conf`), never from an argument or the environment; the
//! Lightning node's macaroon and certificate are read from the node's own Secrets at run time.
//! A Core Lightning node is reached through `openlsp tunnel` (tunnel.rs): its unauthenticated
//! RPC socket never leaves its pod, and BTCPay's connection string names a local socket only.
//!
//! Option names: BTCPay's and NBXplorer's Configuration/DefaultConfiguration.cs (btcpayserver
//! v2.4.0, NBXplorer v2.6.x); connection strings: BTCPayServer.Lightning's README.

use serde::Serialize;

use super::backup::{self, DumpFile, NodeBackupContext, WatchedFile};
use super::cln::{self, TunnelEnd};
use super::ingress::{self, NodeIngressContext};
use super::network::{self, Access, PodPolicy, tcp};
use super::shared::{
    BACKUP_METRICS_PORT, BTCPAY_APP, BTCPAY_PORT, CLN_TUNNEL_PORT, DATABASE_DUMP_INTERVAL,
    LND_REST_PORT, Labels, NBXPLORER_PORT, NBXPLORER_WHITEBIND_PORT, PAYMENTS_COMPONENT,
    POSTGRES_APP, POSTGRES_PORT, ResourcesContext, StorageContext, b64, bitcoin_selector,
    component_labels, lightning_selector, resources, secret_text, service_host, storage,
};
use super::tor::{self, OnionSecretContext};
use crate::images;
use crate::plan::error::PlanError;
use crate::plan::names;
use crate::profile::{
    DUMP_CPU, DUMP_MEMORY, Implementation, LightningNode, NBXPLORER_CPU, NBXPLORER_MEMORY, Network,
    POSTGRES_CPU, POSTGRES_MEMORY, Resources, Site, TorMode,
};
use crate::secrets::{self as state, BTCPAY_ONION, NBXPLORER_RPC_USER, Secrets};

/// Where the pod mounts its Secrets and volumes.
const SETTINGS_DIR: &str = "/etc/btcpay";
const NBXPLORER_SETTINGS_DIR: &str = "/etc/nbxplorer";
const SETTINGS_KEY: &str = "settings.config";
/// NBXplorer's data directory (an emptyDir: its index lives in PostgreSQL), which BTCPay mounts
/// read-only at [`COOKIE_MOUNT`] for the cookie.
const NBXPLORER_DATA_DIR: &str = "/datadir";
const COOKIE_MOUNT: &str = "/nbxplorer";
const LIGHTNING_DIR: &str = "/etc/btcpay/lightning";
/// PostgreSQL's volume (the 18+ layout keeps PGDATA below it) and its password files.
const POSTGRES_VOLUME_DIR: &str = "/var/lib/postgresql";
const POSTGRES_PASSWORDS_DIR: &str = "/etc/btcpay-postgres";
/// The macaroon BTCPay gets: enough to make and watch invoices (BTCPay's SetupLightningNode
/// view asks for `invoices:write`), not to spend.
const LND_MACAROON: &str = "invoice.macaroon";
/// Where pg-dump writes the dump, and the backup container reads it (an emptyDir).
const DUMP_DIR: &str = "/run/dumps";
const DUMP_FILE: &str = "btcpay.sql.gz";
const DUMP_WRITTEN: &str = ".written";
const DUMP_SCRIPT_DIR: &str = "/etc/openlsp/dump";
/// Where the tunnel's connect end offers a CLN node's RPC: a memory-backed volume the
/// btcpayserver container shares, and the socket in it.
const TUNNEL_DIR: &str = "/run/cln-tunnel";
const TUNNEL_SOCKET: &str = "/run/cln-tunnel/lightning-rpc";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct BtcpayContext {
    /// None without `spec.btcpay`: the templates render nothing.
    btcpay: Option<StoreContext>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StoreContext {
    name: &'static str,
    image: String,
    nbxplorer_image: String,
    uid: i64,
    port: u16,
    nbxplorer_port: u16,
    resources: ResourcesContext,
    nbxplorer_resources: ResourcesContext,
    storage: StorageContext,
    labels: Labels,
    selector: Labels,
    policy: PodPolicy,
    settings_dir: &'static str,
    nbxplorer_settings_dir: &'static str,
    settings_key: &'static str,
    nbxplorer_data_dir: &'static str,
    cookie_mount: &'static str,
    settings_secret: &'static str,
    /// BTCPay's settings.config, base64.
    settings_b64: String,
    /// NBXplorer's RPC credential on bitcoind, with its settings.config.
    nbxplorer_secret: String,
    nbxplorer_user_b64: String,
    nbxplorer_password_b64: String,
    nbxplorer_settings_b64: String,
    lightning: Option<LightningLink>,
    /// The connect end of the tunnel to a Core Lightning node, instead of `lightning`.
    cln_tunnel: Option<TunnelConnectContext>,
    ingress: Option<NodeIngressContext>,
    onion: Option<OnionSecretContext>,
    postgres: PostgresContext,
}

/// The Lightning node's Secrets BTCPay mounts, read at run time.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct LightningLink {
    node: String,
    dir: &'static str,
    /// LND's macaroons Secret (filled by its sidecar once LND runs), and the key BTCPay reads.
    macaroon_secret: String,
    macaroon_key: &'static str,
    /// LND's certificate (openlsp's), the only key of its TLS Secret BTCPay mounts.
    tls_secret: String,
}

/// The connect end, beside BTCPay: it offers `socket` in `dir` and dials `server`, whose
/// certificate must carry its host name.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TunnelConnectContext {
    node: String,
    end: TunnelEnd,
    dir: &'static str,
    socket: &'static str,
    server: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PostgresContext {
    name: &'static str,
    image: String,
    uid: i64,
    port: u16,
    resources: ResourcesContext,
    storage: StorageContext,
    labels: Labels,
    selector: Labels,
    policy: PodPolicy,
    volume_dir: &'static str,
    passwords_dir: &'static str,
    secret: &'static str,
    init_config_map: String,
    /// The superuser's password key, for POSTGRES_PASSWORD_FILE.
    superuser_key: &'static str,
    passwords: Vec<RolePassword>,
    /// One role and database per app.
    databases: Vec<Database>,
    /// The hourly dump and its backup container, with dump targets.
    dump: Option<DumpContext>,
    backup: Option<NodeBackupContext>,
}

/// The `pg-dump` container: every interval, both databases through gzip into [`DUMP_DIR`],
/// checked complete, and renamed over the last dump only when it differs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DumpContext {
    config_map: String,
    script_dir: &'static str,
    dir: &'static str,
    file: &'static str,
    written: &'static str,
    interval_seconds: u64,
    resources: ResourcesContext,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RolePassword {
    key: &'static str,
    b64: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Database {
    /// The role, and the database it owns (the same name, as btcpayserver-docker's).
    name: String,
    /// The key of its password in the passwords Secret.
    password_key: &'static str,
}

pub(crate) fn context(site: &Site, secrets: &Secrets) -> Result<BtcpayContext, PlanError> {
    let Some(btcpay) = &site.spec.btcpay else {
        return Ok(BtcpayContext { btcpay: None });
    };
    let network = site.spec.network;
    let (labels, selector) = component_labels(site, BTCPAY_APP, names::BTCPAY, PAYMENTS_COMPONENT);
    let (pg_labels, pg_selector) = component_labels(
        site,
        POSTGRES_APP,
        names::BTCPAY_POSTGRES,
        PAYMENTS_COMPONENT,
    );
    let database = |app: &str| format!("{app}{}", btcpay_network(network));
    let [superuser, store_role, explorer_role] = state::DATABASE_ROLES;
    let password = |role: &str| secret_text(secrets, &state::paths::database_password(role));
    let postgres_host = service_host(site, names::BTCPAY_POSTGRES);
    let connection = |role: &str, app: &str| -> Result<String, PlanError> {
        Ok(npgsql(&[
            ("User ID", &database(role)),
            ("Password", password(role)?),
            ("Host", &postgres_host),
            ("Port", &POSTGRES_PORT.to_string()),
            ("Database", &database(role)),
            ("Application Name", app),
        ]))
    };

    // The Lightning node that takes the store's payments: LND over REST with its invoice
    // macaroon, or CLN through the tunnel.
    let node = btcpay
        .lightning
        .as_ref()
        .and_then(|name| site.lightning_node(name));
    let lnd = node.filter(|node| node.implementation == Implementation::Lnd);
    let cln_tunnel = site
        .btcpay_cln()
        .map(|node| -> Result<_, PlanError> {
            Ok(TunnelConnectContext {
                node: node.name.clone(),
                end: cln::tunnel_end(site, node, secrets, false)?,
                dir: TUNNEL_DIR,
                socket: TUNNEL_SOCKET,
                server: cln::tunnel_server(site, node),
            })
        })
        .transpose()?;
    let lightning = lnd.map(|node| LightningLink {
        node: node.name.clone(),
        dir: LIGHTNING_DIR,
        macaroon_secret: names::macaroons_secret(&node.name),
        macaroon_key: LND_MACAROON,
        tls_secret: names::tls_secret(&node.name),
    });
    let mut settings = format!(
        "# BTCPay Server's settings, from openlsp's profile of site {site}: do not edit.\n\
         network={net}\nchains=btc\nbind=0.0.0.0\nport={BTCPAY_PORT}\n\
         plugindir=/datadir/Plugins\n\
         postgres={postgres}\n\
         btc.explorer.url=http://127.0.0.1:{NBXPLORER_PORT}/\n\
         btc.explorer.cookiefile={COOKIE_MOUNT}/{folder}/.cookie\n",
        site = site.name(),
        net = btcpay_network(network),
        postgres = connection(store_role, "btcpayserver")?,
        folder = network_folder(network),
    );
    if site.spec.tor.enabled() {
        settings.push_str(&format!("socksendpoint={}\n", tor::socks(site)));
    }
    if let Some(link) = &lightning {
        settings.push_str(&format!(
            "btc.lightning=type=lnd-rest;server=https://{}:{LND_REST_PORT}/;macaroonfilepath={LIGHTNING_DIR}/{LND_MACAROON};certfilepath={LIGHTNING_DIR}/tls.cert\n",
            service_host(site, &link.node)
        ));
    }
    if cln_tunnel.is_some() {
        // No credential: the tunnel's client certificate is in the connect end's files.
        settings.push_str(&format!(
            "btc.lightning=type=clightning;server=unix://{TUNNEL_SOCKET}\n"
        ));
    }
    let rpc_password = secret_text(
        secrets,
        &state::paths::rpc_password(&btcpay.bitcoin, NBXPLORER_RPC_USER),
    )?;
    let bitcoind_host = service_host(site, &btcpay.bitcoin);
    let nbxplorer_settings = format!(
        "# NBXplorer's settings, from openlsp's profile of site {site}: do not edit.\n\
         network={net}\nchains=btc\nbind=0.0.0.0\nport={NBXPLORER_PORT}\n\
         postgres={postgres}\n\
         btc.rpc.url=http://{bitcoind_host}:{rpc}/\n\
         btc.rpc.user={NBXPLORER_RPC_USER}\nbtc.rpc.password={rpc_password}\n\
         btc.node.endpoint={bitcoind_host}:{NBXPLORER_WHITEBIND_PORT}\n\
         trimevents=10000\n",
        site = site.name(),
        net = btcpay_network(network),
        postgres = connection(explorer_role, "nbxplorer")?,
        rpc = network.rpc_port(),
    );

    let policy = store_policy(site, btcpay, node, &labels, &selector, &pg_selector);
    let dumps = site.dumps_database();
    let pg_policy = postgres_policy(site, btcpay, &pg_labels, &pg_selector, &selector);
    let dump = dumps.then(|| DumpContext {
        config_map: format!("{}-dump", names::BTCPAY_POSTGRES),
        script_dir: DUMP_SCRIPT_DIR,
        dir: DUMP_DIR,
        file: DUMP_FILE,
        written: DUMP_WRITTEN,
        interval_seconds: DATABASE_DUMP_INTERVAL.as_secs(),
        resources: resources(
            site,
            Resources {
                memory: DUMP_MEMORY,
                cpu: DUMP_CPU,
            },
        ),
    });
    let dump_backup = dumps.then(|| {
        backup::database_backup(
            site,
            names::BTCPAY_POSTGRES,
            DumpFile {
                watched: WatchedFile {
                    dir: DUMP_DIR.to_owned(),
                    file: DUMP_FILE,
                    volume: "dumps",
                    mount_path: DUMP_DIR,
                    token_volume: "",
                },
                written: DUMP_WRITTEN,
                targets: btcpay.backup_targets.clone(),
            },
        )
    });
    let nbxplorer_secret = names::rpc_credentials_secret(names::NBXPLORER, &btcpay.bitcoin);
    Ok(BtcpayContext {
        btcpay: Some(StoreContext {
            name: names::BTCPAY,
            image: btcpay.image.clone(),
            nbxplorer_image: btcpay.nbxplorer_image.clone(),
            uid: images::DOTNET_APP_UID,
            port: BTCPAY_PORT,
            nbxplorer_port: NBXPLORER_PORT,
            resources: resources(site, btcpay.resources),
            nbxplorer_resources: resources(
                site,
                Resources {
                    memory: NBXPLORER_MEMORY,
                    cpu: NBXPLORER_CPU,
                },
            ),
            storage: storage(site, names::BTCPAY, &btcpay.disk),
            labels,
            selector,
            policy,
            settings_dir: SETTINGS_DIR,
            nbxplorer_settings_dir: NBXPLORER_SETTINGS_DIR,
            settings_key: SETTINGS_KEY,
            nbxplorer_data_dir: NBXPLORER_DATA_DIR,
            cookie_mount: COOKIE_MOUNT,
            settings_secret: names::BTCPAY_SETTINGS_SECRET,
            settings_b64: b64(settings.as_bytes()),
            nbxplorer_secret,
            nbxplorer_user_b64: b64(NBXPLORER_RPC_USER.as_bytes()),
            nbxplorer_password_b64: b64(rpc_password.as_bytes()),
            nbxplorer_settings_b64: b64(nbxplorer_settings.as_bytes()),
            lightning,
            cln_tunnel,
            ingress: btcpay.host.as_ref().and_then(|host| {
                ingress::node_ingress(site, names::BTCPAY, "store", host, BTCPAY_PORT, "HTTP")
            }),
            onion: if btcpay.onion && site.spec.tor.enabled() {
                Some(tor::onion_secret(secrets, BTCPAY_ONION)?)
            } else {
                None
            },
            postgres: PostgresContext {
                name: names::BTCPAY_POSTGRES,
                image: btcpay.postgres_image.clone(),
                uid: images::POSTGRES_UID,
                port: POSTGRES_PORT,
                resources: resources(
                    site,
                    Resources {
                        memory: POSTGRES_MEMORY,
                        cpu: POSTGRES_CPU,
                    },
                ),
                storage: storage(site, names::BTCPAY_POSTGRES, &btcpay.disk),
                labels: pg_labels,
                selector: pg_selector,
                policy: pg_policy,
                volume_dir: POSTGRES_VOLUME_DIR,
                passwords_dir: POSTGRES_PASSWORDS_DIR,
                secret: names::BTCPAY_POSTGRES_SECRET,
                init_config_map: format!("{}-init", names::BTCPAY_POSTGRES),
                superuser_key: superuser,
                passwords: state::DATABASE_ROLES
                    .iter()
                    .map(|role| {
                        Ok(RolePassword {
                            key: role,
                            b64: b64(password(role)?.as_bytes()),
                        })
                    })
                    .collect::<Result<_, PlanError>>()?,
                databases: [store_role, explorer_role]
                    .iter()
                    .map(|role| Database {
                        name: database(role),
                        password_key: role,
                    })
                    .collect(),
                dump,
                backup: dump_backup,
            },
        }),
    })
}

/// PostgreSQL's policy: BTCPay's pod (BTCPay and NBXplorer) reaches its port. With dump targets,
/// the monitoring namespace scrapes the backup container, which reaches its rclone remotes (any
/// host and port, as LND's does) and the DNS; path targets need no network.
fn postgres_policy(
    site: &Site,
    btcpay: &crate::profile::Btcpay,
    labels: &Labels,
    selector: &Labels,
    store: &Labels,
) -> PodPolicy {
    let mut ingress = vec![Access::from(
        vec![network::pods(site, store)],
        vec![tcp(POSTGRES_PORT)],
    )];
    let mut egress = Vec::new();
    if site.dumps_database() {
        if site.spec.monitoring.enabled {
            ingress.push(Access::from(
                vec![network::namespace(&site.spec.monitoring.namespace)],
                vec![tcp(BACKUP_METRICS_PORT)],
            ));
        }
        let remote =
            site.spec.backup.targets.iter().any(|target| {
                target.rclone.is_some() && btcpay.backup_targets.contains(&target.name)
            });
        if remote {
            egress.push(Access::anywhere(Vec::new()));
            egress.push(Access::dns());
        }
    }
    PodPolicy::new(names::BTCPAY_POSTGRES, labels, selector, ingress, egress)
}

/// The pod's policy. BTCPay's port: the ingress controller when the store has a host, Tor when
/// it has an onion. It connects to PostgreSQL, to its bitcoind's RPC and NBXplorer's P2P
/// listener, to its Lightning node's REST port, to HTTPS anywhere (exchange rates; Tor's SOCKS
/// port instead on a tor-only site), and to the DNS; NBXplorer's port serves only BTCPay in the
/// same pod. Its Lightning node: LND's REST port, or a CLN pod's tunnel port.
fn store_policy(
    site: &Site,
    btcpay: &crate::profile::Btcpay,
    lightning: Option<&LightningNode>,
    labels: &Labels,
    selector: &Labels,
    postgres: &Labels,
) -> PodPolicy {
    let mut clients = Vec::new();
    if btcpay.host.is_some() && site.spec.ingress.enabled {
        clients.push(network::namespace(&site.spec.ingress.controller_namespace));
    }
    if btcpay.onion && site.spec.tor.enabled() {
        clients.push(tor::peer(site));
    }
    let bitcoind = network::pods(site, &bitcoin_selector(site, &btcpay.bitcoin));
    let mut egress = vec![
        Access::from(
            vec![network::pods(site, postgres)],
            vec![tcp(POSTGRES_PORT)],
        ),
        Access::from(
            vec![bitcoind],
            vec![
                tcp(site.spec.network.rpc_port()),
                tcp(NBXPLORER_WHITEBIND_PORT),
            ],
        ),
    ];
    if let Some(node) = lightning {
        let port = match node.implementation {
            Implementation::Lnd => LND_REST_PORT,
            Implementation::Cln => CLN_TUNNEL_PORT,
        };
        egress.push(Access::from(
            vec![network::pods(site, &lightning_selector(site, node))],
            vec![tcp(port)],
        ));
    }
    // Exchange rates and the like come from HTTPS services; a tor-only site reaches nothing
    // outside the cluster but Tor's SOCKS port, which BTCPay uses for onion peers.
    if site.spec.tor.enabled() {
        egress.push(tor::socks_access(site));
    }
    if site.spec.tor.mode != TorMode::TorOnly {
        egress.push(Access::anywhere(vec![tcp(443)]));
    }
    egress.push(Access::dns());
    PodPolicy::new(
        names::BTCPAY,
        labels,
        selector,
        vec![Access::from(clients, vec![tcp(BTCPAY_PORT)])],
        egress,
    )
}

/// BTCPay's and NBXplorer's `network=` (NBitcoin's names).
pub(crate) fn btcpay_network(network: Network) -> &'static str {
    match network {
        Network::Mainnet => "mainnet",
        Network::Testnet => "testnet",
        Network::Signet => "signet",
        Network::Regtest => "regtest",
        // Refused by validation: neither names testnet4 (NBXplorer's --network help), and
        // simnet runs only btcd, which NBXplorer cannot use.
        Network::Testnet4 => "testnet4",
        Network::Simnet => "simnet",
    }
}

/// NBXplorer's folder for the network under its data directory, where it writes `.cookie`
/// (NBXplorer.Client's NBXplorerDefaultSettings).
fn network_folder(network: Network) -> &'static str {
    match network {
        Network::Mainnet => "Main",
        Network::Testnet => "TestNet",
        Network::Regtest => "RegTest",
        Network::Signet => "Signet",
        Network::Testnet4 => "Testnet4",
        // Refused by validation, as above.
        Network::Simnet => "Simnet",
    }
}

/// An Npgsql connection string. Values are generated (names, base64url passwords, DNS names)
/// and never hold `;`.
fn npgsql(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, value)| format!("{key}={value}"))
        .collect::<Vec<_>>()
        .join(";")
}
