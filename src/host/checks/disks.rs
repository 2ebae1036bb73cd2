//! The checks of the data disks. With a profile: each disk's mount, size and fstab line, the
//! room for a full chain, the nodes' data directories, and that Lightning state sits apart from
//! the root filesystem and every chain. Without one: the disks `openlsp init` would propose.

use std::collections::BTreeSet;

use crate::host::inspect::{FSTAB, Machine, Space};
use crate::host::mounts::Mount;
use crate::host::proposal::{DiskCandidate, propose_disks};
use crate::host::report::Check;
use crate::images;
use crate::profile::quantity::Bytes;
use crate::profile::{Disk, Network, Site, mainnet_chain_size};

/// What the report says about a filesystem: `ext4 on /dev/sda1, 1.8Ti (1.7Ti free)`.
fn describe(mount: &Mount, space: Option<&Result<Space, String>>) -> String {
    let space = match space {
        Some(Ok(space)) => format!(", {} ({} free)", space.size.human(), space.free.human()),
        Some(Err(why)) => format!(", size unknown ({why})"),
        None => String::new(),
    };
    format!("{} on {}{space}", mount.fstype, mount.source)
}

fn fstab_line(path: &str, mount: Option<&Mount>) -> String {
    match mount {
        Some(mount) if mount.source.starts_with("/dev/") => format!(
            "echo \"UUID=$(sudo blkid -s UUID -o value {}) {path} {} defaults,nofail 0 2\" | sudo tee -a {FSTAB}",
            mount.source, mount.fstype
        ),
        _ => format!(
            "mount the disk first, then add `UUID=<uuid> {path} <fstype> defaults,nofail 0 2` to {FSTAB}"
        ),
    }
}

fn fstab_check(machine: &Machine, title: String, path: &str, mount: Option<&Mount>) -> Check {
    match &machine.fstab {
        None => Check::fail(
            title,
            format!("{FSTAB} does not exist"),
            vec![fstab_line(path, mount)],
        ),
        Some(fstab) if fstab.at(path).is_some() => {
            Check::pass(title, format!("{path} is in {FSTAB}"))
        }
        Some(_) => Check::fail(
            title,
            format!("{path} is not in {FSTAB}, so it is not mounted after a reboot"),
            vec![fstab_line(path, mount)],
        ),
    }
}

fn mount_fix(path: &str) -> Vec<String> {
    vec![
        "find the partition with `lsblk -f` (never format a disk that holds data)".to_owned(),
        format!(
            "sudo mkdir -p {path} && sudo mount /dev/<partition> {path}, and add it to {FSTAB}"
        ),
    ]
}

pub(super) fn site_disks(machine: &Machine, site: &Site) -> Vec<Check> {
    let mut checks = Vec::new();
    let here = &site.spec.host.node_name;
    for (name, disk) in &site.spec.disks {
        let title = format!("disk {name}");
        if &disk.node_name != here {
            checks.push(Check::warn(
                title,
                format!("{} is on node {}, not this one", disk.path, disk.node_name),
                vec![format!("run `openlsp init --check` on {}", disk.node_name)],
            ));
            continue;
        }
        checks.push(disk_mount(machine, name, disk));
        checks.extend(chain_sizes(machine, site, name, disk));
        let mount = machine.mounts.at(&disk.path);
        if !(mount.is_none() && disk.allow_root_filesystem) {
            checks.push(fstab_check(
                machine,
                format!("fstab {name}"),
                &disk.path,
                mount,
            ));
        }
        checks.extend(data_dirs(machine, site, name, disk));
    }
    for lnd in &site.spec.lightning {
        if let Some(disk) = site.spec.disks.get(&lnd.disk)
            && &disk.node_name == here
        {
            checks.push(isolation(machine, site, &lnd.name, &lnd.disk, disk));
        }
    }
    checks
}

fn disk_mount(machine: &Machine, name: &str, disk: &Disk) -> Check {
    let title = format!("disk {name}");
    let path = &disk.path;
    let space = machine.space_of(path);
    let (found, mounted) = match machine.mounts.at(path) {
        Some(mount) => (format!("{path}: {}", describe(mount, space)), true),
        None => {
            let found = match machine.mounts.containing(path) {
                Some(mount) => format!(
                    "{path} is not a mount point; it is a directory on the filesystem mounted at {}",
                    mount.target
                ),
                None => format!("{path} is not a mount point"),
            };
            (found, false)
        }
    };
    if !mounted && !disk.allow_root_filesystem {
        return Check::fail(title, found, mount_fix(path));
    }
    if let Some(Ok(space)) = space
        && disk.size > space.size
    {
        return Check::fail(
            title,
            format!(
                "{found}; the profile wants {} but the filesystem has {}",
                disk.size,
                space.size.human()
            ),
            vec![format!(
                "set `spec.disks.{name}.size: {}` (or less), or use a bigger disk",
                Bytes::gib(space.size.0 / Bytes::gib(1).0)
            )],
        );
    }
    if !mounted {
        return Check::warn(
            title,
            format!("{found} (allowRootFilesystem: true)"),
            vec![format!(
                "better: give it its own partition mounted at {path}"
            )],
        );
    }
    Check::pass(title, format!("{found}; the profile wants {}", disk.size))
}

