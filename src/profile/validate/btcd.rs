//! btcd nodes (`spec.bitcoin[].implementation: btcd`) and simnet: simnet runs only on btcd;
//! btcd serves LND alone (CLN's bcli runs bitcoin-cli, NBXplorer needs Bitcoin Core ≥ 24,
//! ThunderHub names no simnet); bitcoind's own options mean nothing to btcd; btcd's prune has
//! its own minimum. Facts: btcsuite/btcd v0.26.0 config.go.

use crate::profile::check::{Checker, is_dns_subdomain};
use crate::profile::site::{BitcoinImplementation, Implementation, Network, Site};

/// btcd's smallest `prune` (config.go: "the minimum value of --prune is 1536 MiB").
const BTCD_MIN_PRUNE_MIB: u64 = 1536;

pub(super) fn check(checker: &mut Checker, site: &Site) {
    if site.spec.network == Network::Simnet {
        for (i, node) in site.spec.bitcoin.iter().enumerate() {
            if node.implementation != BitcoinImplementation::Btcd {
                checker.error(
                    &format!("spec.bitcoin[{i}].implementation"),
                    format!(
                        "{} runs {}, which has no simnet",
                        node.name,
                        node.implementation.as_str()
                    ),
                    "set `implementation: btcd` (simnet is btcd's test network), or use regtest with bitcoind",
                );
            }
        }
        if site.spec.apps.thunderhub.is_some() {
            checker.error(
                "spec.apps.thunderhub",
                "ThunderHub names no simnet network (its BitcoinNetwork: mainnet, testnet, testnet4, signet, regtest)",
                "remove it on a simnet site, or manage the node with RTL",
            );
        }
    }
    for (i, node) in site.spec.bitcoin.iter().enumerate() {
        if node.implementation != BitcoinImplementation::Btcd {
            continue;
        }
        let base = format!("spec.bitcoin[{i}]");
        if let Some(tls) = &node.tls
            && !is_dns_subdomain(&tls.issuer)
        {
            checker.error(
                &format!("{base}.tls.issuer"),
                format!("{:?} is not a cert-manager issuer name", tls.issuer),
                "give the name of an Issuer in the site's namespace, or of a ClusterIssuer with `kind: ClusterIssuer`",
            );
        }
        if node.ingress.rpc.is_some() {
            checker.error(
                &format!("{base}.ingress.rpc"),
                "btcd's RPC speaks only TLS with its own certificate and one admin user: openlsp does not publish it",
                "remove `ingress.rpc` for a btcd node; LND on the same site reaches it inside the cluster",
            );
        }
        if site.spec.monitoring.enabled {
            checker.warn(
                &base,
                format!("{} is btcd, for which no maintained Prometheus exporter exists: it gets no metrics, dashboard or alerts", node.name),
                "its LND nodes are still monitored (docs/rendering.md#monitoring)",
            );
        }
        for (field, what) in [
            ("dbcache", "bitcoind's UTXO cache"),
            ("maxmempool", "bitcoind's mempool limit"),
            ("rpcAllowIp", "bitcoind's rpcallowip"),
        ] {
            let path = format!("{base}.{field}");
            if checker.has(&path) {
                checker.error(
                    &path,
                    format!("{field} is {what}; btcd has no such option"),
                    "remove it for a btcd node",
                );
            }
        }
        if let Some(prune) = node.prune
            && prune < BTCD_MIN_PRUNE_MIB
        {
            checker.error(
                &format!("{base}.prune"),
                format!(
                    "prune target {prune} MiB is below btcd's minimum of {BTCD_MIN_PRUNE_MIB} MiB"
                ),
                format!("use `prune: {BTCD_MIN_PRUNE_MIB}` or more (the value is in MiB)"),
            );
        }
    }
    for (i, node) in site.spec.bitcoin.iter().enumerate() {
        if node.implementation == BitcoinImplementation::Bitcoind && node.tls.is_some() {
            checker.error(
                &format!("spec.bitcoin[{i}].tls"),
                format!(
                    "tls is a btcd node's RPC certificate, and {} is bitcoind, whose RPC has no TLS",
                    node.name
                ),
                "remove it, or set `implementation: btcd`",
            );
        }
    }
    for (i, node) in site.spec.lightning.iter().enumerate() {
        if node.implementation == Implementation::Cln && site.is_btcd(&node.bitcoin) {
            checker.error(
                &format!("spec.lightning[{i}].bitcoin"),
                format!(
                    "{} runs Core Lightning, whose bcli plugin drives bitcoin-cli, and {} is btcd",
                    node.name, node.bitcoin
                ),
                "back it with a bitcoind node, or run LND on btcd",
            );
        }
    }
    if let Some(btcpay) = &site.spec.btcpay
        && site.is_btcd(&btcpay.bitcoin)
    {
        checker.error(
            "spec.btcpay.bitcoin",
            format!(
                "{} is btcd, and NBXplorer needs Bitcoin Core 24 or later (its RPC and P2P)",
                btcpay.bitcoin
            ),
            "give the store a bitcoind node",
        );
    }
}
