//! `spec.backup`: every target is a directory on a disk other than the ones it protects, or an
//! rclone remote with a config the operator provides; a site with Lightning nodes and no target
//! is told what is at stake; BTCPay's database dumps go to targets that exist.

use std::collections::BTreeSet;
use std::path::Path;

use crate::profile::check::{Checker, is_dns_label, is_normal_absolute_path};
use crate::profile::site::{Rclone, Site, TorMode};

/// The most timestamped copies a target keeps.
const MAX_KEEP: u32 = 10_000;

pub(super) fn check(checker: &mut Checker, site: &Site) {
    let backup = &site.spec.backup;
    let mut names = BTreeSet::new();
    for (i, target) in backup.targets.iter().enumerate() {
        let path = format!("spec.backup.targets[{i}]");
        checker.check_label(&format!("{path}.name"), &target.name, "target name");
        if !names.insert(target.name.as_str()) {
            checker.error(
                &format!("{path}.name"),
                format!("two targets are named {:?}", target.name),
                "give each target its own name",
            );
        }
        match (&target.path, &target.rclone) {
            (Some(dir), None) => check_path(checker, site, &path, dir),
            (None, Some(rclone)) => check_rclone(checker, site, &path, rclone),
            _ => checker.error(
                &path,
                format!(
                    "target {:?} needs exactly one of path and rclone",
                    target.name
                ),
                "write `path: /mnt/usb/openlsp-backup` (a disk on the node's machine) or `rclone: { remote: \"nas:openlsp\", config: backup-rclone }`",
            ),
        }
    }
    if backup.keep == 0 || backup.keep > MAX_KEEP {
        checker.error(
            "spec.backup.keep",
            format!("keep {} is not between 1 and {MAX_KEEP}", backup.keep),
            "keep is how many timestamped copies stay on each target; the default is 30",
        );
    }
    if backup.targets.is_empty() && !site.spec.lightning.is_empty() {
        let at = if checker.has("spec.backup") {
            "spec.backup"
        } else {
            "spec.lightning"
        };
        checker.warn(
            at,
            "no backup target: if the Lightning disk dies, the funds in its channels come back only with the seed and a channel.backup from before the loss, and the only copy would be the cluster's Secret <node>-scb on the machine's own system disk",
            "add spec.backup.targets: a directory on another disk (a USB stick) or an rclone remote; see docs/backup.md",
        );
    }
    check_database_targets(checker, site);
}

/// `spec.btcpay.backupTargets` names targets of spec.backup, each once; without any, the
/// store's database has no copy off its disk.
fn check_database_targets(checker: &mut Checker, site: &Site) {
    let Some(btcpay) = &site.spec.btcpay else {
        return;
    };
    let known: Vec<&str> = site
        .spec
        .backup
        .targets
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    let mut seen = BTreeSet::new();
    for (i, name) in btcpay.backup_targets.iter().enumerate() {
        let path = format!("spec.btcpay.backupTargets[{i}]");
        if !known.contains(&name.as_str()) {
            checker.error(
                &path,
                format!("no backup target named {name:?}"),
                if known.is_empty() {
                    "declare it under spec.backup.targets, or remove backupTargets".to_owned()
                } else {
                    format!("targets of spec.backup: {}", known.join(", "))
                },
            );
        } else if !seen.insert(name.as_str()) {
            checker.error(
                &path,
                format!("target {name:?} is listed twice"),
                "list each target once",
            );
        }
    }
    if btcpay.backup_targets.is_empty() {
        let at = if checker.has("spec.btcpay.backupTargets") {
            "spec.btcpay.backupTargets"
        } else {
            "spec.btcpay"
        };
        checker.warn(
            at,
            "BTCPay's database (stores, invoices, users, API keys, a hot wallet's seed) is dumped to no backup target: if its disk dies, it is gone",
            "add spec.backup.targets (a directory on another disk, or an rclone crypt remote), or list some in spec.btcpay.backupTargets; docs/btcpay.md, \"Backups\"",
        );
    }
}