fn chain_sizes(machine: &Machine, site: &Site, name: &str, disk: &Disk) -> Vec<Check> {
    if site.spec.network != Network::Mainnet {
        return Vec::new();
    }
    let space = match machine.space_of(&disk.path) {
        Some(Ok(space)) => Some(*space),
        _ => None,
    };
    site.spec
        .bitcoin
        .iter()
        .enumerate()
        .filter(|(_, node)| node.disk == name && node.prune.is_none())
        .map(|(i, node)| {
            let title = format!("chain {}", node.name);
            let needed = mainnet_chain_size(node.txindex);
            let what = format!(
                "a full mainnet chain{} needs about {needed}",
                if node.txindex { " with txindex" } else { "" }
            );
            let prune = format!("or keep only recent blocks: `spec.bitcoin[{i}].prune: 550` (or more)");
            match space {
                None => Check::warn(
                    title,
                    format!("{what}; the size of {} is unknown", disk.path),
                    vec![format!("check with `df -h {}`", disk.path)],
                ),
                Some(space) if space.size < needed => Check::fail(
                    title,
                    format!("{what}, but {} holds only {}", disk.path, space.size.human()),
                    vec!["use a bigger disk".to_owned(), prune],
                ),
                Some(space) if space.free < needed => Check::warn(
                    title,
                    format!(
                        "{what}, and {} has {} free: enough only if the chain is already partly there",
                        disk.path,
                        space.free.human()
                    ),
                    vec!["free space on the disk".to_owned(), prune],
                ),
                Some(space) => Check::pass(
                    title,
                    format!("{what}; {} has {} free", disk.path, space.free.human()),
                ),
            }
        })
        .collect()
}

fn data_dirs(machine: &Machine, site: &Site, name: &str, disk: &Disk) -> Vec<Check> {
    let mounted = machine.mounts.at(&disk.path).is_some() || disk.allow_root_filesystem;
    node_dirs(site, name, &disk.path)
        .into_iter()
        .map(|(node, dir, uid)| {
            let title = format!("data dir {node}");
            let exists = machine.dirs.get(&dir).copied().unwrap_or(false);
            let create = format!("sudo install -d -o {uid} -g {uid} -m 0700 {dir}");
            match (mounted, exists) {
                (true, true) => Check::pass(title, format!("{dir} exists")),
                (true, false) => Check::warn(
                    title,
                    format!("{dir} does not exist yet; the pod waits for it"),
                    vec![create],
                ),
                (false, true) => Check::fail(
                    title,
                    format!("{dir} exists on the root filesystem because {} is not mounted: {node} would write there", disk.path),
                    vec![
                        format!("move it out of the way (`sudo mv {dir} {dir}.old`), mount the disk, then: {create}"),
                    ],
                ),
                (false, false) => Check::warn(
                    title,
                    format!("{dir} does not exist; create it once {} is mounted", disk.path),
                    vec![create],
                ),
            }
        })
        .collect()
}

/// The data directories of the nodes on disk `name`: (node, `<path>/<node>`, uid).
pub fn node_dirs(site: &Site, name: &str, path: &str) -> Vec<(String, String, i64)> {
    let bitcoin = site
        .spec
        .bitcoin
        .iter()
        .filter(|n| n.disk == name)
        .map(|n| (n.name.clone(), images::BITCOIND_UID));
    let lightning = site
        .spec
        .lightning
        .iter()
        .filter(|n| n.disk == name)
        .map(|n| (n.name.clone(), images::LND_UID));
    bitcoin
        .chain(lightning)
        .map(|(node, uid)| {
            let dir = format!("{path}/{node}");
            (node, dir, uid)
        })
        .collect()
}

