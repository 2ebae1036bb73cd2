//! Names of the objects openlsp renders, in one place: templates get them through the context,
//! and `secrets pull`, `list`, `rotate` and `connect` find the same objects by them.

/// ConfigMap with a node's configuration file.
pub fn config_map(node: &str) -> String {
    format!("{node}-config")
}

/// bitcoind's rpcauth lines.
pub fn rpcauth_secret(bitcoin: &str) -> String {
    format!("{bitcoin}-rpcauth")
}

/// A client's username and password for a bitcoind's RPC.
pub fn rpc_credentials_secret(client: &str, bitcoin: &str) -> String {
    format!("{client}-{bitcoin}-rpc")
}

/// A btcd node's RPC password (`rpcpass`), which its pod appends to the ConfigMap's btcd.conf.
pub fn btcd_rpc_secret(btcd: &str) -> String {
    format!("{btcd}-rpcpass")
}

/// The key of a btcd node's RPC password in its Secret.
pub const BTCD_PASSWORD_KEY: &str = "password";

/// A btcd node's RPC certificate and key: openlsp's, or cert-manager's `Certificate`'s.
pub fn btcd_tls_secret(btcd: &str) -> String {
    format!("{btcd}-rpc-tls")
}

/// LND's TLS certificate and key.
pub fn tls_secret(lightning: &str) -> String {
    format!("{lightning}-tls")
}

/// LND's wallet password (from openlsp) and seed (written by lndinit in the cluster).
pub fn wallet_secret(lightning: &str) -> String {
    format!("{lightning}-wallet")
}

/// A Core Lightning node's 12 words (from openlsp), from which its pod writes `hsm_secret`.
pub fn hsm_secret(lightning: &str) -> String {
    format!("{lightning}-hsm")
}

/// Key of the words in a CLN node's hsm Secret.
pub const HSM_WORDS_KEY: &str = "words";

/// ServiceAccount (and Role, RoleBinding) of a CLN pod's publish sidecar.
pub fn cln_service_account(lightning: &str) -> String {
    format!("{lightning}-publish")
}

/// Keys of a CLN node's runes in `<node>-rpc`.
pub const CLN_ADMIN_RUNE: &str = "admin.rune";
pub const CLN_READONLY_RUNE: &str = "readonly.rune";

/// LND's `tls.cert` and macaroons (CLN's runes and gRPC client certificates), published by the node's sidecar for wallets and dashboards.
pub fn macaroons_secret(lightning: &str) -> String {
    format!("{lightning}-rpc")
}

/// BTCPay Server's workload and Service (with NBXplorer beside it in its pod).
pub const BTCPAY: &str = "btcpay";
/// BTCPay's PostgreSQL: workload, Service and data directory.
pub const BTCPAY_POSTGRES: &str = "btcpay-postgres";
/// NBXplorer, as an RPC client of its bitcoind (`<this>-<bitcoin>-rpc`).
pub const NBXPLORER: &str = "btcpay-nbxplorer";
/// The PostgreSQL roles' passwords, one key per role.
pub const BTCPAY_POSTGRES_SECRET: &str = "btcpay-postgres";
/// BTCPay Server's settings.config: its database and Lightning connection strings.
pub const BTCPAY_SETTINGS_SECRET: &str = "btcpay-settings";

/// The server end of the tunnel to CLN node `lightning`'s RPC socket: the CA certificate and the
/// server pair, in the node's pod.
pub fn cln_tunnel_secret(lightning: &str) -> String {
    format!("{lightning}-tunnel")
}
/// The client end of that tunnel: the CA certificate and the client pair, in BTCPay's pod.
pub const BTCPAY_TUNNEL_SECRET: &str = "btcpay-tunnel";
/// The keys of both tunnel Secrets.
pub const TUNNEL_CA_KEY: &str = "ca.crt";
pub const TUNNEL_CERT_KEY: &str = "tls.crt";
pub const TUNNEL_KEY_KEY: &str = "tls.key";

/// A bitcoind's Prometheus exporter: its Deployment and Service, and so the `service` label
/// of its metrics in Prometheus.
pub fn bitcoind_exporter(bitcoin: &str) -> String {
    format!("{bitcoin}-exporter")
}

/// A CLN node's exporter (`openlsp exporter cln`): Deployment, Service and ServiceMonitor.
pub fn cln_exporter(lightning: &str) -> String {
    format!("{lightning}-exporter")
}

/// A bitcoind exporter's username and password for that bitcoind's RPC.
pub fn exporter_credentials_secret(bitcoin: &str) -> String {
    format!("{bitcoin}-exporter-rpc")
}

/// The key of an onion service (`<node>-p2p`, `<lnd>-rpc`).
pub fn onion_secret(service: &str) -> String {
    format!("{service}-onion")
}

/// Key of an onion service's secret key in its Secret (Tor's own file name).
pub const ONION_KEY: &str = "hs_ed25519_secret_key";

/// A node's cluster copy of its channel backup, written by its pod's `scb-publish` container:
/// the backup file (key: its file name) and the backup container's status.
pub fn scb_secret(node: &str) -> String {
    format!("{node}-scb")
}

/// LND's channel backup file (lnd's chanbackup.DefaultBackupFileName), and its key in the
/// cluster copy.
pub const LND_BACKUP_FILE: &str = "channel.backup";

/// Core Lightning's channel backup file, beside `hsm_secret` (lightningd-config(5): its
/// `emergency.recover`), and its key in the cluster copy.
pub const CLN_BACKUP_FILE: &str = "emergency.recover";

/// Key of the backup container's status in the cluster copy.
pub const SCB_STATUS_KEY: &str = "status";

/// ConfigMap with a node's backup script and its settings.
pub fn backup_config_map(node: &str) -> String {
    format!("{node}-backup")
}

/// Service (and ServiceMonitor) of a node's backup metrics: its Prometheus job.
pub fn backup_metrics_service(node: &str) -> String {
    format!("{node}-backup")
}

/// ServiceAccount (and Role, RoleBinding) of an LND pod's lndinit containers.
pub fn lnd_service_account(lightning: &str) -> String {
    format!("{lightning}-lndinit")
}

/// Key of the seed in the wallet Secret.
pub const SEED_KEY: &str = "seed";
/// Key of the wallet password in the wallet Secret.
pub const WALLET_PASSWORD_KEY: &str = "password";
/// Macaroons the sidecar publishes, in the order wallets expect them.
pub const MACAROONS: [&str; 7] = [
    "admin",
    "readonly",
    "invoice",
    "signer",
    "walletkit",
    "chainnotifier",
    "router",
];

/// The Secret with a UI's password (`rtl`, `thunderhub`), kept as data; and its key.
pub fn app_password_secret(app: &str) -> String {
    format!("{app}-password")
}
pub const APP_PASSWORD_KEY: &str = "password";
/// The Secret with a UI's configuration, made from its password and the nodes it manages.
pub fn app_config_secret(app: &str) -> String {
    format!("{app}-config")
}
