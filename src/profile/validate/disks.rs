//! `spec.disks` and what the nodes put on them: well-formed, non-overlapping mount points, a
//! disk for every node that names one, Lightning state apart from a chain unless the operator
//! opted in, and room for a full mainnet chain.

use std::collections::BTreeMap;
use std::path::Path;

use crate::profile::chain::mainnet_chain_size;
use crate::profile::check::{Checker, is_dns_subdomain, is_normal_absolute_path};
use crate::profile::quantity::MAX_DISK;
use crate::profile::site::{Network, Site};

/// Each disk: a valid name, a normal absolute mount point other than `/`, a size, a node
/// name, and no overlap with another disk on the same machine.
pub(super) fn check(checker: &mut Checker, site: &Site) {
    let mut by_machine: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
    for (name, disk) in &site.spec.disks {
        let path = format!("spec.disks.{name}");
        checker.check_label(&path, name, "disk name");
        if !Path::new(&disk.path).is_absolute() {
            checker.error(
                &format!("{path}.path"),
                format!("disk path {:?} is relative", disk.path),
                "use the absolute mount point, for example `/srv/blockchain`",
            );
        } else if disk.path == "/" {
            checker.error(
                &format!("{path}.path"),
                "the root filesystem cannot be a disk",
                "mount a separate disk, for example at /srv/blockchain",
            );
        } else if !is_normal_absolute_path(&disk.path) {
            checker.error(
                &format!("{path}.path"),
                format!("disk path {:?} is not in normal form", disk.path),
                "write it without '.', '..', '//' or a trailing '/'",
            );
        }
        if disk.size.0 == 0 {
            checker.error(
                &format!("{path}.size"),
                "a disk needs a size",
                "write its size with a unit, for example `size: 1Ti`",
            );
        } else if disk.size > MAX_DISK {
            checker.error(
                &format!("{path}.size"),
                format!(
                    "{} is larger than openlsp plans for (at most {MAX_DISK})",
                    disk.size
                ),
                "write its size with a unit, for example `size: 1Ti`",
            );
        }
        if !is_dns_subdomain(&disk.node_name) {
            checker.error(
                &format!("{path}.nodeName"),
                format!("{:?} is not a valid Kubernetes node name", disk.node_name),
                "use the name `kubectl get nodes` shows",
            );
        }
        by_machine
            .entry(disk.node_name.as_str())
            .or_default()
            .push((name.as_str(), disk.path.as_str()));
    }
    for disks in by_machine.values() {
        for (i, (name, path)) in disks.iter().enumerate() {
            for (other, other_path) in &disks[..i] {
                let nested = Path::new(path).starts_with(other_path)
                    || Path::new(other_path).starts_with(path);
                if nested {
                    checker.error(
                        &format!("spec.disks.{name}.path"),
                        format!(
                            "disk {name:?} ({path}) overlaps disk {other:?} ({other_path}) on the same machine"
                        ),
                        "give each disk its own mount point; nodes can share one disk entry instead",
                    );
                }
            }
        }
    }
}

/// The node at `path` names a declared disk.
pub(super) fn check_ref(checker: &mut Checker, site: &Site, path: &str, disk: &str) {
    if !site.spec.disks.contains_key(disk) {
        let known: Vec<&str> = site.spec.disks.keys().map(String::as_str).collect();
        let hint = if known.is_empty() {
            format!(
                "declare it under spec.disks, for example `{disk}: {{ path: /srv/{disk}, size: 1Ti }}`"
            )
        } else {
            format!(
                "use one of: {}; or declare {disk:?} under spec.disks",
                known.join(", ")
            )
        };
        checker.error(path, format!("no disk named {disk:?}"), hint);
    }
}

/// No Lightning node on a disk that holds a chain, unless the disk opts in.
pub(super) fn check_sharing(checker: &mut Checker, site: &Site) {
    for (i, node) in site.spec.lightning.iter().enumerate() {
        let Some(disk) = site.spec.disks.get(&node.disk) else {
            continue;
        };
        if disk.allow_bitcoin_and_lightning {
            continue;
        }
        if let Some(chain) = site.spec.bitcoin.iter().find(|b| b.disk == node.disk) {
            checker.error(
                &format!("spec.lightning[{i}].disk"),
                format!(
                    "disk {:?} also holds the chain of {:?}; a full chain disk would stop LND from writing channel state",
                    node.disk, chain.name
                ),
                format!(
                    "give Lightning its own disk, or set `spec.disks.{}.allowBitcoinAndLightning: true` to accept the risk",
                    node.disk
                ),
            );
        }
    }
}

/// On mainnet, a warning when an unpruned chain does not fit its disk.
pub(super) fn check_chain_size(checker: &mut Checker, site: &Site) {
    if site.spec.network != Network::Mainnet {
        return;
    }
    for (i, node) in site.spec.bitcoin.iter().enumerate() {
        let Some(disk) = site.spec.disks.get(&node.disk) else {
            continue;
        };
        if node.prune.is_some() {
            continue;
        }
        let needed = mainnet_chain_size(node.txindex);
        if disk.size < needed {
            checker.warn(
                &format!("spec.bitcoin[{i}].disk"),
                format!(
                    "disk {:?} ({}) is smaller than a full mainnet chain{} needs (about {})",
                    node.disk,
                    disk.size,
                    if node.txindex { " with txindex" } else { "" },
                    needed
                ),
                "use a bigger disk, or set `prune: 550` (or more) to keep only recent blocks",
            );
        }
    }
}