fn isolation(machine: &Machine, site: &Site, node: &str, name: &str, disk: &Disk) -> Check {
    let title = format!("isolation {node}");
    let Some(fs) = machine.mounts.containing(&disk.path) else {
        return Check::warn(
            title,
            format!(
                "cannot tell which filesystem holds {} (no /proc/mounts)",
                disk.path
            ),
            vec!["run `openlsp init --check` on the machine itself".to_owned()],
        );
    };
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    let mut accepted = Vec::new();
    if fs.target == "/" {
        if disk.allow_root_filesystem {
            accepted.push(format!(
                "on the root filesystem (spec.disks.{name}.allowRootFilesystem: true)"
            ));
        } else {
            problems.push(format!("{} is on the root filesystem: if the system fills it, LND cannot write channel state", disk.path));
            fixes.push(format!(
                "or accept the risk: `spec.disks.{name}.allowRootFilesystem: true`"
            ));
        }
    }
    let chains: BTreeSet<String> = site
        .spec
        .bitcoin
        .iter()
        .filter_map(|b| {
            let chain_disk = site.spec.disks.get(&b.disk)?;
            let chain_fs = machine.mounts.containing(&chain_disk.path)?;
            chain_fs
                .same_filesystem(fs)
                .then(|| format!("{} ({})", b.name, chain_disk.path))
        })
        .collect();
    if !chains.is_empty() {
        let list = chains.into_iter().collect::<Vec<_>>().join(", ");
        if disk.allow_bitcoin_and_lightning {
            accepted.push(format!("shares a filesystem with the chain of {list} (spec.disks.{name}.allowBitcoinAndLightning: true)"));
        } else {
            problems.push(format!("{} is on the same filesystem as the chain of {list}: a full chain disk can close channels", disk.path));
            fixes.push(format!(
                "or accept the risk: `spec.disks.{name}.allowBitcoinAndLightning: true`"
            ));
        }
    }
    if !problems.is_empty() {
        fixes.insert(0, format!("give Lightning its own partition (20Gi is plenty), mount it at {} and add it to {FSTAB}", disk.path));
        return Check::fail(title, problems.join("; "), fixes);
    }
    if !accepted.is_empty() {
        return Check::warn(
            title,
            format!("Lightning state of {node} {}", accepted.join("; ")),
            vec!["better: a partition of its own for Lightning state".to_owned()],
        );
    }
    Check::pass(
        title,
        format!(
            "{} ({}) is apart from the root filesystem and every chain",
            disk.path, fs.source
        ),
    )
}

pub(super) fn proposed_disks(machine: &Machine) -> Vec<Check> {
    let candidates = DiskCandidate::all(machine);
    let mut checks = Vec::new();
    for candidate in &candidates {
        let mount = &candidate.mount;
        checks.push(Check::pass(
            format!("disk {}", mount.target),
            describe(mount, machine.spaces.get(&mount.target)),
        ));
        checks.push(fstab_check(
            machine,
            format!("fstab {}", mount.target),
            &mount.target,
            Some(mount),
        ));
    }
    let shared = shared_mounts(machine, &candidates);
    let proposal = propose_disks(&candidates);
    let title = "disks";
    checks.push(match (&proposal.blockchain, &proposal.lightning) {
        (None, _) => Check::fail(
            title,
            format!("no data disk is mounted, only the system's own filesystems{shared}"),
            vec![
                "mount the blockchain disk at /srv/blockchain and a separate partition for Lightning at /srv/lightning, both in /etc/fstab".to_owned(),
                "`lsblk -f` lists the partitions; openlsp never partitions or formats a disk".to_owned(),
            ],
        ),
        (Some(chain), None) => Check::fail(
            title,
            format!("only one data disk ({}): Lightning state needs its own partition{shared}", chain.mount.target),
            vec!["create a small partition (20Gi is plenty) for Lightning, mount it at /srv/lightning and add it to /etc/fstab".to_owned()],
        ),
        (Some(chain), Some(lightning)) => {
            let full = mainnet_chain_size(false);
            let found = format!(
                "`openlsp init` proposes blockchain={}, lightning={}, apart from each other and from the root filesystem{shared}",
                chain.mount.target, lightning.mount.target
            );
            match chain.space {
                Some(space) if space.size < full => Check::warn(
                    title,
                    format!("{found}; {} ({}) is too small for a full mainnet chain (about {full}, {} with txindex)", chain.mount.target, space.size.human(), mainnet_chain_size(true)),
                    vec!["use a bigger disk for mainnet, or prune (`--prune 550`)".to_owned()],
                ),
                _ => Check::pass(title, found),
            }
        }
    });
    checks
}

