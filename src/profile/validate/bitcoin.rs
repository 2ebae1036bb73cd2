//! `spec.bitcoin[]`: each Bitcoin node's disk, pruning, caches, image, RPC ranges and memory.

use super::disks;
use crate::profile::chain::MIN_PRUNE_MIB;
use crate::profile::check::{Checker, is_ip_or_cidr};
use crate::profile::quantity::Bytes;
use crate::profile::site::BitcoinImplementation;
use crate::profile::site::{BitcoinNode, Site};

/// The largest mempool openlsp sets, as for dbcache: 64 GiB holds many days of transactions.
const MAX_MAXMEMPOOL_MIB: u64 = 65536;

pub(super) fn check(checker: &mut Checker, site: &Site) {
    for (i, node) in site.spec.bitcoin.iter().enumerate() {
        let base = format!("spec.bitcoin[{i}]");
        disks::check_ref(checker, site, &format!("{base}.disk"), &node.disk);
        if let Some(prune) = node.prune {
            if node.txindex {
                checker.error(
                    &format!("{base}.prune"),
                    "prune and txindex exclude each other: a pruned node has no old blocks to index",
                    "remove `prune` to keep the full chain, or remove `txindex`",
                );
            }
            // btcd's own minimum is checked with its other options (validate/btcd.rs).
            let bitcoind = node.implementation == BitcoinImplementation::Bitcoind;
            if bitcoind && prune < MIN_PRUNE_MIB {
                checker.error(
                    &format!("{base}.prune"),
                    format!("prune target {prune} MiB is below bitcoind's minimum of {MIN_PRUNE_MIB} MiB"),
                    format!("use `prune: {MIN_PRUNE_MIB}` or more (the value is in MiB)"),
                );
            } else if let Some(disk) = site.spec.disks.get(&node.disk)
                && prune > disk.size.as_mib()
            {
                checker.error(
                    &format!("{base}.prune"),
                    format!(
                        "prune target {prune} MiB is more than disk {:?} holds ({}, {} MiB): bitcoind would fill it before pruning",
                        node.disk,
                        disk.size,
                        disk.size.as_mib()
                    ),
                    "the value is in MiB: keep it well below the disk's size, beside the chain state (`prune: 550` keeps only recent blocks)",
                );
            }
        }
        if node.implementation == BitcoinImplementation::Btcd {
            // btcd has no dbcache, maxmempool or rpcallowip (validate/btcd.rs refuses them).
            checker.check_image(&format!("{base}.image"), &node.image);
            checker.check_resources(&format!("{base}.resources"), node.resources);
            continue;
        }
        let dbcache_ok = (4..=65536).contains(&node.dbcache);
        if !dbcache_ok {
            checker.error(
                &format!("{base}.dbcache"),
                format!("dbcache {} MiB is outside 4..65536", node.dbcache),
                "leave it out to size it from the host's memory",
            );
        }
        let maxmempool_ok = (5..=MAX_MAXMEMPOOL_MIB).contains(&node.maxmempool);
        if node.maxmempool < 5 {
            checker.error(
                &format!("{base}.maxmempool"),
                format!(
                    "maxmempool {} MiB is below bitcoind's minimum of 5",
                    node.maxmempool
                ),
                "leave it out for the default of 300",
            );
        } else if node.maxmempool > MAX_MAXMEMPOOL_MIB {
            checker.error(
                &format!("{base}.maxmempool"),
                format!(
                    "maxmempool {} MiB is outside 5..{MAX_MAXMEMPOOL_MIB} (the value is in MiB)",
                    node.maxmempool
                ),
                "leave it out for the default of 300",
            );
        }
        checker.check_image(&format!("{base}.image"), &node.image);
        for (j, range) in node.rpc_allow_ip.iter().enumerate() {
            if !is_ip_or_cidr(range) {
                checker.error(
                    &format!("{base}.rpcAllowIp[{j}]"),
                    format!("{range:?} is not an IP address or CIDR range"),
                    "write ranges like 10.0.0.0/8 or fd00::/8",
                );
            }
        }
        // Memory sized from caches already refused would only repeat that problem.
        if !(dbcache_ok && maxmempool_ok) {
            continue;
        }
        checker.check_resources(&format!("{base}.resources"), node.resources);
        let floor = node.dbcache + node.maxmempool + 256;
        if node.resources.memory < Bytes::mib(floor) {
            checker.error(
                &format!("{base}.resources.memory"),
                format!(
                    "{} is too little for dbcache {} MiB plus maxmempool {} MiB; bitcoind would be killed for running out of memory",
                    node.resources.memory, node.dbcache, node.maxmempool
                ),
                format!("give it at least {}, or lower dbcache", Bytes::mib(floor)),
            );
        }
    }
}

/// The Bitcoin node `name` that the field at `path` refers to, or an error naming the known ones.
pub(super) fn check_ref<'a>(
    checker: &mut Checker,
    site: &'a Site,
    path: &str,
    name: &str,
) -> Option<&'a BitcoinNode> {
    let node = site.bitcoin_node(name);
    if node.is_none() {
        let known: Vec<&str> = site.spec.bitcoin.iter().map(|b| b.name.as_str()).collect();
        let hint = if known.is_empty() {
            "declare a Bitcoin node under spec.bitcoin first".to_owned()
        } else {
            format!("known: {}", known.join(", "))
        };
        checker.error(path, format!("no bitcoin node named {name:?}"), hint);
    }
    node
}