/// A directory on the machines of the Lightning nodes, on none of the disks they and the chains
/// use there: a backup on the disk it protects dies with it.
fn check_path(checker: &mut Checker, site: &Site, path: &str, dir: &str) {
    if !is_normal_absolute_path(dir) || dir == "/" {
        checker.error(
            &format!("{path}.path"),
            format!("{dir:?} is not a normal absolute directory other than /"),
            "write the directory where the other disk is mounted, for example `/mnt/usb/openlsp-backup`",
        );
        return;
    }
    if dir.contains(char::is_whitespace) {
        checker.error(
            &format!("{path}.path"),
            format!("{dir:?} has a space"),
            "use a directory without spaces",
        );
        return;
    }
    let machines: BTreeSet<&str> = site
        .spec
        .lightning
        .iter()
        .map(|node| site.machine_of_disk(&node.disk))
        .collect();
    for (name, disk) in &site.spec.disks {
        if !machines.contains(disk.node_name.as_str()) || !Path::new(dir).starts_with(&disk.path) {
            continue;
        }
        let holds = site
            .spec
            .lightning
            .iter()
            .filter(|node| &node.disk == name)
            .map(|node| format!("the channel state of LND {}", node.name))
            .chain(
                site.spec
                    .bitcoin
                    .iter()
                    .filter(|node| &node.disk == name)
                    .map(|node| format!("the chain of {}", node.name)),
            )
            .collect::<Vec<_>>();
        if holds.is_empty() {
            continue;
        }
        checker.error(
            &format!("{path}.path"),
            format!(
                "{dir} is on disk {name:?} ({}), which holds {}: a backup there dies with the disk it protects",
                disk.path,
                holds.join(" and ")
            ),
            "use a directory on another disk of the machine, for example a USB stick mounted at /mnt/usb, or an rclone remote",
        );
    }
}

/// `name:path` with a remote the config defines (not an on-the-fly `:backend,...:` remote,
/// whose settings would be in the profile), and a config secret openlsp can name.
fn check_rclone(checker: &mut Checker, site: &Site, path: &str, rclone: &Rclone) {
    if site.spec.tor.mode == TorMode::TorOnly {
        checker.error(
            &format!("{path}.rclone"),
            "in tor-only mode the Lightning pods may reach nothing but Tor, their bitcoind, DNS and the API server, so an rclone remote is out of reach".to_owned(),
            "use a `path` target (a disk on the node's machine, such as a USB stick), or set spec.tor.mode: hybrid",
        );
    }
    let remote = &rclone.remote;
    let name = rclone.remote_name();
    let rest = remote.split_once(':').map_or("", |(_, rest)| rest);
    let name_ok = !name.is_empty()
        && !name.starts_with('-')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.+@".contains(&b));
    let path_ok = rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_-.+@~/".contains(&b))
        && !rest.ends_with('/')
        && !rest.split('/').any(|part| part == "..");
    if !remote.contains(':') || !name_ok || !path_ok {
        checker.error(
            &format!("{path}.rclone.remote"),
            format!("{remote:?} is not an rclone remote and path"),
            "write `<remote>:<path>`, with a remote your rclone config defines (letters, digits, _-.+@) and a path of letters, digits, _-.+@~ and /, for example `nextcloud:openlsp`",
        );
    }
    let config = &rclone.config;
    let owner = site
        .spec
        .bitcoin
        .iter()
        .map(|node| &node.name)
        .chain(site.spec.lightning.iter().map(|node| &node.name))
        .find(|node| config.starts_with(&format!("{node}-")));
    if !is_dns_label(config) || owner.is_some() {
        checker.error(
            &format!("{path}.rclone.config"),
            match owner {
                Some(node) => format!(
                    "{config:?} could clash with the Secrets of node {node}, which openlsp names {node}-..."
                ),
                None => format!("{config:?} is not a valid Secret name"),
            },
            "name the secret that holds the rclone config like `backup-rclone` (lowercase letters, digits and '-')",
        );
    }
}