/// The data mounts that are no disk of their own (bind mounts of a proposed disk or of the
/// root filesystem), as `; not a disk of its own: …` for the disks check, or nothing.
fn shared_mounts(machine: &Machine, candidates: &[DiskCandidate]) -> String {
    let root = machine.mounts.root();
    let shared: Vec<String> = machine
        .mounts
        .data_mounts()
        .into_iter()
        .filter(|mount| !candidates.iter().any(|c| &c.mount == *mount))
        .filter_map(|mount| {
            if root.is_some_and(|root| root.same_filesystem(mount)) {
                return Some(format!("{} is on the root filesystem", mount.target));
            }
            candidates
                .iter()
                .find(|c| c.mount.same_filesystem(mount))
                .map(|c| {
                    format!(
                        "{} is {} again, the filesystem of {}",
                        mount.target, mount.source, c.mount.target
                    )
                })
        })
        .collect();
    if shared.is_empty() {
        String::new()
    } else {
        format!("; not a disk of its own: {}", shared.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{DISKS, check_titled, machine, site, status_of};
    use super::super::preflight;
    use super::*;
    use crate::host::mounts::MountTable;
    use crate::host::report::Status;

    #[test]
    fn disks_must_fit_what_the_profile_and_the_chain_want() {
        let m = machine();
        let too_big = "{ blockchain: { path: /srv/blockchain, size: 2Ti }, lightning: { path: /srv/lightning, size: 20Gi } }";
        let report = preflight(&m, Some(&site(too_big, "txindex: true")));
        let disk = check_titled(&report, "disk blockchain");
        assert_eq!(disk.status, Status::Fail);
        assert!(
            disk.fix[0].contains("spec.disks.blockchain.size: 1000Gi"),
            "{disk:?}"
        );
        // 1000Gi holds the full chain (850Gi) and with txindex (920Gi); not 1100Gi.
        assert_eq!(status_of(&report, "chain bitcoind"), Status::Pass);
        let mut small = machine();
        small.spaces.insert(
            "/srv/blockchain".to_owned(),
            Ok(Space {
                size: Bytes::gib(900),
                free: Bytes::gib(900),
            }),
        );
        let report = preflight(&small, Some(&site(DISKS, "txindex: true")));
        assert_eq!(status_of(&report, "chain bitcoind"), Status::Fail);
        let report = preflight(&small, Some(&site(DISKS, "prune: 550")));
        assert!(
            report.checks.iter().all(|c| c.title != "chain bitcoind"),
            "pruned"
        );
    }

    #[test]
    fn a_missing_data_dir_is_a_warning_with_the_install_command() {
        let mut m = machine();
        m.dirs.insert("/srv/lightning/lnd".to_owned(), false);
        let report = preflight(&m, Some(&site(DISKS, "txindex: true")));
        let dir = check_titled(&report, "data dir lnd");
        assert_eq!(dir.status, Status::Warn);
        assert_eq!(
            dir.fix,
            ["sudo install -d -o 1000 -g 1000 -m 0700 /srv/lightning/lnd"]
        );
    }

    #[test]
    fn without_a_profile_one_data_disk_is_not_enough() {
        let mut m = machine();
        m.mounts = MountTable::parse("/dev/sda2 / ext4 rw 0 0\n/dev/sda3 /data ext4 rw 0 0\n");
        let report = preflight(&m, None);
        let disks = check_titled(&report, "disks");
        assert_eq!(disks.status, Status::Fail);
        assert!(disks.found.contains("only one data disk (/data)"));
        // /data is mounted, but not in this machine's fstab: ✗, as with a profile.
        assert_eq!(status_of(&report, "disk /data"), Status::Pass);
        assert_eq!(status_of(&report, "fstab /data"), Status::Fail);
    }

    #[test]
    fn without_a_profile_a_bind_mount_of_the_chain_or_root_is_no_lightning_disk() {
        let mut m = machine();
        m.mounts = MountTable::parse(
            "/dev/nvme0n1p2 / ext4 rw 0 0\n/dev/sda1 /srv/blockchain ext4 rw 0 0\n/dev/sda1 /srv/lightning ext4 rw 0 0\n/dev/nvme0n1p2 /srv/lnd ext4 rw 0 0\n",
        );
        let report = preflight(&m, None);
        let disks = check_titled(&report, "disks");
        assert_eq!(disks.status, Status::Fail, "{disks:?}");
        assert!(
            disks.found.contains(
                "only one data disk (/srv/blockchain): Lightning state needs its own partition; not a disk of its own: /srv/lightning is /dev/sda1 again, the filesystem of /srv/blockchain, /srv/lnd is on the root filesystem"
            ),
            "{disks:?}"
        );
        assert!(
            report
                .checks
                .iter()
                .all(|c| c.title != "disk /srv/lightning")
        );
    }

    #[test]
    fn fstab_entries_match_with_or_without_a_trailing_slash() {
        let mut m = machine();
        m.fstab = Some(MountTable::parse(
            "UUID=1 /srv/blockchain/ ext4 defaults 0 2\nUUID=2 /srv/lightning xfs defaults 0 2\n",
        ));
        let report = preflight(&m, Some(&site(DISKS, "txindex: true")));
        assert_eq!(status_of(&report, "fstab blockchain"), Status::Pass);
        let report = preflight(&m, None);
        assert_eq!(status_of(&report, "fstab /srv/blockchain"), Status::Pass);
    }
}
